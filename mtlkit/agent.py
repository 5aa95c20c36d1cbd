"""A meta-learning agent that picks its training strategy from the environment it is in.

Ravi, Musslick et al. (2020) describe an agent that "optimizes its training strategy as a function of
an unfamiliar environment". Their code is not public; this is our reading, in the spirit of Sagiv et
al. (2018): the agent chooses between two strategies whose consequences were *measured* on the network
(study 01):

* ``shared``    - train on single-task trials: a new task is learned in ``tau`` epochs (fast), but two
  tasks executed together interfere (multitasking accuracy ``m`` low);
* ``separated`` - train with concurrent trials too: slower to learn the new task, better in parallel.

An environment has a *horizon* ``H`` (epochs of work in all) and a *concurrency value* ``v`` (the share
of the work that is worth doing two tasks at once). The work needs the new task: until it is learned
the agent earns nothing; afterwards each step earns ``(1 - v) a + v 2 m`` (serial steps pay the
single-task accuracy ``a``, concurrent steps pay two tasks at accuracy ``m`` each). Reward is reported
per step and normalised by the best possible ``1 + v``:

    R(s, H, v) = max(0, H - tau_s) / H * ((1 - v) a_s + 2 v m_s) / (1 + v)

The agent is a contextual epsilon-greedy bandit: one ridge regression per strategy from environment
features (``1, v, v^2, 1/H, v/H, v^2/H``) to reward, trained over episodes in a family of training
environments where each episode's reward comes from one training seed's measurements (so the agent
sees the real run-to-run noise). In held-out environments it picks the strategy with the higher
predicted reward, and is scored against both fixed strategies and an oracle that knows the outcome.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

STRATEGIES = ("shared", "separated")


@dataclass(frozen=True)
class Environment:
    """A work environment: ``horizon`` epochs of work, ``concurrency`` in [0, 1]."""

    horizon: float
    concurrency: float


@dataclass(frozen=True)
class Outcome:
    """What a training strategy produced: epochs to learn the new task, single-task and multitask accuracy."""

    learn_epochs: float
    single_accuracy: float
    multitask_accuracy: float


def reward(env: Environment, out: Outcome) -> float:
    """Normalised reward per step of a strategy with outcome ``out`` in ``env`` (see the module doc).

    Examples
    --------
    >>> round(reward(Environment(100, 0.0), Outcome(20, 0.9, 0.5)), 3)  # serial only: 80 of 100 steps at 0.9
    0.72
    >>> round(reward(Environment(100, 1.0), Outcome(20, 0.9, 0.5)), 3)  # all concurrent: 0.8 * 2 * 0.5 / 2
    0.4
    """
    working = max(0.0, env.horizon - out.learn_epochs) / env.horizon
    v = env.concurrency
    return working * ((1 - v) * out.single_accuracy + 2 * v * out.multitask_accuracy) / (1 + v)


def sample_environments(
    n: int, horizon: tuple[float, float], concurrency: tuple[float, float], rng: np.random.Generator
) -> list[Environment]:
    """``n`` environments, ``H`` log-uniform in ``horizon``, ``v`` uniform in ``concurrency``."""
    hs = np.exp(rng.uniform(math.log(horizon[0]), math.log(horizon[1]), n))
    vs = rng.uniform(concurrency[0], concurrency[1], n)
    return [Environment(float(h), float(v)) for h, v in zip(hs, vs)]


def features(env: Environment) -> np.ndarray:
    """Context features for the bandit's linear reward models: ``c(v) (1 - tau / H)`` is linear in
    ``(1, v, v^2) x (1, 1/H)`` when the payoff ``c(v)`` is close to quadratic in ``v``."""
    v, inv = env.concurrency, 1.0 / env.horizon
    return np.array([1.0, v, v * v, inv, v * inv, v * v * inv])


class StrategyBandit:
    """Epsilon-greedy contextual bandit with one ridge-regression reward model per strategy."""

    def __init__(
        self,
        n_features: int,
        arms: Sequence[str] = STRATEGIES,
        ridge: float = 1e-3,
        epsilon: float = 0.2,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.arms = list(arms)
        self.epsilon = epsilon
        self.rng = rng or np.random.default_rng(0)
        self.A = [ridge * np.eye(n_features) for _ in self.arms]
        self.b = [np.zeros(n_features) for _ in self.arms]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted reward of every arm for context ``x``."""
        return np.array([x @ np.linalg.solve(A, b) for A, b in zip(self.A, self.b)])

    def choose(self, x: np.ndarray, explore: bool = True) -> int:
        """An arm: random with probability ``epsilon`` when exploring, else the best predicted."""
        if explore and self.rng.random() < self.epsilon:
            return int(self.rng.integers(len(self.arms)))
        return int(np.argmax(self.predict(x)))

    def update(self, arm: int, x: np.ndarray, r: float) -> None:
        """Add one observation ``(x, r)`` to ``arm``'s regression."""
        self.A[arm] += np.outer(x, x)
        self.b[arm] += r * x


