"""Everything a study writes to disk: atomic writes, tidy CSV, JSON, figures, and source hashes.

A write goes to a temporary file in the target folder and is moved into place with ``os.replace``,
which is atomic on POSIX and Windows: a reader (or a killed process) sees the old file or the new
one, never half of one.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def expand_user(path: str | os.PathLike) -> Path:
    """``Path(path).expanduser()``, or ``ValueError`` saying so when ``~user`` names no user (where
    :meth:`pathlib.Path.expanduser` raises "Could not determine home directory")."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise ValueError(
            f"{os.fspath(path).split(os.sep)[0]!r} is no user's home folder (no such user)"
        ) from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON (NaN written as null), atomically."""
    return atomic_write_text(
        path, json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    )


def write_csv(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a tidy table as CSV atomically; the same frame always gives the same bytes."""
    return atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))


def save_figure(path: str | os.PathLike, fig: Any, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG atomically (metadata stripped, so bytes depend on pixels only)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return atomic_write_bytes(path, buf.getvalue())


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars, paths and non-finite floats into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def hash_files(paths: list[Path], root: Path) -> str:
    """SHA-256 over the relative names and contents of ``paths`` (sorted), as hex."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def mtlkit_hash() -> str:
    """Hash of every ``mtlkit/**/*.py`` source: a change to the library changes it."""
    return hash_files(list(PACKAGE_DIR.rglob("*.py")), PACKAGE_DIR)


def notebook_hash(path: str | os.PathLike) -> str:
    """Hash of a notebook's cell types and sources only (outputs and metadata do not count)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [
        (c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
        for c in nb["cells"]
    ]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_dir(staging: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Make the finished folder ``staging`` become ``final``, replacing a previous ``final`` in one atomic
    rename: a reader sees the old folder or the new one, never a mixture. The previous folder is kept
    until the rename, then deleted. (Where the atomic exchange is not available, the old folder is moved
    aside first, so a crash between the two renames leaves it as ``.<name>.previous``.)"""
    staging, final = Path(staging), Path(final)
    if not final.exists():
        os.rename(staging, final)
        return final
    if not _exchange(staging, final):
        previous = final.with_name(f".{final.name}.previous")
        shutil.rmtree(previous, ignore_errors=True)
        os.rename(final, previous)
        os.rename(staging, final)
        staging = previous
    if staging.is_symlink():  # the previous ``final`` was a link: the folder it points to is left alone
        staging.unlink()
    else:
        shutil.rmtree(staging)  # it now holds the previous results
    return final
