"""Exercises for a course: the student copies carry no solutions, every check passes with the worked
solution (in the executed smoke notebooks) and fails with a wrong answer (each checker on small frames
whose right answer is known), and a student copy runs top to bottom with its checks waiting for answers."""

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

from mtlkit.cli import main
from mtlkit.exercises import EXERCISES, check
from mtlkit.grading import (
    ANSWER,
    CHECK,
    SOLUTION,
    STUB,
    Exercise,
    judge,
    student_copy,
    write_student_notebooks,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
CHECK_CALL = re.compile(r'check\("(\d\d\.\d+)"')


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _text(cell: dict) -> str:
    """Everything a code cell printed or displayed."""
    parts = []
    for o in cell.get("outputs", []):
        parts.append("".join(o.get("text", "")))
        parts.append("".join(o.get("data", {}).get("text/plain", "")))
        parts.append(o.get("evalue", ""))
    return "".join(parts)


def _checks(nb: dict) -> dict[str, dict]:
    """The check cells of a notebook, by exercise id."""
    return {CHECK_CALL.search(_src(c)).group(1): c for c in nb["cells"] if CHECK in _tags(c)}


# ---- the notebooks as stored, and their student copies ----


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_exercise_has_a_worked_solution_and_two_checks(name):
    nb = _nb(ROOT / "notebooks" / f"{name}.ipynb")
    cells = nb["cells"]
    start = next(i for i, c in enumerate(cells) if _src(c).startswith("## Exercises"))
    assert "study.finish()" in _src(cells[start - 1]), "exercises come after study.finish()"
    assert not any(SOLUTION in _tags(c) or CHECK in _tags(c) for c in cells[:start])
    questions = [
        i
        for i, c in enumerate(cells)
        if c["cell_type"] == "markdown" and re.search(r"^\*\*\d+\.\*\*", _src(c), re.M)
    ]
    assert questions and questions[0] > start
    for i, j in zip(questions, [*questions[1:], len(cells)]):
        assert any(SOLUTION in _tags(c) for c in cells[i + 1 : j]), (
            f"exercise in cell {i} has no worked solution"
        )
    checks = _checks(nb)
    assert len(checks) >= 2, "at least two checked exercises per notebook"
    assert all(i.startswith(name[:2] + ".") and i in EXERCISES for i in checks)
    for c in (c for c in cells if SOLUTION in _tags(c) and c["cell_type"] == "code"):
        assert c["source"], "a code solution is not empty"


def test_every_registered_exercise_is_checked_in_its_notebook():
    used = [i for name in NOTEBOOKS for i in _checks(_nb(ROOT / "notebooks" / f"{name}.ipynb"))]
    assert sorted(used) == sorted(EXERCISES), "each registered exercise has exactly one check cell"


def test_make_student_writes_notebooks_without_solutions(tmp_path, capsys):
    assert main(["student", "--out", str(tmp_path)]) == 0
    assert sorted(p.stem for p in tmp_path.glob("*.ipynb")) == NOTEBOOKS
    for name in NOTEBOOKS:
        teacher, student = _nb(ROOT / "notebooks" / f"{name}.ipynb"), _nb(tmp_path / f"{name}.ipynb")
        text = json.dumps(student, ensure_ascii=False)
        assert not any(SOLUTION in _tags(c) for c in student["cells"])
        solutions = [c for c in teacher["cells"] if SOLUTION in _tags(c)]
        assert any(c["cell_type"] == "markdown" for c in solutions) and solutions
        for c in solutions:  # no line of a worked solution survives (the stub is not one)
            for line in _src(c).splitlines():
                if len(line.strip()) > 12:
                    assert json.dumps(line.strip(), ensure_ascii=False)[1:-1] not in text, (name, line)
        assert "**Solution" not in text
        assert _checks(student) == _checks(teacher), "check cells are kept as they are"
        stubs = [c for c in student["cells"] if ANSWER in _tags(c)]
        assert len(stubs) == len(_checks(teacher)) and all(_src(c) == STUB for c in stubs)
        assert all(
            not c.get("outputs") and c.get("execution_count") is None
            for c in student["cells"]
            if c["cell_type"] == "code"
        )
        kept = [c for c in teacher["cells"] if SOLUTION not in _tags(c)]
        assert [c for c in student["cells"] if ANSWER not in _tags(c)] == kept, "nothing else changes"


def test_student_copy_clears_outputs_of_an_executed_notebook():
    nb = {"metadata": {"papermill": {"x": 1}}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "id": "a", "metadata": {"papermill": {}}, "execution_count": 3, "outputs": [{"text": "hi"}], "source": "x = 1"},
        {"cell_type": "code", "id": "b", "metadata": {"tags": [SOLUTION]}, "execution_count": 4, "outputs": [], "source": ["y = 2\n", "answer = y"]},
        {"cell_type": "code", "id": "c", "metadata": {"tags": [SOLUTION]}, "execution_count": 5, "outputs": [], "source": "print(42)"},
        {"cell_type": "markdown", "id": "d", "metadata": {"tags": [SOLUTION]}, "source": "The answer is 42."},
    ]}  # fmt: skip
    out = student_copy(nb)
    assert [c["id"] for c in out["cells"]] == ["a", "b"] and "papermill" not in out["metadata"]
    assert out["cells"][0]["outputs"] == [] and out["cells"][0]["execution_count"] is None
    assert out["cells"][1]["source"] == STUB and out["cells"][1]["metadata"]["tags"] == [ANSWER]
    assert nb["cells"][1]["source"] == ["y = 2\n", "answer = y"], "the teacher's notebook is not changed"


