"""Op-table entries for shape ops, joining, splitting, padding and indexing."""
import numpy as np

from ember import ops

from .op_table import ErrorCase, OpInfo, Sample, normal, strategy
from .op_table_errors import (axis_out_of_range, mixed_devices, on_device, on_other_device, ragged_errors,
                              unsupported_dtype)


def _one_tensor(name, kwargs, rank=None, shape=None):
    """dtype and device cases of an op of one tensor, with `rank`/`shape` cases (default: ragged lists)."""
    ragged = ragged_errors(name, kwargs)
    return [rank or ragged[0], shape or ragged[1], unsupported_dtype(name, (2, 3), kwargs=kwargs),
            on_other_device(name, (2, 3), kwargs)]


def _joined(name, kwargs=None):
    """dtype and device cases of an op joining two tensors."""
    return [unsupported_dtype(name, (2, 3), (2, 3), kwargs=kwargs),
            mixed_devices(name, (np.ones((2, 3)), on_device((2, 3))), kwargs)]


def _split_piece(x, sections, axis, piece):
    return ops.split(x, sections, axis)[piece]


def _np_split_piece(x, sections, axis, piece):
    return np.split(x, sections, axis)[piece]


def _expand_reference(x, shape):
    """np.broadcast_to with torch's -1: keep that dimension of x."""
    lead = len(shape) - x.ndim
    return np.broadcast_to(x, tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape)))


def _index_samples(rng):
    x = normal(rng, 4, 5)
    return [Sample((x,), {"index": (slice(1, 3), slice(None, None, 2))}),
            Sample((x,), {"index": 2}),
            Sample((x,), {"index": (Ellipsis, None, -1)}),
            Sample((x,), {"index": np.array([0, 2, 2, 3])}),                     # repeated rows add up
            Sample((x,), {"index": (np.array([1, 1, 3]), np.array([0, 0, 4]))}),
            Sample((x,), {"index": x > 0.3}),                                       # boolean mask
            Sample((normal(rng, 2, 3, 4),), {"index": (slice(None), [2, 0])})]


