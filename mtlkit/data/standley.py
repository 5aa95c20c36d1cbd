"""The per-network losses Standley et al. released with *Which Tasks Should Be Learned Together in
Multi-task Learning?* (ICML 2020, arXiv 1905.07553; MIT license, see ``standley_tables/README.md``).

Each file is one table of losses of five Taskonomy tasks (their order is not named in the release, so
they are called ``t1`` ... ``t5`` here), one network per line, tab-separated:

* the first line holds the five *half-size* single-task networks, one task each (cost 0.5);
* every other line is a *full-size* network (cost 1) serving the tasks whose cell is not empty.

A setting has a validation table (selection), a test table (scoring) and an early-training table (ESA).
:func:`standley_scores` returns a setting as the score table :mod:`mtlkit.grouping` selects from.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd

TABLES = Path(__file__).resolve().parent / "standley_tables"
TASK_NAMES = ("t1", "t2", "t3", "t4", "t5")

SETTINGS: dict[int, dict[str, str]] = {
    1: {"val": "results.txt", "test": "results_test.txt", "early": "results_20.txt"},
    2: {"val": "results_large.txt", "test": "results_large_test.txt", "early": "results_large_20.txt"},
    3: {
        "val": "results_small_data.txt",
        "test": "results_small_data_test.txt",
        "early": "results_small_data_at4.txt",
    },
    4: {"val": "results_alt.txt", "test": "results_alt_test.txt", "early": "results_alt_20.txt"},
}
"""The four settings, in the order of the authors' solver: validation, test and early-epoch tables.
Setting 4's early table lacks one pair network (it then has no ESA score, as in the authors' solver)."""

SHA256 = {
    "results.txt": "1db223f1679a9d5dc22231b57f05e0dd3e287da3b5f60bd00c95a0309784b06a",
    "results_20.txt": "3d209286d539b530b9b8c1c06396752bf383112b9ecc958854d01e426784fad0",
    "results_alt.txt": "4334478ad821b9734ffa0394e6af61e66b194e0e896983914b2ace5f1464e980",
    "results_alt_20.txt": "988b5ec411d79f06764119387a196c9815b91c0887b4fc9181e8b783482a52db",
    "results_alt_test.txt": "3015908319ba461cb8982a317165048b3a61c93ca2eedd6d9d4dc9d29b292fcd",
    "results_large.txt": "6ff1772df403d17f4bed340512a498dafa7bf9bd4c4948e565ae7bba655db40b",
    "results_large_20.txt": "46fd746966d62ea2c387afd2275c46ec2a2002489229a98cb560e6c79034a028",
    "results_large_test.txt": "3a7d6627146f340123dd63a34498679fd25959a051071aaed787407d7095ab75",
    "results_small_data.txt": "f5cf7049807069926f48b02037edc4bb3db4029f0895d9fa6fa39a37123564f9",
    "results_small_data_at4.txt": "dcab462f54917fd40f43627b02048dcce14cc483eb70f0f4f44cbe96e22259dc",
    "results_small_data_test.txt": "021eb0ea154ebcfd336d7154e4ff3d73055e0633929b7a8c5b4cf2264e385a16",
    "results_test.txt": "010b6f7840eeb77defc5d309ed50f1b92ff2fcc7a518b89835aeec121a12ef10",
}
"""Checksums of the tables as released (a changed file is refused, not silently used)."""


class TableError(ValueError):
    """A loss table that is missing, changed or not in its documented layout (a released one here, a
    user's in :mod:`mtlkit.user_tables`), or a selection it cannot answer (unknown method, a budget that
    is not positive or below the cheapest cover; :func:`mtlkit.selection.select`)."""


def _cells(line: str) -> list[float | None]:
    cells = line.rstrip("\r\n").split("\t")
    if len(cells) != len(TASK_NAMES):
        raise TableError(f"expected {len(TASK_NAMES)} tab-separated cells, got {len(cells)}: {line!r}")
    return [float(c) if c.strip() else None for c in cells]


def read_table(name: str) -> pd.DataFrame:
    """One released table as rows ``(network, size, cost, task, loss)``; networks are named by the tasks
    they serve (``full:t1+t3``, ``half:t2``), as :func:`mtlkit.grouping.network_name` names ours."""
    path = TABLES / name
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TableError(f"cannot read {name}: {e}") from None
    if hashlib.sha256(raw).hexdigest() != SHA256.get(name):
        raise TableError(f"{name} differs from the released table (sha256 mismatch)")
    lines = [line for line in raw.decode("utf-8").splitlines() if line.strip()]
    rows = []
    for i, line in enumerate(lines):
        cells = _cells(line)
        if i == 0:  # the half-size single-task networks, one per cell
            rows += [("half:" + t, "half", 0.5, t, v) for t, v in zip(TASK_NAMES, cells) if v is not None]
            continue
        served = [t for t, v in zip(TASK_NAMES, cells) if v is not None]
        rows += [
            ("full:" + "+".join(served), "full", 1.0, t, v)
            for t, v in zip(TASK_NAMES, cells)
            if v is not None
        ]
    table = pd.DataFrame(rows, columns=["network", "size", "cost", "task", "loss"])
    if table.duplicated(["network", "task"]).any() or not all(math.isfinite(v) and v > 0 for v in table.loss):
        raise TableError(f"{name}: a network appears twice or a loss is not a positive number")
    return table


def standley_scores(setting: int) -> pd.DataFrame:
    """Setting ``setting`` (1-4) as one score table: ``network, size, cost, task, val, test, early``
    (``early`` is NaN for a network the early table lacks)."""
    if setting not in SETTINGS:
        raise TableError(f"unknown setting {setting!r}; known: {list(SETTINGS)}")
    keys = ["network", "size", "cost", "task"]
    parts = [read_table(f).rename(columns={"loss": split}) for split, f in SETTINGS[setting].items()]
    out = parts[0].merge(parts[1], on=keys, how="outer").merge(parts[2], on=keys, how="left")
    if out[["val", "test"]].isna().any().any():
        raise TableError(f"setting {setting}: validation and test tables list different networks")
    return out
