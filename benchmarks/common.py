"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from datetime import date

import pandas as pd
import torch

from mtlkit.results import REPO_DIR, write_csv

OUT = REPO_DIR / "results" / "benchmarks"


def best_of(fn: Callable[[], object], repeats: int = 5) -> float:
    """Minimum wall time of ``repeats`` calls (after one warm-up call), in seconds."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def write(name: str, rows: list[dict]) -> pd.DataFrame:
    """Write a benchmark table with the date, machine and thread count, and return it."""
    df = pd.DataFrame(rows).assign(
        date=date.today().isoformat(),
        machine=platform.machine(),
        cpu=platform.processor() or platform.machine(),
        threads=torch.get_num_threads(),
    )
    write_csv(OUT / f"{name}.csv", df)
    return df
