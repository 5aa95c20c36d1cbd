"""Study 01's experiments: task-cued networks whose task representations are more or less shared, measured
for how fast they learn and how well they multitask on concurrent trials they never trained on.

Two ways to make representations shared or separated:

* **initial similarity** (Musslick et al., CogSci 2017, Fig. 5; :func:`learn_and_multitask`): train on
  single-task trials only, from task -> hidden weights whose similarity between tasks that read the same
  input dimension is set at initialisation. Learning speed is the number of epochs to learn every task;
  multitasking is then tested on concurrent trials, none of which was ever trained;
* **training regime** (Ravi, Musslick et al. 2020; :func:`pretrain_and_probe`): ``single`` trains on
  single-task trials only (gradient descent from small weights makes tasks that read one input dimension
  share hidden units: *shared*); ``concurrent`` adds concurrent trials of some task pairs, which pushes
  their representations apart (*separated*). Multitasking is scored on *held-out* pairs that neither
  regime trained concurrently, and learning speed is the time to learn a new task (held out of
  pre-training) whose input and output dimensions other tasks already use.

Representation similarity is the paper's: the correlation of the task -> hidden weight vectors of tasks
that share an input dimension (:func:`weight_similarity`); the correlation of their hidden activity
(``sharing``) is kept beside it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from mtlkit.agent import Outcome
from mtlkit.data.overlap import OverlapEnv
from mtlkit.data.stimulus import StimulusEnv, Task
from mtlkit.metrics import epochs_to_criterion, luce_accuracy, sharing_index, similarity_matrix
from mtlkit.models.sharing import TaskCuedNetwork
from mtlkit.train import fit

REGIMES = ("single", "concurrent")
COLUMNS = ["measure", "layer", "epoch", "task_a", "task_b", "value"]


def cue_sets(
    env: StimulusEnv, tasks: list[Task], regime: str, pairs: Sequence[tuple[Task, Task]] | None = None
) -> list[list[Task]]:
    """The cue sets a regime trains on: every task alone, plus, for ``concurrent``, the concurrent
    ``pairs`` (default: every pair of ``tasks`` that can run concurrently)."""
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; known: {list(REGIMES)}")
    pairs = env.pairs(tasks) if pairs is None else pairs
    return [[t] for t in tasks] + ([list(p) for p in pairs] if regime == "concurrent" else [])


@torch.no_grad()
def multitask_accuracy(
    model: TaskCuedNetwork,
    env: StimulusEnv,
    pairs: Sequence[tuple[Task, Task]],
    incongruent_only: bool = True,
) -> float:
    """Mean Luce accuracy of both tasks on concurrent trials of ``pairs``; by default only on
    *incongruent* trials (:meth:`~mtlkit.data.stimulus.StimulusEnv.incongruent`: crosstalk would answer
    wrongly), as in Musslick et al. 2017."""
    x, y, _ = env.trials([list(p) for p in pairs])
    out = model(x)["response"].view(len(x), env.n_outdims, env.n_features)
    dims = torch.tensor([[a[1], b[1]] for a, b in pairs]).repeat_interleave(env.n_stimuli, 0)
    acc = luce_accuracy(out, y.view_as(out), dims)
    if incongruent_only:
        acc = acc[torch.cat([env.incongruent(a, b) for a, b in pairs])]
    return float(acc.mean())


@torch.no_grad()
def single_accuracy(model: TaskCuedNetwork, env: StimulusEnv, tasks: list[Task]) -> float:
    """Mean Luce accuracy of ``tasks`` on their single-task trials."""
    x, y, _ = env.trials([[t] for t in tasks])
    out = model(x)["response"].view(len(x), env.n_outdims, env.n_features)
    dims = torch.tensor([[t[1]] for t in tasks]).repeat_interleave(env.n_stimuli, 0)
    return float(luce_accuracy(out, y.view_as(out), dims).mean())


@torch.no_grad()
def hidden_patterns(model: TaskCuedNetwork, env: StimulusEnv, tasks: list[Task]) -> list[torch.Tensor]:
    """Per hidden layer, the ``(T, n_stimuli, hidden)`` activity of every task over every stimulus."""
    x, _, _ = env.trials([[t] for t in tasks])
    return [h.view(len(tasks), env.n_stimuli, -1) for h in model.hidden(x)]


def weight_similarity(model: TaskCuedNetwork, env: StimulusEnv, tasks: list[Task]) -> float:
    """Mean correlation of the task -> hidden weight vectors of the pairs of ``tasks`` that read the same
    input dimension (Musslick et al. 2017's representation similarity; all hidden layers concatenated)."""
    w = model.cue_weights()[[env.task_index(t) for t in tasks]]
    return sharing_index(similarity_matrix(w), tasks)


def _fit(model: TaskCuedNetwork, data: Any, config: dict, epochs: int) -> tuple[list[float], bool]:
    """Train to the criterion (or the cap); return the per-epoch training-trial loss and whether it hit
    the cap without reaching the criterion."""
    kw = {k: config[k] for k in ("batch_size", "lr", "optimizer")}
    crit = config["criterion"]
    hist = fit(model, data, epochs=epochs, stop_below=crit, restore_best=False, seed=config["seed"], **kw)
    curve = hist[(hist.split == "val") & (hist.metric == "loss")].value.tolist()
    return curve, curve[-1] >= crit


def _scalar(measure: str, value: float) -> tuple:
    """One row of a scalar measure (no layer, epoch or task pair)."""
    return (measure, None, None, None, None, float(value))


def _pair_rows(measure: str, pairs: Sequence[tuple[Task, Task]]) -> list[tuple]:
    return [(measure, None, None, str(a), str(b), 1.0) for a, b in pairs]


def make_env(spec: dict[str, Any], seed: int) -> StimulusEnv:
    """The environment a run's ``env`` settings describe: the feature-overlap one
    (:class:`~mtlkit.data.overlap.OverlapEnv`) when they name an ``overlap``, else the one-hot one."""
    return (OverlapEnv if "overlap" in spec else StimulusEnv)(**spec, seed=seed)


def learn_and_multitask(config: dict[str, Any]) -> pd.DataFrame:
    """One run of the initial-similarity sweep (a pure function of ``config``): a network whose task ->
    hidden weights start with similarity ``config["similarity"]`` within each input dimension learns every
    task on single-task trials, then is tested on every concurrent pair (none trained). The environment is
    :func:`make_env`'s: with an ``overlap`` in ``config["env"]`` this is one run of the feature-overlap
    sweep (Musslick et al. 2017, Fig. 3; ``similarity`` 0 leaves every weight at the model's ``init``).

    Rows (``measure``, ``value``; see :data:`COLUMNS`): ``initial_similarity`` (measured),
    ``epochs_to_criterion`` (learning speed; cap + 1 when the cap was hit), ``capped``, and after training
    ``weight_similarity``, ``sharing`` (hidden activity), ``single_accuracy`` and ``multitask_accuracy``
    (incongruent trials of the pairs in the ``scored_pair`` rows). There are no ``trained_pair`` rows: no
    concurrent trial is trained.
    """
    seed = int(config["seed"])
    env = make_env(config["env"], seed)
    tasks = env.all_tasks
    torch.manual_seed(seed)
    model = TaskCuedNetwork(
        env.n_stim_units,
        env.n_tasks,
        env.n_outputs,
        **config["model"],
        cue_groups=[i for i, _ in tasks],
        cue_similarity=float(config["similarity"]),
    )
    rows = [_scalar("initial_similarity", weight_similarity(model, env, tasks))]
    data = env.dataset([[t] for t in tasks], noise=config.get("noise", 0.0), seed=seed)
    curve, capped = _fit(model, data, config, config["epochs"])
    pairs = env.pairs(tasks)
    rows += [
        _scalar("epochs_to_criterion", float(epochs_to_criterion(curve, config["criterion"]))),
        _scalar("capped", float(capped)),
        _scalar("weight_similarity", weight_similarity(model, env, tasks)),
        _scalar("sharing", sharing_index(similarity_matrix(hidden_patterns(model, env, tasks)[-1]), tasks)),
        _scalar("single_accuracy", single_accuracy(model, env, tasks)),
        _scalar("multitask_accuracy", multitask_accuracy(model, env, pairs)),
        *_pair_rows("scored_pair", pairs),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def pretrain_and_probe(config: dict[str, Any]) -> pd.DataFrame:
    """One run of the regime comparison (a pure function of ``config``): pre-train under
    ``config["regime"]`` on every task but ``config["new_task"]``, then measure.

    The concurrent pairs of the pre-trained tasks are split
    (:meth:`~mtlkit.data.stimulus.StimulusEnv.split_pairs`, share ``config["held_out_pairs"]`` held out,
    drawn from the seed, so both regimes of a seed share the split): ``concurrent`` trains on the others;
    both regimes are scored on the held-out ones. Rows: ``pretrain_epochs``, ``pretrain_capped``,
    ``multitask_accuracy`` (held-out pairs, incongruent trials), ``multitask_accuracy_train_pairs`` (the
    pairs ``concurrent`` trains on), ``single_accuracy``, ``weight_similarity``, ``sharing`` (hidden
    activity, per layer), ``similarity`` (task x task hidden activity, last layer), ``new_task_loss`` (per
    epoch), ``epochs_to_criterion``, ``new_capped``, and the ``trained_pair`` (only those ``concurrent``
    trained) and ``scored_pair`` rows.
    """
    seed = int(config["seed"])
    env = StimulusEnv(**config["env"], seed=seed)
    new = tuple(config["new_task"])
    old = [t for t in env.all_tasks if t != new]
    train_pairs, held = env.split_pairs(old, config["held_out_pairs"], seed=seed)
    torch.manual_seed(seed)
    model = TaskCuedNetwork(env.n_stim_units, env.n_tasks, env.n_outputs, **config["model"])
    noise = config.get("noise", 0.0)
    sets = cue_sets(env, old, config["regime"], train_pairs)
    curve, capped = _fit(model, env.dataset(sets, noise=noise, seed=seed), config, config["epochs"])
    patterns = hidden_patterns(model, env, old)
    sim = similarity_matrix(patterns[-1])
    rows = [
        _scalar("pretrain_epochs", float(len(curve))),
        _scalar("pretrain_capped", float(capped)),
        _scalar("multitask_accuracy", multitask_accuracy(model, env, held)),
        _scalar("multitask_accuracy_train_pairs", multitask_accuracy(model, env, train_pairs)),
        _scalar("single_accuracy", single_accuracy(model, env, old)),
        _scalar("weight_similarity", weight_similarity(model, env, old)),
        *[
            ("sharing", k, None, None, None, sharing_index(similarity_matrix(h), old))
            for k, h in enumerate(patterns, 1)
        ],
        *[
            ("similarity", len(patterns), None, str(a), str(b), float(sim[i, k]))
            for i, a in enumerate(old)
            for k, b in enumerate(old)
        ],
        *_pair_rows("trained_pair", train_pairs if config["regime"] == "concurrent" else []),
        *_pair_rows("scored_pair", held),
    ]
    learner = copy.deepcopy(model)
    curve, capped = _fit(learner, env.dataset([[new]], noise=noise, seed=seed), config, config["new_epochs"])
    rows += [("new_task_loss", None, e, None, None, v) for e, v in enumerate(curve, start=1)]
    rows.append(_scalar("epochs_to_criterion", epochs_to_criterion(curve, config["criterion"])))
    rows.append(_scalar("new_capped", float(capped)))
    return pd.DataFrame(rows, columns=COLUMNS)


def padded_curves(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """New-task loss curves carried forward after a run stopped at the criterion, so that every run has
    a value at every epoch and averages over seeds are not biased towards slow runs."""
    curves = df[df.measure == "new_task_loss"]
    last = int(curves.epoch.max())
    out = []
    for key, g in curves.groupby(by):
        s = g.set_index("epoch").value.reindex(range(1, last + 1)).ffill()
        out.append(pd.DataFrame({**dict(zip(by, key)), "epoch": s.index, "loss": s.to_numpy()}))
    return pd.concat(out, ignore_index=True)


def outcomes(scalars: pd.DataFrame, network: str) -> dict[str, list]:
    """Per strategy, the per-seed :class:`~mtlkit.agent.Outcome` of ``network`` (for the agent)."""
    d = scalars[scalars.network == network].set_index(["regime", "seed", "measure"]).value
    strategy = {"shared": "single", "separated": "concurrent"}
    seeds = sorted(scalars.seed.unique())
    return {
        s: [
            Outcome(
                d[(r, k, "epochs_to_criterion")],
                d[(r, k, "single_accuracy")],
                d[(r, k, "multitask_accuracy")],
            )
            for k in seeds
        ]
        for s, r in strategy.items()
    }


SCALARS = (
    *("pretrain_epochs", "pretrain_capped", "multitask_accuracy", "multitask_accuracy_train_pairs"),
    *("single_accuracy", "weight_similarity", "epochs_to_criterion", "new_capped"),
)


def summaries(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split the regime sweep's rows into per-run ``scalars`` (``sharing`` = last hidden layer), the task x
    task ``similarity`` rows, and the padded new-task learning ``curves``."""
    last = runs.groupby("network").layer.transform("max")
    scalars = runs[runs.measure.isin(SCALARS) | ((runs.measure == "sharing") & (runs.layer == last))]
    sim = runs[runs.measure == "similarity"]
    return scalars, sim, padded_curves(runs, ["network", "regime", "seed"])


def pairs_of(runs: pd.DataFrame, measure: str) -> set[tuple]:
    """The ``(seed, task_a, task_b)`` of every ``trained_pair`` or ``scored_pair`` row of a sweep (pairs
    written as sorted tuples, so that the same pair in either order compares equal)."""
    d = runs[runs.measure == measure]
    return {(int(s), *sorted((a, b))) for s, a, b in zip(d.seed, d.task_a, d.task_b)}


def level_correlation(df: pd.DataFrame, level: str, measure: str, by: str = "seed") -> pd.Series:
    """Per ``by`` group, the Spearman correlation across the sweep between ``level`` and ``measure`` (wide
    columns of ``df``); 0 where either is constant (no monotone relation can be seen), so it lies in [-1, 1].

    >>> d = pd.DataFrame({"seed": [0, 0, 0, 1, 1, 1], "s": [0, .5, 1] * 2, "y": [3, 2, 1, 1, 1, 1]})
    >>> level_correlation(d, "s", "y").tolist()
    [-1.0, 0.0]
    """

    def rho(g: pd.DataFrame) -> float:
        a, b = g[level].rank().to_numpy(), g[measure].rank().to_numpy()
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            return 0.0
        return float(np.corrcoef(a, b)[0, 1])

    return df.groupby(by)[[level, measure]].apply(rho).rename(f"rho({level}, {measure})")
