"""JupyterLab for `make lab` is pinned: requirements-lab.lock pins the `lab` extra's version exactly, with the
dependencies requirements.lock does not pin, and nothing both locks pin (the venv's versions stay the lock's)."""

import re
from pathlib import Path

import pytest
from test_packaging import lock_pins  # the one reader of a lock's name==version lines

tomllib = pytest.importorskip("tomllib")
ROOT = Path(__file__).resolve().parents[1]
LAB = "requirements-lab.lock"


def test_lab_lock_pins_exactly_and_matches_the_lab_extra():
    for line in (ROOT / LAB).read_text().splitlines():
        line = line.split("#")[0].strip()
        assert not line or re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+", line), line
    lab = lock_pins(LAB)
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["lab"]
    assert extra == [f"jupyterlab=={lab['jupyterlab']}"]
    assert not set(lab) & set(lock_pins()), "a package in both locks"


def test_make_lab_installs_the_lab_lock():
    make = (ROOT / "Makefile").read_text()
    rule = re.search(r"^lab:.*\n((?:\t.*\n)+)", make, re.M).group(1)
    assert "pip install" in rule and "-r requirements-lab.lock" in rule and "[lab]" not in rule
    assert "jupyter lab" in rule
    assert f"pip install -r {LAB}" in (ROOT / "environment.yml").read_text()


def test_lab_lock_is_closed_over_jupyterlabs_dependencies():
    """Where JupyterLab is installed (after `make lab`), every package it needs is pinned in one of the locks
    at the version installed."""
    md = pytest.importorskip("importlib.metadata")
    from packaging.requirements import Requirement

    try:
        md.distribution("jupyterlab")
    except md.PackageNotFoundError:
        pytest.skip("JupyterLab is not installed here (`make lab` installs it)")
    pins = {**lock_pins(), **lock_pins(LAB)}
    norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()  # noqa: E731
    seen, todo, wrong = set(), ["jupyterlab"], {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        dist = md.distribution(name)
        if pins.get(name) != dist.version:
            wrong[name] = (dist.version, pins.get(name))
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(norm(req.name))
    assert not wrong, f"installed vs locked: {wrong}"
