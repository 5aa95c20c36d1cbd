"""Lookahead transference against a hand computation, its signs on constructed task pairs, the tracker's
neutrality, affinity scores for selection, and IT-MTL's choice."""

import copy

import pandas as pd
import pytest
import torch
from torch import nn

from mtlkit.data.base import MultiTaskData, TaskSpec
from mtlkit.grouping import branch_and_bound
from mtlkit.lookahead import AffinityTracker, lookahead_losses, task_gradients, transference
from mtlkit.losses import task_loss
from mtlkit.models import build_model
from mtlkit.train import fit
from mtlkit.transference import affinity, affinity_candidates, gain_correlation, step_size_sensitivity
from mtlkit.weighting import ITMTL

REG = [TaskSpec("a", "regression", 1), TaskSpec("b", "regression", 1)]


def _batch(data: MultiTaskData, n: int = 32):
    return data.x["train"][:n], {t: v[:n] for t, v in data.y["train"].items()}


def test_lookahead_equals_copy_step_evaluate(tiny_data):
    torch.manual_seed(0)
    model = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=2)
    x, y = _batch(tiny_data)
    lr = 0.5
    z = transference(model, x, y, tiny_data.tasks, lr)
    for i, src in enumerate(tiny_data.tasks):
        # by hand: copy the model, one plain SGD step on task i's loss (shared parameters only), evaluate j
        twin = copy.deepcopy(model)
        out = twin(x)
        loss_i = task_loss(src, out[src.name], y[src.name])
        grads = torch.autograd.grad(loss_i, twin.shared_parameters())
        with torch.no_grad():
            before = {t.name: float(task_loss(t, model(x)[t.name], y[t.name])) for t in tiny_data.tasks}
            for p, g in zip(twin.shared_parameters(), grads):
                p -= lr * g
            after = {t.name: float(task_loss(t, twin(x)[t.name], y[t.name])) for t in tiny_data.tasks}
        for j, tgt in enumerate(tiny_data.tasks):
            assert float(z[i, j]) == pytest.approx(1 - after[tgt.name] / before[tgt.name], rel=1e-4, abs=1e-6)


