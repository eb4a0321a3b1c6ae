"""Keras 3 weights files (`.weights.h5`, written by `keras_model.save_weights`) loaded into the matching ember model:
`ember.saving_keras.load_keras_weights(model, path)`, or `model.load_weights(path)` (HDF5 files go here).

How Keras 3 lays the file out: each model holds a group `layers`, in which every layer has a group named after its
class, not its name (`dense`, `dense_1`, ... counted per class in the order of `model.layers`, so that two builds
of the same architecture agree); a layer's own variables are the datasets `vars/0`, `vars/1`... in creation order
(Keras' weight order, which is ember's), and `vars` carries the layer's name as an attribute. Layers made of
layers nest: a recurrent layer's variables are its cell's (`lstm/cell/vars`), Bidirectional's are under
`forward_layer` and `backward_layer`, a nested model's under its own `layers`.

The loader finds each ember layer's group the same way: by class and position (for a functional model, in the order
Keras' `map_graph` gives its layers: by depth from the inputs, ties in the order a depth-first walk from the outputs
meets them). Where that fails, layers are matched by name (the name in `vars`). Every weight is checked (each group
present, same count, same shapes, nothing in the file left over) before any is assigned: a failed load changes
nothing. h5py is optional; it is imported only here. The older HDF5 layout (Keras 2's `save_weights("x.h5")`, and
the weights inside a full-model `.h5`) is read by saving_keras_legacy.
"""
import os
import re

import numpy as np

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class KerasWeightsError(ValueError):
    """A Keras weights file that does not fit the model it is loaded into."""

    def __init__(self, path, problem):
        super().__init__(f"{problem} (file: {os.fspath(path)!r})")
        self.path, self.problem = path, problem


def is_hdf5(path):
    """Whether `path` starts with the HDF5 signature (as every file h5py writes does)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(HDF5_MAGIC)) == HDF5_MAGIC
    except OSError:
        return False


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Loading Keras .weights.h5 files needs the h5py package: pip install h5py") from None
    return h5py


def keras_snake_case(name):
    """keras.src.utils.naming.to_snake_case: the group name Keras gives a layer of class `name`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _describe(layer):
    return f"layer {layer.name!r} ({type(layer).__name__})"


# -- which layers, in which order -----------------------------------------------------------------------------------
def _is_sequential(layer):
    from .models.sequential import Sequential

    return isinstance(layer, Sequential)


def _is_functional(layer):
    from .models.model import Model

    return isinstance(layer, Model) and not _is_sequential(layer) and getattr(layer, "_graph", None) is not None


def keras_class_name(layer):
    if _is_sequential(layer):
        return "Sequential"
    if _is_functional(layer):
        return "Functional"  # keras.Model(inputs, outputs) makes a Functional
    return type(layer).__name__


