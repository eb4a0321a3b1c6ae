"""Gradient averaging in buckets: the parameters' gradients packed into a few flat buffers, each reduced by one
non-blocking all-reduce, instead of one collective per parameter (a LeNet has 10 parameters, a ResNet hundreds;
each collective costs a latency however small it is).

When the reduction runs: after backward has finished. ember's autograd has no per-parameter "gradient ready"
hook, so a bucket cannot start while backward is still producing the others. What overlaps is the packing of
bucket k+1 with the all-reduce of bucket k in flight. (MPI without an asynchronous progress thread, as MPICH by
default, moves data only inside MPI calls anyway, so overlapping with backward would also need polling there.)

Buckets follow the parameters in reverse (the order backward finishes them), one (device, dtype) per bucket,
at most `bucket_bytes` each. Gradients are scaled by this rank's `share` before the sum: 1/world for a plain
mean; n_rank / n_global when ranks hold unequal parts of a global batch, which keeps the result the gradient
of the global batch's mean loss. A small float64 side buffer carries, summed in the same step, whether each
parameter got a gradient on any rank (None stays None only if it is None everywhere) and caller's extras
(fit's batch loss).
"""
import numpy as np

from .. import device as _device
from ..tensor import Tensor
from . import collectives

DEFAULT_BUCKET_BYTES = 25 * 2 ** 20


class _Bucket:
    def __init__(self, params):
        first = params[0]._data
        self.params = params
        self.offsets = np.cumsum([0] + [p.size for p in params])
        self.buffer = _device.array_module(first).empty(int(self.offsets[-1]), first.dtype)

    def views(self):
        for p, start, end in zip(self.params, self.offsets[:-1], self.offsets[1:]):
            yield p, self.buffer[start:end]

    def pack(self, share):
        xp = _device.array_module(self.buffer)
        for p, view in self.views():
            if p.grad is None:
                view[...] = 0
                continue
            grad = p.grad._data
            if grad.size != view.size:
                raise ValueError(f"ember.distributed: parameter {p.name or ''} of shape {p.shape} has a gradient of "
                                 f"shape {tuple(grad.shape)}; expected the parameter's shape")
            xp.multiply(grad.reshape(-1), share, out=view)

    def unpack(self, present):
        for (p, view), has_grad in zip(self.views(), present):
            p.grad = Tensor._wrap(view.reshape(p.shape).copy()) if has_grad else None


def _bucketed(params, bucket_bytes):
    buckets, current, current_key, size = [], [], None, 0
    for p in reversed(params):
        key = (_device.of_array(p._data), p.dtype)
        if current and (key != current_key or size + p._data.nbytes > bucket_bytes):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current_key = key
        current.append(p)
        size += p._data.nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


class GradientBuckets:
    """Sums `share * grad` of every parameter over the ranks, in place of each `.grad`."""

    def __init__(self, params, bucket_bytes=DEFAULT_BUCKET_BYTES):
        unique, seen = [], set()
        for p in params:
            if id(p) not in seen and p.dtype.kind == "f":
                seen.add(id(p))
                unique.append(p)
        self.params = unique
        self.buckets = _bucketed(unique, bucket_bytes)

    def matches(self, params):
        """Whether `params` are the ones these buckets were made for (a layer frozen since is a new list)."""
        ids = []
        for p in params:
            if id(p) not in ids:
                ids.append(id(p))
        return ids == [id(p) for p in self.params]

    def reduce(self, share, extras=()):
        """All-reduce the gradients (scaled by `share`); returns the sums of `share * extras` over the ranks."""
        host = collectives.group()
        n_extras = len(extras)
        ordered = [p for bucket in self.buckets for p in bucket.params]
        side = np.empty(n_extras + len(ordered), np.float64)
        side[:n_extras] = np.asarray(extras, np.float64) * share
        side[n_extras:] = [p.grad is not None for p in ordered]
        pending = [(host, host.start_all_reduce(side, "sum"))]
        for bucket in self.buckets:
            bucket.pack(share)
            carrier = collectives.group_for(bucket.buffer)
            pending.append((carrier, carrier.start_all_reduce(bucket.buffer, "sum")))
        for carrier in {id(c): c for c, _ in pending}.values():
            carrier.wait([r for c, r in pending if c is carrier], "gradient all-reduce")
        present = iter(side[n_extras:] > 0)
        for bucket in self.buckets:
            bucket.unpack([next(present) for _ in bucket.params])
        return side[:n_extras]
