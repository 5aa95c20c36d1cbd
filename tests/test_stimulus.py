"""The stimulus environment and the task-cued network of study 01."""

import itertools

import pytest
import torch

from mtlkit.data.stimulus import StimulusEnv
from mtlkit.models.sharing import TaskCuedNetwork


def test_sizes_and_every_stimulus_once():
    env = StimulusEnv(n_dims=3, n_features=4)
    s = env.stimuli()
    assert s.shape == (64, 12) and env.n_inputs == 12 + 9 and env.n_outputs == 12
    assert torch.equal(s.view(64, 3, 4).sum(-1), torch.ones(64, 3)), "one feature per dimension"
    assert len({tuple(r.tolist()) for r in s}) == 64


def test_single_task_target_reports_the_feature_at_the_output_dimension():
    env = StimulusEnv(n_dims=3, n_features=3)
    x, y, which = env.trials([[(1, 2)]])
    feats = env.features()
    y = y.view(-1, 3, 3)
    assert torch.equal(y[:, 2].argmax(1), feats[:, 1])
    assert y[:, :2].sum() == 0, "other output dimensions stay silent"
    cue = x[:, env.n_stim_units :]
    assert torch.equal(cue.argmax(1), torch.full((27,), env.task_index((1, 2)))) and torch.equal(
        which, cue.bool()
    )


@pytest.mark.parametrize("mapping", ["identity", "permuted"])
def test_concurrent_target_is_exactly_the_union(mapping):
    env = StimulusEnv(n_dims=3, n_features=4, mapping=mapping, seed=2)
    a, b = (0, 1), (2, 0)
    _, ya, _ = env.trials([[a]])
    _, yb, _ = env.trials([[b]])
    x, yab, which = env.trials([[a, b]])
    assert torch.equal(yab, ya + yb) and yab.max() == 1
    assert torch.equal(which.sum(1), torch.full((64,), 2))


def test_tasks_sharing_a_dimension_are_never_cued_together():
    env = StimulusEnv(n_dims=3, n_features=3)
    for a, b in env.pairs(env.all_tasks):
        assert a[0] != b[0] and a[1] != b[1]
    n_allowed = sum(1 for a, b in itertools.combinations(env.all_tasks, 2) if a[0] != b[0] and a[1] != b[1])
    assert len(env.pairs(env.all_tasks)) == n_allowed == 18
    with pytest.raises(ValueError, match="cannot be cued together"):
        env.trials([[(0, 1), (0, 2)]])
    with pytest.raises(ValueError, match="outside the environment"):
        env.trials([[(3, 0)]])


def test_permuted_mapping_is_fixed_per_task_and_seed():
    env = StimulusEnv(n_dims=2, n_features=5, mapping="permuted", seed=1)
    assert torch.equal(
        env.response_map((0, 1)), StimulusEnv(2, 5, mapping="permuted", seed=1).response_map((0, 1))
    )
    assert sorted(env.response_map((1, 0)).tolist()) == list(range(5))
    assert torch.equal(StimulusEnv(2, 5).response_map((1, 1)), torch.arange(5))


def test_bad_environment_parameters():
    with pytest.raises(ValueError, match="n_dims"):
        StimulusEnv(n_dims=1)
    with pytest.raises(ValueError, match="mapping"):
        StimulusEnv(mapping="random")


def test_dataset_noise_only_in_training():
    env = StimulusEnv(n_dims=2, n_features=3)
    d = env.dataset([[(0, 1)]], noise=0.5, repeats=3, seed=0)
    assert d.n("train") == 3 * 9 and d.n("val") == 9
    assert not torch.equal(d.x["train"][:9], d.x["val"])
    assert torch.equal(d.x["train"][:, env.n_stim_units :], d.x["val"][:, env.n_stim_units :].repeat(3, 1)), (
        "cues stay clean"
    )


@pytest.mark.parametrize("depth", [1, 3])
def test_task_cued_network_shapes_and_cue_paths(depth):
    env = StimulusEnv(n_dims=3, n_features=3)
    net = TaskCuedNetwork(env.n_stim_units, env.n_tasks, env.n_outputs, hidden=20, depth=depth)
    x, _, _ = env.trials([[(0, 1)]])
    assert net(x)["response"].shape == (27, 9)
    hs = net.hidden(x)
    assert len(hs) == depth and all(h.shape == (27, 20) for h in hs)
    assert len(net.cue_to_hidden) == depth, "the cue projects to every hidden layer"
    with torch.no_grad():  # the cue alone moves the output: a direct cue -> output path exists
        other = x.clone()
        other[:, env.n_stim_units :] = 0
        assert not torch.allclose(net(x)["response"], net(other)["response"])
    with pytest.raises(ValueError, match="depth"):
        TaskCuedNetwork(9, 9, 9, depth=0)


def test_split_pairs_holds_out_a_share_and_keeps_every_task_in_training():
    env = StimulusEnv(n_dims=3, n_features=3)
    old = env.all_tasks[1:]
    train, held = env.split_pairs(old, 0.5, seed=4)
    assert set(train) | set(held) == set(env.pairs(old)) and not set(train) & set(held)
    assert len(held) == 7 and (train, held) == env.split_pairs(old, 0.5, seed=4), "deterministic per seed"
    assert held != env.split_pairs(old, 0.5, seed=5)[1], "another seed, another split"
    in_training = {t for q in train for t in q}
    assert all(t in in_training for q in held for t in q)
    assert len(env.split_pairs(old, 0.01, seed=0)[1]) == 1 and len(env.split_pairs(old, 0.99, seed=0)[0]) == 1
    with pytest.raises(ValueError, match="held_out"):
        env.split_pairs(old, 1.0)


@pytest.mark.parametrize("mapping", ["identity", "permuted"])
def test_incongruent_trials_are_where_crosstalk_answers_wrongly(mapping):
    env = StimulusEnv(n_dims=3, n_features=3, mapping=mapping, seed=1)
    a, b = (0, 1), (2, 0)
    f = env.features()
    inc = env.incongruent(a, b)
    if mapping == "identity":
        assert torch.equal(inc, f[:, 0] != f[:, 2]), (
            "identity: the two input dimensions show different features"
        )
    cross_at_b, cross_at_a = env.responses((0, 0)), env.responses((2, 1))
    assert torch.equal(inc, (cross_at_b != env.responses(b)) | (cross_at_a != env.responses(a)))
    assert 0 < inc.float().mean() < 1
