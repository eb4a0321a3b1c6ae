"""The older Keras HDF5 weights layout: Keras 2's `model.save_weights("x.h5")` and the `model_weights` group of a
full-model `.h5` file (Keras 3 still writes it with `model.save("x.h5")`).

The file lists its layers in the attribute `layer_names` (the order of `model.layers`); each layer's group lists
its weights in `weight_names`, in the order of `layer.trainable_weights + layer.non_trainable_weights` (a nested
model is one layer there, all its trainable weights first). Layers are matched by that order, as Keras 2 loads them:
the model's layers that have weights, in Keras' functional order, against the file's layers that have weights.
"""
from .saving_keras import KerasWeightsError, container_layers, pair_weights


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def legacy_root(f):
    """The group holding `layer_names` (the file itself, or its `model_weights`), or None."""
    for root in (f.get("model_weights"), f):
        if root is not None and "layer_names" in root.attrs:
            return root
    return None


def _weight_names(group):
    return [_text(n) for n in group.attrs.get("weight_names", [])]


def plan_legacy(plan, model, root):
    """Pair every weight of `model` with the file's datasets, layer by layer in order; raises on any mismatch."""
    file_layers = [_text(n) for n in root.attrs["layer_names"]]
    file_layers = [n for n in file_layers if n in root and _weight_names(root[n])]
    layers = [layer for layer in container_layers(model) if layer.weights]
    if len(file_layers) != len(layers):
        raise KerasWeightsError(plan.path, f"the file holds weights for {len(file_layers)} layers {file_layers}, but "
                                           f"model {model.name!r} has {len(layers)} layers with weights "
                                           f"{[layer.name for layer in layers]}")
    for layer, name in zip(layers, file_layers):
        group = root[name]
        names = _weight_names(group)
        missing = [n for n in names if n not in group]
        if missing:
            raise KerasWeightsError(plan.path, f"the file's layer {name!r} lists weights it does not hold: {missing}")
        weights = layer.trainable_weights + layer.non_trainable_weights  # Keras' order for this layout
        pair_weights(plan, layer, weights, [group[n] for n in names], group.name)
