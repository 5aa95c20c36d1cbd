import json
import os

import pytest

from mtlkit import results


def test_atomic_write_interrupted_leaves_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    results.atomic_write_text(path, "old\n")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        results.atomic_write_text(path, "new, half written\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"], "temporary file left behind"


def test_write_json_turns_nan_into_null(tmp_path):
    import numpy as np

    results.write_json(tmp_path / "c.json", {"x": float("nan"), "y": np.float64(1.5), "z": [np.int64(2)]})
    assert json.loads((tmp_path / "c.json").read_text()) == {"x": None, "y": 1.5, "z": [2]}


def test_notebook_hash_ignores_outputs_and_metadata(tmp_path):
    nb = {
        "cells": [{"cell_type": "code", "source": ["x = 1"], "outputs": [], "metadata": {}}],
        "metadata": {},
    }
    a = tmp_path / "a.ipynb"
    a.write_text(json.dumps(nb))
    h = results.notebook_hash(a)
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "text": "hi"}]
    nb["metadata"] = {"papermill": {}}
    a.write_text(json.dumps(nb))
    assert results.notebook_hash(a) == h
    nb["cells"][0]["source"] = ["x = 2"]
    a.write_text(json.dumps(nb))
    assert results.notebook_hash(a) != h


def test_mtlkit_hash_is_stable():
    assert results.mtlkit_hash() == results.mtlkit_hash()
    assert len(results.mtlkit_hash()) == 64


def test_committed_files_name_no_absolute_path_of_this_checkout():
    """Committed outputs and sources name files relative to the repository, and cite the project's own
    account of the papers (``docs/papers.md``), never a file outside the repository."""
    import subprocess

    root = results.REPO_DIR
    files = subprocess.run(
        ["git", "ls-files", "mtlkit", "notebooks", "results", "docs", "README.md", "benchmarks"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert files, "git lists no files"
    for name in files:
        path = root / name
        if path.suffix not in (".py", ".ipynb", ".json", ".csv", ".md") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        assert str(root) not in text, f"{name} names the checkout's absolute path {root}"
        assert "shared/papers.md" not in text, f"{name} cites a file outside the repository"
        if path.suffix == ".ipynb":
            meta = json.loads(text).get("metadata", {}).get("papermill", {})
            for key in ("input_path", "output_path"):
                assert not str(meta.get(key) or "").startswith("/"), f"{name}: papermill {key} is absolute"