# ---- every check passes with the worked solution (the executed smoke notebooks) ----


@pytest.mark.notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_check_passes_with_the_worked_solution(smoke_runs, name):
    executed = _nb(smoke_runs[1][name] / f"{name}.ipynb")
    checks = _checks(executed)
    assert len(checks) >= 2
    for i, cell in checks.items():
        out = _text(cell)
        assert f"✓ {i}: right" in out and "✗" not in out, (i, out)


@pytest.mark.notebook
def test_a_student_copy_runs_and_its_checks_wait_for_answers(smoke_runs, tmp_path):
    """The student copy of study 00 runs top to bottom (its sweep comes from the smoke run's cache), and
    every check prints ✗ for the stub `answer = ...` instead of stopping the notebook."""
    name = "00_landscape"
    (student,) = write_student_notebooks([ROOT / "notebooks" / f"{name}.ipynb"], tmp_path)
    shutil.copytree(smoke_runs[0] / ".cache" / name, tmp_path / ".cache" / name)  # beside the study's folder
    pm.execute_notebook(
        str(student),
        str(tmp_path / "executed.ipynb"),
        parameters={"mode": "smoke", "out": str(tmp_path / name)},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
        kernel_name="python3",
    )
    checks = _checks(_nb(tmp_path / "executed.ipynb"))
    assert checks
    for i, cell in checks.items():
        out = _text(cell)
        assert f"✗ {i}: no answer yet" in out and "Hint:" in out and "✓" not in out, (i, out)


# ---- every check fails with a wrong answer (each checker on frames whose answer is known) ----


def _accuracy_rows() -> pd.DataFrame:
    acc = {  # (method, seed) -> accuracy of tasks a, b, c; equal loses most on b
        ("single", 0): (0.9, 0.8, 0.7),
        ("equal", 0): (0.85, 0.6, 0.72),
        ("single", 1): (0.8, 0.8, 0.8),
        ("equal", 1): (0.8, 0.7, 0.8),
    }
    rows = [
        {"method": m, "seed": s, "task": t, "metric": "accuracy", "value": v, "split": "test"}
        for (m, s), vs in acc.items()
        for t, v in zip("abc", vs)
    ]
    # losses (lower is better) that make `c` look most hurt if mixed in: a checker that forgot to pick
    # the accuracy rows answers `c`
    rows += [
        {**r, "metric": "loss", "value": 0.0 if r["task"] == "c" and r["method"] == "equal" else 5.0}
        for r in rows
    ]
    return pd.DataFrame(rows)


