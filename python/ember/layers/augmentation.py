"""Image augmentation layers, as Keras's preprocessing layers: active only when called with `training=True`,
the identity otherwise (RandomCrop center-crops at inference). Images are NHWC (or one unbatched HWC image);
`data_format="channels_first"` converts at the edge.

Every spatial transform here is one gather: each output pixel reads the input at coordinates drawn per sample
(NumPy arrays, no gradient: they are random, not learned), through `ember.ops.getitem`, so autograd carries the
gradient back to the input pixels that were read (bilinear sampling weighs them). GaussianNoise adds noise: its
gradient is the identity.

Randomness comes from ember's generator (`ember.manual_seed` makes a run repeatable), or, when a layer is given
`seed`, from the layer's own generator.
"""
import math
import numbers

import numpy as np

from .. import device as _device
from .. import ops
from .. import random as ember_random
from ..tensor import Tensor
from .base import Layer, invalid_argument

FILL_MODES = ("constant", "reflect", "wrap", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def _number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def factor_range(name, factor, low=-math.inf, high=math.inf):
    """A factor as (lower, upper): a number f means (-|f|, |f|); a pair is taken as is. Both within [low, high]."""
    if _number(factor):
        bounds = (-abs(float(factor)), abs(float(factor)))
    elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(_number(f) for f in factor):
        bounds = (float(factor[0]), float(factor[1]))
    else:
        raise invalid_argument(name, "a number or a tuple of two numbers (lower, upper)", factor)
    if bounds[0] > bounds[1] or bounds[0] < low or bounds[1] > high:
        raise invalid_argument(name, f"lower <= upper, both in [{low}, {high}]", factor)
    return bounds


def _check_choice(name, value, choices):
    if value not in choices:
        raise invalid_argument(name, f"one of {choices}", value)
    return value


def _check_seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise invalid_argument("seed", "None or a non-negative int", seed)
    return None if seed is None else int(seed)


def _map_indices(index, size, fill_mode):
    """Integer coordinates outside [0, size) brought back inside per `fill_mode` ("constant" clips; the caller
    masks those pixels)."""
    if fill_mode == "reflect":  # d c b a | a b c d | d c b a
        index = np.mod(index, 2 * size)
        return np.where(index >= size, 2 * size - 1 - index, index)
    if fill_mode == "wrap":
        return np.mod(index, size)
    return np.clip(index, 0, size - 1)


def gather(x, rows, cols, fill_mode="constant", fill_value=0.0, weight=None):
    """out[b, i, j, :] = x[b, rows[b, i, j], cols[b, i, j], :] (times `weight`), for integer rows/cols that may
    fall outside the image: `fill_mode` says what is read there."""
    batch, height, width = x.shape[0], x.shape[1], x.shape[2]
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    b = np.broadcast_to(np.arange(batch).reshape(-1, 1, 1), rows.shape)
    out = x[b, _map_indices(rows, height, fill_mode), _map_indices(cols, width, fill_mode)]
    weight = None if weight is None else weight.astype(x.dtype)

    def on_device(a):  # the geometry is computed on the host; the image may be on a GPU
        return _device.move(a[..., None], x.device)

    if fill_mode == "constant" and not inside.all():
        mask = inside.astype(x.dtype)
        fill = fill_value * (1 - mask)
        weight, fill = (mask, fill) if weight is None else (mask * weight, fill * weight)
        return out * on_device(weight) + on_device(fill)
    return out if weight is None else out * on_device(weight)


def sample(x, rows, cols, interpolation, fill_mode, fill_value):
    """x read at real-valued coordinates (B, H', W'): nearest pixel, or the bilinear blend of the four around."""
    if interpolation == "nearest":
        return gather(x, np.floor(rows + 0.5).astype(np.int64), np.floor(cols + 0.5).astype(np.int64),
                      fill_mode, fill_value)
    r0, c0 = np.floor(rows), np.floor(cols)
    dr, dc = rows - r0, cols - c0
    r0, c0 = r0.astype(np.int64), c0.astype(np.int64)
    out = None
    for r, c, w in ((r0, c0, (1 - dr) * (1 - dc)), (r0, c0 + 1, (1 - dr) * dc),
                    (r0 + 1, c0, dr * (1 - dc)), (r0 + 1, c0 + 1, dr * dc)):
        term = gather(x, r, c, fill_mode, fill_value, weight=w)
        out = term if out is None else out + term
    return out


class BaseAugmentation(Layer):
    """Shared by the layers below: seed, data format, unbatched input, and the training switch."""

    def __init__(self, seed=None, data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        self.seed = _check_seed(seed)
        self.data_format = _check_choice("data_format", data_format, ("channels_last", "channels_first"))
        self._rng = np.random.default_rng(self.seed) if self.seed is not None else None

    @property
    def rng(self):
        return self._rng if self._rng is not None else ember_random.generator()  # read now: manual_seed replaces it

    def call(self, inputs, training=None):
        if inputs.ndim not in (3, 4):
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected ndim=4 "
                             f"(batch, height, width, channels) or 3 (one image), found ndim={inputs.ndim}. "
                             f"Full shape received: {tuple(inputs.shape)}")
        if not training and not self.transforms_at_inference:
            return inputs
        x = inputs if inputs.dtype.kind == "f" else ops.cast(inputs, self.dtype)
        unbatched = x.ndim == 3
        if unbatched:
            x = ops.expand_dims(x, 0)
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 2, 3, 1))
        x = self.transform(x, bool(training))
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 3, 1, 2))
        return x[0] if unbatched else x

    transforms_at_inference = False

    def transform(self, images, training):
        raise NotImplementedError

    def get_config(self):
        return dict(super().get_config(), seed=self.seed, data_format=self.data_format)


