"""Safe runs for a classroom: a notebook run by hand never touches the committed results, a run that is not
the committed kind says so above its verdicts, and a run prints no kernel transport warning."""

import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from mtlkit.runner import execute
from mtlkit.session import OUT_ENV
from mtlkit.study import start

ROOT = Path(__file__).resolve().parents[1]


def _git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True
    ).stdout


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"mode": "default"}, None),
        ({"mode": "default", "n_jobs": 1, "cache": False, "device": "cpu"}, None),  # runtime only
        ({"mode": "smoke"}, "Smoke mode: sizes too small to be evidence"),
        ({"mode": "default", "width": 32}, "Custom parameters** (width=32)"),
        ({"mode": "default", "seed": 3}, "Custom parameters** (seed=3)"),
        ({"mode": "full"}, "Full mode"),
    ],
)
def test_a_run_that_is_not_the_committed_kind_says_so_above_its_verdicts(tmp_path, given, expected):
    study = start("00_landscape", out=str(tmp_path), **given)
    table = study.findings_markdown([])
    if expected is None:
        assert study.caveat() == "" and not table.startswith(">")
    else:
        assert expected in study.caveat() and table.startswith("> ⚠") and "results/00_landscape/" in table


def test_papermill_runs_print_no_kernel_transport_warning(tmp_path, capfd):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    execute(tmp_path / "in.ipynb", tmp_path / "out.ipynb", {}, tmp_path)
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[-1].outputs[0]["text"].strip() == "42"
    err = capfd.readouterr().err
    assert "TCP" not in err and "--existing" not in err and "Ctrl-C" not in err, err


@pytest.mark.notebook
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_running_a_notebook_top_to_bottom_by_hand_leaves_the_checkout_clean(monkeypatch):
    """As "Run All" in JupyterLab: a plain kernel, no papermill parameters (smoke mode from the environment,
    as a teacher would set it); everything the study writes lands in the ignored results/lab/."""
    monkeypatch.setenv("MTLKIT_MODE", "smoke")
    monkeypatch.delenv(OUT_ENV, raising=False)
    before = _git_status()
    path = ROOT / "notebooks" / "01_tradeoff.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    assert _git_status() == before
    lab = ROOT / "results" / "lab" / "smoke" / "01_tradeoff"
    assert (lab / "claims.json").is_file() and (lab / "manifest.json").is_file()
    assert "Smoke mode" in str([c.outputs for c in nb.cells if c.cell_type == "code"])
    assert os.environ.get(OUT_ENV) is None


def test_a_diverged_training_run_is_flagged_in_the_output_and_in_every_claim(tmp_path, capsys):
    import pandas as pd

    from mtlkit.stats import Claim

    def curve(config: dict) -> pd.DataFrame:
        losses = [1.0, 0.6, 0.5] if config["seed"] == 0 else [1.0, 3.0, 9.0]
        return pd.DataFrame(
            {"epoch": [1, 2, 3], "split": "train", "task": "a", "metric": "loss", "value": losses}
        )

    study = start("00_landscape", mode="default", out=str(tmp_path), cache=False, n_jobs=1)
    claim = Claim.test("C1", "it helps", [0.5, 0.7, 0.6], effect="gain", paper="+1", at_last_epoch=0.0)
    study.run(curve, {(0,): {"seed": 0}}, keys=("seed",))
    assert study.runs_diverged == 0 and study.judged([claim]) == [claim] and study.caveat() == ""
    study.run(curve, {(0,): {"seed": 0}, (1,): {"seed": 1}}, keys=("seed",), desc="toy")
    assert "toy: 1 of 2 training runs diverged" in capsys.readouterr().out
    (judged,) = study.judged([claim])
    assert judged.converged is False and judged.detail["diverged runs"] == "1 of 3"
    table = study.findings_markdown([claim])
    assert (
        "1 of 3 training runs diverged" in table and "not converged: 1 of 3 training runs diverged" in table
    )
