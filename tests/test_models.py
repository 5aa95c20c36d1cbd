import pytest
import torch

from mtlkit.data.base import TaskSpec
from mtlkit.models import build_model

TASKS = [TaskSpec("a", "classification", 3), TaskSpec("b", "regression", 1)]


@pytest.mark.parametrize("trunk", ["mlp", "cnn"])
@pytest.mark.parametrize("arch", ["hard", "separate"])
def test_output_shapes(arch, trunk):
    m = build_model(arch, (1, 8, 16), TASKS, trunk=trunk, width=16, depth=2)
    out = m(torch.zeros(5, 1, 8, 16))
    assert out["a"].shape == (5, 3) and out["b"].shape == (5, 1)
    assert set(m(torch.zeros(2, 1, 8, 16), ["b"])) == {"b"}


def test_shared_parameters():
    hard = build_model("hard", (4,), TASKS, width=8, depth=1)
    sep = build_model("separate", (4,), TASKS, width=8, depth=1)
    assert {id(p) for p in hard.shared_parameters()} == {id(p) for p in hard.trunk.parameters()}
    assert sep.shared_parameters() == []
    # separate networks hold one trunk per task: twice the trunk parameters of hard sharing here
    n_trunk = sum(p.numel() for p in hard.trunk.parameters())
    assert sum(p.numel() for p in sep.parameters()) == 2 * n_trunk + sum(
        p.numel() for p in hard.heads.parameters()
    )


def test_unknown_architecture():
    with pytest.raises(ValueError, match="known"):
        build_model("soft", (4,), TASKS)
