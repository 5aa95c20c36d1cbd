"""Study 01's measures on hand-made cases, and one tiny end-to-end run."""

import pandas as pd
import pytest
import torch

from mtlkit.metrics import epochs_to_criterion, luce_accuracy, sharing_index, similarity_matrix
from mtlkit.multitasking import cue_sets, padded_curves, pretrain_and_probe


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
    from mtlkit.data.stimulus import StimulusEnv

    env = StimulusEnv(3, 3)
    tasks = env.all_tasks[1:]
    assert len(cue_sets(env, tasks, "single")) == 8
    assert len(cue_sets(env, tasks, "concurrent")) == 8 + len(env.pairs(tasks))
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
        "env": {"n_dims": 2, "n_features": 2},
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
    assert {"multitask_accuracy", "sharing", "similarity", "new_task_loss", "epochs_to_criterion"} <= measures
    etc = a[a.measure == "epochs_to_criterion"].value.item()
    assert 1 <= etc <= 4