def train_agent(
    envs: Sequence[Environment],
    outcomes: Mapping[str, Sequence[Outcome]],
    episodes: int,
    rng: np.random.Generator,
    epsilon: float = 0.2,
) -> StrategyBandit:
    """Train a :class:`StrategyBandit` over ``episodes``: each samples a training environment and one
    training seed's outcome of the chosen strategy (``outcomes[strategy][seed]``)."""
    agent = StrategyBandit(len(features(envs[0])), STRATEGIES, epsilon=epsilon, rng=rng)
    n_seeds = len(outcomes[STRATEGIES[0]])
    for _ in range(episodes):
        env = envs[int(rng.integers(len(envs)))]
        x = features(env)
        arm = agent.choose(x)
        agent.update(arm, x, reward(env, outcomes[STRATEGIES[arm]][int(rng.integers(n_seeds))]))
    return agent


def evaluate_policies(
    agent: StrategyBandit, envs: Sequence[Environment], outcome: Mapping[str, Outcome]
) -> pd.DataFrame:
    """Reward of the agent, each fixed strategy and the oracle in each of ``envs`` (tidy rows)."""
    rows = []
    for k, env in enumerate(envs):
        r = {s: reward(env, outcome[s]) for s in STRATEGIES}
        choice = STRATEGIES[agent.choose(features(env), explore=False)]
        best = max(STRATEGIES, key=r.get)
        for policy, pick in (("agent", choice), ("oracle", best), *((f"always {s}", s) for s in STRATEGIES)):
            rows.append(
                {
                    "env": k,
                    "horizon": env.horizon,
                    "concurrency": env.concurrency,
                    "policy": policy,
                    "choice": pick,
                    "reward": r[pick],
                }
            )
    return pd.DataFrame(rows)


def leave_one_seed_out(
    outcomes: Mapping[str, Sequence[Outcome]],
    train_envs: Sequence[Environment],
    test_envs: Sequence[Environment],
    episodes: int,
    seed: int,
) -> pd.DataFrame:
    """For each seed: train the agent on the *other* seeds' outcomes in ``train_envs``, evaluate it on
    ``test_envs`` with the held-out seed's outcomes. Returns :func:`evaluate_policies` rows + ``seed``."""
    n = len(outcomes[STRATEGIES[0]])
    if n < 2:
        raise ValueError("leave-one-seed-out needs at least 2 seeds")
    frames = []
    for k in range(n):
        rest = {s: [o for i, o in enumerate(outcomes[s]) if i != k] for s in STRATEGIES}
        agent = train_agent(train_envs, rest, episodes, np.random.default_rng([seed, k]))
        frames.append(
            evaluate_policies(agent, test_envs, {s: outcomes[s][k] for s in STRATEGIES}).assign(seed=k)
        )
    return pd.concat(frames, ignore_index=True)


def choice_skill(evals: pd.DataFrame) -> pd.Series:
    """Per held-out seed: the share of held-out environments where the agent picks the strategy that is
    better there (the oracle's pick), minus the same share for the better of the two *fixed* strategies
    (which is right in the environments that favour it). In [-1, 1]: positive when the agent's choice
    follows the environment better than any single strategy can, negative when it does worse.

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"seed": 0, "env": [0, 0, 1, 1], "policy": ["agent", "oracle"] * 2,
    ...                    "choice": ["shared", "shared", "separated", "separated"]})
    >>> choice_skill(ev).tolist()  # the agent is always right, a fixed strategy right half the time
    [0.5]
    """
    wide = evals.pivot_table(index=["seed", "env"], columns="policy", values="choice", aggfunc="first")
    hit = (wide["agent"] == wide["oracle"]).groupby("seed").mean()
    fixed = pd.concat({s: (wide["oracle"] == s).groupby("seed").mean() for s in STRATEGIES}, axis=1)
    return (hit - fixed.max(axis=1)).rename("choice skill")
