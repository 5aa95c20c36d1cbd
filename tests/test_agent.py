"""The strategy-choosing agent on cases whose answer is known."""

import numpy as np
import pytest

from mtlkit.agent import (
    STRATEGIES,
    Environment,
    Outcome,
    StrategyBandit,
    choice_skill,
    evaluate_policies,
    features,
    leave_one_seed_out,
    reward,
    sample_environments,
)

FAST = Outcome(learn_epochs=10, single_accuracy=0.8, multitask_accuracy=0.5)  # shared
PARALLEL = Outcome(learn_epochs=40, single_accuracy=0.8, multitask_accuracy=0.8)  # separated


def test_reward_by_hand():
    assert reward(Environment(100, 0.0), FAST) == pytest.approx(0.9 * 0.8)
    assert reward(Environment(100, 1.0), PARALLEL) == pytest.approx(0.6 * 2 * 0.8 / 2)
    assert reward(Environment(30, 0.5), PARALLEL) == 0.0, "nothing is earned before the new task is learned"


def test_the_best_strategy_flips_with_horizon():
    short, long_ = Environment(20, 0.9), Environment(1000, 0.9)
    assert reward(short, FAST) > reward(short, PARALLEL)
    assert reward(long_, PARALLEL) > reward(long_, FAST)


def test_bandit_learns_a_known_linear_reward():
    rng = np.random.default_rng(0)
    b = StrategyBandit(2, ["a", "b"], epsilon=0.0, rng=rng)
    for _ in range(200):
        x = np.array([1.0, rng.uniform()])
        b.update(0, x, 2 * x[1])
        b.update(1, x, 1 - x[1])
    assert b.choose(np.array([1.0, 0.9]), explore=False) == 0
    assert b.choose(np.array([1.0, 0.1]), explore=False) == 1


def test_agent_matches_the_oracle_when_outcomes_are_noise_free():
    envs = sample_environments(150, (15, 1000), (0.0, 1.0), np.random.default_rng(1))
    test = sample_environments(60, (15, 1000), (0.0, 1.0), np.random.default_rng(2))
    outcomes = {"shared": [FAST] * 3, "separated": [PARALLEL] * 3}
    ev = leave_one_seed_out(outcomes, envs, test, episodes=1500, seed=0)
    per = ev.groupby("policy").reward.mean()
    assert per["agent"] >= max(per["always shared"], per["always separated"]) - 1e-9
    assert per["oracle"] >= per["agent"] - 1e-12
    agent = ev[ev.policy == "agent"]
    assert set(agent.choice) == set(STRATEGIES), "the choice changes with the environment"
    assert (agent.choice.to_numpy() == ev[ev.policy == "oracle"].choice.to_numpy()).mean() > 0.9
    skill = choice_skill(ev)
    assert len(skill) == 3 and (skill > 0).all(), "following the environment beats any fixed strategy here"


def test_evaluate_policies_rows_and_features():
    b = StrategyBandit(6, epsilon=0.0)
    ev = evaluate_policies(b, [Environment(50, 0.3)], {"shared": FAST, "separated": PARALLEL})
    assert set(ev.policy) == {"agent", "oracle", "always shared", "always separated"}
    assert features(Environment(4.0, 0.5)).tolist() == [1.0, 0.5, 0.25, 0.25, 0.125, 0.0625]
    with pytest.raises(ValueError, match="2 seeds"):
        leave_one_seed_out(
            {"shared": [FAST], "separated": [PARALLEL]}, [Environment(50, 0.3)], [Environment(50, 0.3)], 10, 0
        )
