"""Study 05's methods as their authors' code has them, each on a case whose answer is known: ETAP's score by
hand, its predictors on gains their model classes contain, Grad-TAG's Rademacher projection, its fit against the
code's logistic regression (scikit-learn's, on the gradients alone), its estimate against an exact fine-tune of a
model linear in its parameters (equal from zero, shifted by the base outputs elsewhere: the fit has no offset), its
estimand's fine-tunes, its clustering against known blocks, and the regret on a method's own candidates."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from mtlkit.data.base import MultiTaskData, TaskSpec
from mtlkit.etap import etap_gains, membership_ridge, spline_ridge
from mtlkit.gradtag import (
    _partitions,
    cluster,
    finetuned_losses,
    fit_steps,
    network_losses,
    rademacher_projection,
    task_affinity,
)
from mtlkit.grouping import Candidate, network_name, subsets
from mtlkit.lookahead import first_order_transference
from mtlkit.models.sharing import build_model
from mtlkit.studies.grouping_estimators import OPTIMAL_FULL, candidate_table, full_size, regret_against
from mtlkit.surrogates import group_scores, projected_jacobians


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


def _one_task(y: torch.Tensor, kind: str, k: int) -> MultiTaskData:
    x = {s: torch.zeros(len(y), 1) for s in ("train", "val", "test")}
    return MultiTaskData(x, {s: {"t": y} for s in x}, [TaskSpec("t", kind, k)])


def test_gradtag_fit_is_the_codes_logistic_regression_on_the_gradients_alone():
    gen = torch.Generator().manual_seed(1)
    jac = torch.randn(
        400, 2, 6, generator=gen
    )  # a binary task's two outputs, projected gradients in 6 directions
    diff = jac[:, 1] - jac[:, 0]
    y = (
        diff @ torch.tensor([1.0, -0.5, 0.3, 0.0, 0.8, -1.2]) + 0.7 + torch.randn(400, generator=gen) > 0
    ).long()
    g = frozenset(["t"])
    w = fit_steps(_one_task(y, "classification", 2), {"t": jac}, [g], c=0.05)[g]
    # the code: LogisticRegression(penalty="l2", C=...) on the gradients, an intercept, no base outputs
    code = LogisticRegression(C=0.05, tol=1e-12, max_iter=10_000).fit(diff.double().numpy(), y.numpy())
    assert np.allclose(w.numpy(), code.coef_[0], rtol=1e-3, atol=1e-4)
    # without the intercept the fit would differ (the labels are unbalanced): the intercept is part of the code's fit
    unbalanced = LogisticRegression(C=0.05, tol=1e-12, max_iter=10_000, fit_intercept=False)
    assert not np.allclose(
        unbalanced.fit(diff.double().numpy(), y.numpy()).coef_[0], code.coef_[0], atol=1e-2
    )


class _Linear(torch.nn.Module):
    """Two regression tasks from a shared vector u, without biases: f_a = x u, f_b = 2 x u (linear in its
    parameters, so Grad-TAG's linearisation is exact and the base outputs are J theta0)."""

    def __init__(self, u0: torch.Tensor):
        super().__init__()
        self.u = torch.nn.Parameter(u0.clone())

    def forward(self, x):
        return {"a": (x @ self.u)[:, None], "b": 2 * (x @ self.u)[:, None]}


def test_gradtag_estimate_is_the_exact_fine_tune_from_zero_and_shifted_by_the_base_model_elsewhere():
    gen = torch.Generator().manual_seed(0)
    x = {s: torch.randn(50, 3, generator=gen) for s in ("train", "val", "test")}
    x["train"] = x["train"] - x["train"].mean(0)  # centred, as are its targets: the fitted intercepts are 0
    w_a, w_b = torch.tensor([1.0, 0.5, -1.0]), torch.tensor([-0.5, 1.0, 0.2])
    y = {s: {"a": (v @ w_a)[:, None], "b": (v @ w_b)[:, None]} for s, v in x.items()}
    data = MultiTaskData(x, y, [TaskSpec("a", "regression", 1), TaskSpec("b", "regression", 1)])
    # a P that spans the parameters, so that w covers every fine-tune
    proj = next(
        p for p in map(lambda s: rademacher_projection(3, 3, s), range(50)) if abs(torch.linalg.det(p)) > 0.1
    )

    def val_loss(u: torch.Tensor, t: str) -> float:
        k = 1.0 if t == "a" else 2.0
        return torch.mean((k * x["val"] @ u - y["val"][t].ravel()) ** 2).item()

    def exact(
        g: frozenset,
    ) -> torch.Tensor:  # the fine-tune: least squares over u on the group's training losses
        rows = torch.cat([(1.0 if t == "a" else 2.0) * x["train"] for t in sorted(g)]).double()
        target = torch.cat([y["train"][t] for t in sorted(g)]).double()
        return (torch.linalg.pinv(rows) @ target).ravel().float()

    for u0 in (torch.zeros(3), torch.tensor([0.3, -0.2, 0.1])):
        model = _Linear(u0)
        feats = projected_jacobians(model, x["train"], ["a", "b"], 3, 0, proj)
        weights = fit_steps(data, feats[1], subsets(["a", "b"]), c=1e8)  # C large: no penalty
        est = network_losses(model, data, proj, weights, ("val",)).set_index(["network", "task"]).value
        for g in subsets(["a", "b"]):
            for t in sorted(g):
                got = est[(network_name(g, "full"), t)]
                # the fit sees the gradients alone, so the network moves by the whole fine-tune from theta0
                assert got == pytest.approx(val_loss(u0 + exact(g), t), rel=1e-3, abs=1e-5)
                if u0.abs().sum() > 0:  # ... which is the exact fine-tune only from zero
                    assert abs(got - val_loss(exact(g), t)) > 0.01


def test_estimand_fine_tunes_each_subset_from_the_same_model_and_leaves_it_unchanged():
    gen = torch.Generator().manual_seed(0)
    x = {s: torch.randn(64, 4, generator=gen) for s in ("train", "val", "test")}
    y = {s: {"a": (v[:, 0] > 0).long(), "b": v[:, 1:2]} for s, v in x.items()}
    data = MultiTaskData(x, y, [TaskSpec("a", "classification", 2), TaskSpec("b", "regression", 1)])
    torch.manual_seed(0)
    model = build_model("hard", (4,), data.tasks, width=8, depth=1)
    before = {n: q.detach().clone() for n, q in model.named_parameters()}
    groups = subsets(["a", "b"])
    tuned = finetuned_losses(model, data, groups, epochs=3, lr=1e-2, batch_size=16, seed=0)
    assert sorted(zip(tuned.network, tuned.task)) == [
        ("full:a", "a"),
        ("full:a+b", "a"),
        ("full:a+b", "b"),
        ("full:b", "b"),
    ]
    assert np.isfinite(tuned.value).all() and (tuned.split == "val").all()
    assert all(torch.equal(q, before[n]) for n, q in model.named_parameters())
    with torch.no_grad():
        base = model(x["val"])
    base_b = torch.mean((base["b"] - y["val"]["b"]) ** 2).item()
    alone = tuned[(tuned.network == "full:b") & (tuned.task == "b")].value.item()
    assert alone < base_b  # three epochs on b alone lower b's loss from the untrained model's


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
