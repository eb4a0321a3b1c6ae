"""ember.Model: a layer with training (compile/fit/evaluate/predict), built functionally or by subclassing."""
from ..layers.base import LAYER_CLASSES, Layer
from .functional import Graph, Input, SymbolicTensor, substitute
from .training import Trainer


class Model(Trainer, Layer):
    """`Model(inputs, outputs)` from symbolic tensors (functional API), or subclass and define `call`."""

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._graph = None
        if inputs is None and outputs is None:
            return
        if inputs is None or outputs is None:
            raise ValueError("Model: pass both `inputs` and `outputs` (symbolic tensors), or neither to subclass")
        self._graph = Graph(inputs, outputs)
        self._nested_inputs = isinstance(inputs, (list, tuple))
        self._nested_outputs = isinstance(outputs, (list, tuple))
        for layer in self._graph.layers():
            self._layers.append(layer)
        self.built = True

    @property
    def layers(self):
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Existing layers are: {[l.name for l in self.layers]}")

    def call(self, inputs, training=None):
        if self._graph is None:
            raise NotImplementedError(f"{type(self).__name__} subclasses Model: define call(self, inputs, training)")
        outputs = self._graph.run(inputs, training)
        return outputs if self._nested_outputs else outputs[0]

    def export(self, filepath, format="onnx", input_names=None, output_names=None):
        """Write the model as an ONNX file (needs the `onnx` package); see `ember.onnx.export`. `format` as Keras'
        `model.export`, whose other formats (TF SavedModel, OpenVINO) ember does not write."""
        from .. import onnx as ember_onnx

        if format != "onnx":
            raise ValueError(f"Invalid value for argument `format`. Expected 'onnx' (the only format ember exports). "
                             f"Received: format={format!r}")
        return ember_onnx.export(self, filepath, input_names, output_names)

    # -- config: the graph as layer configs and the calls between them ----------------------------------------------
    def get_config(self):
        if self._graph is None:
            return {"name": self.name}
        graph = self._graph
        ref = {id(s): {"input": i} for i, s in enumerate(graph.inputs)}
        calls = []
        for i, symbol in enumerate(graph.calls):
            ref[id(symbol)] = {"call": i}
            inputs = symbol.inputs
            refs = [ref[id(s)] for s in inputs] if isinstance(inputs, (list, tuple)) else ref[id(inputs)]
            kwargs = substitute(symbol.kwargs, lambda s: {"symbol": ref[id(s)]})  # e.g. initial_state=[h, c]
            calls.append({"layer": symbol.layer.name, "inputs": refs, "kwargs": kwargs, "index": symbol.index})
        return {"name": self.name,
                "inputs": [{"shape": list(s.shape[1:]), "dtype": s.dtype.name, "name": s.name} for s in graph.inputs],
                "layers": [serialize_layer(layer) for layer in graph.layers()],
                "calls": calls,
                "outputs": [ref[id(s)] for s in graph.outputs],
                "nested_inputs": self._nested_inputs, "nested_outputs": self._nested_outputs}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if "calls" not in config:
            return cls(name=config.get("name"))
        inputs = [Input(tuple(i["shape"]), dtype=i["dtype"], name=i["name"]) for i in config["inputs"]]
        layers = {c["config"]["name"]: deserialize_layer(c, custom_objects) for c in config["layers"]}
        symbols = []

        def lookup(r):
            return inputs[r["input"]] if "input" in r else symbols[r["call"]]

        def resolve(value):
            if isinstance(value, dict) and set(value) == {"symbol"}:
                return lookup(value["symbol"])
            if isinstance(value, (list, tuple)):
                return [resolve(item) for item in value]
            if isinstance(value, dict):
                return {key: resolve(item) for key, item in value.items()}
            return value

        cache = {}
        for call in config["calls"]:
            args = [lookup(r) for r in call["inputs"]] if isinstance(call["inputs"], list) else lookup(call["inputs"])
            key = (call["layer"], repr(call["inputs"]), repr(call["kwargs"]))
            if key not in cache:
                cache[key] = layers[call["layer"]](args, **resolve(call["kwargs"]))
            out = cache[key]
            symbols.append(out if call["index"] is None else out[call["index"]])
        outputs = [lookup(r) for r in config["outputs"]]
        return cls(inputs if config["nested_inputs"] else inputs[0],
                   outputs if config["nested_outputs"] else outputs[0], name=config["name"])


def serialize_layer(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(spec, custom_objects=None):
    classes = dict(LAYER_CLASSES, **(custom_objects or {}))
    name = spec["class_name"]
    if name not in classes:
        raise ValueError(f"Unknown layer class {name!r}: pass it in custom_objects={{'{name}': {name}}}")
    cls = classes[name]
    if issubclass(cls, Model):
        return cls.from_config(spec["config"], custom_objects)
    return cls.from_config(spec["config"])


__all__ = ["Model", "Input", "SymbolicTensor", "serialize_layer", "deserialize_layer"]
