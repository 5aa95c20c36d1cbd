"""Lookahead transference against a hand computation (a plain SGD step, and TAG's: one step of the training
optimizer, state included), its signs on constructed task pairs, the tracker's neutrality, affinity scores
for selection, and IT-MTL's choice by total transference."""

import copy

import pandas as pd
import pytest
import torch
from torch import nn

from mtlkit.data.base import MultiTaskData, TaskSpec
from mtlkit.grouping import branch_and_bound, network_name, subsets
from mtlkit.lookahead import (
    at_next_step,
    best_update,
    losses_after,
    optimizer_updates,
    task_gradients,
    task_losses,
    total_transference,
    transference,
)
from mtlkit.losses import task_loss
from mtlkit.models import build_model
from mtlkit.runs import TrackConfig
from mtlkit.tracking import AffinityTracker
from mtlkit.train import fit
from mtlkit.transference import (
    affinity,
    affinity_candidates,
    gain_correlation,
    gain_noise_floor,
    held_out_gains,
    random_groupings,
    relative_totals,
    seed_gains,
    step_norm_ratio,
    step_size_sensitivity,
)
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


def _trained(data: MultiTaskData, make_opt, steps: int = 3):
    """A small hard-sharing model and its optimizer after a few steps on the summed loss (non-empty state)."""
    torch.manual_seed(0)
    model = build_model("hard", data.input_shape, data.tasks, width=8, depth=2)
    opt = make_opt(model.parameters())
    x, y = _batch(data)
    for _ in range(steps):
        opt.zero_grad()
        task_losses(model, x, y, data.tasks).sum().backward()
        opt.step()
    return model, opt, x, y


