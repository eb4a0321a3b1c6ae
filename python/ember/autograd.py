"""Define-by-run reverse-mode autograd.

Every differentiable op builds its output with `record(...)`, handing over a closure that maps the output's
gradient to one gradient per input (None where an input needs none). `backward` walks the recorded graph in
reverse topological order. After a backward the closures are dropped, which frees the arrays they saved,
unless `retain_graph=True`.
"""
import contextlib
import threading

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def set_grad_enabled(mode):
    previous = is_grad_enabled()
    _state.enabled = bool(mode)
    try:
        yield
    finally:
        _state.enabled = previous


def no_grad():
    """`with ember.no_grad():` records nothing (inference, weight updates)."""
    return set_grad_enabled(False)


def enable_grad():
    return set_grad_enabled(True)


class Node:
    """How one op's output was made: its inputs and the closure that maps its gradient to theirs."""

    __slots__ = ("op", "inputs", "backward_fn")

    def __init__(self, op, inputs, backward_fn):
        self.op = op
        self.inputs = inputs
        self.backward_fn = backward_fn


def record(op, out, inputs, backward_fn):
    """Attach `backward_fn` to the tensor `out` if any of `inputs` requires a gradient. Returns `out`."""
    if is_grad_enabled() and any(t.requires_grad for t in inputs):
        out._requires_grad = True
        out._node = Node(op, tuple(inputs), backward_fn)
    return out


def _topological_order(root):
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor._node is not None:
            for parent in tensor._node.inputs:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def backward(root, grad=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) into `.grad` of every leaf that requires a gradient."""
    from .tensor import Tensor

    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph "
                           "(was it computed under no_grad, or from tensors without requires_grad=True?)")
    if grad is None:
        if root.size != 1:
            raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs; "
                               f"this output has shape {root.shape}. Pass a gradient of that shape.")
        grad = root._xp.ones_like(root._data)
    else:
        grad = grad._data if isinstance(grad, Tensor) else root._xp.asarray(grad, dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward: gradient shape {grad.shape} does not match output shape {root.shape}")

    grads = {id(root): grad}
    for tensor in reversed(_topological_order(root)):
        g = grads.pop(id(tensor), None)
        if g is None:
            continue
        node = tensor._node
        if node is None:
            tensor._accumulate_grad(g)
            continue
        if node.backward_fn is None:
            raise RuntimeError(f"backward: trying to backward through the graph a second time (through "
                               f"`{node.op}`); its saved values were freed after the first backward. "
                               f"Pass retain_graph=True to the first backward to keep them.")
        input_grads = node.backward_fn(g)
        if not retain_graph:
            node.backward_fn = None
        for parent, pg in zip(node.inputs, input_grads):
            if pg is None or not parent.requires_grad:
                continue
            if pg.dtype != parent._data.dtype:  # constants of another precision must not leak into the graph
                pg = pg.astype(parent._data.dtype)
            key = id(parent)
            grads[key] = pg if key not in grads else grads[key] + pg
