"""DistributedDataParallel: one model replica per rank, kept identical by averaging gradients.

    ddp = ember.distributed.DistributedDataParallel(model)   # rank 0's weights are copied to every rank
    optimizer = ember.optimizers.Adam(ddp.parameters())
    for xb, yb in my_shard_of_each_batch:
        loss = loss_fn(yb, ddp(xb, training=True))
        ddp.backward(loss)          # loss.backward(), then the gradients averaged over the ranks in buckets
        optimizer.step(); optimizer.zero_grad()

Every rank starts from the same weights and applies the same averaged gradients, so their optimizer steps
are identical and the replicas stay equal without ever sending weights again. `ddp.backward(loss)` stands in
for `loss.backward()` because ember's autograd has no hook that could start the reduction by itself (see
buckets.py); `loss.backward(); ddp.reduce_gradients()` is the same thing in two lines.
"""
from .. import autograd
from . import collectives
from .buckets import DEFAULT_BUCKET_BYTES, GradientBuckets


def _weights(module):
    return list(module.weights) if hasattr(module, "weights") else list(module.parameters())


def _trainable(module):
    return list(module.trainable_weights) if hasattr(module, "trainable_weights") else list(module.parameters())


def broadcast_weights(weights, root=0):
    """Copy rank `root`'s values of `weights` (ember tensors) into every rank's, in place, in one wait."""
    pending = []
    for w in weights:
        array = collectives.in_place_buffer(w)
        carrier = collectives.group_for(array)
        pending.append((carrier, carrier.start_broadcast(array, root)))
    for carrier in {id(c): c for c, _ in pending}.values():
        carrier.wait([r for c, r in pending if c is carrier], "weight broadcast from rank 0")


def average_weights(weights):
    """Replace floating `weights` by their mean over the ranks (moving statistics that each rank updated)."""
    pending = []
    for w in weights:
        if w.dtype.kind == "f":
            array = collectives.in_place_buffer(w)
            carrier = collectives.group_for(array)
            pending.append((w, carrier, carrier.start_all_reduce(array, "sum")))
    for carrier in {id(c): c for _, c, _ in pending}.values():
        carrier.wait([r for _, c, r in pending if c is carrier], "non-trainable weight averaging")
    for w, carrier, _ in pending:
        w._data /= carrier.size


class DistributedDataParallel:
    """Wraps a model (an ember Layer/Model, or anything with `parameters()`): calls go to the model, weights
    start equal on all ranks, `backward`/`reduce_gradients` average the gradients.

    bucket_cap_mb: the largest gradient bucket. broadcast_buffers: before each call, copy rank 0's
    non-trainable weights (BatchNormalization's moving statistics) to all ranks, as torch's DDP does, so that
    every replica stays identical.
    """

    def __init__(self, module, bucket_cap_mb=25, broadcast_buffers=True):
        if not (hasattr(module, "parameters") and callable(module)):
            raise TypeError(f"DistributedDataParallel: expected a model (an ember Layer or Model). "
                            f"Received: {type(module).__name__}")
        collectives.init()
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self._bucket_bytes = int(bucket_cap_mb * 2 ** 20) if bucket_cap_mb else DEFAULT_BUCKET_BYTES
        self._buckets = None
        self._synced = False
        if _weights(module):
            self._sync()

    def _sync(self):
        broadcast_weights(_weights(self.module))
        self._synced = True

    def __call__(self, *args, **kwargs):
        if not self._synced:  # weights are made on the first call: make them, then take rank 0's
            build_kwargs = dict(kwargs, training=False) if "training" in kwargs else kwargs
            with autograd.no_grad():
                self.module(*args, **build_kwargs)
            self._sync()
        elif self.broadcast_buffers:
            trainable = {id(t) for t in _trainable(self.module)}
            buffers = [w for w in _weights(self.module) if id(w) not in trainable]
            if buffers:
                broadcast_weights(buffers)
        return self.module(*args, **kwargs)

    def backward(self, loss, share=None):
        """`loss.backward()`, then `reduce_gradients(share)`."""
        loss.backward()
        self.reduce_gradients(share)

    def reduce_gradients(self, share=None):
        """Average the parameters' gradients over the ranks. `share`: this rank's weight in the average
        (default 1/world_size; n_local / n_global when ranks hold unequal parts of one global batch)."""
        params = _trainable(self.module)
        if self._buckets is None or not self._buckets.matches(params):
            self._buckets = GradientBuckets(params, self._bucket_bytes)
        self._buckets.reduce(1.0 / collectives.world_size() if share is None else float(share))

    def parameters(self):
        return self.module.parameters()

    def __getattr__(self, name):  # everything else is the model's (summary, save_weights, layers...)
        if name == "module":
            raise AttributeError(name)
        return getattr(self.module, name)