class RandomFlip(BaseAugmentation):
    """Flips each image left-right and/or up-down, each with probability 1/2."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.mode = _check_choice("mode", mode, ("horizontal", "vertical", "horizontal_and_vertical"))

    def transform(self, images, training):
        batch, height, width = images.shape[:3]
        rows = np.broadcast_to(np.arange(height).reshape(1, -1, 1), (batch, height, width))
        cols = np.broadcast_to(np.arange(width).reshape(1, 1, -1), (batch, height, width))
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            flip = self.rng.random(batch) < 0.5
            cols = np.where(flip[:, None, None], width - 1 - cols, cols)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            flip = self.rng.random(batch) < 0.5
            rows = np.where(flip[:, None, None], height - 1 - rows, rows)
        return gather(images, rows, cols)

    def get_config(self):
        return dict(super().get_config(), mode=self.mode)


class _FillMixin:
    def _init_fill(self, fill_mode, fill_value, interpolation=None):
        self.fill_mode = _check_choice("fill_mode", fill_mode, FILL_MODES)
        if not _number(fill_value):
            raise invalid_argument("fill_value", "a number", fill_value)
        self.fill_value = float(fill_value)
        if interpolation is not None:
            self.interpolation = _check_choice("interpolation", interpolation, INTERPOLATIONS)

    def _fill_config(self):
        config = {"fill_mode": self.fill_mode, "fill_value": self.fill_value}
        if hasattr(self, "interpolation"):
            config["interpolation"] = self.interpolation
        return config


def _grid(batch, height, width):
    rows = np.broadcast_to(np.arange(height, dtype=np.float64).reshape(1, -1, 1), (batch, height, width))
    cols = np.broadcast_to(np.arange(width, dtype=np.float64).reshape(1, 1, -1), (batch, height, width))
    return rows, cols


class RandomTranslation(_FillMixin, BaseAugmentation):
    """Shifts each image by a whole number of pixels: up to `height_factor` of its height (positive: down) and
    `width_factor` of its width (positive: right). Factors are a fraction f (meaning [-f, f]) or (lower, upper)
    within [-1, 1]."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", fill_value=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height_range = factor_range("height_factor", height_factor, -1.0, 1.0)
        self._width_range = factor_range("width_factor", width_factor, -1.0, 1.0)
        self._init_fill(fill_mode, fill_value)

    def transform(self, images, training):
        batch, height, width = images.shape[:3]
        dy = np.round(self.rng.uniform(*self._height_range, size=batch) * height).astype(np.int64)
        dx = np.round(self.rng.uniform(*self._width_range, size=batch) * width).astype(np.int64)
        rows, cols = _grid(batch, height, width)
        return gather(images, rows.astype(np.int64) - dy[:, None, None], cols.astype(np.int64) - dx[:, None, None],
                      self.fill_mode, self.fill_value)

    def get_config(self):
        return dict(super().get_config(), height_factor=self.height_factor, width_factor=self.width_factor,
                    **self._fill_config())


