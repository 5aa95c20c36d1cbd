"""A user's own loss table for network selection (``mtlkit select``; the format is ``docs/select.md``).

One CSV row per network and task it serves (long, tidy), with a header naming the columns:

* ``network`` - the network's name; ``task`` - one task it serves;
* ``val``, ``test`` - its loss on the task (selection reads validation-side losses, scoring reads ``test``);
* ``cost`` - its inference cost (a full-size network 1, a half-width one 0.5), the same on every row of
  the network;
* ``early`` (optional) - its validation loss early in training, for ESA. A network may have none (it is
  then no ESA candidate) but not only some.

:func:`read_losses` reads the file (the CSV's own faults named by line: a row with more or fewer fields
than the header, a trailing comma, an unclosed quote) and checks it with
:func:`~mtlkit.table_checks.check_table`, the checks :func:`~mtlkit.selection.select` applies to any
table, so everything a selection method needs is checked before anything is computed; a refusal is a
:class:`~mtlkit.data.standley.TableError` naming the line, the column, the value and what is allowed.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mtlkit.data.standley import TableError
from mtlkit.search_budget import MAX_SECONDS, check_max_seconds
from mtlkit.selection import select
from mtlkit.table_checks import OPTIONAL, REQUIRED, check_budget, check_method, check_table


def _number(text: str, column: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise TableError(f"line {line}: {column} = {text!r} is not a finite number")
    return value


def _text_number(text: str | float, name: str) -> float:
    """A command-line number (``--budget 2.5``): its text read as a float; a word is refused by name."""
    try:
        return float(text)
    except (TypeError, ValueError):
        raise TableError(f"{name} = {text!r} is not a number; expected a positive number") from None


def select_from_file(
    path: str | Path,
    budget: str | float,
    method: str,
    max_seconds: str | float = MAX_SECONDS,
    progress: Callable[[str], object] | None = None,
) -> pd.DataFrame:
    """``mtlkit select``: the networks ``method`` chooses from the loss table ``path`` within ``budget``
    (a number, or its text), one row each (network, cost, the tasks it serves), and a last row ``total``
    with the selection's cost, its validation-side total (``val``: what it was chosen on, ``early`` for
    ESA and HOA's predictions for HOA) and its ``test`` total. Everything is checked before selecting;
    ``max_seconds`` and ``progress`` as :func:`~mtlkit.selection.select` takes them."""
    value = check_budget(_text_number(budget, "budget"))
    limit = check_max_seconds(_text_number(max_seconds, "--max-seconds"), "--max-seconds")
    check_method(method)
    table = read_losses(path, method)
    chosen, test = select(table, value, method, limit, progress)
    rows = table[table.network.isin(chosen.networks)].groupby("network", sort=True)
    out = pd.DataFrame({"cost": rows.cost.first(), "tasks": rows.task.agg(" ".join)}).reset_index()
    total = {"network": "total", "cost": chosen.cost, "val": chosen.total, "test": test}
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)[
        ["network", "cost", "tasks", "val", "test"]
    ]


def _records(path: str | Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the ``(line, fields)`` of every non-blank row of the CSV file ``path``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, skipinitialspace=True, strict=True)
            try:
                records = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
            except csv.Error as e:
                raise TableError(f"{str(path)!r} line {reader.line_num}: not CSV ({e})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TableError(
            f"cannot read loss table {str(path)!r}: {getattr(e, 'strerror', None) or e}"
        ) from None
    if not records:
        raise TableError(f"{str(path)!r} is empty: expected a header line {','.join(REQUIRED)}[,early]")
    (_, header), rows = records[0], records[1:]
    return [c.strip() for c in header], rows


def read_losses(path: str | Path, method: str) -> pd.DataFrame:
    """The CSV file ``path`` as a score table (``network, cost, task, val, test, early``; ``early`` NaN
    where not given), checked for ``method`` (one of :data:`~mtlkit.table_checks.METHODS`): the required
    columns and no unknown ones, every row as long as the header (a short row's missing cells are
    empty), every loss and cost a finite number, then :func:`~mtlkit.table_checks.check_table`."""
    check_method(method)
    columns, records = _records(path)
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    missing = [c for c in REQUIRED if c not in columns]
    if "" in columns:
        raise TableError(
            f"the header of {str(path)!r} has an empty column name (column {columns.index('') + 1}: a "
            "trailing comma?); name every column or remove the extra comma"
        )
    if unknown or missing or len(set(columns)) < len(columns):
        raise TableError(
            f"columns {columns} of {str(path)!r}: required {list(REQUIRED)}, optional {list(OPTIONAL)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )
    if not records:
        raise TableError(f"{str(path)!r} has a header but no rows")
    rows = []
    for line, fields in records:
        if len(fields) > len(columns):
            extra = fields[len(columns) :]
            fault = (
                "it ends with an empty field (a trailing comma?): remove the comma"
                if not any(f.strip() for f in extra)
                else f"extra {extra}: give each row the header's columns, no more"
            )
            raise TableError(
                f"line {line} has {len(fields)} fields but the header names {len(columns)} columns; {fault}"
            )
        row = dict(zip(columns, [f.strip() for f in fields] + [""] * (len(columns) - len(fields))))
        for key in ("val", "test", "cost"):
            row[key] = _number(row[key], key, line)
        early = row.get("early", "")
        row["early"] = _number(early, "early", line) if early else math.nan
        rows.append({**row, "line": line})
    table = pd.DataFrame(rows)
    if "early" not in columns:
        table = table.drop(columns="early")
    return check_table(table, method)
