"""Where a tensor's storage lives. CPU storage is a NumPy array; GPU storage (the CUDA issue) a CuPy array."""
import numpy as np


def parse(device):
    """Normalize "cpu", "cuda", "cuda:0" (or a Device-like string) to a canonical name."""
    name = str(device).lower()
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        return name if ":" in name else "cuda:0"
    raise ValueError(f"Invalid device {device!r}. Expected 'cpu' or 'cuda[:index]'.")


def of_array(array):
    """The device an array lives on."""
    return "cpu" if isinstance(array, (np.ndarray, np.generic)) else f"cuda:{array.device.id}"


def array_module(array):
    """NumPy for CPU arrays, CuPy for GPU arrays: the `xp` that elementwise math runs on."""
    if isinstance(array, (np.ndarray, np.generic)):
        return np
    import cupy

    return cupy


def move(array, device):
    """Copy `array` to `device` (no copy when it is already there)."""
    target = parse(device)
    if target == of_array(array):
        return array
    if target == "cpu":
        return array.get()
    try:
        import cupy
    except ImportError:
        raise RuntimeError(f"Cannot move a tensor to {target}: CuPy is not installed "
                           f"(pip install 'ember[cuda]') or no CUDA device is present.") from None
    with cupy.cuda.Device(int(target.split(":")[1])):
        return cupy.asarray(array)
