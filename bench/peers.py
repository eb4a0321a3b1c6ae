"""The contenders of an op-table entry: ember's op on a backend, and the same op in PyTorch on the same data."""
import numpy as np

import ember
from ember.testing.op_table_rnn import torch_rnn_weights

RECURRENT = ("simple_rnn", "lstm", "gru")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def torch_recurrent(torch, name, sample, backward):
    """nn.RNN / nn.LSTM / nn.GRU (batch_first) with the sample's Keras-layout weights; forward, or forward and
    backward of the sum of every output and final state (as ember's op-table op, which concatenates them)."""
    x, *states, kernel, recurrent_kernel, bias = sample.args
    cls = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[name]
    module = cls(x.shape[2], recurrent_kernel.shape[0], batch_first=True)
    with torch.no_grad():
        for pname, value in torch_rnn_weights(name, kernel, recurrent_kernel, bias).items():
            getattr(module, pname).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    xt = torch.from_numpy(x).requires_grad_(backward)
    st = [torch.from_numpy(s)[None].requires_grad_(backward) for s in states]
    st = tuple(st) if name == "lstm" else st[0]

    def run():
        out, final = module(xt, st)
        return out.sum() + sum(f.sum() for f in (final if name == "lstm" else (final,)))

    if backward:
        return lambda: run().backward()

    def forward():
        with torch.no_grad():
            return run()

    return forward


def _torch_activation(torch, kw):
    """The fused ops' activation (kw["activation"], slope kw["alpha"]) as a PyTorch function."""
    import torch.nn.functional as F

    return {None: lambda z: z, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "leaky_relu": lambda z: F.leaky_relu(z, kw.get("alpha", 0.0))}[kw.get("activation")]


def torch_peer(torch, name, sample, backward=False):
    """A zero-argument callable doing the op's forward (and backward where asked) in PyTorch on the same data
    (NHWC as channels_last)."""
    if name in RECURRENT:
        return torch_recurrent(torch, name, sample, backward)
    args = [torch.from_numpy(np.ascontiguousarray(a)) for a in sample.args]
    kw = sample.kwargs
    if name in ("conv2d", "conv2d_bias_activation"):
        return torch_conv(torch, name, args, kw, backward)
    if name in ELEMENTWISE_BACKWARD:
        return torch_elementwise(torch, name, args, kw, backward)
    if name == "dense":
        return torch_dense(torch, args, kw, backward)
    if backward:
        return None
    if name == "matmul":
        return lambda: torch.matmul(*args)
    if name in ("softmax", "log_softmax"):
        return lambda: getattr(torch, name)(args[0], -1)
    if name == "bias_activation":  # what a PyTorch layer does after its product: add the bias, then the activation
        act = _torch_activation(torch, kw)
        return lambda: act(args[0] + args[1])
    return None


# Ops whose fwd+bwd rows take a given upstream gradient (elementwise, pooling): the gradient of a sum, a broadcast
# of ones, would be materialized by ember's kernels (they read contiguous arrays) and cost as much as the op.
ELEMENTWISE_BACKWARD = ("max_pool2d", "avg_pool2d", "relu", "leaky_relu", "elu", "sigmoid", "tanh")


def upstream_gradient(shape):
    """The fixed gradient both sides' fwd+bwd rows of an ELEMENTWISE_BACKWARD op start from."""
    return np.random.default_rng(1).standard_normal(shape, dtype=np.float32)


