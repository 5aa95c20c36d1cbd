"""Study 05's estimators on small inputs whose answers are known: the MILP partition against brute force,
Grad-TAG's projected Jacobians against a finite step and its fit against the base model, ETAP's predictor
on gains that its model class contains, the within-task Spearman, and the study's parameter checks."""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from mtlkit.data.base import MultiTaskData, TaskSpec
from mtlkit.grouping import network_name, subsets
from mtlkit.params import ParameterError, validate
from mtlkit.studies import grouping_methods as study05
from mtlkit.surrogates import (
    etap_predict,
    group_scores,
    held_out_truth,
    linearized_losses,
    milp_partition,
    projected_jacobians,
    truth_noise_floor,
    within_task_spearman,
)


def _partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first, *part[i]]] + part[i + 1 :]
        yield [[first], *part]


def _value(groups, gains):
    return sum(gains[(u, t)] for g in groups for t in g for u in g if u != t)


def test_milp_keeps_helpful_pairs_together_and_harmful_ones_apart():
    tasks = ["a", "b", "c", "d"]
    gains = {(u, t): -1.0 for u in tasks for t in tasks if u != t}
    gains |= {("a", "b"): 2.0, ("b", "a"): 1.0, ("c", "d"): 0.5, ("d", "c"): 0.5}
    assert milp_partition(gains, tasks, 2) == [frozenset("ab"), frozenset("cd")]
    assert milp_partition(gains, tasks, 1) == [frozenset("abcd")]
    with pytest.raises(ValueError, match="k = 0"):
        milp_partition(gains, tasks, 0)


@pytest.mark.parametrize("seed", range(6))
def test_milp_matches_brute_force_over_partitions(seed):
    rng = np.random.default_rng(seed)
    tasks = list("abcde")
    gains = {(u, t): float(rng.normal()) for u in tasks for t in tasks if u != t}
    for k in (1, 2, 3):
        best = max(_value(p, gains) for p in _partitions(tasks) if len(p) <= k)
        got = milp_partition(gains, tasks, k)
        assert len(got) <= k and sorted(itertools.chain(*got)) == tasks
        assert _value([sorted(g) for g in got], gains) == pytest.approx(best, abs=1e-9)


class _TwoHeads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh())
        self.a, self.b = torch.nn.Linear(6, 2), torch.nn.Linear(6, 1)

    def forward(self, x):
        z = self.trunk(x)
        return {"a": self.a(z), "b": self.b(z)}


def _tiny():
    g = torch.Generator().manual_seed(0)
    x = {s: torch.randn(40, 3, generator=g) for s in ("train", "val", "test")}
    y = {s: {"a": (v[:, 0] > 0).long(), "b": v[:, 1:2]} for s, v in x.items()}
    return MultiTaskData(x, y, [TaskSpec("a", "classification", 2), TaskSpec("b", "regression", 1)])


def test_projected_jacobian_is_the_directional_derivative():
    torch.manual_seed(0)
    model, data = _TwoHeads(), _tiny()
    f0, jac = projected_jacobians(model, data.x["val"], ["a", "b"], dim=4, seed=3)
    assert jac["a"].shape == (40, 2, 4) and jac["b"].shape == (40, 1, 4)
    # the same projection, drawn again: move the weights by P w and compare with f0 + J w
    total = sum(q.numel() for q in model.parameters())
    proj = torch.randn(total, 4, generator=torch.Generator().manual_seed(3)) / total**0.5
    w = torch.tensor([1e-3, -2e-3, 5e-4, 1e-3])
    step, at = proj @ w, 0
    with torch.no_grad():
        for q in model.parameters():
            q += step[at : at + q.numel()].view_as(q)
            at += q.numel()
        moved = model(data.x["val"])
    for t in ("a", "b"):
        assert torch.allclose(moved[t], f0[t] + jac[t] @ w, atol=1e-6)


def test_linearized_fit_lowers_the_training_loss_below_the_base_model():
    torch.manual_seed(0)
    model, data = _TwoHeads(), _tiny()
    feats = {s: projected_jacobians(model, data.x[s], ["a", "b"], 8, 0) for s in ("train", "val")}
    est = linearized_losses(data, feats, subsets(["a", "b"]), ridge=1e-4)
    assert set(est.network) == {"full:a", "full:b", "full:a+b"}
    base = {
        t: float(torch.nn.functional.cross_entropy(feats["train"][0]["a"], data.y["train"]["a"])) for t in "a"
    }
    alone = est[(est.network == "full:a") & (est.split == "train")].value.item()
    assert alone < base["a"]  # w = 0 is feasible, so the fit can only do better on what it fits
    # fitting a alone serves a at least as well on its training data as sharing w with b
    shared = est[(est.network == "full:a+b") & (est.task == "a") & (est.split == "train")].value.item()
    assert alone <= shared + 1e-6


