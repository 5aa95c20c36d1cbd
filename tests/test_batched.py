"""Stacked training must match separate training: same weights as a loop after k steps."""

import itertools

import pytest
import torch

from mtlkit.data.multidigits import make_multidigits
from mtlkit.models.batched import StackedNetworks
from mtlkit.train import evaluate, fit, fit_many


def test_fit_many_matches_separate_training():
    data = make_multidigits(["left", "sum_parity", "left_gt_right"], n_train=96, seed=0)
    subsets = [s for r in (1, 2, 3) for s in itertools.combinations(data.task_names, r)]
    masks = torch.tensor([[t in s for t in data.task_names] for s in subsets])
    torch.manual_seed(0)
    stacked = StackedNetworks(len(subsets), 128, data.tasks, width=16, depth=2)
    members = [stacked.member(m, subsets[m]) for m in range(len(subsets))]
    seeds = list(range(10, 10 + len(subsets)))
    hist = fit_many(stacked, data, masks, epochs=3, seeds=seeds, lr=0.01, batch_size=32)
    for m, (model, subset) in enumerate(zip(members, subsets)):
        fit(
            model,
            data.select(list(subset)),
            epochs=3,
            lr=0.01,
            batch_size=32,
            seed=seeds[m],
            restore_best=False,
        )
        expected = stacked.member(m, subset).state_dict()
        for k, v in model.state_dict().items():
            # Adam divides by sqrt(v): float noise between a batched and a single matmul grows to
            # ~2e-5 after a few epochs; a wrong minibatch order or optimizer state differs by ~1e-2.
            assert torch.allclose(v, expected[k], atol=2e-4), (subset, k)
    # only each member's own tasks are reported
    got = hist[(hist.epoch == 3) & (hist.metric != "diverged")].groupby("network").task.unique()
    assert all(set(got[m]) == set(subsets[m]) for m in range(len(subsets)))
    flags = hist[hist.metric == "diverged"]  # one per member, after the last epoch: none exploded
    assert sorted(flags.network) == list(range(len(subsets))) and (flags.value == 0).all()


def test_fit_many_trains_each_block_of_members_on_its_own_data():
    # two seeds' data side by side: members 0-2 learn on datas[0], members 3-5 on datas[1]
    datas = [make_multidigits(["left", "sum_parity"], n_train=64, seed=s) for s in (0, 1)]
    subsets = [("left",), ("sum_parity",), ("left", "sum_parity")] * 2
    masks = torch.tensor([[t in s for t in datas[0].task_names] for s in subsets])
    torch.manual_seed(0)
    stacked = StackedNetworks(len(subsets), 128, datas[0].tasks, width=16, depth=2)
    members = [stacked.member(m, subsets[m]) for m in range(len(subsets))]
    seeds = list(range(20, 20 + len(subsets)))
    hist = fit_many(stacked, datas, masks, epochs=2, seeds=seeds, lr=0.01, batch_size=16)
    for m, (model, subset) in enumerate(zip(members, subsets)):
        own = datas[m // 3].select(list(subset))
        fit(model, own, epochs=2, lr=0.01, batch_size=16, seed=seeds[m], restore_best=False)
        expected = stacked.member(m, subset).state_dict()
        for k, v in model.state_dict().items():
            assert torch.allclose(v, expected[k], atol=2e-4), (m, k)
        # each member is evaluated on its own block's validation split (a different seed's pairs)
        val = hist[(hist.network == m) & (hist.split == "val") & (hist.metric == "loss") & (hist.epoch == 2)]
        got = evaluate(model, own, "val").query("metric == 'loss'").set_index("task").value
        assert abs(val.set_index("task").value - got).max() < 1e-4, m
    with pytest.raises(ValueError, match="data sets that divides 6"):
        fit_many(stacked, datas * 2, masks, epochs=1, seeds=seeds)
    smaller = make_multidigits(["left", "sum_parity"], n_train=32, seed=2)
    with pytest.raises(ValueError, match="same tasks and split sizes"):
        fit_many(stacked, [datas[0], smaller], masks, epochs=1, seeds=seeds)


def test_outputs_are_forward_s_and_concat_keeps_every_member():
    data = make_multidigits(["left", "sum_parity"], n_train=40, seed=0)
    torch.manual_seed(0)
    a, b = (StackedNetworks(n, 128, data.tasks, width=8, depth=2) for n in (2, 3))
    state = torch.random.get_rng_state()
    both = StackedNetworks.concat([a, b])
    assert torch.equal(torch.random.get_rng_state(), state), "concat leaves the global RNG alone"
    for name, p in both.named_parameters():
        assert torch.equal(p, torch.cat([a.get_parameter(name), b.get_parameter(name)])), name
    x = data.x["val"].flatten(1)
    slow, fast = both(x), both.outputs(x)
    assert all(torch.allclose(slow[t], fast[t], atol=1e-6) for t in data.task_names)
    part = both.outputs(x, slice(2, 5))  # the members of b only, from views of their weights
    assert all(torch.allclose(part[t], b(x)[t], atol=1e-6) for t in data.task_names)


def test_fit_many_checks_shapes():
    data = make_multidigits(["left"], n_train=40, seed=0)
    stacked = StackedNetworks(2, 128, data.tasks, width=8, depth=1)
    with pytest.raises(ValueError, match="masks of shape"):
        fit_many(stacked, data, torch.ones(3, 1), epochs=1, seeds=[0, 1])
