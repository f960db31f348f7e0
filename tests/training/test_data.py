"""Data loaders: digits split, and the IDX reader on small files the test writes."""

import gzip
import struct

import numpy as np
import pytest
import torch

from sw.training import load_digits_data, load_mnist_idx, read_idx


def _write_idx(path, arr: np.ndarray, code: int = 0x08, gz: bool = False):
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + b"".join(
        struct.pack(">I", d) for d in arr.shape)
    body = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + body)


def _fake_mnist(d, n_train=12, n_test=5, gz=False):
    rng = np.random.default_rng(0)
    data = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        img = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, size=(n,), dtype=np.uint8)
        ext = ".gz" if gz else ""
        _write_idx(d / f"{split}-images-idx3-ubyte{ext}", img, gz=gz)
        _write_idx(d / f"{split}-labels-idx1-ubyte{ext}", lab, gz=gz)
        data[split] = (img, lab)
    return data


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx(tmp_path, gz):
    ref = _fake_mnist(tmp_path, gz=gz)
    X_tr, X_te, y_tr, y_te = load_mnist_idx(tmp_path)
    assert X_tr.shape == (12, 1, 28, 28) and X_te.shape == (5, 1, 28, 28)
    assert X_tr.dtype == torch.float32 and y_tr.dtype == torch.long
    np.testing.assert_allclose(X_tr[:, 0].numpy() * 255, ref["train"][0], atol=1e-3)
    assert y_te.tolist() == ref["t10k"][1].tolist()


def test_read_idx_other_types_and_errors(tmp_path):
    a = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    _write_idx(tmp_path / "a.idx", a, code=0x0C)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), a)
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(ValueError, match="need 5"):
        read_idx(tmp_path / "short.idx")


def test_missing_mnist_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_mnist_idx(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist_idx(tmp_path)


def test_digits_split():
    X_tr, X_te, y_tr, y_te = load_digits_data()
    assert X_tr.shape == (1437, 64) and X_te.shape == (360, 64)
    assert X_tr.dtype == torch.float32 and float(X_tr.max()) == 1.0 and float(X_tr.min()) == 0.0
    assert sorted(set(y_te.tolist())) == list(range(10))
    X_tr2, _, _, _ = load_digits_data()
    assert torch.equal(X_tr, X_tr2)
