"""Tidy-table helpers: pick rows of a long ``(method, seed, epoch, split, task, metric, value)`` frame by
name instead of by hand-written boolean masks.

>>> import pandas as pd
>>> runs = pd.DataFrame({"epoch": [0, 0, 1], "split": ["test", "val", "val"], "metric": "loss", "value": [1.0, 2.0, 3.0]})
>>> final(runs, "test").value.tolist()
[1.0]
>>> where(runs, split="val", metric="loss").value.tolist()
[2.0, 3.0]
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def where(df: pd.DataFrame, **equal: Any) -> pd.DataFrame:
    """The rows of ``df`` whose columns equal the given values (a list or tuple value means "one of")."""
    mask = pd.Series(True, index=df.index)
    for column, value in equal.items():
        mask &= df[column].isin(value) if isinstance(value, list | tuple) else df[column] == value
    return df[mask]


def final(runs: pd.DataFrame, split: str | None = None, metric: str | None = None) -> pd.DataFrame:
    """The served models' final evaluation rows (``epoch == 0``), optionally of one split and metric."""
    rows = runs[runs.epoch == 0]
    given = {k: v for k, v in (("split", split), ("metric", metric)) if v is not None}
    return where(rows, **given)


def history(runs: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The per-epoch training history (``epoch >= 1``), optionally of one metric."""
    rows = runs[runs.epoch > 0]
    return rows if metric is None else rows[rows.metric == metric]


def markdown_table(df: pd.DataFrame, index: bool = True) -> str:
    """``df`` as a Markdown table with nothing truncated (pandas cuts long cells at 50 characters).

    >>> print(markdown_table(pd.DataFrame({"a": [1]}, index=["x"])))
    |  | a |
    |---|---|
    | x | 1 |
    """
    frame = df.reset_index() if index else df
    if index:
        frame = frame.rename(columns={frame.columns[0]: ""}) if df.index.name is None else frame
    cells = [[str(v).replace("|", "\\|").replace("\n", " ") for v in row] for row in frame.to_numpy()]
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |\n|" + "---|" * len(frame.columns)
    return head + "\n" + "\n".join("| " + " | ".join(r) + " |" for r in cells)


TIDY = ("epoch", "split", "task", "metric", "value")
"""The columns every tidy metrics row has; any other column identifies the run (method, seed, network...)."""

DIVERGED_FACTOR = 2.0
"""A run has diverged when its summed loss at the last epoch is more than this many times its first epoch's."""


def diverged_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """Each run's summed loss at its first and last epoch, on its training split (else validation), and
    whether it diverged: ended more than :data:`DIVERGED_FACTOR` times above its start (or not finite), or
    has a ``diverged`` row of 1 (a loss far above a uniform guess's: :func:`mtlkit.train.exploded`).

    A run is identified by every column that is not a tidy one (:data:`TIDY`) and has values on its loss
    rows. Returns one row per run: its identifying columns, ``first``, ``last``, ``diverged``.

    >>> rows = pd.DataFrame({"seed": [0, 0, 1, 1], "epoch": [1, 2, 1, 2], "split": "train", "task": "a",
    ...                      "metric": "loss", "value": [1.0, 0.5, 1.0, 9.0]})
    >>> diverged_runs(rows)[["seed", "diverged"]].to_dict("records")
    [{'seed': 0, 'diverged': False}, {'seed': 1, 'diverged': True}]
    """
    loss = rows[(rows.metric == "loss") & (rows.epoch >= 1) & rows.split.isin(["train", "val"])]
    if loss.empty:
        return pd.DataFrame(columns=["first", "last", "diverged"])
    keys = [c for c in loss.columns if c not in TIDY and loss[c].notna().any()]
    split = "train" if (loss.split == "train").any() else "val"
    per_epoch = loss[loss.split == split].groupby([*keys, "epoch"], dropna=False).value.sum().reset_index()
    ends = per_epoch.sort_values("epoch").groupby(keys, dropna=False).value.agg(first="first", last="last")
    ends["diverged"] = ~(ends["last"] <= DIVERGED_FACTOR * ends["first"])  # NaN or inf counts as diverged
    flags = rows[(rows.metric == "diverged") & (rows.value > 0)]
    if len(flags):
        flagged = set(flags.set_index(keys).index) if keys else set(ends.index)
        ends["diverged"] = ends["diverged"] | ends.index.isin(list(flagged))
    return ends.reset_index()
