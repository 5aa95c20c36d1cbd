"""Every notebook in notebooks/ runs end to end in smoke mode (through papermill, as users run it)."""

import json
from pathlib import Path

import papermill as pm
import pytest

from mtlkit.cli import run_study
from mtlkit.params import validate
from mtlkit.studies import STUDIES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


def test_every_notebook_is_a_declared_study():
    assert NOTEBOOKS, "no notebooks"
    assert set(NOTEBOOKS) == set(STUDIES)


def test_notebooks_are_stored_without_outputs():
    for name in NOTEBOOKS:
        nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
        assert all(
            not c.get("outputs") and not c.get("execution_count")
            for c in nb["cells"]
            if c["cell_type"] == "code"
        ), name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cell_matches_the_declared_defaults(name):
    """The notebook's parameters cell and the catalog declare the same names and defaults (one truth)."""
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    values: dict = {}
    exec("".join(cell["source"]), {}, values)
    assert set(values) == {p.name for p in STUDIES[name].params}
    # None in the cell means "the declared default"; anything else must be that default
    assert validate(STUDIES[name], values) == validate(STUDIES[name], {})


@pytest.mark.notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_run_writes_every_output(smoke_runs, name):
    folder = smoke_runs[1][name]
    for f in (f"{name}.ipynb", "metrics.csv", "claims.json", "manifest.json"):
        assert (folder / f).is_file(), f
    assert list((folder / "figures").glob("*.png"))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["mode"] == "smoke" and manifest["study"] == name
    assert json.loads((folder / "claims.json").read_text())["claims"]


LAYOUTS = {
    "in-process, 1 thread": ({"n_jobs": "1"}, "1"),
    "in-process, 2 threads": ({"n_jobs": "1"}, "2"),
    "dask, 2 workers": ({"n_jobs": "2", "backend": "dask"}, None),
}
"""Worker layouts compared with the session's smoke run (loky, one worker per core, the cache on): the
sweep's parameters, and the kernel's thread count (``OMP_NUM_THREADS``; None leaves it as it is)."""


@pytest.mark.notebook
@pytest.mark.parametrize("name", ["00_landscape", "02_small_towers"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_metrics_are_byte_identical_on_every_worker_layout(smoke_runs, tmp_path, monkeypatch, name, layout):
    """The same seeds give byte-identical metrics.csv in-process or in loky or Dask workers, on 1 or 2
    torch threads, without the cache: each run is pinned to one thread and the AVX2 kernels."""
    params, threads = LAYOUTS[layout]
    if threads is not None:
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
    again = run_study(STUDIES[name], "smoke", {"cache": "false", **params}, str(tmp_path)).parent
    first = smoke_runs[1][name] / "metrics.csv"
    assert (again / "metrics.csv").read_bytes() == first.read_bytes(), layout
    host = json.loads((again / "manifest.json").read_text())["host"]
    assert host["torch_threads"] == 1 and host["cpu_capability"] in ("AVX2", "DEFAULT"), host


def _papermill_refusal(tmp_path, **parameters) -> str:
    """Run study 00 through plain papermill with ``parameters``; return the ParameterError it stops with,
    after checking that nothing was computed."""
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(
            str(ROOT / "notebooks" / "00_landscape.ipynb"),
            str(tmp_path / "o.ipynb"),
            parameters={"mode": "smoke", "out": str(tmp_path), **parameters},
            progress_bar=False,
            kernel_name="python3",
        )
    assert e.value.ename == "ParameterError"
    assert not (tmp_path / "metrics.csv").exists(), "no compute happens before validation"
    return e.value.evalue


@pytest.mark.notebook
def test_plain_papermill_reports_a_bad_parameter(tmp_path):
    message = _papermill_refusal(tmp_path, tasks=["left", "colour"])
    assert "colour" in message and "sum_parity" in message


@pytest.mark.notebook
def test_plain_papermill_refuses_a_misspelled_parameter(tmp_path):
    """papermill only warns about a name the parameters cell lacks; the study refuses it before compute."""
    message = _papermill_refusal(tmp_path, epoch=3)
    assert "'epoch'" in message and "'epochs'" in message
