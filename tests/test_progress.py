"""Progress while a study runs: what the kernel's sweeps report, and the line `mtlkit run` shows."""

import io
import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from mtlkit.progress import PROGRESS_ENV, ProgressLine, clock, describe, report
from mtlkit.sweep import run_sweep


def _square(config: dict) -> pd.DataFrame:
    return pd.DataFrame({"value": [config["x"] ** 2]})


def test_clock():
    assert clock(0) == "0:00" and clock(75.3) == "1:15" and clock(3725) == "1:02:05"


def test_describe_estimates_the_rest_from_the_runs_computed():
    state = {"desc": "runs", "done": 6, "total": 10, "computed": 4, "started": 100.0}
    line = describe("00_landscape", state, now=140.0)
    # 4 runs took 40 s: the 4 left take about 40 s more (the 2 cached ones cost nothing)
    assert line == "00_landscape: runs 6/10 (60%), 0:40 elapsed, about 0:40 left"
    assert "left" not in describe("x", {**state, "done": 10}, now=140.0)
    assert describe("x", {**state, "damaged": 2}, now=140.0).endswith("; 2 damaged cache entries recomputed")


def test_report_is_silent_without_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    report("runs", 1, 2, 1, 0.0)
    assert not list(tmp_path.iterdir())


def test_a_sweep_reports_every_run_it_finishes(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    seen = []
    monkeypatch.setenv(PROGRESS_ENV, str(path))
    monkeypatch.setattr("mtlkit.sweep.report", lambda *a: (seen.append(a[:4]), report(*a)))
    run_sweep(_square, [{"x": i} for i in range(3)], cache_dir=tmp_path / "cache", progress=False)
    assert seen == [("runs", 0, 3, 0), ("runs", 1, 3, 1), ("runs", 2, 3, 2), ("runs", 3, 3, 3)]
    assert json.loads(path.read_text())["done"] == 3
    seen.clear()  # a resumed sweep starts from the runs already cached, and computes none
    run_sweep(_square, [{"x": i} for i in range(3)], cache_dir=tmp_path / "cache", progress=False)
    assert seen == [("runs", 3, 3, 0)]


def test_off_a_terminal_a_line_per_tenth(tmp_path):
    path, out = tmp_path / "p.json", io.StringIO()
    line = ProgressLine("00_landscape", path, stream=out, every=60)
    for done in (0, 1, 2, 5, 5, 10):
        path.write_text(
            json.dumps({"desc": "runs", "done": done, "total": 10, "computed": done, "started": 0})
        )
        line.show(now=float(done))
    lines = out.getvalue().splitlines()
    assert [x.split(" (")[0] for x in lines] == [f"00_landscape: runs {d}/10" for d in (0, 1, 2, 5, 10)]
    path.write_text("{not json")
    line.show(now=11.0)  # a half-read or damaged file is skipped, never an error
    assert len(out.getvalue().splitlines()) == 5


def test_the_line_runs_beside_the_study_and_cleans_up(tmp_path):
    path, out = tmp_path / "p.json", io.StringIO()
    with ProgressLine("s", path, stream=out, every=0.01):
        path.write_text(json.dumps({"desc": "runs", "done": 1, "total": 4, "computed": 1, "started": 0}))
        for _ in range(200):
            if out.getvalue():
                break
            __import__("time").sleep(0.01)
    assert "s: runs 1/4 (25%)" in out.getvalue()
    assert not path.exists()


@pytest.mark.notebook
def test_a_successful_run_shows_its_progress_and_no_error(tmp_path):
    """`mtlkit run` off a terminal: a progress line per tenth of the study's runs on stderr while it runs,
    and the study's line on stdout; no "ERROR" (jupyter_client's interrupt before the shutdown request made ipykernel log
    one after most runs) and no traceback."""
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mtlkit.cli",
            "run",
            "00",
            "--mode",
            "smoke",
            "-p",
            "seeds",
            "2",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "ERROR" not in out and "Traceback" not in out, out
    lines = [x for x in r.stderr.splitlines() if x.startswith("00_landscape: stacks ")]  # on stderr:
    assert lines and re.match(r"00_landscape: stacks (\d+)/\1 \(100%\)", lines[-1]), r.stderr
    assert r.stdout.splitlines() == [r.stdout.splitlines()[0]] and " s -> " in r.stdout  # stdout: the result
