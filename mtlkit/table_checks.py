"""The checks a score table passes before :func:`mtlkit.selection.select` chooses from it: one
validation for the Python API and for ``mtlkit select``'s file (:func:`mtlkit.user_tables.read_losses`
reads the file, then calls :func:`check_table`).

A refusal is one :class:`~mtlkit.data.standley.TableError` line naming the file's line (a table read
from a file has a ``line`` column) or the frame's row, the column, the value and what is allowed. A task
that only one network serves is legal but worth a look (every selection must buy that network): it is
reported as a :class:`TableWarning`.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections import Counter

import numpy as np
import pandas as pd

from mtlkit.checks import number_in
from mtlkit.data.standley import TableError

REQUIRED = ("network", "task", "val", "test", "cost")
OPTIONAL = ("early",)
"""The columns of a score table (a frame may have others, e.g. ``size``; a file may not)."""

METHODS = {"optimal": "optimal", "hoa": "HOA", "esa": "ESA"}
"""The methods :func:`~mtlkit.selection.select` takes (the exhaustive optimum on ``val``; HOA, groups of
three or more tasks predicted from the pair networks' ``val``; ESA, the optimum on ``early``), and their
names in :func:`~mtlkit.selection.compare_on_table`'s results."""

MIN_COST = 1e-6
"""The smallest cost accepted: costs are relative to a full-size network's 1, and the search compares
them to within 1e-9."""

NAME = re.compile(r"[^\s,]+")
"""A network or task name: no whitespace (the output lists a network's tasks separated by spaces) and
no comma; printable; ``total`` is no network name (it is the output's last row)."""


class TableWarning(UserWarning):
    """A score table that is legal but likely not what was meant (a task only one network serves)."""


def check_method(method: str) -> None:
    """Refuse a method that is not one of :data:`METHODS`."""
    if method not in METHODS:
        raise TableError(f"method = {method!r} is unknown; allowed: {', '.join(METHODS)}")


def check_budget(budget: object) -> float:
    """A budget as a float: a positive finite number (numpy scalars too; text, bools, NaN and infinities
    refused)."""
    what = "a positive finite number (a full-size network costs 1)"
    return number_in(
        budget, "budget", 0.0, sys.float_info.max, open_low=True, expected=what, error=TableError
    )


def _where(rows: pd.DataFrame, one: bool = False) -> str:
    """``line 5`` / ``lines [5, 15]`` (a table read from a file) or ``row 3`` / ``rows [3, 4]``."""
    where = rows.line.tolist() if "line" in rows.columns else rows.index.tolist()
    word = "line" if "line" in rows.columns else "row"
    return f"{word} {where[0]}" if one else f"{word}s {where}"


def check_table(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """``table`` checked for ``method`` and returned as the columns :func:`~mtlkit.selection.select`
    reads (``network, cost, task, val, test, early``; ``early`` NaN where not given, numbers as floats;
    rows renumbered from 0: a refusal names a frame's row by position, or by its ``line`` column, which
    a table read from a file has and keeps).
    Refused: a frame that is empty or lacks a required column; names that are not text, empty, not one
    printable word without commas (:data:`NAME`), ``total`` as a network, two spellings of one name that
    differ only in case; losses and costs that are not numbers, not finite, subnormal, or so large that
    a total would overflow; a (network, task) given twice; a network with two costs or a cost below
    :data:`MIN_COST`; for ``esa``, the ``early`` column's gaps (:func:`_check_early`); for ``hoa``, the
    pair networks it predicts from (:func:`_check_pairs`)."""
    check_method(method)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"table must be a pandas DataFrame with columns {list(REQUIRED)}, got {type(table).__name__}"
        )
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise TableError(
            f"the table lacks column(s) {missing}; required {list(REQUIRED)}, optional {list(OPTIONAL)}"
        )
    if table.empty:
        raise TableError("the table has no rows: give one row per network and task it serves")
    if method == "esa" and "early" not in table.columns:
        raise TableError("method esa selects on early-training losses: the table needs an 'early' column")
    out = table.reset_index(drop=True)  # a frame's rows are named by position (table.iloc[i])
    out["early"] = out["early"] if "early" in out.columns else math.nan
    for key in ("network", "task"):
        _check_names(out, key)
    for key in ("val", "test", "cost", "early"):
        out[key] = _check_numbers(out, key)
    _check_rows(out)
    _check_case(out)
    if method == "esa":
        _check_early(out)
    if method == "hoa":
        _check_pairs(out)
    _warn_single(out)
    return out[
        ["network", "cost", "task", "val", "test", "early", *(["line"] if "line" in out.columns else [])]
    ]


def _check_names(table: pd.DataFrame, key: str) -> None:
    for i, name in zip(table.index, table[key]):
        if not isinstance(name, str) or not name.strip():
            missing = (
                isinstance(name, str)
                or name is None
                or name is pd.NA
                or (isinstance(name, float) and math.isnan(name))
            )
            what = "empty" if missing else f"{name!r} ({type(name).__name__})"
            raise TableError(
                f"{_where(table.loc[[i]], one=True)}: {key} is {what}; every row names a network and a task (text)"
            )
        if not (NAME.fullmatch(name) and name.isprintable()):
            raise TableError(
                f"{_where(table.loc[[i]], one=True)}: {key} = {name!r}; names are one printable word without "
                "spaces or commas (the output separates tasks with spaces): write it with - or _"
            )
        if key == "network" and name.casefold() == "total":
            raise TableError(
                f"{_where(table.loc[[i]], one=True)}: a network is named {name!r}, the name of the output's "
                "last row; rename it"
            )


def _check_numbers(table: pd.DataFrame, key: str) -> pd.Series:
    """The column ``key`` as floats: numbers, finite (``early`` may be NaN: not given), not subnormal,
    and not so large that summing them overflows."""
    column = table[key]
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        first = column[[not isinstance(v, int | float | np.number) for v in column]]
        shown = f" ({_where(table.loc[first.index[:1]], one=True)}: {first.iloc[0]!r})" if len(first) else ""
        raise TableError(
            f"column {key!r} holds {column.dtype} values, not numbers{shown}; convert it with pd.to_numeric"
        )
    values = column.to_numpy(dtype=float)
    given = ~np.isnan(values) if key == "early" else np.ones(len(values), bool)
    bad = given & ~np.isfinite(values)
    tiny = (values != 0) & (np.abs(values) < sys.float_info.min)
    for mask, why in (
        (bad, "is not a finite number"),
        (tiny, "is subnormal: it has lost precision; rescale"),
    ):
        if mask.any():
            i = int(np.argmax(mask))
            raise TableError(f"{_where(table.iloc[[i]], one=True)}: {key} = {float(values[i])!r} {why}")
    with np.errstate(over="ignore"):
        if not math.isfinite(float(np.abs(values[given]).sum())):
            i = int(np.nanargmax(np.abs(np.where(given, values, 0.0))))
            raise TableError(
                f"the {key} values' magnitudes add up past the largest float ({_where(table.iloc[[i]], one=True)}: "
                f"{values[i]:g}), so a total would be infinite; rescale them"
            )
    return pd.Series(values, index=table.index)


def _check_rows(table: pd.DataFrame) -> None:
    twice = table[table.duplicated(["network", "task"], keep=False)]
    if len(twice):
        first = twice.iloc[0]
        rows = twice[(twice.network == first.network) & (twice.task == first.task)]
        raise TableError(
            f"network {first.network!r} has task {first.task!r} on {_where(rows)}; each (network, task) must "
            "appear once (average seeds or runs before selecting)"
        )
    by = table.groupby("network", sort=False).cost
    odd = (by.nunique() > 1) | (by.min() < MIN_COST)  # only these networks are looked at one by one
    for name in odd.index[odd]:
        g = table[table.network == name]
        costs = sorted(set(g.cost))
        if len(costs) > 1:
            raise TableError(f"network {name!r} has costs {costs} ({_where(g)}); a network has one cost")
        if costs[0] <= 0:
            raise TableError(
                f"network {name!r}: cost = {costs[0]:g} ({_where(g, one=True)}); expected a positive number"
            )
        if costs[0] < MIN_COST:
            raise TableError(
                f"network {name!r}: cost = {costs[0]:g} ({_where(g, one=True)}); expected at least {MIN_COST:g} "
                "(costs are relative to a full-size network's 1; the search compares them to within 1e-9)"
            )


def _check_case(table: pd.DataFrame) -> None:
    """Refuse two spellings of one task or network that differ only in case (``Seg`` and ``seg``)."""
    for key in ("task", "network"):
        first: dict[str, str] = {}
        for name in dict.fromkeys(table[key]):
            other = first.setdefault(name.casefold(), name)
            if other != name:
                a, b = (table[table[key] == n] for n in (other, name))
                raise TableError(
                    f"{key}s {other!r} ({_where(a, one=True)}) and {name!r} ({_where(b, one=True)}) differ "
                    f"only in case; spell each {key} one way"
                )


def _check_early(table: pd.DataFrame) -> None:
    for name, g in table.groupby("network", sort=False):
        given = g.early.notna()
        if given.any() and not given.all():
            raise TableError(
                f"network {name!r} has early losses for some tasks but not for {sorted(g.task[~given])} "
                f"({_where(g[~given])}); give all of a network's early losses or none"
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


def _warn_single(table: pd.DataFrame) -> None:
    """Warn about each task only one network serves (every selection buys it; a misspelt task often is)."""
    counts = table.task.value_counts(sort=False)
    for task in counts.index[counts == 1]:
        row = table[table.task == task]
        warnings.warn(
            f"task {task!r} is served by one network only ({row.network.iloc[0]!r}, "
            f"{_where(row, one=True)}): every selection buys it; check the task's spelling",
            TableWarning,
            stacklevel=4,
        )
