"""Study 05's methods as their authors' code has them, each on a case whose answer is known: ETAP's score by
hand, its predictors on gains their model classes contain, Grad-TAG's Rademacher projection, its estimate
against an exact fine-tune of a model linear in its parameters, its clustering against known blocks, and
the regret on a method's own candidates."""

import numpy as np
import pandas as pd
import pytest
import torch

from mtlkit.data.base import MultiTaskData, TaskSpec
from mtlkit.etap import etap_gains, membership_ridge, spline_ridge
from mtlkit.gradtag import _partitions, cluster, network_losses, rademacher_projection, task_affinity
from mtlkit.grouping import Candidate, network_name, subsets
from mtlkit.lookahead import first_order_transference
from mtlkit.studies.grouping_estimators import OPTIMAL_FULL, candidate_table, full_size, regret_against
from mtlkit.surrogates import group_scores, linearized_losses, projected_jacobians


def test_etap_score_is_the_loss_normalised_inner_product_computed_by_hand():
    g = torch.tensor([[1.0, 0.0], [1.0, 2.0]])  # task 0's and task 1's gradients
    u = torch.tensor([[[-0.1, 0.0], [0.0, -0.3]]])  # each task's update (one lookahead): a descent step
    loss = torch.tensor([2.0, 4.0])
    lin = first_order_transference(g, u, loss)[0]
    # source j onto target i: -(u_j . g_i) / L_i
    assert lin[0, 0].item() == pytest.approx(0.1 / 2)  # u_0 . g_0 = -0.1
    assert lin[0, 1].item() == pytest.approx(0.1 / 4)  # u_0 . g_1 = -0.1
    assert lin[1, 0].item() == pytest.approx(0.0)  # u_1 . g_0 = 0
    assert lin[1, 1].item() == pytest.approx(0.6 / 4)  # u_1 . g_1 = -0.6
    # with a plain SGD step u_j = -lr g_j, the score over lr is g_i . g_j / L_i (the code's form)
    lr = 0.01
    sgd = first_order_transference(g, -lr * g[None], loss)[0] / lr
    assert sgd[1, 0].item() == pytest.approx((g[1] @ g[0]).item() / 2.0)


def test_spline_ridge_recovers_a_smooth_curve_and_picks_from_the_codes_grid():
    x = np.linspace(-1, 1, 60)
    y = 0.3 * x**2 - 0.1 * x
    basis, coef, icpt, best = spline_ridge(x, y)
    pred = basis.transform(x.reshape(-1, 1)) @ coef + icpt
    assert np.abs(pred - y).max() < 0.02
    assert 2 <= best["degree"] <= 6 and 2 <= best["n_knots"] <= int(np.sqrt(60)) + 9
    assert best["alpha"] == pytest.approx(0.001)  # the noiseless curve wants the least penalty


def test_membership_ridge_recovers_a_per_task_shift():
    members = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1], [1, 1, 0], [0, 1, 1]], float)
    shift = np.array([0.2, -0.1, 0.05])
    model = membership_ridge(members, members * shift)
    pred = model.predict(members) * members
    assert np.abs(pred - members * shift).max() < 0.1


def test_etap_gains_follow_the_score_they_were_fitted_on():
    rng = np.random.default_rng(0)
    tasks = list("abcd")
    pairs = pd.DataFrame(
        [{"source": u, "target": t, "s": rng.normal()} for u in tasks for t in tasks if u != t]
    )
    scores = group_scores(pairs, tasks, "s")
    single = {t: 1.0 for t in tasks}
    truth = scores.assign(loss=1 - 0.2 * scores.score)  # gain = 0.2 * score, linear: in the spline's class
    trained = truth[truth.network.isin(truth.network.unique()[::2])][["network", "task", "loss"]]
    out = etap_gains(scores, single, trained)
    assert np.corrcoef(out.gain, 0.2 * scores.score)[0, 1] > 0.95


def test_rademacher_projection_has_entries_plus_or_minus_one_over_root_d():
    p = rademacher_projection(500, 200, 0)
    assert p.shape == (500, 200)
    assert torch.allclose(p.abs(), torch.full_like(p, 200**-0.5))
    assert abs(float((p > 0).float().mean()) - 0.5) < 0.01
    assert torch.equal(p, rademacher_projection(500, 200, 0))


class _Linear(torch.nn.Module):
    """Two regression tasks from a shared vector u: f_a = x u + b_a, f_b = 2 x u + b_b (linear in its
    parameters, so Grad-TAG's linearisation is exact)."""

    def __init__(self):
        super().__init__()
        self.u = torch.nn.Parameter(torch.tensor([0.3, -0.2, 0.1]))
        self.ba, self.bb = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return {"a": (x @ self.u)[:, None] + self.ba, "b": 2 * (x @ self.u)[:, None] + self.bb}


