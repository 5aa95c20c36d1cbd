"""Where a study's time goes: the phases read from papermill's timings of an executed notebook."""

import json

import pytest

from mtlkit.walltime import PHASES, phases


def _cell(source: str, start: str, end: str, duration: float) -> dict:
    meta = {"papermill": {"start_time": start, "end_time": end, "duration": duration}}
    return {"cell_type": "code", "source": source, "metadata": meta, "outputs": []}


def test_phases_split_an_executed_notebook(tmp_path):
    t = "2026-01-01T00:00:{:02d}+00:00".format
    nb = {
        "metadata": {"papermill": {"start_time": t(0), "end_time": t(30), "duration": 30.0}},
        "cells": [
            _cell("import x\nstudy = start('00', globals())", t(2), t(4), 2.0),
            {"cell_type": "markdown", "source": "# words", "metadata": {}},
            _cell("runs = study.run(fit, configs)", t(4), t(14), 10.0),
            {
                **_cell("truth = grouping.ground_truths(study)", t(14), t(24), 10.0),
                "metadata": {
                    "tags": ["training"],
                    "papermill": {"start_time": t(14), "end_time": t(24), "duration": 10.0},
                },
            },
            _cell("final = tables.final(runs)", t(24), t(25), 1.0),
            _cell("study.savefig(budget_figure(final), 'budget')", t(25), t(28), 3.0),
        ],
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    got = phases(path)
    assert list(got) == [*PHASES, "total"]
    assert got == {
        "kernel start": 2.0,
        "imports": 2.0,
        "training": 20.0,
        "analysis": 1.0,
        "plotting": 3.0,
        "writing": 2.0,
        "total": 30.0,
    }


def test_a_notebook_papermill_did_not_run_is_refused(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text(
        json.dumps({"metadata": {}, "cells": [{"cell_type": "code", "source": "1", "metadata": {}}]})
    )
    with pytest.raises(ValueError, match="no papermill timings"):
        phases(path)
