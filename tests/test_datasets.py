"""ember.datasets (IDX reader, scikit-learn digits) and ember.data (mini-batch loader)."""
import gzip
import struct

import numpy as np
import pytest

import ember
from ember import datasets
from ember.data import DataLoader, batches
from ember.datasets import DatasetError


# -- IDX files ------------------------------------------------------------------------------------------------------
def idx_bytes(array, code):
    header = b"\0\0" + bytes([code, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


IDX_CASES = [(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4), 0x08),
             (np.array([-3, 0, 5], np.int8), 0x09), (np.array([[-300, 7]], np.int16), 0x0B),
             (np.array([1 << 20, -5], np.int32), 0x0C), (np.array([1.5, -2.25], np.float32), 0x0D),
             (np.array([[np.pi]], np.float64), 0x0E)]


@pytest.mark.parametrize("array, code", IDX_CASES, ids=lambda v: str(v) if isinstance(v, int) else None)
def test_load_idx_reads_every_type_code(array, code, tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(idx_bytes(array, code))
    loaded = datasets.load_idx(path)
    assert loaded.dtype == array.dtype.newbyteorder("=") and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)


def test_load_idx_reads_gzip_files(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images, 0x08)))
    np.testing.assert_array_equal(datasets.load_idx(path), images)


def test_load_idx_reads_mnist_style_labels(tmp_path):
    labels = np.array([5, 0, 4, 1, 9], np.uint8)
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 5) + labels.tobytes())
    np.testing.assert_array_equal(datasets.load_idx(path), labels)


GOOD = idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3), 0x08)
BAD_IDX = {
    "empty": (b"", "too short"),
    "nonzero magic": (b"\x01" + GOOD[1:], "magic"),
    "unknown type code": (GOOD[:2] + b"\x07" + GOOD[3:], "type code 0x07"),
    "zero dimensions": (GOOD[:3] + b"\x00", "0 dimensions"),
    "cut in the dimensions": (GOOD[:9], "dimension list"),
    "truncated data": (GOOD[:-1], "truncated"),
    "trailing bytes": (GOOD + b"\0", "trailing"),
    "absurd dimensions": (b"\0\0\x08\x03" + struct.pack(">III", 2 ** 31, 2 ** 31, 2 ** 31), "limit"),
}


@pytest.mark.parametrize("case", sorted(BAD_IDX))
def test_load_idx_rejects_bad_files_naming_the_problem_and_path(case, tmp_path):
    data, message = BAD_IDX[case]
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(DatasetError, match=message) as info:
        datasets.load_idx(path)
    assert str(path) in str(info.value)


def test_load_idx_rejects_a_corrupt_gzip_stream(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(GOOD)[:-12] + b"garbage!garbage!")
    with pytest.raises(DatasetError):
        datasets.load_idx(path)


def test_load_idx_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        datasets.load_idx(tmp_path / "nope")


# -- digits ---------------------------------------------------------------------------------------------------------
def test_digits_shapes_dtypes_and_ranges():
    pytest.importorskip("sklearn")
    (x_train, y_train), (x_test, y_test) = datasets.digits()
    assert x_train.shape[1:] == (8, 8, 1) and x_test.shape[1:] == (8, 8, 1)
    assert len(x_train) + len(x_test) == 1797 and len(x_train) == len(y_train) and len(x_test) == len(y_test)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_test)) == set(range(10))
    assert abs(len(x_test) / 1797 - 0.2) < 0.01


def test_digits_split_is_stratified():
    pytest.importorskip("sklearn")
    (_, y_train), (_, y_test) = datasets.digits(test_size=0.25)
    train_share = np.bincount(y_train) / len(y_train)
    test_share = np.bincount(y_test) / len(y_test)
    np.testing.assert_allclose(train_share, test_share, atol=0.01)