def _two_tasks(sign: float) -> tuple[nn.Module, torch.Tensor, dict]:
    """Hard sharing with *identical* heads; task b's target is ``sign`` times task a's, so the two tasks'
    gradients on the trunk are parallel (``+1``) or, near a zero output, opposite (``-1``)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 3, generator=g)
    w = torch.randn(3, 1, generator=g)
    data = MultiTaskData(
        {s: x for s in ("train", "val", "test")},
        {s: {"a": x @ w, "b": sign * (x @ w)} for s in ("train", "val", "test")},
        REG,
    )
    y = data.y["train"]
    torch.manual_seed(0)
    model = build_model("hard", (3,), REG, width=4, depth=1)
    with torch.no_grad():
        for pa, pb in zip(model.heads["a"].parameters(), model.heads["b"].parameters()):
            pa.mul_(0.1)  # outputs near zero: both tasks far from their targets
            pb.copy_(pa)
    return model, x, y


def test_signs_on_helping_and_conflicting_tasks():
    model, x, y = _two_tasks(+1.0)  # the same target: a step on a helps b
    z = transference(model, x, y, REG, lr=0.05)
    assert z[0, 1] > 0 and z[1, 0] > 0
    model, x, y = _two_tasks(-1.0)  # opposite targets through the same head: a step on a hurts b
    z = transference(model, x, y, REG, lr=0.05)
    assert z[0, 1] < 0 and z[1, 0] < 0
    # a small step on a task's own loss helps it
    assert z[0, 0] > 0 and z[1, 1] > 0


def test_lookahead_rejects_wrong_shapes_and_unshared_models(tiny_data):
    model = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1)
    x, y = _batch(tiny_data)
    with pytest.raises(ValueError, match="shared parameters"):
        lookahead_losses(model, x, y, tiny_data.tasks, torch.zeros(2, 5), 0.1)
    separate = build_model("separate", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1)
    with pytest.raises(ValueError, match="no shared parameters"):
        transference(separate, x, y, tiny_data.tasks, 0.1)


def test_tracking_does_not_change_training(tiny_data):
    kw = dict(epochs=3, lr=0.01, batch_size=32, seed=4)
    torch.manual_seed(0)
    plain = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1)
    tracked = copy.deepcopy(plain)
    h1 = fit(plain, tiny_data, **kw)
    tracker = AffinityTracker(tiny_data.tasks, every=2, lr=0.1)
    h2 = fit(tracked, tiny_data, monitor=tracker, **kw)
    for p, q in zip(plain.parameters(), tracked.parameters()):
        assert torch.equal(p, q)
    pd.testing.assert_frame_equal(h1, h2)
    table = tracker.table()
    # 96 examples / 32 = 3 steps per epoch, 9 steps, every 2nd measured: steps 0, 2, 4, 6, 8
    assert sorted(table.step.unique()) == [0, 2, 4, 6, 8]
    assert len(table) == 5 * 3 * 2 and not (table.source == table.target).any()
    assert set(table.epoch) == {1, 2, 3}


def test_tracker_validates_arguments():
    with pytest.raises(ValueError, match="every"):
        AffinityTracker(REG, every=0)
    with pytest.raises(ValueError, match="lr"):
        AffinityTracker(REG, lr=-1.0)


def test_affinity_candidates_pick_the_helping_pair():
    tasks = ["a", "b", "c"]
    z = {
        ("a", "b"): 0.3,
        ("b", "a"): 0.2,
        ("a", "c"): -0.1,
        ("c", "a"): -0.2,
        ("b", "c"): -0.3,
        ("c", "b"): -0.1,
    }
    table = pd.DataFrame([{"step": 0, "source": s, "target": t, "Z": v} for (s, t), v in z.items()])
    cands = {c.name: c for c in affinity_candidates(affinity(table), tasks)}
    assert cands["full:a+b"].loss == {"a": -0.2, "b": -0.3}
    assert cands["full:c"].loss == {"c": 0.0}
    assert cands["full:a+b+c"].loss["a"] == pytest.approx(-(0.2 - 0.2) / 2)
    sel = branch_and_bound(list(cands.values()), tasks, 2.0)
    assert sel.networks == ("full:a+b", "full:c")


def test_itmtl_takes_the_candidate_with_the_lowest_lookahead_loss(tiny_data):
    torch.manual_seed(0)
    model = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1)
    x, y = _batch(tiny_data)
    it = ITMTL(tiny_data.tasks, lr=0.5, candidates=("sum", "pcgrad", "mgda"))
    it.observe(model, x, y)
    out = model(x)
    losses = torch.stack([task_loss(t, out[t.name], y[t.name]) for t in tiny_data.tasks])
    it.backward(losses, model.shared_parameters())
    chosen = torch.cat([p.grad.flatten() for p in model.shared_parameters()])
    share = it.log()
    assert sum(share.values()) == pytest.approx(1.0) and max(share.values()) == 1.0
    picked = max(share, key=share.get).removeprefix("chose_")
    # the chosen update is no worse, after the lookahead step, than either alternative
    grads = task_gradients(
        torch.stack([task_loss(t, model(x)[t.name], y[t.name]) for t in tiny_data.tasks]),
        model.shared_parameters(),
    ).detach()
    totals = {
        c: float(lookahead_losses(model, x, y, tiny_data.tasks, it._direction(c, grads)[None], 0.5).sum())
        for c in ("sum", "mgda")
    }
    mine = float(lookahead_losses(model, x, y, tiny_data.tasks, chosen[None], 0.5).sum())
    assert all(mine <= v + 1e-6 for v in totals.values()), (picked, mine, totals)


def test_itmtl_trains_and_logs_its_choices(tiny_data):
    model = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1)
    hist = fit(
        model, tiny_data, epochs=3, lr=0.01, batch_size=32, weighting={"name": "itmtl", "lr": 0.1}, seed=0
    )
    chose = hist[hist.metric.str.startswith("chose_")]
    assert set(chose.metric) == {"chose_sum", "chose_pcgrad"}
    assert chose.groupby("epoch").value.sum().tolist() == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="candidates"):
        ITMTL(tiny_data.tasks, candidates=("magic",))


def test_gain_correlation_pooled_and_within_each_target():
    # targets a and b: within each, the affinity ranks the partners exactly like the gain (rho = +1), but
    # b's gains are all far lower while its affinities are higher, so the pooled ranking is reversed
    gains = pd.DataFrame(
        [
            ("a", "x", 0.3),
            ("a", "y", 0.2),
            ("a", "z", 0.1),
            ("b", "x", -0.1),
            ("b", "y", -0.2),
            ("b", "z", -0.3),
        ],
        columns=["task", "partner", "gain"],
    )
    affinity = {
        ("x", "a"): 0.01,
        ("y", "a"): 0.00,
        ("z", "a"): -0.01,
        ("x", "b"): 0.3,
        ("y", "b"): 0.2,
        ("z", "b"): 0.1,
    }
    per_seed = pd.DataFrame(
        [{"seed": 0, "source": s, "target": t, "affinity": v} for (s, t), v in affinity.items()]
    )
    pooled = gain_correlation(per_seed, gains, "affinity")
    within = gain_correlation(per_seed, gains, "affinity", within=True)
    assert within[0] == pytest.approx(1.0)
    assert pooled[0] < 0


def test_step_size_sensitivity_reports_each_eta_and_seed():
    gains = pd.DataFrame(
        [("a", "b", 0.1), ("b", "a", -0.1), ("a", "c", 0.2), ("c", "a", 0.0)],
        columns=["task", "partner", "gain"],
    )
    z = pd.DataFrame(
        [
            {"eta": eta, "seed": s, "source": src, "target": tgt, "value": v * eta}
            for eta in (0.1, 1.0)
            for s in (0, 1)
            for src, tgt, v in [("b", "a", 1.0), ("a", "b", -1.0), ("c", "a", 2.0), ("a", "c", 0.5)]
        ]
    )
    table = step_size_sensitivity(z, gains)
    assert sorted(zip(table.eta, table.seed)) == [(0.1, 0), (0.1, 1), (1.0, 0), (1.0, 1)]
    assert table.set_index(["eta", "seed"]).mean_Z.loc[(1.0, 0)] == pytest.approx(0.625)
    assert table.rho.tolist() == pytest.approx([1.0] * 4)  # values rank the pairs as the gains do
