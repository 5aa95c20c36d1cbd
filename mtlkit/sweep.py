"""Grids of runs: joblib workers (local processes, a Dask cluster, or Ray), and an on-disk cache per run
so an interrupted sweep resumes.

A run is a pure function ``fn(config) -> DataFrame`` of a JSON-able ``config`` (a dict, or an object
whose ``to_dict()`` is one, such as :class:`mtlkit.runs.RunConfig`). Its key hashes the
function's name, the config (which holds the seed) and the mtlkit source hash, so a change to the
library invalidates old entries. Each finished run is written atomically as JSON (no pickle from
disk) with a checksum of the whole entry (key, config, columns and rows); an entry that does not parse,
has another key, fails its checksum, or whose rows do not have its columns is recomputed, never used,
and the number of such damaged entries is reported.

Every run uses one torch thread and the AVX2 kernels (:mod:`mtlkit.host`), in-process or in a worker:
the numbers are then the same whatever ``n_jobs`` or backend is, and parallelism comes from processes
(which is also faster for models this small). Backends (:data:`BACKENDS`): ``loky`` - joblib's local processes; ``dask`` - a
``dask.distributed`` cluster at a scheduler address (``tcp://host:8786``), or a ``LocalCluster`` of
``n_jobs`` single-threaded worker processes when no address is given; ``ray`` - joblib's Ray backend
(``ray.util.joblib``), where Ray is installed. Results come back in config order on every backend.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from joblib import Parallel, delayed, parallel_config

from mtlkit.guard import when_orphaned
from mtlkit.host import use_portable_kernels
from mtlkit.progress import report, tqdm
from mtlkit.results import atomic_write_text, mtlkit_hash

RunFn = Callable[[Any], pd.DataFrame]

BACKENDS: dict[str, tuple[str, str]] = {
    "loky": ("joblib", "joblib"),
    "dask": ("distributed", "dask[distributed]"),
    "ray": ("ray", "ray"),
}
"""Sweep backends: the module each needs, and what to ``pip install`` for it."""


def check_backend(backend: str) -> None:
    """Raise ``ValueError`` if ``backend`` is unknown or its engine is not installed (before any compute)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown sweep backend {backend!r}; known: {list(BACKENDS)}")
    module, package = BACKENDS[backend]
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"sweep backend {backend!r} needs {module!r}: pip install '{package}'")


@contextlib.contextmanager
def _engine(backend: str, n_jobs: int, scheduler: str | None) -> Iterator[None]:
    """joblib configured for ``backend`` (a Dask client or Ray registered for the duration)."""
    if backend == "loky":
        with parallel_config(backend="loky", n_jobs=n_jobs):
            yield
    elif backend == "dask":
        from dask.distributed import Client, LocalCluster

        cluster = None if scheduler else LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True)
        client = Client(scheduler or cluster)
        try:
            with parallel_config(backend="dask", n_jobs=-1, wait_for_workers_timeout=60):
                yield
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        from ray.util.joblib import register_ray

        register_ray()
        with parallel_config(backend="ray", n_jobs=n_jobs):
            yield


def as_dict(config: Any) -> dict[str, Any]:
    """The JSON-able form of a run's config: the dict itself, or its ``to_dict()``."""
    return config.to_dict() if hasattr(config, "to_dict") else config


