"""Define-by-run reverse-mode autograd.

Every differentiable op builds its output with `record(...)`, handing over a closure that maps the output's
gradient to one gradient per input (None where an input needs none). `backward` walks the recorded graph in
reverse topological order: latest node first, as every node is numbered when made and an op's inputs are made before
it (PyTorch's sequence numbers). After a backward the closures are dropped, which frees the arrays they saved, unless
`retain_graph=True`.
"""
import contextlib
import heapq
import itertools
import threading


class _GradMode(threading.local):
    enabled = True  # a class default: each thread starts with gradients on, and reads it without getattr's miss


_state = _GradMode()


def is_grad_enabled():
    return _state.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """`with ember.set_grad_enabled(mode):` records graphs inside the block only when `mode` is true, then restores
    the previous mode; as a decorator, around each call. A class rather than a generator: the optimizer and the
    metrics enter one every training step. Nested entries of one object restore in order."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self._previous = []

    def __enter__(self):
        self._previous.append(_state.enabled)
        _state.enabled = self.mode

    def __exit__(self, *exc):
        _state.enabled = self._previous.pop()
        return False


def no_grad():
    """`with ember.no_grad():` records nothing (inference, weight updates)."""
    return set_grad_enabled(False)


def enable_grad():
    return set_grad_enabled(True)


_sequence = itertools.count()  # Node numbers (next() is atomic under the GIL: threads may record at once)


class Node:
    """How one op's outputs were made: where its inputs came from and how to map their gradients to the inputs'.

    Edges point at the inputs' nodes as they were when the op ran, as (node, output index), or at the leaf tensor
    itself; not at the input tensors: an assignment that later gives a tensor a new node must not reroute earlier
    consumers. An op with several outputs (an LSTM's sequence and final states) has one node for all of them:
    n_outputs counts them and backward_fn takes a list of their gradients. n_outputs None: one output, whose
    gradient array backward_fn takes as it is (every op of a training step but the recurrent ones).
    """

    __slots__ = ("op", "edges", "dtypes", "backward_fn", "n_outputs", "sequence", "__weakref__")  # weakrefs: leak tests

    def __init__(self, op, inputs, backward_fn, n_outputs=None):
        self.sequence = next(_sequence)  # after every node it reads from: the order backward needs
        self.op = op
        self.edges = tuple([None if not t._requires_grad else ((t._node, t._output_index) if t._node else t)
                            for t in inputs])
        self.dtypes = tuple([t._data.dtype for t in inputs])
        self.backward_fn = backward_fn
        self.n_outputs = n_outputs


def record(op, out, inputs, backward_fn):
    """Attach `backward_fn` (output gradient -> one gradient per input) to the tensor `out` if any of `inputs`
    requires a gradient. Returns `out`."""
    if will_record(inputs):  # every op of a step comes through here: one output, its gradient handed over as it is
        out._requires_grad = True
        out._node, out._output_index = Node(op, inputs, backward_fn), 0
    return out


def will_record(inputs):
    """Whether an op on `inputs` records a graph node: gradients are on and some input requires one. Ops may
    skip keeping what only their backward needs when it is False."""
    if not _state.enabled:
        return False
    for t in inputs:  # a plain loop: any() over a generator costs more than the test on a few inputs
        if t._requires_grad:
            return True
    return False


def record_outputs(op, outs, inputs, backward_fn):
    """Attach one node to every tensor of `outs`: `backward_fn` takes a list with one gradient per output (None
    where none arrived; at least one did) and returns one gradient per input. Returns `outs`."""
    if will_record(inputs):
        node = Node(op, inputs, backward_fn, len(outs))
        for index, out in enumerate(outs):
            out._requires_grad = True
            out._node, out._output_index = node, index
    return outs


def _add(grads, node, index, g):
    """Add g to what output `index` of `node` has received: an array per one-output node, else a list of them."""
    key = id(node)
    if node.n_outputs is None:
        held = grads.get(key)
        grads[key] = g if held is None else held + g
        return
    slots = grads.setdefault(key, [None] * node.n_outputs)
    slots[index] = g if slots[index] is None else slots[index] + g


def backward(root, grad=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) into `.grad` of every leaf that requires a gradient."""
    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph "
                           "(was it computed under no_grad, or from tensors without requires_grad=True?)")
    if grad is None:
        if root.size != 1:
            raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs; "
                               f"this output has shape {root.shape}. Pass a gradient of that shape.")
        grad = root._xp.ones_like(root._data)
    else:
        from .tensor import Tensor

        grad = grad._data if isinstance(grad, Tensor) else root._xp.asarray(grad, dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward: gradient shape {grad.shape} does not match output shape {root.shape}")
    if root._node is None:
        root._accumulate_grad(grad)
        return

    grads = {}
    _add(grads, root._node, root._output_index, grad)
    # The latest node first: every consumer of a node was made after it, and is reached before it is popped (each
    # node on a path from the root to that consumer is later than the node, so it is popped, and queues the next).
    queue, queued = [(-root._node.sequence, root._node)], {id(root._node)}
    while queue:
        node = heapq.heappop(queue)[1]
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node.backward_fn is None:
            raise RuntimeError(f"backward: trying to backward through the graph a second time (through "
                               f"`{node.op}`); its saved values were freed after the first backward. "
                               f"Pass retain_graph=True to the first backward to keep them.")
        input_grads = node.backward_fn(g)
        if not retain_graph:
            node.backward_fn = None
        for edge, dtype, pg in zip(node.edges, node.dtypes, input_grads):
            if edge is None or pg is None:
                continue
            if pg.dtype != dtype:  # constants of another precision must not leak into the graph
                pg = pg.astype(dtype)
            if type(edge) is tuple:
                source = edge[0]
                _add(grads, source, edge[1], pg)
                if id(source) not in queued:
                    queued.add(id(source))
                    heapq.heappush(queue, (-source.sequence, source))
            else:
                edge._accumulate_grad(pg)
