"""Stacked training must match separate training: same weights as a loop after k steps."""

import itertools

import pytest
import torch

from mtlkit.data.multidigits import make_multidigits
from mtlkit.models.batched import StackedNetworks
from mtlkit.train import fit, fit_many


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


def test_fit_many_checks_shapes():
    data = make_multidigits(["left"], n_train=40, seed=0)
    stacked = StackedNetworks(2, 128, data.tasks, width=8, depth=1)
    with pytest.raises(ValueError, match="masks of shape"):
        fit_many(stacked, data, torch.ones(3, 1), epochs=1, seeds=[0, 1])