def _frame(columns: str, rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns.split())


def _hv() -> pd.DataFrame:
    rows = [("corr=0.5", "hard", "none", 0.0, s, 0.9) for s in (0, 1)]  # not digits: must be ignored
    for s, (none, lin2, lin1, wide) in enumerate([(0.50, 0.52, 0.70, 0.40), (0.40, 0.43, 0.70, 0.40)]):
        rows += [
            ("digits", "hard", v, g, s, x)
            for v, g, x in (
                ("none", 0.0, none),
                ("linear", 2.0, lin2),
                ("linear", 1.0, lin1),
                ("wide", 0.0, wide),
            )
        ]
    return _frame("dataset architecture variant gamma seed hypervolume", rows)


def _params() -> pd.DataFrame:
    rows = [
        ("corr=0.5", "hard", "linear", 2.0, 11152, 11254),
        ("corr=0.5", "hard", "none", 0.0, 11152, 11152),
        ("digits", "hard", "linear", 1.0, 16790, 17810),
        ("digits", "hard", "linear", 2.0, 16790, 17810),
        ("digits", "hard", "none", 0.0, 16790, 16790),
        ("digits", "hard", "wide", 0.0, 18118, 18118),
    ]
    df = _frame("dataset architecture variant gamma test train", rows)
    return df.set_index(["dataset", "architecture", "variant", "gamma"])


def _regret(**by_method) -> pd.DataFrame:
    return _frame("method seed regret", [(m, s, v) for m, vs in by_method.items() for s, v in enumerate(vs)])


AFF = _frame("source target affinity", [("a", "b", 0.1), ("b", "a", 0.2), ("a", "c", 0.3), ("c", "a", 0.4)])
GAINS = _frame("task partner gain", [("b", "a", 0.4), ("a", "b", 0.3), ("c", "a", 0.2), ("a", "c", 0.1)])

