from pathlib import Path

import pytest
import torch

from mtlkit.cli import run_study
from mtlkit.data.base import MultiTaskData, TaskSpec
from mtlkit.studies import STUDIES

NOTEBOOKS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.fixture
def tiny_data() -> MultiTaskData:
    """Two learnable classification tasks and one regression task on 6-d inputs."""
    g = torch.Generator().manual_seed(0)
    x = {s: torch.randn(n, 6, generator=g) for s, n in (("train", 96), ("val", 32), ("test", 32))}
    y = {
        s: {"pos": (v[:, 0] > 0).long(), "big": (v[:, 1] > 0.5).long(), "reg": v[:, 2:3] * 2.0}
        for s, v in x.items()
    }
    tasks = [
        TaskSpec("pos", "classification", 2),
        TaskSpec("big", "classification", 2),
        TaskSpec("reg", "regression", 1),
    ]
    return MultiTaskData(x, y, tasks)


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """Every notebook run once in smoke mode (through papermill): the output root and each study's folder.
    Shared by tests/test_notebooks.py and tests/test_exercises.py, so the notebooks run once per session."""
    out = tmp_path_factory.mktemp("smoke")
    return out, {name: run_study(STUDIES[name], "smoke", {}, str(out)).parent for name in NOTEBOOKS}
