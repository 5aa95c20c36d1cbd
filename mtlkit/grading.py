"""Judging a student's answer, and the student copies of the notebooks.

:class:`Exercise` says what kind of answer an exercise wants and how close a number must be; :func:`judge`
compares an answer with the expected value (a wrong or missing answer is a verdict, never an exception).
:func:`student_copy` turns a study notebook into its student version: a solution cell (tagged ``solution``)
that sets ``answer`` becomes ``answer = ...``, any other solution cell is dropped, outputs are cleared,
check cells (tagged ``check``) stay. ``mtlkit student`` (``make student``) writes them to ``build/student/``.
The exercises themselves, and :func:`~mtlkit.exercises.check`, are in :mod:`mtlkit.exercises`.

>>> ex = Exercise("x", "How many?", "number", lambda: 2.0, "count them", tol=0.01)
>>> judge(ex, 2.004, 2.0), judge(ex, 3, 2.0)[0], judge(ex, ..., 2.0)[0]
((True, ''), False, False)
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlkit.results import atomic_write_text

SOLUTION, CHECK, ANSWER = "solution", "check", "answer"
"""Cell tags: a worked solution (out of the student copy), a check cell, a student's answer cell."""
STUB = "answer = ...  # your answer\n"
"""What a code solution that sets ``answer`` becomes in the student copy."""


@dataclass(frozen=True)
class Exercise:
    """One checked exercise: ``expected`` computes the right answer from the run's objects (for a
    ``name``, a set of names when several tie); numbers match within ``max(tol, rtol * |expected|)``."""

    id: str
    question: str
    kind: str  # "number" | "name" | "yes/no"
    expected: Callable[..., Any]
    hint: str
    tol: float = 0.0
    rtol: float = 0.0


def _number(x: Any) -> float | None:
    if isinstance(x, bool | str) or x is None or x is Ellipsis:
        return None
    try:
        return float(x)  # int, float, numpy and 0-d torch scalars
    except (TypeError, ValueError):
        return None


def _yes_no(x: Any) -> bool | None:
    if isinstance(x, str):
        return {"yes": True, "no": False, "true": True, "false": False}.get(x.strip().lower())
    if type(x).__name__ in ("bool", "bool_") or x in (0, 1):
        return bool(x)
    return None


def _names(expected: Any) -> set[str]:
    return {expected} if isinstance(expected, str) else set(expected)


def judge(ex: Exercise, answer: Any, expected: Any) -> tuple[bool, str]:
    """Whether ``answer`` is right for ``ex`` given its ``expected`` value, and why not."""
    if answer is Ellipsis or answer is None:
        return False, "no answer yet: replace `...` with your answer"
    if ex.kind == "number":
        v, e = _number(answer), float(expected)
        if v is None:
            return False, f"expected a number, got {answer!r}"
        ok = math.isnan(v) if math.isnan(e) else abs(v - e) <= max(ex.tol, ex.rtol * abs(e))
        return ok, "" if ok else f"{v:.6g} is not it"
    if ex.kind == "name":
        if not isinstance(answer, str):
            return False, f"expected a name (a string), got {answer!r}"
        ok = answer.strip().lower() in {n.lower() for n in _names(expected)}
        return ok, "" if ok else f"{answer!r} is not it"
    b = _yes_no(answer)
    if b is None:
        return False, f"expected True/False (or 'yes'/'no'), got {answer!r}"
    return b == bool(expected), "" if b == bool(expected) else f"{answer!r} is not it"


def shown(ex: Exercise, expected: Any) -> str:
    """The expected value as a check cell prints it."""
    if ex.kind == "number":
        return f"{float(expected):.4g}"
    if ex.kind == "name":
        return " or ".join(sorted(_names(expected)))
    return "yes" if expected else "no"


# ---- student copies ----


def _source(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def student_copy(nb: dict) -> dict:
    """The student version of notebook ``nb`` (nbformat JSON): a code cell tagged ``solution`` that sets
    ``answer`` becomes :data:`STUB` (tagged ``answer``, so the check below it prints ✗ until the student
    answers); any other solution cell is dropped; every output is cleared; check cells stay."""
    out = copy.deepcopy(nb)
    cells = []
    for cell in out["cells"]:
        meta = cell.setdefault("metadata", {})
        for key in ("papermill", "execution"):
            meta.pop(key, None)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if SOLUTION in _tags(cell):
            if cell["cell_type"] != "code" or not re.search(r"^answer\s*=", _source(cell), re.MULTILINE):
                continue
            cell["source"] = STUB
            meta["tags"] = [t for t in _tags(cell) if t != SOLUTION] + [ANSWER]
        cells.append(cell)
    out["cells"] = cells
    out.get("metadata", {}).pop("papermill", None)
    return out


def write_student_notebooks(notebooks: Iterable[Path], out_dir: Path) -> list[Path]:
    """Write the student copy of each notebook to ``out_dir/<name>.ipynb``; return their paths."""
    written = []
    for path in notebooks:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        text = json.dumps(student_copy(nb), indent=1, ensure_ascii=False) + "\n"
        written.append(atomic_write_text(Path(out_dir) / Path(path).name, text))
    return written