OPTIMIZERS = {
    "adam": lambda params: torch.optim.Adam(params, lr=0.01, foreach=True),
    "sgd_momentum": lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_lookahead_equals_copy_step_evaluate(tiny_data, name):
    """TAG's lookahead by hand: deep-copy the model and the optimizer's state, take one optimizer step on
    task i's loss alone (the heads left as they are), evaluate task j on the same batch."""
    model, opt, x, y = _trained(tiny_data, OPTIMIZERS[name])
    state_before = copy.deepcopy(opt.state_dict())
    params_before = [p.detach().clone() for p in model.parameters()]
    z = transference(model, x, y, tiny_data.tasks, optimizer=opt)
    with torch.no_grad():
        before = {t.name: float(task_loss(t, model(x)[t.name], y[t.name])) for t in tiny_data.tasks}
    for i, src in enumerate(tiny_data.tasks):
        twin = copy.deepcopy(model)
        twin_opt = OPTIMIZERS[name](twin.parameters())
        twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        twin_opt.zero_grad()
        task_loss(src, twin(x)[src.name], y[src.name]).backward()
        shared = {id(p) for p in twin.shared_parameters()}
        for p in twin.parameters():
            if id(p) not in shared:
                p.grad = None  # heads left as they are
        twin_opt.step()
        with torch.no_grad():
            after = {t.name: float(task_loss(t, twin(x)[t.name], y[t.name])) for t in tiny_data.tasks}
        for j, tgt in enumerate(tiny_data.tasks):
            assert float(z[i, j]) == pytest.approx(1 - after[tgt.name] / before[tgt.name], rel=1e-4, abs=1e-6)
    # the lookahead changed neither the model nor the optimizer
    assert all(torch.equal(a, b) for a, b in zip(params_before, model.parameters()))
    for k, v in state_before["state"].items():
        assert all(torch.equal(v[n], opt.state_dict()["state"][k][n]) for n in v)


def test_optimizer_updates_are_the_step_from_the_current_state(tiny_data):
    """Adam's lookahead uses its moment estimates: it differs from a fresh Adam's step on the same gradient,
    and ``lr`` scales it."""
    model, opt, x, y = _trained(tiny_data, OPTIMIZERS["adam"])
    shared = list(model.shared_parameters())
    grads = task_gradients(task_losses(model, x, y, tiny_data.tasks), shared).detach()
    mine = optimizer_updates(opt, shared, grads)
    fresh = optimizer_updates(torch.optim.Adam(model.parameters(), lr=0.01), shared, grads)
    assert mine.shape == grads.shape and not torch.allclose(mine, fresh)
    big = grads.abs() > 1e-4  # away from Adam's eps, a fresh Adam steps by lr * sign(g)
    assert torch.allclose(fresh[big], -0.01 * grads.sign()[big], atol=1e-5)
    assert torch.allclose(optimizer_updates(opt, shared, grads, lr=0.1), 10 * mine, rtol=1e-4, atol=1e-8)
    with pytest.raises(ValueError, match="does not hold"):
        optimizer_updates(torch.optim.Adam([torch.zeros(2, requires_grad=True)]), shared, grads)


def test_at_next_step_runs_once_before_the_owning_optimizer_steps():
    w = torch.zeros(2, requires_grad=True)
    other = torch.zeros(1, requires_grad=True)
    opt, unrelated = torch.optim.SGD([w], lr=1.0), torch.optim.SGD([other], lr=1.0)
    seen = []
    at_next_step([w], lambda o: seen.append((o, w.detach().clone())))
    other.grad = torch.ones(1)
    unrelated.step()  # another optimizer's step does not fire it
    assert not seen
    w.grad = torch.ones(2)
    opt.step()
    opt.step()  # once only
    assert len(seen) == 1 and seen[0][0] is opt and torch.equal(seen[0][1], torch.zeros(2)), (
        "before the update"
    )


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
        losses_after(model, x, y, tiny_data.tasks, torch.zeros(2, 5))
    separate = build_model("separate", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1)
    with pytest.raises(ValueError, match="no shared parameters"):
        transference(separate, x, y, tiny_data.tasks, 0.1)


def test_tracking_does_not_change_training(tiny_data):
    kw = dict(epochs=3, lr=0.01, batch_size=32, seed=4)
    torch.manual_seed(0)
    plain = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1)
    tracked = copy.deepcopy(plain)
    h1 = fit(plain, tiny_data, **kw)
    # TAG's lookahead (the training optimizer's update, measured just before its step) and two SGD ones
    tracker = AffinityTracker(tiny_data.tasks, every=2, sgd=(0.01, 0.1))
    h2 = fit(tracked, tiny_data, monitor=tracker, **kw)
    for p, q in zip(plain.parameters(), tracked.parameters()):
        assert torch.equal(p, q)
    pd.testing.assert_frame_equal(h1, h2)
    table = tracker.table()
    # 96 examples / 32 = 3 steps per epoch, 9 steps, every 2nd measured: steps 0, 2, 4, 6, 8
    assert sorted(table.step.unique()) == [0, 2, 4, 6, 8]
    assert len(table) == 3 * 5 * 3 * 2 and not (table.source == table.target).any()
    assert set(table.epoch) == {1, 2, 3} and tracker.seconds > 0
    assert list(dict.fromkeys(table.lookahead)) == ["optimizer", "sgd 0.01", "sgd 0.1"]
    sgd = table[table.lookahead == "sgd 0.1"].set_index(["step", "source", "target"])
    small = table[table.lookahead == "sgd 0.01"].set_index(["step", "source", "target"])
    assert (sgd.step_norm / small.step_norm).to_numpy() == pytest.approx(10.0), "an SGD step's norm is lr |g|"
    assert sgd.cos.equals(small.cos)


def test_tracker_given_the_optimizer_measures_what_the_hook_measures(tiny_data):
    """Once fit passes its optimizer to the monitor, the tracker measures at once with it; the values are
    those it measures just before the optimizer's step when it has to wait for it."""
    model, opt, x, y = _trained(tiny_data, OPTIMIZERS["adam"])
    given, waited = AffinityTracker(tiny_data.tasks), AffinityTracker(tiny_data.tasks)
    given(0, 1, model, x, y, optimizer=opt)
    waited(0, 1, model, x, y)
    assert waited.table().empty, "nothing measured before the optimizer steps"
    opt.zero_grad()
    task_losses(model, x, y, tiny_data.tasks).sum().backward()
    opt.step()
    pd.testing.assert_frame_equal(given.table(), waited.table())


