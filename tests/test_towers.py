"""Study 02's pieces: MMoE, self-auxiliary towers, the parameter control, fronts and hypervolume."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtlkit.data.base import TaskSpec
from mtlkit.fronts import VARIANTS, hypervolumes, weight_grid
from mtlkit.metrics import hypervolume_2d, marginal_loss, pareto_front
from mtlkit.models import build_model
from mtlkit.models.towers import AUX, SelfAuxiliaryTowers, count_parameters, matching_tower, with_aux_tasks
from mtlkit.runs import AuxConfig, FitConfig, RunConfig, train_and_evaluate
from mtlkit.studies.small_towers import variant_config
from mtlkit.train import fit
from mtlkit.weighting import make_weighting

TASKS = [TaskSpec("a", "classification", 3), TaskSpec("b", "regression", 1)]


def test_mmoe_gates_sum_to_one_and_outputs_have_task_shapes():
    m = build_model("mmoe", (6,), TASKS, width=8, depth=1, n_experts=3, tower=[4])
    x = torch.randn(5, 6)
    for g in m.gate_weights(x).values():
        assert g.shape == (5, 3) and torch.allclose(g.sum(1), torch.ones(5))
    out = m(x)
    assert out["a"].shape == (5, 3) and out["b"].shape == (5, 1)
    assert {id(p) for p in m.shared_parameters()} == {id(p) for p in m.experts.parameters()}


@pytest.mark.parametrize("arch", ["hard", "mmoe"])
def test_aux_towers_train_and_are_absent_from_the_served_model(arch, tiny_data):
    base = build_model(arch, tiny_data.input_shape, tiny_data.tasks, width=8, depth=1, tower=[4])
    n_base = count_parameters(base)
    model = SelfAuxiliaryTowers(base, tiny_data.tasks, hidden=())
    data = with_aux_tasks(tiny_data)
    assert set(data.task_names) == {"pos", "big", "reg", "pos.aux", "big.aux", "reg.aux"}
    before = {k: v.clone() for k, v in model.aux.state_dict().items()}
    fit(
        model,
        data,
        epochs=2,
        lr=0.01,
        batch_size=32,
        weighting={"name": "fixed", "weights": {"pos.aux": 2.0}},
    )
    after = model.aux.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before), "every auxiliary tower was trained"
    served = model.served()
    assert served is base and count_parameters(served) == n_base
    assert not any(t.endswith(AUX) for t in served(tiny_data.x["test"]))
    assert count_parameters(model) > n_base


def test_fixed_weighting():
    w = make_weighting("fixed", TASKS, weights={"a": 0.25})
    assert w.weights(torch.ones(2), []).tolist() == [0.25, 1.0]
    with pytest.raises(ValueError, match="unknown tasks"):
        make_weighting("fixed", TASKS, weights={"c": 1.0})


def test_matching_tower_adds_at_least_the_extra_parameters_and_no_more_than_needed():
    def build(tower):
        return build_model("hard", (6,), TASKS, width=8, depth=1, tower=list(tower))

    base = count_parameters(build([4, 4]))
    wider = matching_tower(build, [4, 4], extra=30)
    added = count_parameters(build(wider)) - base
    narrower = [h - 1 for h in wider]
    assert added >= 30 and (narrower == [4, 4] or count_parameters(build(narrower)) - base < 30)
    with pytest.raises(ValueError, match="linear head"):
        matching_tower(build, [], 10)


def test_variant_configs():
    base = RunConfig(
        seed=0,
        data={"name": "correlated", "correlation": 0.5, "n_train": 50, "seed": 0},
        model={"architecture": "hard", "width": 8, "depth": 1, "tower": [4, 4]},
        fit=FitConfig(epochs=1),
    )
    small = variant_config(base, "small", fraction=0.0, gamma=2.0)
    assert small.aux == AuxConfig((), 2.0)
    assert variant_config(base, "small", fraction=0.5, gamma=1.0).aux.hidden == (2,)
    assert variant_config(base, "large", fraction=0.0, gamma=1.0).aux.hidden == (4, 4)
    wide = variant_config(base, "wide", fraction=0.0, gamma=1.0)
    assert wide.aux is None and wide.model["tower"][0] > 4
    assert base.model["tower"] == [4, 4], "the base config is not modified"
    assert VARIANTS == ("none", "small", "large", "wide")
    with pytest.raises(ValueError, match="known"):
        variant_config(base, "huge", fraction=0.0, gamma=1.0)


def test_train_and_evaluate_serves_the_base_model_size():
    base = RunConfig(
        seed=0,
        data={"name": "correlated", "correlation": 0.5, "n_train": 64, "seed": 0},
        model={"architecture": "hard", "width": 8, "depth": 1, "tower": [4, 4]},
        fit=FitConfig(epochs=2, weighting={"name": "fixed", "weights": {"y1": 0.3, "y2": 0.7}}),
    )
    plain = train_and_evaluate(base)
    towers = train_and_evaluate(variant_config(base, "large", fraction=0.0, gamma=1.0))
    count = lambda df, split: df[(df.metric == "parameters") & (df.split == split)].value.item()  # noqa: E731
    assert count(towers, "test") == count(plain, "test") < count(towers, "train")
    assert set(towers[(towers.epoch == 0) & (towers.metric == "loss")].task) == {"y1", "y2"}
    with pytest.raises(ValueError, match="need 'equal' or 'fixed'"):
        train_and_evaluate(
            dataclasses.replace(base, aux=AuxConfig((), 1.0), fit=FitConfig(1, weighting="pcgrad"))
        )


def test_pareto_front_and_hypervolume_hand_cases():
    pts = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [2.5, 2.5], [5.0, 0.5]])
    assert pareto_front(pts).tolist() == [True, True, True, False, True]
    # (5, 0.5) lies outside the reference box and adds nothing; (2.5, 2.5) is dominated
    assert hypervolume_2d(pts, (4.0, 4.0)) == pytest.approx(6.0)
    assert hypervolume_2d(np.array([[1.0, 1.0]]), (3.0, 2.0)) == pytest.approx(2.0)
    assert hypervolume_2d(np.array([[5.0, 5.0]]), (4.0, 4.0)) == 0.0
    assert weight_grid(3) == [0.05, 0.5, 0.95]


def test_hypervolumes_table_normalises_by_the_reference_box():
    rows = [
        {
            "dataset": "d",
            "architecture": "hard",
            "variant": "none",
            "seed": 0,
            "alpha": a,
            "split": "test",
            "metric": "loss",
            "task": t,
            "value": v,
        }
        for a, (l1, l2) in ((0.2, (1.0, 3.0)), (0.8, (3.0, 1.0)))
        for t, v in (("t1", l1), ("t2", l2))
    ]
    hv = hypervolumes(pd.DataFrame(rows), {("d", 0): (4.0, 4.0)}, {"d": ("t1", "t2")})
    assert hv.hypervolume.item() == pytest.approx((2 * 1 + 1 * 3) / 16)  # (3-1)(4-3) + (4-3)(4-1), over 4*4


def test_marginal_loss():
    y_train, y_test = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [4.0]])
    assert marginal_loss(y_train, y_test, "regression") == pytest.approx(
        4.0
    )  # mean 2, squared errors 4 and 4
    labels = torch.tensor([0, 0, 0, 1])  # add-one frequencies: 4/6 and 2/6
    assert marginal_loss(labels, torch.tensor([1]), "classification") == pytest.approx(-math.log(2 / 6))