def test_gradtag_estimate_equals_an_exact_fine_tune_of_a_model_linear_in_its_parameters():
    gen = torch.Generator().manual_seed(0)
    x = {s: torch.randn(50, 3, generator=gen) for s in ("train", "val", "test")}
    w_a, w_b = torch.tensor([1.0, 0.5, -1.0]), torch.tensor([-0.5, 1.0, 0.2])
    y = {s: {"a": (v @ w_a)[:, None] + 0.3, "b": (v @ w_b)[:, None] - 0.2} for s, v in x.items()}
    data = MultiTaskData(x, y, [TaskSpec("a", "regression", 1), TaskSpec("b", "regression", 1)])
    model = _Linear()
    # a P that spans the parameters, so that w covers every fine-tune
    proj = next(
        p for p in map(lambda s: rademacher_projection(5, 5, s), range(50)) if abs(torch.linalg.det(p)) > 0.1
    )
    feats = {s: projected_jacobians(model, x[s], ["a", "b"], 5, 0, proj) for s in ("train", "val")}
    weights: dict = {}
    linearized_losses(data, feats, subsets(["a", "b"]), ridge=0.0, keep=weights)
    est = network_losses(model, data, proj, weights, ("val",)).set_index(["network", "task"]).value
    for g in subsets(["a", "b"]):
        # the exact fine-tune: least squares over (u, b_a, b_b) on the group's training losses
        rows, target = [], []
        for t in sorted(g):
            k = 1.0 if t == "a" else 2.0
            one = torch.ones(50, 1)
            rows.append(torch.cat([k * x["train"], one * (t == "a"), one * (t == "b")], 1))
            target.append(y["train"][t])
        theta = (torch.linalg.pinv(torch.cat(rows).double()) @ torch.cat(target).double()).ravel().float()
        for t in sorted(g):
            k, b = (1.0, theta[3]) if t == "a" else (2.0, theta[4])
            true = torch.mean((k * x["val"] @ theta[:3] + b - y["val"][t].ravel()) ** 2).item()
            assert est[(network_name(g, "full"), t)] == pytest.approx(true, rel=1e-3, abs=1e-5)


def test_partitions_count_and_clustering_finds_known_blocks():
    assert sum(1 for _ in _partitions(list(range(5)), 2)) == 15  # Stirling S(5, 2)
    assert sum(1 for _ in _partitions(list(range(5)), 3)) == 25
    tasks = list("abcd")
    t = pd.DataFrame(-1.0, index=tasks, columns=tasks)
    for u, v in [("a", "b"), ("c", "d")]:
        t.loc[u, v] = t.loc[v, u] = 1.0
    for u in tasks:
        t.loc[u, u] = 1.0
    assert cluster(t, 2) == [frozenset("ab"), frozenset("cd")]
    assert cluster(t, 1) == [frozenset("abcd")]
    assert cluster(t, 4) == [frozenset(c) for c in "abcd"]


def test_task_affinity_averages_relative_losses_over_subsets_holding_both():
    est = pd.DataFrame(
        [
            {"network": "full:a", "task": "a", "estimate": 2.0},
            {"network": "full:b", "task": "b", "estimate": 1.0},
            {"network": "full:a+b", "task": "a", "estimate": 1.0},
            {"network": "full:a+b", "task": "b", "estimate": 2.0},
        ]
    )
    t = task_affinity(est, ["a", "b"])
    assert t.loc["a", "b"] == pytest.approx(-0.5) and t.loc["b", "a"] == pytest.approx(-2.0)
    assert t.loc["a", "a"] == pytest.approx(-(1.0 + 0.5) / 2)


def test_regret_is_read_against_the_optimum_over_the_methods_own_candidates():
    c = [
        Candidate("full:a", frozenset("a"), 1.0, {"a": 1.0}),
        Candidate("half:a", frozenset("a"), 0.5, {"a": 1.0}),
    ]
    assert [x.name for x in full_size(c)] == ["full:a"]
    results = pd.DataFrame(
        {
            "method": ["optimal", OPTIMAL_FULL, "TAG", "HOA"] * 2,
            "budget": [1.5] * 4 + [2.0] * 4,
            "seed": 0,
            "test_total": [1.0, 1.2, 1.2, 1.1, 1.0, 1.0, 1.1, 1.0],
        }
    )
    own = regret_against(results, {"TAG": OPTIMAL_FULL, "HOA": "optimal"}).set_index(["method", "budget"])
    full = regret_against(results, {"TAG": "optimal", "HOA": "optimal"}).set_index(["method", "budget"])
    assert own.regret[("TAG", 1.5)] == pytest.approx(0.0)  # the best full-size choice at 1.5
    assert full.regret[("TAG", 1.5)] == pytest.approx(20.0)  # the half-width networks it may not buy
    assert own.regret[("TAG", 2.0)] == pytest.approx(10.0)
    assert own.regret[("HOA", 1.5)] == pytest.approx(10.0) == full.regret[("HOA", 1.5)]
    table = candidate_table(own.reset_index(), full.reset_index(), ["TAG", "HOA"])
    assert table.loc["TAG", "candidates"] == "full-size only"
    assert table.loc["TAG", "difference (points)"].startswith("10.00")
