"""Study 01's experiment: pre-train a task-cued network under a training regime, then measure how shared
its task representations are, how well it multitasks, and how fast it learns a new task.

Two regimes set how much the network shares (Ravi, Musslick et al. 2020; Musslick et al. 2017):

* ``single`` - single-task trials only. Nothing stops tasks that read the same input dimension from
  using the same hidden units, and with small initial weights gradient descent makes them do so:
  *shared* representations;
* ``concurrent`` - single-task trials plus concurrent trials of task pairs. Two tasks that run at once
  must not feed each other's output units, which pushes their hidden representations apart:
  *separated* representations.

The new task reads an input dimension and writes an output dimension that other pre-trained tasks
already use, so a network that shares can reuse both ends.
"""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import torch

from mtlkit.agent import Outcome
from mtlkit.data.stimulus import StimulusEnv
from mtlkit.metrics import epochs_to_criterion, luce_accuracy, sharing_index, similarity_matrix
from mtlkit.models.sharing import TaskCuedNetwork
from mtlkit.train import fit

REGIMES = ("single", "concurrent")


def cue_sets(env: StimulusEnv, tasks: list[tuple[int, int]], regime: str) -> list[list[tuple[int, int]]]:
    """The cue sets a regime trains on: every task alone, plus every concurrent pair for ``concurrent``."""
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; known: {list(REGIMES)}")
    return [[t] for t in tasks] + ([list(p) for p in env.pairs(tasks)] if regime == "concurrent" else [])


@torch.no_grad()
def multitask_accuracy(
    model: TaskCuedNetwork, env: StimulusEnv, pairs: list, incongruent_only: bool = True
) -> float:
    """Mean Luce accuracy of both tasks on concurrent trials of ``pairs``; by default only on
    *incongruent* trials, where the two correct responses sit at different feature positions."""
    x, y, _ = env.trials([list(p) for p in pairs])
    out = model(x)["response"].view(len(x), env.n_outdims, env.n_features)
    y = y.view_as(out)
    dims = torch.tensor([[a[1], b[1]] for a, b in pairs]).repeat_interleave(env.n_stimuli, 0)
    acc = luce_accuracy(out, y, dims)
    if incongruent_only:
        pos = y.gather(1, dims[..., None].expand(-1, -1, env.n_features)).argmax(-1)
        keep = pos[:, 0] != pos[:, 1]
        acc = acc[keep]
    return float(acc.mean())


@torch.no_grad()
def hidden_patterns(model: TaskCuedNetwork, env: StimulusEnv, tasks: list) -> list[torch.Tensor]:
    """Per hidden layer, the ``(T, n_stimuli, hidden)`` activity of every task over every stimulus."""
    x, _, _ = env.trials([[t] for t in tasks])
    return [h.view(len(tasks), env.n_stimuli, -1) for h in model.hidden(x)]


def pretrain_and_probe(config: dict[str, Any]) -> pd.DataFrame:
    """One run (a pure function of ``config``): pre-train under ``config["regime"]``, then measure.

    Rows (``measure``, ``layer``, ``epoch``, ``task_a``, ``task_b``, ``value``): ``pretrain_epochs``,
    ``pretrain_loss``, ``multitask_accuracy``, ``single_accuracy``, ``sharing`` (per layer),
    ``similarity`` (task x task, last layer), ``new_task_loss`` (per epoch) and ``epochs_to_criterion``.
    """
    seed = int(config["seed"])
    env = StimulusEnv(**config["env"], seed=seed)
    new = tuple(config["new_task"])
    old = [t for t in env.all_tasks if t != new]
    torch.manual_seed(seed)
    model = TaskCuedNetwork(env.n_stim_units, env.n_tasks, env.n_outputs, **config["model"])
    fit_kw = {
        "batch_size": config["batch_size"],
        "lr": config["lr"],
        "optimizer": config["optimizer"],
        "restore_best": False,
        "seed": seed,
    }
    crit = config["criterion"]
    train = env.dataset(cue_sets(env, old, config["regime"]), noise=config.get("noise", 0.0), seed=seed)
    hist = fit(model, train, epochs=config["epochs"], stop_below=crit, **fit_kw)
    val = hist[(hist.split == "val") & (hist.metric == "loss")].value
    rows = [
        ("pretrain_epochs", None, None, None, None, float(len(val))),
        ("pretrain_loss", None, None, None, None, float(val.iloc[-1])),
        ("multitask_accuracy", None, None, None, None, multitask_accuracy(model, env, env.pairs(old))),
        ("single_accuracy", None, None, None, None, _single_accuracy(model, env, old)),
    ]
    patterns = hidden_patterns(model, env, old)
    for layer, h in enumerate(patterns, start=1):
        rows.append(("sharing", layer, None, None, None, sharing_index(similarity_matrix(h), old)))
    sim = similarity_matrix(patterns[-1])
    rows += [
        ("similarity", len(patterns), None, str(a), str(b), float(sim[i, k]))
        for i, a in enumerate(old)
        for k, b in enumerate(old)
    ]
    learner = copy.deepcopy(model)
    new_data = env.dataset([[new]], noise=config.get("noise", 0.0), seed=seed)
    new_hist = fit(learner, new_data, epochs=config["new_epochs"], stop_below=crit, **fit_kw)
    curve = new_hist[(new_hist.split == "val") & (new_hist.metric == "loss")].value.tolist()
    rows += [("new_task_loss", None, e, None, None, v) for e, v in enumerate(curve, start=1)]
    rows.append(
        (
            "epochs_to_criterion",
            None,
            None,
            None,
            None,
            float(epochs_to_criterion(curve, crit)) if curve[-1] < crit else float(config["new_epochs"] + 1),
        )
    )
    return pd.DataFrame(rows, columns=["measure", "layer", "epoch", "task_a", "task_b", "value"])


@torch.no_grad()
def _single_accuracy(model: TaskCuedNetwork, env: StimulusEnv, tasks: list) -> float:
    x, y, _ = env.trials([[t] for t in tasks])
    out = model(x)["response"].view(len(x), env.n_outdims, env.n_features)
    dims = torch.tensor([[t[1]] for t in tasks]).repeat_interleave(env.n_stimuli, 0)
    return float(luce_accuracy(out, y.view_as(out), dims).mean())


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


SCALARS = ("pretrain_epochs", "pretrain_loss", "multitask_accuracy", "single_accuracy", "epochs_to_criterion")


def summaries(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split the sweep's rows into per-run ``scalars`` (sharing = last hidden layer), the task x task
    ``similarity`` rows, and the padded new-task learning ``curves``."""
    last = runs.groupby("network").layer.transform("max")
    scalars = runs[runs.measure.isin(SCALARS) | ((runs.measure == "sharing") & (runs.layer == last))]
    sim = runs[runs.measure == "similarity"]
    return scalars, sim, padded_curves(runs, ["network", "regime", "seed"])
