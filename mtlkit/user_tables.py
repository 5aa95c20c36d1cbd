"""A user's own loss table for network selection (``mtlkit select``; the format is ``docs/select.md``).

One CSV row per network and task it serves (long, tidy), with a header naming the columns:

* ``network`` - the network's name; ``task`` - one task it serves;
* ``val``, ``test`` - its loss on the task (selection reads validation-side losses, scoring reads ``test``);
* ``cost`` - its inference cost (a full-size network 1, a half-width one 0.5), the same on every row of
  the network;
* ``early`` (optional) - its validation loss early in training, for ESA. A network may have none (it is
  then no ESA candidate) but not only some.

:func:`read_losses` checks everything a selection method needs before anything is computed, and raises
:class:`~mtlkit.data.standley.TableError` naming the line, the column, the value and what is allowed.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pandas as pd

from mtlkit.data.standley import TableError
from mtlkit.selection import check_budget, check_method, select

REQUIRED = ("network", "task", "val", "test", "cost")
OPTIONAL = ("early",)
"""The columns of a loss table."""


def _number(text: str, column: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise TableError(f"line {line}: {column} = {text!r} is not a finite number")
    return value


def select_from_file(path: str | Path, budget: str | float, method: str) -> pd.DataFrame:
    """``mtlkit select``: the networks ``method`` chooses from the loss table ``path`` within ``budget``
    (a number, or its text), one row each (network, cost, the tasks it serves), and a last row ``total``
    with the selection's cost, its validation-side total (``val``: what it was chosen on, ``early`` for
    ESA and HOA's predictions for HOA) and its ``test`` total. Everything is checked before selecting."""
    try:
        value = float(budget)
    except (TypeError, ValueError):
        raise TableError(f"budget = {budget!r} is not a number; expected a positive number") from None
    check_method(method)
    check_budget(value)
    table = read_losses(path, method)
    chosen, test = select(table, value, method)
    rows = table[table.network.isin(chosen.networks)].groupby("network", sort=True)
    out = pd.DataFrame({"cost": rows.cost.first(), "tasks": rows.task.agg(" ".join)}).reset_index()
    total = {"network": "total", "cost": chosen.cost, "val": chosen.total, "test": test}
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)[
        ["network", "cost", "tasks", "val", "test"]
    ]


def read_losses(path: str | Path, method: str) -> pd.DataFrame:
    """The CSV file ``path`` as a score table (``network, cost, task, val, test, early``; ``early`` NaN
    where not given), checked for ``method`` (one of :data:`~mtlkit.selection.METHODS`): required
    columns and no unknown ones; non-empty names; finite losses; each (network, task) once; one positive
    finite cost per network; for ``esa``, an ``early`` column, given for all of a network's tasks or none, and every task
    served by some network that has it; for ``hoa``, each pair of tasks of a network of three or more
    served by exactly one two-task network of the same cost."""
    check_method(method)
    try:
        # blank lines are kept (then dropped below), so that row i is line i + 2 of the file
        raw = pd.read_csv(
            path, dtype=str, keep_default_na=False, skipinitialspace=True, skip_blank_lines=False
        )
    except (OSError, UnicodeDecodeError) as e:
        raise TableError(
            f"cannot read loss table {str(path)!r}: {getattr(e, 'strerror', None) or e}"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise TableError(f"{str(path)!r} is not a CSV loss table: {str(e).strip()}") from None
    columns = [c.strip() for c in raw.columns]
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    missing = [c for c in REQUIRED if c not in columns]
    if unknown or missing or len(set(columns)) < len(columns):
        raise TableError(
            f"columns {columns} of {str(path)!r}: required {list(REQUIRED)}, optional {list(OPTIONAL)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )
    raw.columns = columns
    raw = raw.fillna("")  # a short line's missing cells
    raw.index = range(2, len(raw) + 2)  # line 1 is the header
    raw = raw[(raw != "").any(axis=1)]
    if raw.empty:
        raise TableError(f"{str(path)!r} has a header but no rows")
    rows = []
    for i, row in zip(raw.index, raw.to_dict("records")):
        for key in ("network", "task"):
            row[key] = row[key].strip()
            if not row[key]:
                raise TableError(f"line {i}: {key} is empty; every row names a network and a task")
        for key in ("val", "test", "cost"):
            row[key] = _number(row[key], key, i)
        early = row.get("early", "").strip()
        row["early"] = _number(early, "early", i) if early else math.nan
        rows.append({**row, "line": i})
    table = pd.DataFrame(rows)
    _check_rows(table)
    if method == "esa":
        _check_early(table, "early" in columns)
    if method == "hoa":
        _check_pairs(table)
    return table[["network", "cost", "task", "val", "test", "early"]]


def _check_rows(table: pd.DataFrame) -> None:
    twice = table[table.duplicated(["network", "task"], keep=False)]
    if len(twice):
        first = twice.iloc[0]
        lines = twice[(twice.network == first.network) & (twice.task == first.task)].line.tolist()
        raise TableError(
            f"network {first.network!r} has task {first.task!r} on lines {lines}; "
            "each (network, task) must appear once"
        )
    for name, g in table.groupby("network", sort=False):
        costs = sorted(set(g.cost))
        if len(costs) > 1:
            raise TableError(
                f"network {name!r} has costs {costs} (lines {g.line.tolist()}); a network has one cost"
            )
        if costs[0] <= 0:
            raise TableError(
                f"network {name!r}: cost = {costs[0]:g} (line {g.line.iloc[0]}); expected a positive number"
            )


def _check_early(table: pd.DataFrame, has_column: bool) -> None:
    if not has_column:
        raise TableError("method esa selects on early-training losses: the table needs an 'early' column")
    for name, g in table.groupby("network", sort=False):
        given = g.early.notna()
        if given.any() and not given.all():
            raise TableError(
                f"network {name!r} has early losses for some tasks but not for {sorted(g.task[~given])} "
                f"(lines {g.line[~given].tolist()}); give all of a network's early losses or none"
            )
    served = set(table.task[table.early.notna()])
    unserved = sorted(set(table.task) - served)
    if unserved:
        raise TableError(
            f"method esa: no network has an early loss for task(s) {unserved}, so no selection serves them"
        )


def _check_pairs(table: pd.DataFrame) -> None:
    served = {(name, float(g.cost.iloc[0])): frozenset(g.task) for name, g in table.groupby("network")}
    pairs = Counter((c, g) for (_, c), g in served.items() if len(g) == 2)
    for (name, cost), g in sorted(served.items(), key=lambda item: item[0]):
        if len(g) < 3:
            continue
        for pair in sorted(tuple(sorted((t, u))) for t in g for u in g if t < u):
            n = pairs[(cost, frozenset(pair))]
            if n != 1:
                raise TableError(
                    f"method hoa predicts network {name!r} (tasks {sorted(g)}, cost {cost:g}) from the "
                    f"networks serving each pair of its tasks at its cost; {n} serve exactly {list(pair)}"
                    " (need 1)"
                )