def test_digits_split_is_deterministic_by_seed_and_disjoint():
    pytest.importorskip("sklearn")
    (a, _), (a_test, _) = datasets.digits(seed=3)
    (b, _), _ = datasets.digits(seed=3)
    (c, _), _ = datasets.digits(seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    train_rows = {row.tobytes() for row in a}
    overlap = sum(row.tobytes() in train_rows for row in a_test)
    assert overlap < 10  # only the few digits that are exact duplicates in the data itself


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, True, "0.2"])
def test_digits_rejects_bad_test_size(bad):
    with pytest.raises(ValueError, match="test_size"):
        datasets.digits(test_size=bad)


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r'pip install "ember\[examples\]"'):
        datasets.digits()


# -- DataLoader -----------------------------------------------------------------------------------------------------
def test_batches_cover_every_sample_once_per_epoch():
    x, y = np.arange(10).reshape(10, 1), np.arange(10) * 10
    seen = []
    for xb, yb in batches(x, y, batch_size=3, seed=0):
        np.testing.assert_array_equal(yb, xb[:, 0] * 10)  # x and y stay paired
        seen.extend(xb[:, 0])
    assert sorted(seen) == list(range(10))


def test_batch_sizes_and_len_with_and_without_drop_remainder():
    x = np.zeros((10, 2))
    assert [len(b) for b in DataLoader(x, batch_size=4, shuffle=False)] == [4, 4, 2]
    assert len(DataLoader(x, batch_size=4)) == 3
    assert [len(b) for b in DataLoader(x, batch_size=4, drop_remainder=True)] == [4, 4]
    assert len(DataLoader(x, batch_size=4, drop_remainder=True)) == 2


def test_no_shuffle_keeps_order():
    x = np.arange(7)
    assert np.concatenate(list(DataLoader(x, batch_size=3, shuffle=False))).tolist() == list(range(7))


def test_seeded_loader_reshuffles_each_epoch_and_repeats_across_loaders():
    x = np.arange(50)
    loader = DataLoader(x, batch_size=50, seed=7)
    first, second = next(iter(loader)), next(iter(loader))
    assert not np.array_equal(first, second)
    again = DataLoader(x, batch_size=50, seed=7)
    np.testing.assert_array_equal(next(iter(again)), first)
    np.testing.assert_array_equal(next(iter(again)), second)


def test_unseeded_shuffle_follows_ember_manual_seed():
    x = np.arange(50)
    ember.manual_seed(11)
    a = [b.tolist() for b in batches(x, batch_size=10)]
    ember.manual_seed(11)
    b = [b.tolist() for b in batches(x, batch_size=10)]
    assert a == b and a != [list(range(i, i + 10)) for i in range(0, 50, 10)]


def test_multi_input_and_multi_output_keep_their_structure():
    x1, x2, y1, y2 = np.arange(6), np.arange(6) * 2, np.arange(6) * 3, np.arange(12).reshape(6, 2)
    for (a, b), (c, d) in DataLoader([x1, x2], [y1, y2], batch_size=4, seed=0):
        np.testing.assert_array_equal(b, a * 2)
        np.testing.assert_array_equal(c, a * 3)
        np.testing.assert_array_equal(d[:, 0], a * 2)


def test_loader_accepts_ember_tensors():
    (xb,) = list(DataLoader(ember.tensor(np.ones((3, 2))), batch_size=3))
    assert xb.shape == (3, 2)


def test_mismatched_lengths_name_every_array():
    with pytest.raises(ValueError, match=r"x\[0\]: 5, x\[1\]: 4, y: 5"):
        DataLoader([np.zeros(5), np.zeros(4)], np.zeros(5))


@pytest.mark.parametrize("kwargs, message", [({"batch_size": 0}, "batch_size"), ({"batch_size": 2.5}, "batch_size"),
                                             ({"seed": -1}, "seed"), ({"seed": "x"}, "seed")])
def test_bad_arguments_are_rejected_keras_style(kwargs, message):
    with pytest.raises(ValueError, match=f"Invalid value for argument `{message}`"):
        DataLoader(np.zeros(4), **kwargs)


def test_scalar_and_empty_list_inputs_are_rejected():
    with pytest.raises(ValueError, match="scalar"):
        DataLoader(np.float32(3.0))
    with pytest.raises(ValueError, match="empty list"):
        DataLoader([])
