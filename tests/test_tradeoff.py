"""Study 01 end to end at toy size: multitasking is scored only on concurrent pairs that were never trained,
the sweep sets the initial similarity it claims to, and C4's statistic can fall on either side of 0."""

import pandas as pd
import pytest
import torch

import mtlkit.multitasking as mt
from mtlkit.agent import choice_skill
from mtlkit.data.stimulus import StimulusEnv
from mtlkit.models.sharing import TaskCuedNetwork
from mtlkit.params import ParameterError, validate
from mtlkit.studies import tradeoff


def _regime_config(regime: str, seed: int = 0) -> dict:
    return {
        "seed": seed,
        "regime": regime,
        "new_task": [0, 0],
        "held_out_pairs": 0.5,
        "env": {"n_dims": 3, "n_features": 2},
        "model": {"hidden": 8, "depth": 1},
        "epochs": 2,
        "new_epochs": 2,
        "criterion": 0.01,
        "lr": 1.0,
        "optimizer": "sgd",
        "batch_size": 8,
    }


@pytest.fixture
def trained_cues(monkeypatch):
    """Every set of tasks cued together in any training trial that :mod:`mtlkit.multitasking` fits on."""
    seen: list[set] = []
    real_fit = mt.fit

    def recording_fit(model, data, **kw):
        env = data.info["env"]
        for row in data.info["which"]["train"]:
            seen.append(frozenset(t for t in env.all_tasks if row[env.task_index(t)]))
        return real_fit(model, data, **kw)

    monkeypatch.setattr(mt, "fit", recording_fit)
    return seen


@pytest.mark.parametrize("seed", [0, 3])
def test_scored_pairs_were_never_trained_concurrently(trained_cues, seed):
    frames = {r: mt.pretrain_and_probe(_regime_config(r, seed)) for r in mt.REGIMES}
    runs = pd.concat([f.assign(seed=seed, regime=r) for r, f in frames.items()])
    trained, scored = mt.pairs_of(runs, "trained_pair"), mt.pairs_of(runs, "scored_pair")
    assert trained and scored and not trained & scored
    # what was actually fitted: no training trial cues a scored pair, and the concurrent regime did train pairs
    pairs_in_training = {tuple(sorted(map(str, c))) for c in trained_cues if len(c) == 2}
    assert pairs_in_training == {(a, b) for _, a, b in trained}
    assert not pairs_in_training & {(a, b) for _, a, b in scored}
    # both regimes of a seed are scored on the same held-out pairs
    per_regime = [mt.pairs_of(f.assign(seed=seed), "scored_pair") for f in frames.values()]
    assert per_regime[0] == per_regime[1]


def test_the_sweep_trains_no_concurrent_trial_and_scores_every_pair(trained_cues):
    cfg = {**_regime_config("single"), "similarity": 0.5, "model": {"hidden": 8, "cue_init": 1.0}}
    df = mt.learn_and_multitask(cfg)
    assert all(len(c) == 1 for c in trained_cues)
    env = StimulusEnv(3, 2)
    assert len(mt.pairs_of(df.assign(seed=0), "scored_pair")) == len(env.pairs(env.all_tasks))
    assert not mt.pairs_of(df.assign(seed=0), "trained_pair")


def test_initial_similarity_is_what_the_sweep_sets():
    groups = [0, 0, 0, 1, 1, 1]
    for s in (0.0, 0.5, 0.9):
        torch.manual_seed(0)
        net = TaskCuedNetwork(4, 6, 4, hidden=4000, cue_init=1.0, cue_groups=groups, cue_similarity=s)
        sim = torch.corrcoef(net.cue_weights())
        assert sim[0, 1].item() == pytest.approx(s, abs=0.05) and sim[3, 5].item() == pytest.approx(
            s, abs=0.05
        )
        assert abs(sim[0, 3].item()) < 0.05, "tasks of different groups stay uncorrelated"
        assert net.cue_weights().abs().max() <= 1.0 * (s**0.5 + (1 - s) ** 0.5) + 1e-6


def test_choice_skill_takes_either_sign():
    def evals(agent_choices, oracle_choices):
        rows = [
            {"seed": 0, "env": k, "policy": pol, "choice": c}
            for k, (a, o) in enumerate(zip(agent_choices, oracle_choices))
            for pol, c in (("agent", a), ("oracle", o))
        ]
        return pd.DataFrame(rows)

    oracle = ["shared"] * 3 + ["separated"] * 7
    follows = choice_skill(evals(oracle, oracle)).item()  # always right; best fixed strategy right 70%
    stubborn = choice_skill(evals(["separated"] * 10, oracle)).item()  # is the best fixed strategy
    muddled = choice_skill(evals(["shared"] * 7 + ["separated"] * 3, oracle)).item()  # right 6 times of 10
    contrary = choice_skill(evals(["separated"] * 3 + ["shared"] * 7, oracle)).item()  # always wrong
    assert follows == pytest.approx(0.3) and stubborn == pytest.approx(0.0)
    assert muddled == pytest.approx(0.6 - 0.7) and contrary == pytest.approx(-0.7)


def test_level_correlation_has_a_sign():
    d = pd.DataFrame({"seed": [0] * 4 + [1] * 4, "s": [0, 0.3, 0.6, 0.9] * 2, "y": [4, 3, 2, 1, 1, 2, 3, 4]})
    assert mt.level_correlation(d, "s", "y").tolist() == [-1.0, 1.0]


def test_sweep_and_regime_configs_follow_the_parameters():
    p = validate(tradeoff.SPEC, {"mode": "smoke", "similarities": "0,0.3,0.6,0.9", "cue_init": 2.0})
    cfgs = tradeoff.sweep_configs(p, [0, 1])
    assert {k[0] for k in cfgs} == {0.1, 2.0}
    assert sorted({k[1] for k in cfgs if k[0] == 2.0}) == [0.0, 0.3, 0.6, 0.9]
    assert sorted({k[1] for k in cfgs if k[0] == 0.1}) == [0.0, 0.6, 0.9], "the first scale: ends and middle"
    assert all(c["model"]["depth"] == 1 and c["similarity"] == k[1] for k, c in cfgs.items())
    text = tradeoff.protocol(p, [0, 1])
    assert "[0.0, 0.3, 0.6, 0.9]" in text and "U(-2, 2)" in text and "7 of the 14 pairs" in text
    assert "at s in [0.0, 0.6, 0.9]" in text and "Overlap sweep" in text
    with pytest.raises(ParameterError, match="similarities"):
        validate(tradeoff.SPEC, {"mode": "smoke", "similarities": "0,0.5"})
    with pytest.raises(ParameterError, match="similarities"):
        validate(tradeoff.SPEC, {"mode": "smoke", "similarities": "0,0.5,1.0"})
    assert set(tradeoff.PAPER) >= {"C0", "C1", "C2", "C4.choice", "C5.speed", "C5.multitasking", "C6.sharing"}
