"""Image grids written as PNG with only the standard library (zlib, struct): GAN samples each epoch need no
matplotlib or Pillow."""
import os
import struct
import zlib

import numpy as np


def _as_nhwc(images):
    """(N, H, W), (N, H, W, 1) or (N, H, W, 3) as (N, H, W, C), C in {1, 3}."""
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(f"save_image_grid: expected images of shape (N, H, W), (N, H, W, 1) or (N, H, W, 3) "
                         f"(channels last). Received: shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError("save_image_grid: expected at least one image. Received: shape "
                         f"{array.shape}")
    return array


def to_uint8(images, value_range=None):
    """Pixels as uint8. uint8 input stays as it is; floats map `value_range` (low, high) to 0..255, clipped.
    value_range=None takes the images' own minimum and maximum (a constant batch becomes black)."""
    array = np.asarray(images)
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "fiub":
        raise ValueError(f"save_image_grid: expected numeric pixels. Received: dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError("save_image_grid: the images hold NaN or infinite values (did training diverge?)")
    low, high = (array.min(), array.max()) if value_range is None else map(float, value_range)
    if not high > low:
        if value_range is not None:
            raise ValueError(f"Invalid value for argument `value_range`. Expected (low, high) with low < high. "
                             f"Received: value_range={value_range!r}")
        high = low + 1.0
    scaled = (array - low) / (high - low)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)


def make_image_grid(images, nrow=8, padding=2, pad_value=0, value_range=None, scale=1):
    """One uint8 image (H', W', C) of `images` tiled `nrow` to a row with `padding` pixels between them and
    around them; `scale` enlarges each pixel to scale x scale (8x8 digits are hard to see otherwise)."""
    images = to_uint8(_as_nhwc(images), value_range)
    for name, value, least in (("nrow", nrow, 1), ("padding", padding, 0), ("scale", scale, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise ValueError(f"Invalid value for argument `{name}`. Expected an int >= {least}. "
                             f"Received: {name}={value!r}")
    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, c = images.shape
    cols = min(nrow, n)
    rows = -(-n // cols)
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, np.uint8)
    for i, image in enumerate(images):
        top = padding + (i // cols) * (h + padding)
        left = padding + (i % cols) * (w + padding)
        grid[top:top + h, left:left + w] = image
    return grid


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(image):
    """PNG bytes of a uint8 image (H, W), (H, W, 1) grey or (H, W, 3) RGB: 8 bits per channel, no filtering
    (filter byte 0 on each row), one zlib stream."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3) or 0 in image.shape:
        raise ValueError(f"encode_png: expected a non-empty uint8 image (H, W), (H, W, 1) or (H, W, 3). "
                         f"Received: shape {image.shape}, dtype {image.dtype}")
    height, width, channels = image.shape
    colour_type = 0 if channels == 1 else 2  # greyscale | truecolour
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, width * channels)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + _chunk(b"IEND", b""))


def save_image_grid(images, path, nrow=8, padding=2, pad_value=0, value_range=None, scale=1):
    """Write `images` (N, H, W[, C]) as one PNG grid to `path` (folders are made); returns the grid (uint8).

    value_range: the (low, high) pixel values that become black and white, e.g. (-1, 1) for a tanh generator;
    None uses the batch's own minimum and maximum.
    """
    grid = make_image_grid(images, nrow, padding, pad_value, value_range, scale)
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "wb") as file:
        file.write(encode_png(grid))
    return grid


__all__ = ["save_image_grid", "make_image_grid", "encode_png", "to_uint8"]