class RandomRotation(_FillMixin, BaseAugmentation):
    """Rotates each image about its center by an angle drawn from `factor` (a fraction of a full turn: f means
    [-f, f]; positive is counter-clockwise)."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", fill_value=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor
        self._range = factor_range("factor", factor)
        self._init_fill(fill_mode, fill_value, interpolation)

    def transform(self, images, training):
        batch, height, width = images.shape[:3]
        angle = self.rng.uniform(*self._range, size=batch) * 2 * np.pi
        cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
        rows, cols = _grid(batch, height, width)
        cy, cx = (height - 1) / 2, (width - 1) / 2
        y, x = rows - cy, cols - cx
        # the inverse rotation: where each output pixel comes from (rows grow downwards, hence the signs)
        src_cols = cos * x - sin * y + cx
        src_rows = sin * x + cos * y + cy
        return sample(images, src_rows, src_cols, self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self):
        return dict(super().get_config(), factor=self.factor, **self._fill_config())


class RandomZoom(_FillMixin, BaseAugmentation):
    """Zooms each image about its center: the zoom is 1 + a draw from `height_factor` (positive: out, smaller
    content; negative: in). `width_factor=None` keeps the aspect ratio (the same draw for both axes)."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear",
                 fill_value=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height_range = factor_range("height_factor", height_factor, -1.0 + 1e-6, math.inf)
        self._width_range = (None if width_factor is None
                             else factor_range("width_factor", width_factor, -1.0 + 1e-6, math.inf))
        self._init_fill(fill_mode, fill_value, interpolation)

    def transform(self, images, training):
        batch, height, width = images.shape[:3]
        zoom_y = 1 + self.rng.uniform(*self._height_range, size=batch)
        zoom_x = zoom_y if self._width_range is None else 1 + self.rng.uniform(*self._width_range, size=batch)
        rows, cols = _grid(batch, height, width)
        cy, cx = (height - 1) / 2, (width - 1) / 2
        src_rows = (rows - cy) * zoom_y[:, None, None] + cy
        src_cols = (cols - cx) * zoom_x[:, None, None] + cx
        return sample(images, src_rows, src_cols, self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self):
        return dict(super().get_config(), height_factor=self.height_factor, width_factor=self.width_factor,
                    **self._fill_config())


class RandomCrop(BaseAugmentation):
    """Crops a `height` x `width` window: at a random place per image in training, the center at inference."""

    transforms_at_inference = True

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        for name, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise invalid_argument(name, "a positive int", value)
        self.height, self.width = int(height), int(width)

    def transform(self, images, training):
        batch, height, width = images.shape[:3]
        if height < self.height or width < self.width:
            raise ValueError(f"Layer {self.name!r}: cannot crop {self.height}x{self.width} from images of "
                             f"{height}x{width}. Full shape received: {tuple(images.shape)}")
        if not training:
            top, left = (height - self.height) // 2, (width - self.width) // 2
            return images[:, top:top + self.height, left:left + self.width, :]
        top = self.rng.integers(0, height - self.height + 1, size=batch)[:, None, None]
        left = self.rng.integers(0, width - self.width + 1, size=batch)[:, None, None]
        rows, cols = _grid(batch, self.height, self.width)
        return gather(images, rows.astype(np.int64) + top, cols.astype(np.int64) + left)

    def get_config(self):
        return dict(super().get_config(), height=self.height, width=self.width)


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation `stddev` in training (any input shape); the gradient
    passes through unchanged."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not _number(stddev) or stddev < 0:
            raise invalid_argument("stddev", "a non-negative number", stddev)
        self.stddev = float(stddev)
        self.seed = _check_seed(seed)
        self._rng = np.random.default_rng(self.seed) if self.seed is not None else None

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        rng = self._rng if self._rng is not None else ember_random.generator()
        noise = rng.normal(0.0, self.stddev, size=inputs.shape).astype(inputs.dtype)
        return inputs + Tensor._wrap(_device.move(noise, inputs.device))  # drawn on the host: one seed, one noise

    def get_config(self):
        return dict(super().get_config(), stddev=self.stddev, seed=self.seed)


__all__ = ["RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomCrop", "GaussianNoise"]
