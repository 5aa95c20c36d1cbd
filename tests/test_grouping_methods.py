"""Study 05's estimators on small inputs whose answers are known: the grouping program of Wang, Pan and Yu
against every feasible grouping of their code's formulation (and that check's power: it fails once a
constraint is dropped), Grad-TAG's projected Jacobians against a finite step, ETAP's predictor on gains that
its model class contains, the within-task Spearman, and the study's parameter checks."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from mtlkit.data.base import MultiTaskData, TaskSpec
from mtlkit.grouping import network_name
from mtlkit.params import ParameterError, validate
from mtlkit.studies import grouping_methods as study05
from mtlkit.surrogates import (
    etap_predict,
    gain_matrix,
    group_gain,
    group_scores,
    grouping_program,
    held_out_truth,
    projected_jacobians,
    solve_program,
    truth_noise_floor,
    within_task_spearman,
)


def _their_best(gains: np.ndarray, k: int) -> float:
    """The optimum of the grouping program as the authors' code writes it, by trying every 0/1 matrix ``X``
    (task ``i`` in group ``j``) of ``len(gains)`` tasks and ``k`` groups: every task in at least one group,
    every group non-empty, no two groups alike; objective ``sum_j sum_(i, l) X[i, j] X[l, j] S[i, l] / |j|``."""
    m = len(gains)
    codes = np.arange(2 ** (m * k))
    x = ((codes[:, None] >> np.arange(m * k)) & 1).reshape(-1, m, k)
    sizes = x.sum(1)
    group_codes = np.sort((x * (1 << np.arange(m))[None, :, None]).sum(1), axis=1)
    feasible = (x.sum(2).min(1) >= 1) & (sizes.min(1) >= 1) & (np.diff(group_codes, axis=1) != 0).all(1)
    x = x[feasible].astype(float)
    within = np.einsum("bij,il,blj->bj", x, gains, x)
    return float((within / x.sum(1)).sum(1).max())


def _feasible(groups: list[frozenset[str]], tasks: list[str], k: int) -> bool:
    return len(groups) == k and len(set(groups)) == k and all(groups) and set().union(*groups) == set(tasks)


CASES = [(seed, m, k) for seed in range(3) for m in (4, 5, 6) for k in (1, 2, 3)]


def _instance(seed: int, m: int) -> pd.DataFrame:
    tasks = list("abcdef"[:m])
    return pd.DataFrame(np.random.default_rng(seed).normal(size=(m, m)), index=tasks, columns=tasks)


@pytest.mark.parametrize("seed, m, k", CASES)
def test_program_matches_every_feasible_grouping_of_the_authors_formulation(seed, m, k):
    gains = _instance(seed, m)
    got = solve_program(grouping_program(gains, k))
    assert _feasible(got, list(gains.index), k)
    assert sum(group_gain(g, gains) for g in got) == pytest.approx(_their_best(gains.to_numpy(), k), abs=1e-9)


@pytest.mark.parametrize("dropped", ["exactly k groups", "every task in a group"])
def test_the_brute_force_check_fails_once_a_constraint_is_dropped(dropped):
    failed = 0
    for seed, m, k in CASES:
        gains = _instance(seed, m)
        program = grouping_program(gains, k)
        weaker = replace(program, constraints={n: c for n, c in program.constraints.items() if n != dropped})
        got = solve_program(weaker)
        best = _their_best(gains.to_numpy(), k)
        value = sum(group_gain(g, gains) for g in got)
        failed += not _feasible(got, list(gains.index), k) or abs(value - best) > 1e-9
    assert failed > 0


def test_program_keeps_helpful_pairs_together_and_counts_a_groups_own_gains():
    tasks = ["a", "b", "c", "d"]
    gains = pd.DataFrame(-1.0, index=tasks, columns=tasks)
    for u, v, x in [("a", "b", 2.0), ("c", "d", 1.0)]:
        gains.loc[u, v] = gains.loc[v, u] = x
    for t in tasks:
        gains.loc[t, t] = 0.0
    assert solve_program(grouping_program(gains, 2)) == [frozenset("ab"), frozenset("cd")]
    assert solve_program(grouping_program(gains, 1)) == [frozenset("abcd")]
    gains.loc["c", "c"] = 5.0  # c's gain onto itself: a group's score is the mean over its ordered pairs
    assert group_gain({"c"}, gains) == 5.0 and group_gain({"c", "d"}, gains) == pytest.approx((5 + 1 + 1) / 2)
    for bad in (0, 16):
        with pytest.raises(ValueError, match=f"k = {bad}:"):
            grouping_program(gains, bad)


def test_gain_matrix_reads_source_onto_target_with_a_zero_diagonal():
    rows = pd.DataFrame(
        [{"source": u, "target": t, "g": 10 * ord(u) + ord(t)} for u in "ab" for t in "ab" if u != t]
    )
    m = gain_matrix(rows, ["a", "b"], "g")
    assert m.loc["a", "b"] == 10 * ord("a") + ord("b") and m.loc["b", "a"] == 10 * ord("b") + ord("a")
    assert m.loc["a", "a"] == 0.0
    with pytest.raises(ValueError, match="miss pairs"):
        gain_matrix(rows, ["a", "b", "c"], "g")


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