def test_tracker_validates_arguments():
    with pytest.raises(ValueError, match="every"):
        AffinityTracker(REG, every=0)
    with pytest.raises(ValueError, match="lr"):
        AffinityTracker(REG, lr=-1.0)
    with pytest.raises(ValueError, match="SGD lookahead needs"):
        AffinityTracker(REG, step="sgd")
    with pytest.raises(ValueError, match="step must be one of"):
        AffinityTracker(REG, step="adam")
    with pytest.raises(ValueError, match=r"sgd step = 0.0 is out of range: expected a number in \[1e-09"):
        AffinityTracker(REG, sgd=(0.1, 0.0))
    track = TrackConfig(5, 0.001, "optimizer", [0.001, 0.01])
    assert track.sgd == (0.001, 0.01) and track.tracker(REG).labels == ["optimizer", "sgd 0.001", "sgd 0.01"]
    with pytest.raises(ValueError, match="one of"):
        TrackConfig(5, 0.001, "adam")


def test_affinity_candidates_follow_tags_rule():
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
    aff = affinity(table)
    # TAG: no group of one task; a task's score is the mean affinity onto it from the other members
    cands = {c.name: c for c in affinity_candidates(aff, tasks)}
    assert set(cands) == {"full:a+b", "full:a+c", "full:b+c", "full:a+b+c"}
    assert cands["full:a+b"].loss == {"a": -0.2, "b": -0.3}
    assert cands["full:a+b+c"].loss["a"] == pytest.approx(-(0.2 - 0.2) / 2)
    # budget 2: a+b (a and b at their best) with a group serving c, the one that hurts c least
    sel = branch_and_bound(list(cands.values()), tasks, 2.0)
    assert sel.networks == ("full:a+b", "full:a+c")
    # with singletons (scored 0), c is served alone
    alone = {c.name: c for c in affinity_candidates(aff, tasks, singletons=True)}
    assert alone["full:c"].loss == {"c": 0.0}
    assert branch_and_bound(list(alone.values()), tasks, 2.0).networks == ("full:a+b", "full:c")