SHAPE_OPS = [
    OpInfo("reshape", lambda x, shape: ops.reshape(x, shape), lambda x, shape: np.reshape(x, shape),
           lambda rng: [Sample((normal(rng, 3, 4),), {"shape": (2, 6)}), Sample((normal(rng, 2, 3, 4),), {"shape": (-1,)}),
                        Sample((normal(rng, 1),), {"shape": ()})],
           errors=_one_tensor("reshape", {"shape": (6,)}, shape=ErrorCase(
               (np.ones((3, 4)),), {"shape": (5, 2)}, ValueError,
               r"reshape: cannot reshape a tensor of shape \(3, 4\) \(12 elements\) into shape \(5, 2\)", "shape")),
           strategy=strategy("reshape")),
    OpInfo("transpose", lambda x, axes=None: ops.transpose(x, axes), lambda x, axes=None: np.transpose(x, axes),
           lambda rng: [Sample((normal(rng, 3, 4),)), Sample((normal(rng, 2, 3, 4),), {"axes": (1, 2, 0)})],
           errors=[ErrorCase((np.ones((2, 3)),), {"axes": (0, 0)}, ValueError,
                             r"transpose: axes \(0, 0\) are not a permutation of the 2 axes of shape \(2, 3\)")]
           + _one_tensor("transpose", {}, rank=ErrorCase(
               (np.ones((2, 3, 4)),), {"axes": (1, 0)}, ValueError,
               r"transpose: axes \(1, 0\) are not a permutation of the 3 axes of shape \(2, 3, 4\)", "rank")),
           strategy=strategy("transpose")),
    OpInfo("expand", lambda x, shape: ops.expand(x, shape), _expand_reference,
           lambda rng: [Sample((normal(rng, 3, 1),), {"shape": (2, 3, 4)}), Sample((normal(rng, 1),), {"shape": (5,)})],
           errors=_one_tensor("expand", {"shape": (2, 3)}, rank=ErrorCase(
               (np.ones((2, 3)),), {"shape": (3,)}, ValueError, r"expand: cannot broadcast shape \(2, 3\) to \(3,\)", "rank"),
               shape=ErrorCase((np.ones((3, 2)),), {"shape": (3, 4)}, ValueError,
                               r"expand: cannot broadcast shape \(3, 2\) to \(3, 4\)", "shape")),
           strategy=strategy("expand")),
    OpInfo("squeeze", lambda x, axis=None: ops.squeeze(x, axis), lambda x, axis=None: np.squeeze(x, axis),
           lambda rng: [Sample((normal(rng, 3, 1, 4, 1),)), Sample((normal(rng, 1, 5),), {"axis": 0})],
           errors=_one_tensor("squeeze", {}, rank=axis_out_of_range("squeeze"), shape=ErrorCase(
               (np.ones((2, 3)),), {"axis": 0}, ValueError, r"squeeze: axis 0 of shape \(2, 3\) has size 2, expected 1",
               "shape")),
           strategy=strategy("squeeze")),
    OpInfo("expand_dims", lambda x, axis: ops.expand_dims(x, axis), lambda x, axis: np.expand_dims(x, axis),
           lambda rng: [Sample((normal(rng, 3, 4),), {"axis": 1}), Sample((normal(rng, 2),), {"axis": -1})],
           errors=_one_tensor("expand_dims", {"axis": 0}, rank=axis_out_of_range("expand_dims", axis=5)),
           strategy=strategy("expand_dims")),
    OpInfo("flatten", lambda x, start_axis=0: ops.flatten(x, start_axis),
           lambda x, start_axis=0: x.reshape(x.shape[:start_axis] + (int(np.prod(x.shape[start_axis:])),)),
           lambda rng: [Sample((normal(rng, 2, 3, 4),), {"start_axis": 1}), Sample((normal(rng, 3, 2),))],
           errors=_one_tensor("flatten", {}, rank=axis_out_of_range("flatten", key="start_axis")),
           strategy=strategy("flatten")),
    OpInfo("concatenate", lambda *xs, axis=0: ops.concatenate(list(xs), axis),
           lambda *xs, axis=0: np.concatenate(xs, axis),
           lambda rng: [Sample((normal(rng, 2, 3), normal(rng, 4, 3))),
                        Sample((normal(rng, 2, 1), normal(rng, 2, 3), normal(rng, 2, 2)), {"axis": 1})],
           errors=[ErrorCase((np.ones((2, 3)), np.ones((2, 3, 1))), {}, ValueError,
                             r"concatenate: shapes \(2, 3\), \(2, 3, 1\) must match except along axis 0", "rank"),
                   ErrorCase((np.ones((2, 3)), np.ones((2, 4))), {"axis": 0}, ValueError,
                             r"concatenate: shapes \(2, 3\), \(2, 4\) must match except along axis 0", "shape")]
           + _joined("concatenate"),
           strategy=strategy("joined")),
    OpInfo("stack", lambda *xs, axis=0: ops.stack(list(xs), axis), lambda *xs, axis=0: np.stack(xs, axis),
           lambda rng: [Sample((normal(rng, 2, 3), normal(rng, 2, 3))),
                        Sample((normal(rng, 4), normal(rng, 4), normal(rng, 4)), {"axis": 1})],
           errors=[ErrorCase((np.ones((2, 3)), np.ones((2, 3, 1))), {}, ValueError,
                             r"stack: all tensors must have one shape, got \(2, 3\), \(2, 3, 1\)", "rank"),
                   ErrorCase((np.ones((2, 3)), np.ones((3, 2))), {}, ValueError,
                             r"stack: all tensors must have one shape, got \(2, 3\), \(3, 2\)", "shape")]
           + _joined("stack"),
           strategy=strategy("joined", stack=True)),
    OpInfo("split", _split_piece, _np_split_piece,
           lambda rng: [Sample((normal(rng, 6, 2),), {"sections": 3, "axis": 0, "piece": 1}),
                        Sample((normal(rng, 2, 7),), {"sections": [2, 5], "axis": 1, "piece": 2})],
           errors=_one_tensor("split", {"sections": 2, "axis": 0, "piece": 0},
                              rank=axis_out_of_range("split", kwargs={"sections": 2, "piece": 0}),
                              shape=ErrorCase((np.ones((5, 2)),), {"sections": 2, "axis": 0, "piece": 0}, ValueError,
                                              r"split: axis 0 of shape \(5, 2\) \(size 5\) does not divide into 2",
                                              "shape")),
           propagates_nan=False,
           strategy=strategy("split")),
    OpInfo("pad", lambda x, pad_width, constant_values=0: ops.pad(x, pad_width, constant_values=constant_values),
           lambda x, pad_width, constant_values=0: np.pad(x, pad_width, constant_values=constant_values),
           lambda rng: [Sample((normal(rng, 2, 3),), {"pad_width": ((1, 0), (2, 3))}),
                        Sample((normal(rng, 1, 4, 4, 2),), {"pad_width": ((0, 0), (1, 1), (1, 1), (0, 0)),
                                                             "constant_values": 0.5})],
           errors=[ErrorCase((np.ones((2, 3)),), {"pad_width": -1}, ValueError,
                             r"pad: pad widths must be >= 0, got -1 for shape \(2, 3\)"),
                   ErrorCase((np.ones((2, 3)),), {"pad_width": 1.5}, TypeError,
                             r"pad: pad widths must be integers, got 1.5 for shape \(2, 3\)")]
           + _one_tensor("pad", {"pad_width": 1}, rank=ErrorCase(
               (np.ones((2, 3)),), {"pad_width": ((1, 1),) * 3}, ValueError,
               r"pad: pad_width .* of shape \(3, 2\) does not fit a tensor of shape \(2, 3\)", "rank"),
               shape=ErrorCase((np.ones((2, 3)),), {"pad_width": ((1, 2, 3),) * 2}, ValueError,
                               r"pad: pad_width .* of shape \(2, 3\) does not fit a tensor of shape \(2, 3\)", "shape")),
           strategy=strategy("pad")),
    OpInfo("getitem", lambda x, index: x[index], lambda x, index: x[index], _index_samples,
           errors=[ErrorCase((np.ones((2, 3)),), {"index": (0, 0, 0)}, IndexError,
                             r"getitem: index \(0, 0, 0\) is invalid for a tensor of shape \(2, 3\): too many indices",
                             "rank"),
                   ErrorCase((np.ones((2, 3)),), {"index": (0, 5)}, IndexError,
                             r"getitem: index \(0, 5\) is invalid for a tensor of shape \(2, 3\)", "shape"),
                   ErrorCase((np.ones((2, 3)),), {"index": np.ones(3, bool)}, IndexError,
                             r"getitem: index array\(\[ True,  True,  True\]\) is invalid for a tensor of shape "
                             r"\(2, 3\): boolean index did not match.* 2 .* 3", "shape"),
                   ErrorCase((np.ones((2, 3)),), {"index": np.array([0.5])}, IndexError,
                             r"getitem: index array\(\[0.5\]\) is invalid for a tensor of shape \(2, 3\): arrays used "
                             r"as indices must be of integer \(or boolean\) type", "dtype"),
                   unsupported_dtype("getitem", (2, 3), kwargs={"index": 0}),
                   on_other_device("getitem", (2, 3), {"index": 0}),
                   mixed_devices("getitem", (np.ones((2, 3)),), {"index": on_device((2,), np.int64)})],
           propagates_nan=False,
           strategy=strategy("getitem")),
]
