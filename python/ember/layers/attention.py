"""Attention layers, as Keras 3: Attention (Luong, dot product), AdditiveAttention (Bahdanau), MultiHeadAttention.

All three are composites of ember ops (matmul, softmax, where), so autograd gives their gradients. Masked scores
are pushed down by 1e9 rather than set to -inf, as Keras does: a row whose keys are all masked then gets a finite
(uniform) softmax instead of NaN, and the results match Keras' to rounding.
"""
import math

import numpy as np

from .. import initializers, ops, regularizers
from ..tensor import Tensor
from ._args import positive_int
from .base import Layer, invalid_argument

_LARGE_NEGATIVE = 1e9  # Keras' choice in Attention and in the Softmax layer MultiHeadAttention uses


def _rate(value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 <= value <= 1:
        raise invalid_argument("dropout", "a float value between 0 and 1", value)
    return float(value)


def _bool_mask(mask, like):
    """A mask (Tensor, array or list) as a bool array on the device of `like`; nonzero means keep."""
    if mask is None:
        return None
    data = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    return like._xp.asarray(data).astype(bool)


def _causal_mask(xp, tq, tv):
    """(tq, tv): query i sees keys j <= i (Keras' row index >= column index)."""
    return xp.tril(xp.ones((tq, tv), dtype=bool))


def _drop(weights, rate, generator, training):
    """Inverted dropout on attention weights; a layer with a seed draws from its own generator."""
    if not training or rate == 0.0:
        return weights
    if generator is None:
        return ops.dropout(weights, rate)
    if rate == 1.0:
        return weights * 0.0
    keep = generator.random(weights.shape) >= rate
    return weights * (keep.astype(weights.dtype) / weights.dtype.type(1.0 - rate))


class Attention(Layer):
    """Dot-product (Luong) attention: `softmax(query @ key^T) @ value`, called on `[query, value]` or
    `[query, value, key]` of shapes (batch, Tq, dim), (batch, Tv, dim), (batch, Tv, dim).

    `mask=[query_mask, value_mask]` (bool, (batch, Tq) and (batch, Tv)), or the masks the inputs carry: masked
    values get no weight, masked query rows give zeros. `score_mode="concat"` scores with
    `concat_score_weight * sum(tanh(query + key))`. The output carries the query's mask.
    """

    supports_masking = True

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise invalid_argument("score_mode", "one of {'dot', 'concat'}", score_mode)
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = _rate(dropout)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)
        self.scale = None
        self.concat_score_weight = None

    # -- checks ---------------------------------------------------------------------------------------------------
    def _validate(self, inputs, mask=None):
        name = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{name} layer must be called on a list of inputs, namely [query, value] or "
                             f"[query, value, key]. Received: inputs={inputs!r}.")
        if not 2 <= len(inputs) <= 3:
            raise ValueError(f"{name} layer accepts inputs list of length 2 or 3, namely [query, value] or "
                             f"[query, value, key]. Received length: {len(inputs)}.")
        if mask is not None:
            if not isinstance(mask, (list, tuple)):
                raise ValueError(f"{name} layer mask must be a list, namely [query_mask, value_mask]. "
                                 f"Received: mask={mask!r}.")
            if not 2 <= len(mask) <= 3:
                raise ValueError(f"{name} layer accepts mask list of length 2 or 3. Received: mask length "
                                 f"{len(mask)}.")

    def _validate_shapes(self, shapes):
        if isinstance(shapes, (list, tuple)) and not all(isinstance(s, (list, tuple)) for s in shapes):
            shapes = "a single tensor of shape " + str(tuple(shapes))  # build() got one shape, not a list of them
        self._validate(shapes)
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if len(query) < 3 or not len(query) == len(value) == len(key):
            raise ValueError(f"Layer {self.name!r} expects query, value and key of one rank >= 3 "
                             f"((batch, T, dim)); received shapes {[tuple(s) for s in shapes]}")
        if query[-1] != key[-1] or tuple(value[:-1]) != tuple(key[:-1]):
            raise ValueError(f"Layer {self.name!r}: query and key need the same last dimension, and value and key "
                             f"the same shape but for the last dimension; received query {tuple(query)}, value "
                             f"{tuple(value)}, key {tuple(key)}")

    # -- weights and scores ---------------------------------------------------------------------------------------
    def build(self, input_shape):
        self._validate_shapes(input_shape)
        if self.use_scale:
            self.scale = self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones")

    def _scores(self, query, key):
        """(batch, Tq, Tv) scores."""
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -2, -1))
            return scores * self.scale if self.scale is not None else scores
        pairs = ops.expand_dims(query, -2) + ops.expand_dims(key, -3)  # (batch, Tq, Tv, dim)
        if self.scale is not None:
            pairs = self.scale * pairs
        return self.concat_score_weight * ops.sum(ops.tanh(pairs), axis=-1)

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        self._validate(inputs, mask)
        self._validate_shapes([x.shape for x in inputs])
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask = _bool_mask(mask[0], query) if mask else None
        value_mask = _bool_mask(mask[1], query) if mask else None

        scores = self._scores(query, key)
        keep = None if value_mask is None else value_mask[..., None, :]
        if use_causal_mask:
            causal = _causal_mask(query._xp, scores.shape[-2], scores.shape[-1])
            keep = causal if keep is None else keep & causal
        if keep is not None:
            scores = ops.where(keep, scores, scores - _LARGE_NEGATIVE)
        weights = _drop(ops.softmax(scores, axis=-1), self.dropout, self._generator, training)
        out = ops.matmul(weights, value)
        if query_mask is not None:
            out = ops.where(query_mask[..., None], out, ops.cast(Tensor(0.0), out.dtype))
        if return_attention_scores:
            out._keras_mask = query_mask
            return out, weights
        return out

    def compute_mask(self, inputs, mask=None):
        if not mask or mask[0] is None:
            return None
        return _bool_mask(mask[0], inputs[0])

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Additive (Bahdanau) attention: scores `sum(scale * tanh(query + key))` with a trainable `scale` (dim,)."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        kwargs.pop("score_mode", None)
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._validate_shapes(input_shape)
        if self.use_scale:
            self.scale = self.add_weight("scale", (input_shape[0][-1],), "glorot_uniform")

    def _scores(self, query, key):
        pairs = ops.tanh(ops.expand_dims(query, -2) + ops.expand_dims(key, -3))  # (batch, Tq, Tv, dim)
        if self.scale is not None:
            pairs = pairs * self.scale
        return ops.sum(pairs, axis=-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config


_SLOTS = ("query", "value", "key", "attention_mask")


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention over the sequence axis, as `keras.layers.MultiHeadAttention`.

    `layer(query, value, key=None, attention_mask=None, return_attention_scores=False, training=None,
    use_causal_mask=False)` on (batch, T, dim) and (batch, S, dim) inputs. Weights in Keras' order and shapes:
    query, key, value kernels (dim, num_heads, key_dim|value_dim) each with a bias (num_heads, key_dim|value_dim),
    then the output kernel (num_heads, value_dim, *output_shape) and its bias. The masks the inputs carry
    (query, value, key) and `attention_mask` (batch, T, S) combine; the output carries the query's mask.
    Only the default `attention_axes` (the sequence axis of rank-3 inputs) is supported.
    """

    supports_masking = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = positive_int("num_heads", num_heads)
        self.key_dim = positive_int("key_dim", key_dim)
        self.value_dim = self.key_dim if value_dim is None else positive_int("value_dim", value_dim)
        self.dropout = _rate(dropout)
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, (int, np.integer)):
            output_shape = (output_shape,)
        if output_shape is not None:
            try:
                output_shape = tuple(positive_int("output_shape", n) for n in output_shape)
            except TypeError:
                raise invalid_argument("output_shape", "an int or a tuple of ints", output_shape) from None
        self._output_shape_arg = output_shape or None  # `output_shape` itself is the layer's output-shape attribute
        if isinstance(attention_axes, (int, np.integer)):
            attention_axes = (int(attention_axes),)
        if attention_axes is not None and tuple(attention_axes) not in ((1,), (-2,)):
            raise invalid_argument("attention_axes", "None (the sequence axis; other axes are not supported)",
                                   attention_axes)
        self.attention_axes = None if attention_axes is None else tuple(attention_axes)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)

    # -- calling: query, value, key and attention_mask travel as one list, so masks and the functional API work -
    def __call__(self, query, value=None, key=None, attention_mask=None, training=None, **kwargs):
        if "_slots" in kwargs:  # already packed (a functional graph replaying or loading the call)
            self._build_once(dict(zip(kwargs["_slots"], query)))
            return super().__call__(query, training=training, **kwargs)
        if value is None:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) must be called as "
                             f"layer(query, value, key=None, attention_mask=None, ...); received no value")
        given = dict(zip(_SLOTS, (query, value, key, attention_mask)))
        slots = tuple(name for name in _SLOTS if given[name] is not None)
        self._build_once(given)
        return super().__call__([given[name] for name in slots], training=training, _slots=slots, **kwargs)

    def _build_once(self, given):
        """Build from the named inputs before Layer.__call__, which would build from the packed list."""
        if self.built:
            return
        shapes = {name: tuple(np.shape(x) if getattr(x, "shape", None) is None else x.shape)
                  for name, x in given.items() if x is not None}
        self.build(shapes["query"], shapes["value"], shapes.get("key"))

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        for name, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3:
                raise ValueError(f"Layer {self.name!r}: `{name}` must have shape (batch, sequence, features); "
                                 f"received shape {tuple(shape)} (only the default attention_axes is supported)")
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError(f"All dimensions of `value` and `key`, except the last one, must be equal. "
                             f"Received: value_shape={tuple(value_shape)} and key_shape={tuple(key_shape)}")
        heads, out_shape = self.num_heads, self._output_shape_arg or (query_shape[-1],)
        self.query_kernel, self.query_bias = self._dense("query", query_shape[-1], (heads, self.key_dim))
        self.key_kernel, self.key_bias = self._dense("key", key_shape[-1], (heads, self.key_dim))
        self.value_kernel, self.value_bias = self._dense("value", value_shape[-1], (heads, self.value_dim))
        self.output_kernel, self.output_bias = self._dense("attention_output", (heads, self.value_dim), out_shape)
        self.built = True

    def _dense(self, name, fan_in, out_shape):
        fan_in = fan_in if isinstance(fan_in, tuple) else (fan_in,)
        kernel = self.add_weight(f"{name}/kernel", fan_in + tuple(out_shape), self.kernel_initializer,
                                 regularizer=self.kernel_regularizer)
        bias = (self.add_weight(f"{name}/bias", tuple(out_shape), self.bias_initializer,
                                regularizer=self.bias_regularizer) if self.use_bias else None)
        return kernel, bias

    def call(self, inputs, mask=None, training=None, _slots=_SLOTS[:2], return_attention_scores=False,
             use_causal_mask=False):
        given = dict(zip(_slots, inputs))
        query, value = given["query"], given["value"]
        key = given.get("key", value)
        masks = dict(zip(_slots, mask)) if mask else {}
        keep = self._keep_mask(query, value, masks, given.get("attention_mask"), use_causal_mask)

        q = ops.transpose(_project(query, self.query_kernel, self.query_bias), (0, 2, 1, 3))   # (B, N, T, H)
        k = ops.transpose(_project(key, self.key_kernel, self.key_bias), (0, 2, 3, 1))         # (B, N, H, S)
        v = ops.transpose(_project(value, self.value_kernel, self.value_bias), (0, 2, 1, 3))   # (B, N, S, Hv)
        scores = ops.matmul(q * (1.0 / math.sqrt(self.key_dim)), k)                            # (B, N, T, S)
        if keep is None:
            weights = ops.softmax(scores, axis=-1)
        else:  # Keras' masked Softmax: masked scores to -1e9, then masked weights to 0 (fully masked rows give 0)
            keep = keep if keep.ndim == 4 else keep[..., None, :, :]
            zero = ops.cast(Tensor(0.0), scores.dtype)
            weights = ops.where(keep, ops.softmax(ops.where(keep, scores, -_LARGE_NEGATIVE), axis=-1), zero)
        context = ops.matmul(_drop(weights, self.dropout, self._generator, training), v)       # (B, N, T, Hv)
        context = ops.transpose(context, (0, 2, 1, 3))                                          # (B, T, N, Hv)
        out = _project(context, self.output_kernel, self.output_bias, bound=2)
        if return_attention_scores:
            out._keras_mask = masks.get("query")
            return out, weights
        return out

    def _keep_mask(self, query, value, masks, attention_mask, use_causal_mask):
        """Keras' automatic mask: query mask (B, T, 1) & value and key masks (B, 1, S) & causal (1, T, S)
        & attention_mask (B, T, S) or (B, N, T, S); None when nothing is masked."""
        parts = []
        if masks.get("query") is not None:
            parts.append(_bool_mask(masks["query"], query)[:, :, None])
        for name in ("value", "key"):
            if masks.get(name) is not None:
                parts.append(_bool_mask(masks[name], query)[:, None, :])
        if use_causal_mask:
            parts.append(_causal_mask(query._xp, query.shape[1], value.shape[1])[None])
        if attention_mask is not None:
            parts.append(_bool_mask(attention_mask, query))
        if not parts:
            return None
        keep = parts[0]
        for part in parts[1:]:
            keep = keep & part
        return keep

    def compute_mask(self, inputs, mask=None):
        if not mask or mask[0] is None:
            return None
        return _bool_mask(mask[0], inputs[0])

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is not None and key_shape is not None and tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError(f"All dimensions of `value` and `key`, except the last one, must be equal. "
                             f"Received: value_shape={tuple(value_shape)} and key_shape={tuple(key_shape)}")
        query_shape = tuple(query_shape)
        return query_shape[:-1] + self._output_shape_arg if self._output_shape_arg else query_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self._output_shape_arg, "attention_axes": self.attention_axes,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer), "seed": self.seed}


def _project(x, kernel, bias, bound=1):
    """Keras' EinsumDense as one matmul: x (..., *kernel.shape[:bound]) . kernel -> (..., *kernel.shape[bound:])."""
    contracted, produced = kernel.shape[:bound], kernel.shape[bound:]
    flat = ops.reshape(x, x.shape[:x.ndim - bound] + (math.prod(contracted),))
    y = ops.matmul(flat, ops.reshape(kernel, (math.prod(contracted), math.prod(produced))))
    y = ops.reshape(y, x.shape[:x.ndim - bound] + produced)
    return y + bias if bias is not None else y