def run_key(fn: RunFn, config: Any, source: str | None = None) -> str:
    """Stable key of a run: function name, config and mtlkit source hash."""
    blob = json.dumps(
        {
            "fn": f"{fn.__module__}.{fn.__qualname__}",
            "config": as_dict(config),
            "source": source or mtlkit_hash(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _checksum(entry: dict) -> str:
    """SHA-256 of everything in a cache entry but the checksum itself (schema included)."""
    body = {k: v for k, v in entry.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def load_cached(path: Path, key: str) -> pd.DataFrame | None:
    """The cached run at ``path`` if it is complete, intact and belongs to ``key``, else ``None``."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry["key"] != key or entry["sha256"] != _checksum(entry):
            return None
        columns, records = entry["columns"], entry["records"]
        if any(set(r) != set(columns) for r in records):
            return None
        return pd.DataFrame.from_records(records, columns=columns)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None  # unreadable (a folder in its place), not JSON, nested too deep, not an entry


_WATCHED: list[bool] = []


def _exit_with_parent() -> None:
    """In a worker process: exit as soon as the process that started it is gone (so a killed run leaves
    no worker computing for nobody). Started once per worker, on its first run."""
    if not _WATCHED:
        _WATCHED.append(True)
        when_orphaned(lambda: os._exit(1), poll=0.25)


def _compute(fn: RunFn, config: Any, index: int, driver: int | None = None) -> tuple[int, pd.DataFrame]:
    """One run on one torch thread (in the caller's process or a worker's); returns its index too.
    ``driver`` is the pid of the process that ran the sweep: a worker watches that its parent lives."""
    if driver is not None and os.getpid() != driver:
        _exit_with_parent()
    use_portable_kernels()  # a no-op where the study's kernel set them before starting this worker
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return index, fn(config)
    finally:
        torch.set_num_threads(threads)


def _store(cache_dir: Path, key: str, config: Any, df: pd.DataFrame) -> None:
    """Write a finished run to the cache, atomically, with a checksum of the whole entry."""
    entry = {
        "key": key,
        "config": as_dict(config),
        "columns": [str(c) for c in df.columns],
        "records": df.to_dict(orient="records"),  # native Python floats: exact through JSON
    }
    entry["sha256"] = _checksum(entry)
    path = cache_dir / f"{key}.json"
    if path.is_dir() and not path.is_symlink():  # a damaged entry: a folder where the file belongs
        shutil.rmtree(path)
    atomic_write_text(path, json.dumps(entry, sort_keys=True))


def run_sweep(
    fn: RunFn,
    configs: Sequence[Any],
    *,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    progress: bool = True,
    desc: str = "runs",
) -> list[pd.DataFrame]:
    """Run ``fn`` on every config (skipping those already in ``cache_dir``); results in config order.

    ``n_jobs=0`` uses one worker per core; ``n_jobs=1`` with ``loky`` runs in-process. ``backend`` is
    one of :data:`BACKENDS`; ``scheduler`` is a Dask scheduler address (``None``: a local cluster).
    Each run is cached as soon as it finishes, so a sweep killed at any point recomputes only the runs
    that had not finished.
    """
    check_backend(backend)
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
    damaged = sum(cache is not None and os.path.lexists(cache / f"{keys[i]}.json") for i in todo)
    if damaged:
        print(
            f"{desc}: {damaged} damaged cache entr{'y' if damaged == 1 else 'ies'} recomputed",
            file=sys.stderr,
        )
    n_jobs = (os.cpu_count() or 1) if n_jobs == 0 else n_jobs
    bar = tqdm(
        total=len(configs), initial=len(configs) - len(todo), desc=desc, disable=not progress, leave=False
    )
    started, computed = time.time(), 0
    report(desc, len(configs) - len(todo), len(configs), computed, started, damaged)  # `mtlkit run`'s line

    def finished(results: Iterator[tuple[int, pd.DataFrame]]) -> None:
        nonlocal computed
        for i, df in results:  # the driver caches each run as soon as it arrives
            if cache is not None:
                _store(cache, keys[i], configs[i], df)
            out[i] = df
            bar.update()
            computed += 1
            report(desc, len(configs) - len(todo) + computed, len(configs), computed, started, damaged)

    if todo and backend == "loky" and (n_jobs == 1 or len(todo) == 1):
        finished(_compute(fn, configs[i], i) for i in todo)
    elif todo:
        with _engine(backend, min(n_jobs, len(todo)), scheduler):
            finished(
                Parallel(
                    return_as="generator_unordered", batch_size=1
                )(  # one run per dispatch: no worker holds two while another idles
                    delayed(_compute)(fn, configs[i], i, os.getpid()) for i in todo
                )
            )
    bar.close()
    return out  # type: ignore[return-value]
