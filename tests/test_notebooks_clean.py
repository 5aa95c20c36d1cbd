"""notebooks/ stays output-free: every committed notebook has no outputs and no execution counts, and the clean
filter (tools/nbclean.py, applied by .gitattributes once `make hooks` has run) strips a run's outputs on commit
while leaving a clean notebook byte-identical."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILTER = ROOT / "tools" / "nbclean.py"


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def committed_notebooks() -> list[str]:
    return git("ls-files", "notebooks/*.ipynb").split()


def run_leftovers(nb: dict) -> list[str]:
    """What a run left in ``nb``: each code cell with outputs or an execution count."""
    found = []
    for k, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {k} ({cell.get('id')}): {len(cell['outputs'])} outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {k} ({cell.get('id')}): execution_count {cell['execution_count']}")
    return found


def strip(text: str) -> str:
    return subprocess.run(
        [sys.executable, str(FILTER)], input=text.encode(), capture_output=True, check=True
    ).stdout.decode()


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout")
@pytest.mark.parametrize("path", committed_notebooks() if (ROOT / ".git").exists() else [])
def test_committed_notebooks_have_no_outputs_or_execution_counts(path):
    nb = json.loads(git("show", f"HEAD:{path}"))
    assert not run_leftovers(nb), f"{path} was committed with a run's outputs: {run_leftovers(nb)}"


def test_the_check_finds_outputs_and_counts():
    nb = {
        "cells": [
            {"cell_type": "code", "id": "a", "outputs": [{"output_type": "stream"}], "execution_count": 3}
        ]
    }
    assert len(run_leftovers(nb)) == 2


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_the_filter_leaves_a_clean_notebook_byte_identical(path):
    text = path.read_text(encoding="utf-8")
    assert strip(text) == text


def executed(text: str) -> str:
    """``text`` (a notebook) as a "Run All" in JupyterLab leaves it: outputs, counts, timings."""
    nb = json.loads(text)
    for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["42\n"]}]
        cell["execution_count"] = n + 1
        cell["metadata"]["execution"] = {"iopub.status.busy": "2026-12-07T10:00:00Z"}
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def test_the_filter_strips_a_run_and_keeps_the_tags():
    text = (ROOT / "notebooks" / "00_landscape.ipynb").read_text(encoding="utf-8")
    assert run_leftovers(json.loads(executed(text)))
    assert strip(executed(text)) == text  # tags (solution, check, parameters) and sources unchanged


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_stores_the_stripped_notebook_through_gitattributes(tmp_path):
    """End to end in a scratch repository: `git add` of an executed notebook stores it without outputs."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "tools").mkdir()
    shutil.copy2(ROOT / ".gitattributes", tmp_path / ".gitattributes")
    shutil.copy2(FILTER, tmp_path / "tools" / "nbclean.py")
    clean = (ROOT / "notebooks" / "01_tradeoff.ipynb").read_text(encoding="utf-8")
    (tmp_path / "notebooks" / "01_tradeoff.ipynb").write_text(executed(clean), encoding="utf-8")
    git("init", "-q", cwd=tmp_path)
    # the same setting `make hooks` writes, given on the command line here (the scratch repository only)
    git("-c", f"filter.nbclean.clean={sys.executable} tools/nbclean.py", "add", ".", cwd=tmp_path)
    stored = git("show", ":notebooks/01_tradeoff.ipynb", cwd=tmp_path)
    assert stored == clean


def test_make_hooks_configures_the_filter_gitattributes_names():
    make = (ROOT / "Makefile").read_text()
    assert "git config filter.nbclean.clean" in make and "tools/nbclean.py" in make
    assert "notebooks/*.ipynb filter=nbclean" in (ROOT / ".gitattributes").read_text()