def test_itmtl_ranks_by_total_transference_not_by_the_summed_loss():
    """Task a's loss is ~300x task b's: a step on a's gradient lowers the summed raw loss more, a step on b's
    lowers b's loss by a larger share - IT-MTL takes the second (the paper's total transference)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 3, generator=g)
    y = {"a": 10 * (x @ torch.randn(3, 1, generator=g)), "b": x @ torch.randn(3, 1, generator=g)}
    torch.manual_seed(0)
    model = build_model("hard", (3,), REG, width=4, depth=1)
    shared = list(model.shared_parameters())
    before = task_losses(model, x, y, REG).detach()
    grads = task_gradients(task_losses(model, x, y, REG), shared).detach()
    directions = grads / grads.norm(dim=1, keepdim=True)
    raw = losses_after(model, x, y, REG, -0.1 * directions).sum(1)
    total = total_transference(model, x, y, REG, before, -0.1 * directions)
    assert int(raw.argmin()) == 0 and int(total.argmax()) == 1, "the two criteria disagree here"
    assert best_update(model, x, y, REG, directions, before, lr=0.1) == 1
    assert total.tolist() == pytest.approx(
        (1 - losses_after(model, x, y, REG, -0.1 * directions) / before).sum(1)
    )


def test_itmtl_takes_the_candidate_with_the_highest_total_transference_under_adam(tiny_data):
    """IT-MTL's default lookahead is the training optimizer's update: its choice, made just before Adam's
    step, equals a hand computation on a deep copy of the model and of Adam's state."""
    model, opt, x, y = _trained(tiny_data, OPTIMIZERS["adam"])
    it = ITMTL(
        tiny_data.tasks, candidates=("sum", "pcgrad", "mgda"), generator=torch.Generator().manual_seed(0)
    )
    shared = list(model.shared_parameters())
    losses = task_losses(model, x, y, tiny_data.tasks)
    grads = task_gradients(losses, shared).detach()
    directions = {c: it._direction(c, grads) for c in ("sum", "mgda")}
    directions["pcgrad"] = ITMTL(tiny_data.tasks, generator=torch.Generator().manual_seed(0))._direction(
        "pcgrad", grads
    )
    totals = {}
    with torch.no_grad():
        now = [float(task_loss(t, model(x)[t.name], y[t.name])) for t in tiny_data.tasks]
    for c, d in directions.items():
        twin = copy.deepcopy(model)
        twin_opt = OPTIMIZERS["adam"](twin.parameters())
        twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        twin_opt.zero_grad()
        for p, chunk in zip(twin.shared_parameters(), d.split([p.numel() for p in shared])):
            p.grad = chunk.view_as(p).clone()
        twin_opt.step()
        with torch.no_grad():
            totals[c] = sum(
                1 - float(task_loss(t, twin(x)[t.name], y[t.name])) / b for t, b in zip(tiny_data.tasks, now)
            )
    it.observe(model, x, y)
    opt.zero_grad()
    it.backward(task_losses(model, x, y, tiny_data.tasks), shared, [])
    assert it.counts.sum() == 0, "the choice waits for the optimizer's step"
    opt.step()
    share = it.log()
    picked = max(share, key=share.get).removeprefix("chose_")
    assert share[f"chose_{picked}"] == 1.0 and picked == max(totals, key=totals.get), (share, totals)


def test_itmtl_trains_and_logs_its_choices(tiny_data):
    for kw in ({}, {"lr": 0.1, "lookahead": "sgd"}):
        model = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1)
        hist = fit(
            model, tiny_data, epochs=3, lr=0.01, batch_size=32, weighting={"name": "itmtl", **kw}, seed=0
        )
        chose = hist[hist.metric.str.startswith("chose_")]
        assert set(chose.metric) == {"chose_sum", "chose_pcgrad"}
        assert chose.groupby("epoch").value.sum().tolist() == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="candidates"):
        ITMTL(tiny_data.tasks, candidates=("magic",))
    with pytest.raises(ValueError, match="SGD lookahead needs"):
        ITMTL(tiny_data.tasks, lookahead="sgd")


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


def _truth(gains_by_seed: dict[int, dict[tuple[str, str], float]], tasks=("a", "b", "c")) -> pd.DataFrame:
    """A ground-truth table (:func:`mtlkit.selection.score_table` per seed) whose single networks all have
    loss 1 and whose pair networks lower task t's loss by the given gain of (t, partner)."""
    rows = []
    for s, gains in gains_by_seed.items():
        for g in subsets(tasks):
            for t in sorted(g):
                loss = 1.0 if len(g) == 1 else 1.0 - gains.get((t, *sorted(g - {t})), 0.0)
                rows.append({"seed": s, "network": network_name(g, "full"), "size": "full", "cost": 1.0,
                             "task": t, "val": loss, "test": loss})  # fmt: skip
    return pd.DataFrame(rows)


