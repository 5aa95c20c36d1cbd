"""The feature-overlap environment of study 01 (Musslick et al. 2017, Fig. 3) and the claims of its sweeps:
tasks on one input dimension share exactly the declared features, sizes are as declared, and a sweep's
claims are rank correlations across its levels per seed."""

import pandas as pd
import pytest
import torch

import mtlkit.multitasking as mt
from mtlkit.data.overlap import OverlapEnv
from mtlkit.params import ParameterError, validate
from mtlkit.studies import tradeoff, tradeoff_sweeps


def _shared(env: OverlapEnv, a, b) -> set:
    return set(env.feature_units(a)) & set(env.feature_units(b))


@pytest.mark.parametrize("n_features", [3, 4, 5])
def test_overlap_0_shares_no_feature_and_overlap_1_shares_all(n_features):
    none, full = (OverlapEnv(3, n_features, overlap=o) for o in (0.0, 1.0))
    for i in range(3):
        same_dim = [(i, j) for j in range(3)]
        for a in same_dim:
            for b in same_dim:
                if a != b:
                    assert not _shared(none, a, b)
                    assert _shared(full, a, b) == set(full.feature_units(a))
    half = OverlapEnv(3, 4, overlap=0.5)
    assert len(_shared(half, (1, 0), (1, 2))) == 2 == half.n_shared
    # tasks on different input dimensions never share a feature, at any overlap
    assert not _shared(full, (0, 1), (1, 1)) and not _shared(half, (0, 0), (2, 0))


def test_sizes_are_as_declared_and_every_task_reads_its_own_block():
    env = OverlapEnv(n_dims=3, n_features=4, overlap=0.25, n_samples=20, seed=3)
    x, y, which = env.trials([[t] for t in env.all_tasks])
    assert env.n_stim_units == 3 * 3 * 4 and env.n_outputs == 12 and env.n_tasks == 9
    assert x.shape == (9 * 20, env.n_stim_units + 9) and y.shape == (9 * 20, 12) and which.shape == (180, 9)
    assert ((x[:, : env.n_stim_units] >= 0) & (x[:, : env.n_stim_units] < 1)).all(), "continuous U(0, 1)"
    assert torch.equal(y.view(9, 20, 3, 4).sum(-1).sum(1)[:, 0], torch.tensor([20.0, 0, 0] * 3))
    for t in env.all_tasks:
        units = env.feature_units(t)
        assert len(units) == len(set(units)) == 4
        assert all(t[0] * 12 <= u < (t[0] + 1) * 12 for u in units)
        assert env.responses(t).shape == (20,) and env.responses(t).max() < 4
    assert torch.equal(OverlapEnv(3, 4, overlap=0.25, n_samples=20, seed=3).stimuli(), env.stimuli()), (
        "seeded"
    )
    with pytest.raises(ValueError, match="overlap"):
        OverlapEnv(overlap=1.5)


def test_responses_follow_the_shared_features():
    full = OverlapEnv(3, 3, overlap=1.0, n_samples=200, seed=1)
    assert torch.equal(full.responses((0, 0)), full.responses((0, 2))), "same features, same teacher"
    none = OverlapEnv(3, 3, overlap=0.0, n_samples=200, seed=1)
    agree = (none.responses((0, 0)) == none.responses((0, 2))).float().mean().item()
    assert agree < 0.6, "disjoint features agree only by chance"
    counts = torch.bincount(full.responses((1, 1)), minlength=3)
    assert counts.min() >= 40, "the teacher's classes are about equally likely"
    # incongruent trials: where a crosstalk task would answer wrongly; fewer at full overlap
    pairs = full.pairs(full.all_tasks)
    share = {
        o: sum(e.incongruent(a, b).float().mean().item() for a, b in pairs) / len(pairs)
        for o, e in ((0.0, none), (1.0, full))
    }
    assert 0 < share[1.0] < share[0.0] <= 1


def test_an_overlap_run_trains_no_concurrent_trial_and_scores_every_pair():
    cfg = {
        "seed": 0,
        "similarity": 0.0,
        "epochs": 2,
        "criterion": 0.01,
        "lr": 1.0,
        "optimizer": "sgd",
        "batch_size": 8,
        "model": {"hidden": 8, "depth": 1, "init": 0.1},
        "env": {"n_dims": 3, "n_features": 2, "overlap": 0.5, "n_samples": 10},
    }
    df = mt.learn_and_multitask(cfg)
    env = OverlapEnv(3, 2, overlap=0.5, n_samples=10)
    assert len(mt.pairs_of(df.assign(seed=0), "scored_pair")) == len(env.pairs(env.all_tasks))
    assert not mt.pairs_of(df.assign(seed=0), "trained_pair")
    assert {"weight_similarity", "epochs_to_criterion", "multitask_accuracy"} <= set(df.measure)


def test_level_claims_are_rank_correlations_per_seed():
    rows = []
    for seed, flip in ((0, 1), (1, 1), (2, 1), (3, -1)):
        for k, o in enumerate((0.0, 0.5, 1.0)):
            rows.append(
                {
                    "seed": seed,
                    "overlap": o,
                    "weight_similarity": flip * k,
                    "epochs_to_criterion": 10 - k,
                    "multitask_accuracy": 0.5,
                    "capped": float(seed == 0 and k == 0),
                }
            )
    wide = pd.DataFrame(rows)
    ids = [("C6.sharing", "a"), ("C6.speed", "b"), ("C6.multitasking", "c")]
    paper = {i: "direction only" for i, _ in ids}
    sharing, speed, multi = tradeoff_sweeps.level_claims(
        wide, "overlap", "feature overlap", ids, paper, suffix=".x", note=" (n)"
    )
    assert [c.id for c in (sharing, speed, multi)] == ["C6.sharing.x", "C6.speed.x", "C6.multitasking.x"]
    assert (
        sharing.statement == "a (n)" and "rho(feature overlap, learned weight similarity)" in sharing.effect
    )
    assert list(sharing.values) == [1.0, 1.0, 1.0, -1.0] and sharing.estimate == pytest.approx(0.5)
    assert list(speed.values) == [-1.0] * 4 and speed.verdict == "reproduced" and speed.direction == "<"
    assert list(multi.values) == [0.0] * 4, "a constant measure orders nothing"
    assert sharing.at_last_epoch == pytest.approx(1 / 12)


def test_overlap_configs_follow_the_parameters():
    p = validate(tradeoff.SPEC, {"mode": "smoke", "overlaps": "0,0.5,1", "overlap_seeds": 2, "n_features": 4})
    cfgs = tradeoff_sweeps.overlap_configs(p, [7, 8, 9])
    assert sorted(cfgs) == [(o, s) for o in (0.0, 0.5, 1.0) for s in (7, 8)], "the first overlap_seeds seeds"
    assert all(c["env"]["overlap"] == k[0] and c["env"]["n_features"] == 4 for k, c in cfgs.items())
    assert all(c["model"] == {"hidden": p["hidden"], "depth": 1, "init": 0.1} for c in cfgs.values())
    with pytest.raises(ParameterError, match="overlaps"):  # 0, 0.1 and 0.2 of 3 features share 0, 0, 1
        validate(tradeoff.SPEC, {"mode": "smoke", "overlaps": "0,0.1,0.2", "n_features": 3})
    with pytest.raises(ParameterError, match="overlap_seeds"):
        validate(tradeoff.SPEC, {"mode": "smoke", "overlap_seeds": 5})