def torch_elementwise(torch, name, args, kw, backward):
    """Pooling (NHWC memory seen as NCHW, channels_last) or an activation; with `backward`, forward and backward from
    upstream_gradient."""
    import torch.nn.functional as F

    x = args[0].requires_grad_(backward)
    if name in ("max_pool2d", "avg_pool2d"):
        pool = _pair(kw.get("pool_size", 2))
        fn = F.max_pool2d if name == "max_pool2d" else F.avg_pool2d
        op = lambda: fn(x.permute(0, 3, 1, 2), pool, kw.get("strides") or pool)  # noqa: E731
    else:
        op = {"relu": lambda: torch.relu(x), "sigmoid": lambda: torch.sigmoid(x), "tanh": lambda: torch.tanh(x),
              "leaky_relu": lambda: F.leaky_relu(x, 0.2), "elu": lambda: F.elu(x)}[name]
    if not backward:
        return lambda: op().detach()
    n, *rest = op().shape
    if name.endswith("pool2d"):  # ember's NHWC gradient, seen as NCHW
        g = torch.from_numpy(upstream_gradient((n, rest[1], rest[2], rest[0]))).permute(0, 3, 1, 2)
    else:
        g = torch.from_numpy(upstream_gradient((n, *rest)))

    def step():
        op().backward(g)

    step.input = x  # for the tests, which read its gradient
    return step


def torch_conv(torch, name, args, kw, backward):
    """F.conv2d on NHWC memory seen as NCHW (torch's channels_last), + bias and the activation for the fused op;
    with `backward`, forward and backward of the sum of its output, as ember_call."""
    import torch.nn.functional as F

    x = args[0].permute(0, 3, 1, 2)
    w = args[1].permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
    bias = args[2] if len(args) > 2 else None
    act = _torch_activation(torch, kw)
    for t in (x, w, bias):
        if t is not None:
            t.requires_grad_(backward)

    def forward():
        return act(F.conv2d(x, w, bias, stride=_pair(kw.get("strides", 1)), padding=kw.get("padding", "valid"),
                            dilation=_pair(kw.get("dilation_rate", 1)), groups=kw.get("groups", 1)))

    if not backward:
        return lambda: forward().detach()
    return lambda: forward().sum().backward()


def torch_dense(torch, args, kw, backward):
    """nn.Linear's F.linear (weight (N, K): the kernel's transpose, as a Linear module holds it) + the activation;
    with `backward`, forward and backward of the sum of its output, as ember_call."""
    import torch.nn.functional as F

    x, weight = args[0], args[1].t().contiguous()
    bias = args[2] if len(args) > 2 else None
    act = _torch_activation(torch, kw)
    for t in (x, weight, bias):
        if t is not None:
            t.requires_grad_(backward)
    if not backward:
        return lambda: act(F.linear(x, weight, bias)).detach()
    return lambda: act(F.linear(x, weight, bias)).sum().backward()


def _sum_of_results(op):
    """The recurrent layers' op (ember.ops.lstm, ...) summed output by output, as torch_recurrent sums them: the op
    table's form concatenates the outputs and final states into one array (for the reference tests), a copy of the
    whole sequence that PyTorch's side does not make."""
    def summed(*args, **kwargs):
        total = None
        for result in op(*args, **kwargs):
            total = ember.ops.sum(result) if total is None else total + ember.ops.sum(result)
        return total

    return summed


def ember_call(info, sample, backend, backward=False):
    """The op's forward on `backend`; with `backward`, forward and backward of the sum of its output."""
    tensors = [ember.Tensor._wrap(a) if isinstance(a, np.ndarray) else a for a in sample.args]
    recurrent = _sum_of_results(getattr(ember.ops, info.name)) if info.name in RECURRENT else None
    if backward:
        for t in tensors:
            if isinstance(t, ember.Tensor) and t.dtype.kind == "f":
                t.requires_grad = True
        if info.name in ELEMENTWISE_BACKWARD:
            with ember.use_backend(backend), ember.no_grad():
                g = upstream_gradient(info.op(*tensors, **sample.kwargs).shape)

            def from_gradient():
                with ember.use_backend(backend):
                    info.op(*tensors, **sample.kwargs).backward(g)

            return from_gradient
        loss = recurrent or (lambda *a, **k: ember.ops.sum(info.op(*a, **k)))

        def train_step():
            with ember.use_backend(backend):
                loss(*tensors, **sample.kwargs).backward()

        return train_step

    def call():
        with ember.use_backend(backend), ember.no_grad():
            return (recurrent or info.op)(*tensors, **sample.kwargs)

    return call