CASES = {  # id: (the run's objects, the right answer, wrong answers)
    "00.4": ({"test": _accuracy_rows()}, " B", ["a", "c", "left"]),  # names: any case, spaces ignored
    "00.5": ({"test": _accuracy_rows(), "seed": 0}, -9.2328, [9.2328, -25.0, -4.1667, -9.3]),  # -4.17: seed 1's
    "00.6": ({"dm": _frame("method seed delta_m", [("equal", 0, -1.0), ("pcgrad", 0, 0.5), ("mgda", 0, -3.0), ("equal", 1, -1.2), ("pcgrad", 1, 0.1), ("mgda", 1, -2.0)])}, "pcgrad", ["mgda", "equal", "single"]),
    "01.6": ({"scalars": _frame("network regime measure seed value", [("shallow", "single", "multitask_accuracy", 0, 0.6), ("shallow", "concurrent", "multitask_accuracy", 0, 0.7), ("deep", "single", "multitask_accuracy", 0, 0.9), ("deep", "concurrent", "multitask_accuracy", 0, 0.5), ("shallow", "single", "weight_similarity", 0, 0.1), ("shallow", "concurrent", "weight_similarity", 0, 0.9)])}, "separated", ["shared", "concurrent"]),
    "01.7": ({"sw": _frame("cue_init similarity seed multitask_accuracy", [(c, s, seed, a) for c, seed, accs in ((1.0, 0, (0.9, 0.8, 0.7)), (1.0, 1, (0.7, 0.8, 0.9)), (0.1, 0, (0.7, 0.8, 0.9))) for s, a in zip((0.0, 0.5, 0.9), accs)]), "cue_init": 1.0, "seed": 0}, -1.0, [1.0, 0.0, -0.5]),
    "01.8": ({"evals": _frame("policy seed reward", [("agent", 0, 0.9), ("oracle", 0, 0.95), ("always shared", 0, 0.3), ("always separated", 0, 0.4), ("always shared", 1, 0.35), ("always separated", 1, 0.36)])}, "always separated", ["always shared", "shared", "agent", "oracle"]),
    "02.5": ({"hv": _hv(), "dataset": "digits"}, "linear", ["none", "wide"]),
    "02.6": ({"hv": _hv(), "dataset": "digits", "head": "linear", "gamma": 2.0}, 0.025, [-0.025, 0.25, 0.0, 0.0255]),
    "02.7": ({"params": _params(), "dataset": "digits", "head": "linear", "gamma": 2.0}, 1020, [0, 17810, 102]),
    "03.5": ({"results": _frame("method budget seed test_total", [("optimal", 2.0, 0, 6.0), ("optimal", 2.0, 1, 6.2), ("optimal", 1.0, 0, 7.0), ("optimal", 1.0, 1, 7.0), ("ESA", 2.0, 0, 6.5), ("ESA", 2.0, 1, 6.5)]), "budget": 2}, 6.1, [7.0, 6.5, 6.0, 12.2]),
    "03.6": ({"regret": _regret(ESA=[1.0, 2.0], HOA=[0.5, 0.5], random=[3.0, 3.0])}, 1.0, [-1.0, 1.5, 2.0]),
    "03.7": ({"gains": _frame("task partner gain", [("left", "right", 0.1), ("right", "left", 0.3), ("left_ge5", "left", 0.2)])}, "right", ["left", "left_ge5"]),
    "04.5": ({"aff": AFF, "gains": GAINS}, -1.0, [1.0, -0.6, 0.0]),  # -0.6: merged with source as the task
    "04.6": ({"regret": _regret(affinity=[0.05, 0.07], HOA=[0.02, 0.03], ESA=[0.01, 0.01])}, "HOA", ["affinity", "ESA"]),
    "04.7": ({"aff": _frame("source target affinity", [("a", "b", 0.3), ("a", "c", 0.3), ("b", "a", 0.9), ("b", "c", -0.7), ("c", "a", 0.5), ("c", "b", 0.5)])}, "c", ["b", "a"]),
    "05.2": ({"regret": _regret(TAG=[1.0, 2.0], HOA=[0.5, 1.5], ESA=[3.0, 0.1])}, "HOA", ["TAG", "ESA"]),
    "05.3": ({"compute": _frame("method seed network-epochs", [("Grad-TAG", 0, 50.0), ("Grad-TAG", 1, 54.0), ("TAG", 0, 10.0)])}, 52.0, [50.0, 38.0, 54.0]),  # 38: every method's mean
}  # fmt: skip


def test_every_registered_exercise_has_a_case():
    assert sorted(CASES) == sorted(EXERCISES)


@pytest.mark.parametrize("id", sorted(CASES))
def test_a_check_passes_the_right_answer_and_fails_wrong_ones(id, capsys):
    objects, right, wrong = CASES[id]
    assert check(id, right, **objects) is True
    assert f"✓ {id}: right" in capsys.readouterr().out
    for answer in [*wrong, ..., None, "not an answer" if EXERCISES[id].kind == "number" else 3.5]:
        assert check(id, answer, **objects) is False, answer
        out = capsys.readouterr().out
        assert out.startswith(f"✗ {id}:") and "Hint:" in out and "✓" not in out, (answer, out)


def test_judge_reads_answers_of_every_kind_without_raising():
    number = Exercise("n", "", "number", lambda: 1.0, "", tol=0.01, rtol=0.1)
    assert judge(number, 1.09, 1.0)[0] and judge(number, 10.9, 10.0)[0] and not judge(number, 11.5, 10.0)[0]
    assert not judge(number, True, 1.0)[0] and not judge(number, "1.0", 1.0)[0]
    assert judge(number, float("nan"), float("nan"))[0] and not judge(number, 0.0, float("nan"))[0]
    name = Exercise("s", "", "name", lambda: "x", "")
    assert judge(name, " Left ", {"left", "right"})[0] and not judge(name, "sum", {"left"})[0]
    yes = Exercise("y", "", "yes/no", lambda: True, "")
    assert judge(yes, "yes", True)[0] and judge(yes, False, False)[0] and not judge(yes, "no", True)[0]
    assert not judge(yes, "maybe", True)[0] and not judge(yes, [], True)[0]
