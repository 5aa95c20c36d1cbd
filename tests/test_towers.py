"""Study 02's pieces: MMoE, self-auxiliary towers, the parameter control, fronts and hypervolume."""

import copy
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtlkit.data import make_data
from mtlkit.data.base import TaskSpec
from mtlkit.data.overlaid import overlay
from mtlkit.fronts import VARIANTS, Variant, build_base, hypervolumes, train_variant, weight_grid, wide_tower
from mtlkit.metrics import hypervolume_2d, marginal_loss, pareto_front
from mtlkit.models import build_model
from mtlkit.models.blocks import LeNet, he_init_
from mtlkit.models.towers import (
    AUX,
    HEADS,
    PseudoTaskTowers,
    SelfAuxiliaryTowers,
    aux_head,
    count_parameters,
    matching_tower,
    pseudo_names,
    with_aux_tasks,
    with_task_copies,
)
from mtlkit.runs import AuxConfig, FitConfig, RunConfig, train_and_evaluate
from mtlkit.train import evaluate, fit
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
    assert w.weights(torch.ones(2)).tolist() == [0.25, 1.0]
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


def test_head_types_have_the_papers_parameter_counts():
    # MultiMNIST in the paper's code: a 50-unit representation, Dense 50-50-10 towers (5,610 parameters),
    # a linear head of 510 and a bottleneck head of 8 units with 498
    sizes = {k: count_parameters(aux_head(k, 50, 10, tower=[50, 50], bottleneck=8, pool=2)) for k in HEADS}
    assert sizes == {"linear": 510, "pooled": 260, "bottleneck": 498, "tower": 5610}
    z = torch.randn(3, 50)
    pooled = aux_head("pooled", 50, 4, pool=5)
    expected = pooled.linear(z.view(3, 10, 5).mean(-1))
    assert torch.allclose(pooled(z), expected, atol=1e-6), "pooled = mean over adjacent units, then linear"
    with pytest.raises(ValueError, match="known"):
        aux_head("huge", 50, 10)


def test_validate_served_answers_aux_with_the_main_tower_in_eval_mode_only(tiny_data):
    base = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1, tower=[4])
    model = SelfAuxiliaryTowers(base, tiny_data.tasks, validate_served=True)
    x = tiny_data.x["val"]
    model.train()
    out = model(x)
    assert not torch.allclose(out["pos.aux"], out["pos"]), "training uses the auxiliary tower"
    model.eval()
    out = model(x)
    assert torch.equal(out["pos.aux"], out["pos"]), "validation sees the served model's prediction"
    data = with_aux_tasks(tiny_data)
    val = evaluate(model, data, "val").set_index(["task", "metric"]).value
    assert val[("pos.aux", "loss")] == val[("pos", "loss")]


def test_pseudo_task_towers_train_every_tower_and_serve_the_chosen_one(tiny_data):
    base = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1, tower=[4])
    n_base = count_parameters(base)
    model = PseudoTaskTowers(base, tiny_data.tasks, 2, [4])
    assert pseudo_names("pos", 2) == ["pos.pt1", "pos.pt2"] and model.source["reg.pt2"] == "reg"
    copies = {n: t for n, t in model.source.items()}
    data = with_task_copies(tiny_data, copies)
    assert data.y["train"]["pos.pt1"] is tiny_data.y["train"]["pos"], "targets are shared, not copied"
    before = copy.deepcopy(model.pseudo.state_dict())
    fit(model, data, epochs=2, lr=0.01, batch_size=32)
    assert all(not torch.equal(before[k], v) for k, v in model.pseudo.state_dict().items())
    choice = {"pos": "pos.pt2", "big": "big", "reg": "reg.pt1"}
    served = model.served(choice)
    x = tiny_data.x["test"]
    with torch.no_grad():
        out, ref = served(x), model(x)
    for task, name in choice.items():
        assert torch.allclose(out[task], ref[name]), (task, name)
    assert count_parameters(served) == n_base
    with pytest.raises(ValueError, match="not a pseudo-task"):
        model.served({"pos": "reg.pt1"})


def test_lenet_bottom_and_he_init():
    net = LeNet((1, 8, 16), width=50, channels=6, kernel=3)
    assert net(torch.zeros(2, 1, 8, 16)).shape == (2, 50) and net.out_dim == 50
    he_init_(net)
    assert all(
        float(m.bias.detach().abs().sum()) == 0
        for m in net.modules()
        if hasattr(m, "bias") and m.bias is not None
    )
    w = net.fc[0].weight.detach()
    assert abs(float(w.std()) - (2 / w.shape[1]) ** 0.5) < 0.2 * (2 / w.shape[1]) ** 0.5, (
        "He: std sqrt(2/fan_in)"
    )
    with pytest.raises(ValueError, match="at least 4x4"):
        LeNet((1, 2, 16), 50)