def test_etap_recovers_gains_its_model_contains():
    tasks = ["a", "b", "c", "d"]
    rng = np.random.default_rng(0)
    pairs = pd.DataFrame(
        [{"source": u, "target": t, "cos": rng.normal()} for u in tasks for t in tasks if u != t]
    )
    scores = group_scores(pairs, tasks, "cos")
    single = {"a": 1.0, "b": 2.0, "c": 0.5, "d": 1.5}
    truth = scores.assign(loss=lambda d: d.task.map(single) * (1 - 0.3 * d.score))
    seen = truth[truth["size"] < 4][["network", "task", "loss"]]
    pred = etap_predict(scores, single, seen, ridge=0.0)
    both = pred.merge(truth, on=["network", "task"], suffixes=("", "_true"))
    assert np.allclose(both.loss, both.loss_true, atol=1e-8)
    # with an offset per task the residual predictor moves each task towards its own mean residual
    shifted = seen.assign(loss=lambda d: d.loss - 0.1 * d.task.map(single) * (d.task == "a"))
    moved = etap_predict(scores, single, shifted, ridge=0.0)
    big = network_name(frozenset(tasks), "full")
    before = both[(both.network == big) & (both.task == "a")].gain.item()
    after = moved[(moved.network == big) & (moved.task == "a")].gain.item()
    assert after > before + 0.01
    assert (
        moved[moved.network.isin(seen.network)]
        .merge(shifted, on=["network", "task"])
        .eval("loss_x == loss_y")
        .all()
    )


def test_group_scores_average_onto_each_task():
    pairs = pd.DataFrame(
        [{"source": u, "target": t, "x": 10 * ord(u) + ord(t)} for u in "abc" for t in "abc" if u != t]
    )
    s = group_scores(pairs, list("abc"), "x").set_index(["network", "task"]).score
    assert s[("full:a+b+c", "a")] == pytest.approx((10 * ord("b") + ord("a") + 10 * ord("c") + ord("a")) / 2)
    assert s[("full:a+b", "b")] == 10 * ord("a") + ord("b")


def test_within_task_spearman_is_one_for_a_monotone_estimate_and_minus_one_reversed():
    rows = [
        {"network": f"n{i}", "task": t, "loss": float(i + k)} for k, t in enumerate("xy") for i in range(5)
    ]
    truth = pd.DataFrame(rows)
    assert within_task_spearman(
        truth.assign(estimate=truth.loss**3).drop(columns="loss"), truth
    ) == pytest.approx(1.0)
    assert within_task_spearman(
        truth.assign(estimate=-truth.loss).drop(columns="loss"), truth
    ) == pytest.approx(-1.0)


def test_held_out_truth_leaves_each_seed_out_and_the_noise_floor_reads_seed_noise():
    # three seeds over five networks of one task: the loss is the network's index plus seed noise
    rng = np.random.default_rng(0)
    rows = [
        {"seed": s, "network": f"n{i}", "task": "x", "test": float(i) + (0.0 if s < 2 else 10 * rng.normal())}
        for s in range(3)
        for i in range(5)
    ]
    truth = pd.DataFrame(rows)
    held = held_out_truth(truth)
    assert sorted(held) == [0, 1, 2]
    # seed 2's reference is the mean of seeds 0 and 1 only: exactly the network index
    assert held[2].set_index("network").loss.to_dict() == {f"n{i}": float(i) for i in range(5)}
    floor = truth_noise_floor(truth)
    assert floor[0] == pytest.approx(floor[1])  # seeds 0 and 1 are noise-free copies of each other
    noisy = truth_noise_floor(truth.assign(test=truth.test + 100 * rng.normal(size=len(truth))))
    assert noisy.mean() < floor.mean()  # noisier seeds predict each other worse
    with pytest.raises(ValueError, match="at least 2 seeds"):
        held_out_truth(truth[truth.seed == 0])


def test_etap_groups_are_checked_before_compute():
    with pytest.raises(ParameterError, match="etap_groups' = 27.*\\[1, 26\\]"):
        validate(study05.SPEC, {"mode": "smoke", "etap_groups": 27})
    assert len(study05.etap_trained_groups(["a", "b", "c"], 4, 0)) == 4


def test_regret_by_budget_is_zero_for_the_optimum_and_positive_above_it():
    results = pd.DataFrame(
        {
            "method": ["optimal", "HOA", "optimal", "HOA"],
            "budget": [1.0, 1.0, 2.0, 2.0],
            "seed": 0,
            "test_total": [2.0, 2.2, 1.0, 1.0],
        }
    )
    r = study05.regret_by_budget(results).set_index("budget").regret
    assert r.loc[1.0] == pytest.approx(10.0) and r.loc[2.0] == 0.0