def _listed(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def functional_layer_order(graph):
    """The layers of an ember functional graph in the order Keras' `map_graph` puts a functional model's layers."""
    from .models.functional import symbols_in

    input_ids = {id(s) for s in graph.inputs}

    def node(symbol):  # one layer call; the outputs of a multi-output call share it
        if id(symbol) in input_ids:
            return ("input", id(symbol))
        return (id(symbol.layer), tuple(map(id, _listed(symbol.inputs) + symbols_in(symbol.kwargs))))

    def operation(symbol):  # a key: the layer's id, or the input's (Keras gives each input an InputLayer)
        return ("input", id(symbol)) if id(symbol) in input_ids else id(symbol.layer)

    def parents(symbol):
        return [] if id(symbol) in input_ids else _listed(symbol.inputs) + symbols_in(symbol.kwargs)

    # _build_map: a depth-first walk from each output; operations numbered when first met (pre-order), nodes
    # listed when finished (post-order). A stack instead of recursion: deep models would pass Python's limit.
    finished, order, index, symbol_of, layer_of = set(), [], {}, {}, {}
    stack = [(s, False) for s in reversed(graph.outputs)]
    while stack:
        symbol, expanded = stack.pop()
        key = node(symbol)
        if expanded:
            if key not in finished:
                finished.add(key)
                order.append(key)
            continue
        if key in finished:
            continue
        symbol_of[key] = symbol
        op = operation(symbol)
        index.setdefault(op, len(index))
        if id(symbol) not in input_ids:
            layer_of[op] = symbol.layer
        stack.append((symbol, True))
        stack.extend((s, False) for s in reversed(parents(symbol)))
    # map_graph: a node's depth is one more than the deepest node it feeds; a shared layer takes its deepest node's
    node_depth, op_depth = {}, {}
    for key in reversed(order):
        symbol = symbol_of[key]
        op = operation(symbol)
        depth = max(node_depth.setdefault(key, 0), op_depth.get(op, 0))
        op_depth[op], node_depth[key] = depth, depth
        for parent in parents(symbol):
            parent_key = node(parent)
            node_depth[parent_key] = max(depth + 1, node_depth.get(parent_key, 0))
    ranked = sorted(op_depth, key=lambda op: (-op_depth[op], index[op]))
    return [layer_of[op] for op in ranked if op in layer_of]


def container_layers(model):
    if _is_sequential(model):
        return list(model.layers)
    return functional_layer_order(model._graph)


# -- the file's arrays for each ember weight ------------------------------------------------------------------------
class _Plan:
    """What to assign: (ember weight, h5py dataset, its path), and every dataset path the plan reads."""

    def __init__(self, path):
        self.path, self.pairs = path, []


def _numbered_vars(group, path):
    """The datasets vars/0, vars/1, ... of a layer group, in order."""
    if "vars" not in group:
        return []
    h5py = _h5py()
    variables = group["vars"]
    keys = sorted(variables.keys(), key=lambda k: int(k) if k.isdigit() else -1)
    datasets = []
    for k in keys:
        if not k.isdigit() or not isinstance(variables[k], h5py.Dataset):
            raise KerasWeightsError(path, f"'{variables.name}/{k}' is not a numbered weight dataset (a Keras 3 "
                                          f".weights.h5 file holds vars/0, vars/1, ...)")
        datasets.append(variables[k])
    return datasets


def layer_datasets(layer, group, path):
    """The datasets that hold `layer.weights`, in ember's order (checked by the caller)."""
    from .layers.recurrent import RNN
    from .layers.wrappers import Bidirectional, TimeDistributed

    if _is_sequential(layer) or _is_functional(layer):
        return None  # containers are walked by _plan_container
    if isinstance(layer, Bidirectional):
        out = []
        for key, sub in (("forward_layer", layer.forward_layer), ("backward_layer", layer.backward_layer)):
            if key not in group:
                raise KerasWeightsError(path, f"{_describe(layer)}: the file has no group '{group.name}/{key}'")
            out += layer_datasets(sub, group[key], path)
        return out
    if isinstance(layer, TimeDistributed):
        if "layer" not in group:
            raise KerasWeightsError(path, f"{_describe(layer)}: the file has no group '{group.name}/layer'")
        return layer_datasets(layer.layer, group["layer"], path)
    if isinstance(layer, RNN) and "cell" in group:
        return _numbered_vars(group["cell"], path)
    return _numbered_vars(group, path)


def _match_layer(plan, layer, group):
    """Pair `layer.weights` with the group's datasets, checking count and every shape."""
    pair_weights(plan, layer, layer.weights, layer_datasets(layer, group, plan.path), group.name)


def pair_weights(plan, layer, weights, datasets, where):
    """Add (weight, dataset) pairs to the plan once the counts and every shape agree."""
    if len(datasets) != len(weights):
        raise KerasWeightsError(plan.path, f"{_describe(layer)} has {len(weights)} weights "
                                           f"{[tuple(w.shape) for w in weights]}, but the file's '{where}' holds "
                                           f"{len(datasets)} {[tuple(d.shape) for d in datasets]}")
    for w, d in zip(weights, datasets):
        if tuple(d.shape) != tuple(w.shape):
            raise KerasWeightsError(plan.path, f"{_describe(layer)}: weight {w.name!r} has shape {tuple(w.shape)}, "
                                               f"but the file's '{d.name}' has shape {tuple(d.shape)}")
        if d.dtype.kind not in "fiu":
            raise KerasWeightsError(plan.path, f"{_describe(layer)}: the file's '{d.name}' holds {d.dtype} values, "
                                               f"not numbers")
        plan.pairs.append((w, d))


def _plan_container(plan, model, group):
    """Match every layer of a Sequential or functional `model` to its group under `group/layers`, by class and
    position as Keras names them."""
    layers_group = group["layers"] if "layers" in group else None
    counts = {}
    for layer in container_layers(model):
        base = keras_snake_case(keras_class_name(layer))
        key = base if base not in counts else f"{base}_{counts[base] + 1}"
        counts[base] = counts.get(base, -1) + 1
        if not layer.weights:
            continue
        if layers_group is None or key not in layers_group:
            raise KerasWeightsError(plan.path, f"{_describe(layer)}: the file has no group "
                                               f"'{group.name.rstrip('/')}/layers/{key}' where Keras keeps the "
                                               f"weights of this model's {_ordinal(counts[base])} {base} layer")
        if _is_sequential(layer) or _is_functional(layer):
            _plan_container(plan, layer, layers_group[key])
        else:
            _match_layer(plan, layer, layers_group[key])


def _ordinal(n):
    return {0: "first", 1: "second", 2: "third"}.get(n, f"{n + 1}th")


def _leaf_layers(model):
    """The layers with weights, through nested models, in order."""
    out = []
    for layer in container_layers(model):
        if _is_sequential(layer) or _is_functional(layer):
            out += _leaf_layers(layer)
        elif layer.weights:
            out.append(layer)
    return out


def _named_groups(f):
    """{layer name: group} from the `name` attribute Keras writes on each layer's `vars` group."""
    h5py = _h5py()
    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and name.endswith("vars") and "name" in obj.attrs:
            parent = obj.parent
            if parent.name.endswith("/cell"):
                return  # a cell's name; its layer's is one level up
            layer_name = obj.attrs["name"]
            found.setdefault(layer_name.decode() if isinstance(layer_name, bytes) else str(layer_name), parent)

    f.visititems(visit)
    return found


def _plan_by_name(plan, model, f):
    groups = _named_groups(f)
    for layer in _leaf_layers(model):
        if layer.name not in groups:
            raise KerasWeightsError(plan.path, f"{_describe(layer)}: no layer of that name in the file")
        _match_layer(plan, layer, groups[layer.name])


def _all_datasets(f):
    h5py = _h5py()
    names = []
    f.visititems(lambda name, obj: names.append(obj.name) if isinstance(obj, h5py.Dataset) else None)
    return names


def _check_everything_used(plan, f):
    used = {d.name for _, d in plan.pairs}
    left = [n for n in _all_datasets(f) if n not in used and n.startswith("/layers/")]
    if left:
        raise KerasWeightsError(plan.path, f"the file holds {len(left)} weight(s) that match no weight of the model "
                                           f"(first: {left[:3]}): is it the same architecture?")


def plan_load(model, f, path):
    """(weight, dataset) pairs for every weight of `model`; raises KerasWeightsError on any mismatch."""
    if not model.built:
        raise KerasWeightsError(path, f"model {model.name!r} is not built: call it on data or give it an input shape "
                                      f"before loading weights")
    if not (_is_sequential(model) or _is_functional(model)):
        raise KerasWeightsError(path, f"model {model.name!r} ({type(model).__name__}) is a subclassed Model: Keras "
                                      f"keys its weights by attribute names ember cannot see; load Sequential or "
                                      f"functional models")
    if "layers" not in f:
        from . import saving_keras_legacy

        root = saving_keras_legacy.legacy_root(f)
        if root is None:
            raise KerasWeightsError(path, "not a Keras weights file: it has neither the 'layers' group of Keras 3's "
                                          ".weights.h5 nor the 'layer_names' of the older .h5 format")
        plan = _Plan(path)
        saving_keras_legacy.plan_legacy(plan, model, root)
        return plan.pairs
    first_error = None
    for planner in (lambda p: _plan_container(p, model, f), lambda p: _plan_by_name(p, model, f)):
        plan = _Plan(path)
        try:
            planner(plan)
            _check_everything_used(plan, f)
            return plan.pairs
        except KerasWeightsError as error:
            first_error = first_error or error
    raise first_error


def load_keras_weights(model, path):
    """Load a Keras 3 `.weights.h5` file into `model` (the same architecture built in ember). Every weight is
    matched and checked before any is assigned; on a mismatch a KerasWeightsError names the layer and both
    shapes, and the model is unchanged."""
    h5py = _h5py()
    try:
        f = h5py.File(os.fspath(path), "r")
    except OSError as error:
        raise KerasWeightsError(path, f"cannot be opened as an HDF5 file ({error})") from None
    with f:
        pairs = plan_load(model, f, path)
        values = {id(w): np.asarray(d[()]) for w, d in pairs}
    missing = [w.name for w in model.weights if id(w) not in values]
    if missing:
        raise KerasWeightsError(path, f"model {model.name!r} has weights that none of its layers holds, which a "
                                      f"Keras file has no place for: {missing}")
    # all read and checked: assigned at once, through set_weights (which puts each where its weight lives)
    model.set_weights([values[id(w)] for w in model.weights])


__all__ = ["KerasWeightsError", "is_hdf5", "load_keras_weights"]