def test_overlay_keeps_both_digits_and_overlaid_pairs_split_base_images():
    a, b = torch.zeros(1, 28, 28), torch.zeros(1, 28, 28)
    a[0, 0, 0], b[0, 27, 27] = 1.0, 0.5
    img = overlay(a, b, shift=8, size=36)[0, 0]
    assert img.shape == (36, 36) and img[0, 0] == 1.0 and img[35, 35] == 0.5 and img.sum() == 1.5
    assert overlay(a, b, shift=8, size=28).shape == (1, 1, 28, 28)
    d = make_data("overlaid", n_train=60, seed=0)
    assert d.x["train"].shape == (60, 1, 28, 28) and d.task_names == ["left", "right"]
    ids = {s: set(d.info["base_images"][s].flatten().tolist()) for s in ("train", "val", "test")}
    assert (
        not (ids["train"] & ids["val"])
        and not (ids["train"] & ids["test"])
        and not (ids["val"] & ids["test"])
    )


def _lenet(width: int, tower: list[int]) -> dict:
    """A tiny hard-sharing LeNet model config."""
    return {
        "architecture": "hard",
        "trunk": "lenet",
        "width": width,
        "tower": tower,
        "channels": 2,
        "kernel": 3,
    }


@pytest.mark.parametrize("name", ["linear", "large", "pseudo", "none"])
def test_every_variant_starts_from_the_same_base_and_serves_the_base_size(name):
    data = make_data("multidigits", tasks=["left", "right"], n_train=40, seed=0)
    model = _lenet(width=12, tower=[6, 6])
    fit_kw = {"epochs": 1, "lr": 1e-9, "batch_size": 64, "optimizer": "sgd"}
    _, _, none = train_variant(data, model, fit_kw, Variant("none"), {"left": 0.5, "right": 0.5}, seed=3)
    hist, net, served = train_variant(data, model, fit_kw, Variant(name), {"left": 0.5, "right": 0.5}, seed=3)
    assert count_parameters(served) == count_parameters(none)
    trunk = {k: v for k, v in served.state_dict().items() if k.startswith("trunk")}
    assert all(torch.allclose(v, none.state_dict()[k], atol=1e-6) for k, v in trunk.items()), "same base init"
    assert hist.attrs["best_epoch"] == 1
    assert (count_parameters(net) > count_parameters(none)) == (name != "none")


def test_wide_tower_adds_at_least_the_small_heads_parameters():
    data = make_data("multidigits", tasks=["left", "right"], n_train=8, seed=0)
    model = _lenet(width=50, tower=[50, 50])
    wide = wide_tower(data, model, Variant("linear"), "linear")
    added = count_parameters(build_base(data, {**model, "tower": wide})) - count_parameters(
        build_base(data, model)
    )
    assert wide[0] > 50 and added >= 2 * 510
    assert VARIANTS == ("none", "linear", "pooled", "bottleneck", "large", "pseudo", "wide")
    with pytest.raises(ValueError, match="unknown variant"):
        Variant("huge")


def test_train_and_evaluate_serves_the_base_model_size():
    base = RunConfig(
        seed=0,
        data={"name": "correlated", "correlation": 0.5, "n_train": 64, "seed": 0},
        model={"architecture": "hard", "width": 8, "depth": 1, "tower": [4, 4]},
        fit=FitConfig(epochs=2, weighting={"name": "fixed", "weights": {"y1": 0.3, "y2": 0.7}}),
    )
    plain = train_and_evaluate(base)
    towers = train_and_evaluate(dataclasses.replace(base, aux=AuxConfig((4, 4), 1.0)))
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


def test_temperature_divides_the_auxiliary_logits_in_training_only(tiny_data):
    base = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1, tower=[4])
    plain = SelfAuxiliaryTowers(base, tiny_data.tasks, validate_served=True)
    temps = {"pos": 20.0, "big": 20.0, "reg": 1.0}
    hot = SelfAuxiliaryTowers(base, tiny_data.tasks, heads=plain.aux, validate_served=True, temperature=temps)
    x = tiny_data.x["val"]
    out, ref = hot(x), plain(x)
    assert torch.allclose(out["pos.aux"], ref["pos.aux"] / 20), "auxiliary logits / T"
    assert torch.equal(out["reg.aux"], ref["reg.aux"]) and torch.equal(out["pos"], ref["pos"])
    hot.eval()
    assert torch.equal(hot(x)["pos.aux"], hot(x)["pos"]), "validation still answers with the main tower"
    with pytest.raises(ValueError, match="temperature"):
        SelfAuxiliaryTowers(base, tiny_data.tasks, temperature=0.0)


def test_patience_each_waits_for_every_task_to_plateau(tiny_data):
    def epochs(each: bool) -> int:
        torch.manual_seed(0)
        net = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1, tower=[4])
        weights = {"name": "fixed", "weights": {"pos": 0.98, "big": 0.01, "reg": 0.01}}
        hist = fit(net, tiny_data, epochs=300, lr=0.05, weighting=weights, patience=3, patience_each=each)
        val = hist[(hist.split == "val") & (hist.metric == "loss")].pivot(index="epoch", columns="task")
        if each:  # at the stop, no task had a new best in its last 3 epochs
            last = val.value.iloc[-3:].min()
            assert (last >= val.value.iloc[:-3].min() - 1e-12).all()
        return int(hist.epoch.max())

    assert epochs(True) > epochs(False), "the low-weight tasks were still improving under the summed rule"