def test_held_out_gains_leave_each_seed_out_and_set_the_noise_floor():
    tasks = ("a", "b", "c")
    v = dict(zip([(t, u) for t in tasks for u in tasks if t != u], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
    flipped = {k: -x for k, x in v.items()}
    final = _truth({0: flipped, 1: v, 2: v, 3: v})  # seed 0's own gains reverse the others'
    held = held_out_gains(final, tasks).set_index(["seed", "task", "partner"]).gain
    assert held.loc[(0, "a", "b")] == pytest.approx(0.1)  # the mean of seeds 1-3, not seed 0's -0.1
    assert held.loc[(1, "a", "b")] == pytest.approx((-0.1 + 0.1 + 0.1) / 3)
    own = seed_gains(final, tasks).set_index(["seed", "task", "partner"]).gain
    assert own.loc[(0, "a", "b")] == pytest.approx(-0.1)
    # an estimate equal to the held-out gains ranks them perfectly, though seed 0's own draw disagrees
    estimate = pd.DataFrame([{"seed": s, "source": u, "target": t, "affinity": x}
                             for s in range(4) for (t, u), x in v.items()])  # fmt: skip
    assert gain_correlation(estimate, held_out_gains(final, tasks), "affinity").tolist() == pytest.approx(
        [1.0] * 4
    )
    against_own = gain_correlation(estimate, seed_gains(final, tasks), "affinity")
    assert against_own[0] == pytest.approx(-1.0)
    # the ground truth predicts itself in seeds 1-3, not in seed 0
    assert gain_noise_floor(final, tasks).tolist() == pytest.approx([-1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="at least 2 seeds"):
        held_out_gains(final[final.seed == 0], tasks)


def test_random_groupings_buy_the_budget_from_the_given_candidates_only():
    tasks = ["a", "b", "c"]
    v = {
        ("a", "b"): 0.5,
        ("b", "a"): 0.5,
        ("c", "a"): -0.2,
        ("a", "c"): -0.2,
        ("b", "c"): 0.1,
        ("c", "b"): 0.1,
    }
    final = _truth({0: v, 1: v})
    aff = pd.DataFrame([{"source": u, "target": t, "affinity": x} for (t, u), x in v.items()])
    table = affinity_candidates(aff, tasks)  # groups of two or three tasks, full size
    draws = random_groupings(final, table, tasks, [1.0, 2.0], draws=6, seed=3)
    again = random_groupings(final, table, tasks, [1.0, 2.0], draws=6, seed=3)
    pd.testing.assert_frame_equal(draws, again)  # the study seed fixes the draws
    assert len(draws) == 2 * 6 * 2 and set(draws.method) == {"random groups"}
    one = draws[draws.budget == 1.0]
    assert set(one.networks) == {"full:a+b+c"}  # the only single group that serves every task
    two = draws[draws.budget == 2.0]
    assert (two.networks.str.count(r"\|") == 1).all() and (two.cost == 2.0).all()  # two networks each
    assert not two.networks.str.contains("half|full:[abc](?: |$)").any()  # never a single-task network
    # a draw's total is its networks' test losses, best network per task: ab + bc serves c at 0.9
    ab_bc = two[two.networks == "full:a+b | full:b+c"]
    assert ab_bc.empty or ab_bc.test_total.iloc[0] == pytest.approx(0.5 + 0.5 + 0.9)
    # the claim compares a method with these draws at the same budget, in percent
    chosen = pd.DataFrame([{"method": "affinity", "budget": b, "seed": s, "test_total": 1.5}
                           for b in (1.0, 2.0) for s in (0, 1)])  # fmt: skip
    both = pd.concat([chosen, draws])
    ref = draws[draws.budget == 2.0].groupby("seed").test_total.mean()
    assert relative_totals(both, "affinity", "random groups", [2.0]).tolist() == pytest.approx(
        (100 * (1.5 / ref - 1)).tolist()
    )


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


def test_step_norm_ratio_pairs_the_same_step_and_source():
    rows = [
        {
            "lookahead": la,
            "seed": 0,
            "epoch": 1,
            "step": st,
            "source": src,
            "target": tgt,
            "step_norm": n * scale,
        }
        for la, scale in (("big", 30.0), ("small", 1.0))
        for st in (0, 10)
        for src, tgt, n in (("a", "b", 0.1), ("a", "c", 0.1), ("b", "a", 0.2))
    ]
    ratio = step_norm_ratio(pd.DataFrame(rows), "big", "small")
    assert len(ratio) == 4, "one row per seed, step and source (the norm is the source's)"
    assert ratio.ratio.tolist() == pytest.approx([30.0] * 4)
