"""Study 01's measures on hand-made cases, and one tiny end-to-end run."""

import pandas as pd
import pytest
import torch

from mtlkit.data.stimulus import StimulusEnv
from mtlkit.metrics import epochs_to_criterion, luce_accuracy, sharing_index, similarity_matrix
from mtlkit.models.sharing import TaskCuedNetwork
from mtlkit.multitasking import cue_sets, padded_curves, pretrain_and_probe, weight_similarity


def test_epochs_to_criterion():
    assert epochs_to_criterion([0.3, 0.05, 0.009], 0.01) == 3
    assert epochs_to_criterion([0.3, 0.2], 0.01) == 3, "never reached: censored at len + 1"


def test_luce_accuracy_hand_case():
    out = torch.tensor([[[0.6, 0.2, 0.2], [0.1, 0.1, 0.8], [0.9, 0.0, 0.1]]])
    tgt = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]])
    acc = luce_accuracy(out, tgt, torch.tensor([[0, 1]]))
    assert torch.allclose(acc, torch.tensor([[0.6, 0.8]]))


def test_similarity_and_sharing_index():
    base = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    patterns = torch.stack([base, base * 2 + 1, -base, torch.randn(5, 7)])
    sim = similarity_matrix(patterns)
    assert sim[0, 1] == pytest.approx(1.0, abs=1e-5) and sim[0, 2] == pytest.approx(-1.0, abs=1e-5)
    tasks = [(0, 1), (0, 2), (1, 0), (2, 2)]  # only tasks 0 and 1 share an input dimension
    assert sharing_index(sim, tasks) == pytest.approx(1.0, abs=1e-5)
    assert sharing_index(sim, [(0, 0), (1, 1), (2, 2), (3, 3)]) != sharing_index(
        sim, [(0, 0), (0, 1), (1, 2), (2, 2)]
    )


def test_regimes():
    env = StimulusEnv(3, 3)
    tasks = env.all_tasks[1:]
    assert len(cue_sets(env, tasks, "single")) == 8
    assert len(cue_sets(env, tasks, "concurrent")) == 8 + len(env.pairs(tasks))
    train, held = env.split_pairs(tasks, 0.5, seed=0)
    sets = cue_sets(env, tasks, "concurrent", train)
    assert len(sets) == 8 + len(train) and not any(tuple(s) in held for s in sets)
    assert cue_sets(env, tasks, "single", train) == [[t] for t in tasks], "single-task training ignores pairs"
    with pytest.raises(ValueError, match="known"):
        cue_sets(env, tasks, "mixed")


def test_padded_curves_carry_the_last_value_forward():
    df = pd.DataFrame(
        {
            "measure": "new_task_loss",
            "epoch": [1, 2, 1, 2, 3],
            "value": [0.5, 0.1, 0.6, 0.4, 0.2],
            "run": ["a", "a", "b", "b", "b"],
        }
    )
    c = padded_curves(df, ["run"])
    assert c[c.run == "a"].loss.tolist() == [0.5, 0.1, 0.1]


def test_pretrain_and_probe_tiny_run_is_deterministic():
    cfg = {
        "seed": 0,
        "regime": "concurrent",
        "new_task": [0, 0],
        "held_out_pairs": 0.5,
        "env": {"n_dims": 3, "n_features": 2},
        "model": {"hidden": 8, "depth": 1},
        "epochs": 3,
        "new_epochs": 3,
        "criterion": 0.01,
        "lr": 1.0,
        "optimizer": "sgd",
        "batch_size": 8,
    }
    a, b = pretrain_and_probe(cfg), pretrain_and_probe(cfg)
    pd.testing.assert_frame_equal(a, b)
    measures = set(a.measure)
    assert {"multitask_accuracy", "weight_similarity", "sharing", "similarity", "new_task_loss"} <= measures
    v = a.groupby("measure").value.first()
    assert 1 <= v["epochs_to_criterion"] <= 4
    assert v["pretrain_capped"] == 1.0 and v["new_capped"] == 1.0, "3 epochs cannot reach MSE < 0.01"
    assert -1 <= v["weight_similarity"] <= 1 and 0 < v["multitask_accuracy"] < 1


def test_weight_similarity_reads_the_task_to_hidden_weights():
    env = StimulusEnv(3, 2)
    net = TaskCuedNetwork(env.n_stim_units, env.n_tasks, env.n_outputs, hidden=16)
    with torch.no_grad():
        for t in env.all_tasks:  # tasks on one input dimension get the same vector, others unrelated
            net.cue_to_hidden[0].weight[:, env.task_index(t)] = torch.arange(16.0) ** (t[0] + 1)
    assert weight_similarity(net, env, env.all_tasks) == pytest.approx(1.0)
    with torch.no_grad():
        net.cue_to_hidden[0].weight[:, env.task_index((0, 1))] *= -1
    assert weight_similarity(net, env, env.all_tasks) == pytest.approx((1 - 1 - 1 + 3 * 2) / 9)
