"""Grids of runs: joblib workers, and an on-disk cache per run so an interrupted sweep resumes.

A run is a pure function ``fn(config) -> DataFrame`` of a JSON-able ``config``. Its key hashes the
function's name, the config (which holds the seed) and the mtlkit source hash, so a change to the
library invalidates old entries. Each finished run is written atomically as JSON (no pickle from
disk) with a checksum of its rows; an entry that does not parse, has another key, or fails its
checksum is recomputed, never used.

Every run uses one torch thread, in-process or in a worker: the numbers are then the same whatever
``n_jobs`` is, and parallelism comes from processes (which is also faster for models this small).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from joblib import Parallel, delayed

from mtlkit.progress import tqdm
from mtlkit.results import atomic_write_text, mtlkit_hash

RunFn = Callable[[dict[str, Any]], pd.DataFrame]


def run_key(fn: RunFn, config: dict[str, Any], source: str | None = None) -> str:
    """Stable key of a run: function name, config and mtlkit source hash."""
    blob = json.dumps(
        {"fn": f"{fn.__module__}.{fn.__qualname__}", "config": config, "source": source or mtlkit_hash()},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _checksum(records: list[dict]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


def load_cached(path: Path, key: str) -> pd.DataFrame | None:
    """The cached run at ``path`` if it is complete and belongs to ``key``, else ``None``."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry["key"] != key or entry["sha256"] != _checksum(entry["records"]):
            return None
        return pd.DataFrame.from_records(entry["records"], columns=entry["columns"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _run_one(fn: RunFn, config: dict[str, Any], key: str, cache_dir: Path | None) -> pd.DataFrame:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        df = fn(config)
    finally:
        torch.set_num_threads(threads)
    if cache_dir is not None:
        records = df.to_dict(orient="records")  # native Python floats: exact through JSON
        entry = {
            "key": key,
            "config": config,
            "columns": list(df.columns),
            "records": records,
            "sha256": _checksum(records),
        }
        atomic_write_text(cache_dir / f"{key}.json", json.dumps(entry, sort_keys=True))
    return df


def run_sweep(
    fn: RunFn,
    configs: Sequence[dict[str, Any]],
    *,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = 1,
    backend: str = "loky",
    progress: bool = True,
    desc: str = "runs",
) -> list[pd.DataFrame]:
    """Run ``fn`` on every config (skipping those already in ``cache_dir``); results in config order.

    ``n_jobs=0`` uses one worker per core. ``backend`` is any joblib backend name (``loky`` =
    local processes).
    """
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    source = mtlkit_hash()
    keys = [run_key(fn, c, source) for c in configs]
    out: list[pd.DataFrame | None] = [None] * len(configs)
    if cache is not None:
        for i, k in enumerate(keys):
            out[i] = load_cached(cache / f"{k}.json", k)
    todo = [i for i, r in enumerate(out) if r is None]
    n_jobs = (os.cpu_count() or 1) if n_jobs == 0 else n_jobs
    bar = tqdm(
        total=len(configs), initial=len(configs) - len(todo), desc=desc, disable=not progress, leave=False
    )
    if n_jobs == 1 or len(todo) <= 1:
        for i in todo:
            out[i] = _run_one(fn, configs[i], keys[i], cache)
            bar.update()
    else:
        jobs = Parallel(n_jobs=min(n_jobs, len(todo)), backend=backend, return_as="generator")
        for i, df in zip(todo, jobs(delayed(_run_one)(fn, configs[i], keys[i], cache) for i in todo)):
            out[i] = df
            bar.update()
    bar.close()
    return out  # type: ignore[return-value]
