"""Walks a Sequential or functional ember model layer call by layer call, running each layer on a stand-in batch
(so every tensor's shape is known, and "same" padding becomes explicit pads) while its rule adds the ONNX nodes."""
import numpy as np

from .. import autograd
from ..models.functional import substitute, symbols_in
from ..models.model import Model
from ..models.sequential import Sequential
from ..tensor import Tensor
from .graph import ExportError, GraphBuilder, Value
from .registry import exportable_classes, find_rule

OPSET = 17  # ONNX operator set the graphs are written in (onnxruntime >= 1.13 runs it)
IR_VERSION = 8  # the IR version that goes with opset 17, so that older runtimes load the file too
BATCH = "batch"  # the name of the dynamic batch dimension


def _listed(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _describe(layer):
    return f"layer {layer.name!r} ({type(layer).__name__})"


def _model_inputs(model):
    """[(name, shape without batch, dtype)] of a built Sequential or functional model."""
    if isinstance(model, Sequential):
        if model._input_spec is None or not model.built:
            raise ExportError(f"ONNX export: Sequential model {model.name!r} is not built: give it an input shape "
                              f"(ember.Input first, or input_shape= on its first layer) or call it on data")
        shape, dtype = model._input_spec
        return [("input", tuple(shape), np.dtype(dtype))]
    if model._graph is None:
        raise ExportError(f"ONNX export: model {model.name!r} ({type(model).__name__}) is a subclassed Model whose "
                          f"`call` is Python code; export supports Sequential and functional models")
    return [(s.name, tuple(s.shape[1:]), s.dtype) for s in model._graph.inputs]


def _stand_in(shape, dtype, model):
    if any(n is None for n in shape):
        raise ExportError(f"ONNX export: model {model.name!r} has an input of shape {(None,) + tuple(shape)}; only "
                          f"the batch axis may be unknown (the exported graph fixes every other size)")
    return Tensor(np.zeros((1,) + tuple(shape), dtype=dtype), dtype=dtype if np.dtype(dtype).kind == "f" else None)


class Exporter:
    def __init__(self, model):
        self.model = model
        self.g = GraphBuilder(model.dtype)

    def run(self, input_names=None, output_names=None):
        import onnx
        from onnx import helper

        specs = _model_inputs(self.model)
        names = list(input_names) if input_names is not None else [name for name, _, _ in specs]
        if len(names) != len(specs):
            raise ExportError(f"ONNX export: input_names {names} must name each of the model's {len(specs)} inputs")
        out_names = list(output_names) if output_names is not None else _default_output_names(self.model)
        # reserved first, so that no node takes a name the caller will look the outputs up by
        inputs = [Value(self.g.reserve(name), (None,) + shape) for name, (_, shape, _) in zip(names, specs)]
        out_names = [self.g.reserve(name) for name in out_names]
        concrete = [_stand_in(shape, dtype, self.model) for _, shape, dtype in specs]
        with autograd.no_grad():
            outputs, _ = self.emit_model(self.model, inputs, concrete)
        graph_inputs = [helper.make_tensor_value_info(v.forms[tuple(range(v.rank))], _elem_type(dtype),
                                                      [BATCH, *shape]) for v, (_, shape, dtype) in zip(inputs, specs)]
        if len(out_names) != len(outputs):
            raise ExportError(f"ONNX export: output_names {out_names} must name each of the model's "
                              f"{len(outputs)} outputs")
        graph_outputs = []
        for value, name in zip(outputs, out_names):
            final = self.g.form(value)
            self.g.nodes.append(helper.make_node("Identity", [final], [name], name=self.g.reserve(f"{name}/out")))
            graph_outputs.append(helper.make_tensor_value_info(name, _elem_type(self.model.dtype),
                                                               [BATCH, *value.shape[1:]]))
        graph = helper.make_graph(self.g.nodes, self.model.name, graph_inputs, graph_outputs, self.g.initializers)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                                  producer_name="ember")
        onnx.checker.check_model(proto, full_check=True)
        return proto

    # -- models ---------------------------------------------------------------------------------------------------
    def emit_model(self, model, inputs, concrete):
        """(output Values, ember's outputs on the stand-in) of `model` applied to `inputs`."""
        if isinstance(model, Sequential):
            if len(inputs) != 1:
                raise ExportError(f"ONNX export: Sequential model {model.name!r} takes one input, got {len(inputs)}")
            value, data = inputs[0], concrete[0]
            for layer in model.layers:
                value, data = self.emit_layer(layer, value, data, {}, {})
            return [value], [data]
        if model._graph is None:
            _model_inputs(model)  # raises: a subclassed model
        graph = model._graph
        values = {id(s): (v, c) for s, v, c in zip(graph.inputs, inputs, concrete)}
        done = {}  # a multi-output call runs once for all of its outputs, as Graph.run
        for symbol in graph.calls:
            key = (id(symbol.layer), tuple(map(id, _listed(symbol.inputs) + symbols_in(symbol.kwargs))))
            if key not in done:
                args = [values[id(s)] for s in _listed(symbol.inputs)]
                nested = isinstance(symbol.inputs, (list, tuple))
                x = [a[0] for a in args] if nested else args[0][0]
                data = [a[1] for a in args] if nested else args[0][1]
                kw_values = substitute(symbol.kwargs, lambda s: values[id(s)][0])
                kw_data = substitute(symbol.kwargs, lambda s: values[id(s)][1])
                done[key] = self.emit_layer(symbol.layer, x, data, kw_values, kw_data)
            out, data = done[key]
            if symbol.index is not None:
                out, data = out[symbol.index], data[symbol.index]
            values[id(symbol)] = (out, data)
        return [values[id(s)][0] for s in graph.outputs], [values[id(s)][1] for s in graph.outputs]

    def emit_layer(self, layer, x, data, kw_values, kw_data):
        """(Value(s), ember's output on the stand-in) of one layer call."""
        if isinstance(layer, Model):
            if kw_values:
                raise ExportError(f"ONNX export: {_describe(layer)} is called with {sorted(kw_values)}; a nested "
                                  f"model can only be called on its inputs")
            outs, results = self.emit_model(layer, _listed(x), _listed(data))
            if not isinstance(layer, Sequential) and layer._nested_outputs:  # a list of outputs, as its call gives
                return outs, results
            return outs[0], results[0]
        fn = find_rule(layer)
        if fn is None:
            raise ExportError(f"ONNX export: {_describe(layer)} has no export rule. Layers ember exports: "
                              f"{', '.join(exportable_classes())}")
        if getattr(layer, "stateful", False):
            raise ExportError(f"ONNX export: {_describe(layer)} is stateful; its carried states have no place in an "
                              f"ONNX graph (export a copy built with stateful=False)")
        unknown = set(kw_values) - {"initial_state"}
        if unknown:
            raise ExportError(f"ONNX export: {_describe(layer)} is called with {sorted(unknown)}, which export does "
                              f"not support")
        try:
            out = layer(data, training=False, **kw_data)
        except (ValueError, TypeError) as error:
            raise ExportError(f"ONNX export: running {_describe(layer)} on a stand-in batch failed: {error}") from error
        return fn(self.g, layer, x, data, out, **kw_values), out


def _elem_type(dtype):
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _default_output_names(model):
    """Each output named after the layer that makes it (`name_i` for the i-th output of a multi-output layer)."""
    if isinstance(model, Sequential):
        producers = [(model.layers[-1] if model.layers else None, None)]
    else:
        producers = [(s.layer, s.index) for s in model._graph.outputs]
    names = []
    for i, (layer, index) in enumerate(producers):
        if layer is None:
            names.append(f"output_{i}")
        else:
            names.append(layer.name if index is None else f"{layer.name}_{index}")
    return names
