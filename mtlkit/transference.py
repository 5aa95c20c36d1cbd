"""How much one task's update helps another, measured during training (Fifty et al. 2020, arXiv
2010.15413; Fifty et al. 2021, *Efficiently Identifying Task Groupings*, TAG, arXiv 2109.04617).

**Lookahead transference** of task ``i`` onto task ``j`` on a batch::

    Z(i -> j) = 1 - L_j(shared - lr * grad_shared L_i, heads) / L_j(shared, heads)

positive when a step on ``i`` alone lowers ``j``'s loss on the same batch. The lookahead step is a
*plain SGD step* of size ``lr`` on the shared parameters, whatever optimizer trains the model: Adam's
update depends on moment estimates accumulated from the *summed* loss, so "Adam's step on task ``i``
alone" is not defined, and the SGD step keeps ``Z`` a property of the loss surface (TAG's equation 1).
To first order ``Z(i -> j) = lr * g_i . g_j / L_j``: the sign is that of the gradients' inner product
and ``lr`` only scales it - but only while ``lr`` is small. The second-order term
``lr^2 g_i' H_j g_i / 2`` lowers every ``Z(i -> j)`` in proportion to the source's squared gradient, and
late in training, when gradients grow and losses shrink, it dominates at ``lr = 0.1`` for Adam-trained
networks (:func:`step_size_sensitivity`; study 04 measures it). Study 04 therefore uses the training
learning rate, as both papers do. All ``T`` lookaheads are evaluated at once (``torch.func.vmap`` over
``functional_call``), so tracking costs ``T`` gradients and ``T`` batched forward passes per
measured step (the overhead is measured in ``benchmarks/``).

**Inter-task affinity** is ``Z`` averaged over training (TAG); :func:`affinity_candidates` turns it
into scores for the budgeted network selection of :mod:`mtlkit.grouping`. **IT-MTL**
(:class:`mtlkit.weighting.ITMTL`) uses :func:`lookahead_losses` at every step to choose among
candidate shared updates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from mtlkit.data.base import TaskSpec
from mtlkit.grouping import Candidate, network_name, subsets


def _shared_named(model: nn.Module) -> dict[str, nn.Parameter]:
    """The model's shared parameters by name (those of ``model.shared_parameters()``)."""
    ids = {id(p) for p in model.shared_parameters()}
    named = {n: p for n, p in model.named_parameters() if id(p) in ids}
    if not named:
        raise ValueError(f"{model.__class__.__name__} has no shared parameters: transference is undefined")
    return named


def task_losses(model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec]) -> Tensor:
    """The ``(T,)`` losses of ``tasks`` on one batch."""
    from mtlkit.train import task_loss

    out = model(x, [t.name for t in tasks])
    return torch.stack([task_loss(t, out[t.name], y[t.name]) for t in tasks])


def lookahead_losses(
    model: nn.Module,
    x: Tensor,
    y: dict[str, Tensor],
    tasks: Sequence[TaskSpec],
    directions: Tensor,
    lr: float,
) -> Tensor:
    """Every task's loss on ``(x, y)`` after the shared parameters move by ``-lr * directions[c]``.

    ``directions`` is ``(C, P)`` over the flattened shared parameters (in ``shared_parameters()``
    order); task heads are left as they are. Returns ``(C, T)``; the model is not modified.
    """
    from mtlkit.train import task_loss

    named = _shared_named(model)
    names = [t.name for t in tasks]
    sizes = [p.numel() for p in named.values()]
    if directions.shape[1] != sum(sizes):
        raise ValueError(f"directions have {directions.shape[1]} entries, shared parameters {sum(sizes)}")

    def losses_after(direction: Tensor) -> Tensor:
        chunks = direction.split(sizes)
        params = {n: p.detach() - lr * d.view_as(p) for (n, p), d in zip(named.items(), chunks)}
        out = functional_call(model, params, (x, names), strict=False)
        return torch.stack([task_loss(t, out[t.name], y[t.name]) for t in tasks])

    with torch.no_grad():
        return vmap(losses_after)(directions.detach())


def _measure(
    model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec], lr: float
) -> tuple[Tensor, Tensor]:
    """Lookahead transference ``Z`` and the gradients' cosine similarity, both ``(T, T)``."""
    from mtlkit.weighting import task_gradients

    shared = list(_shared_named(model).values())
    losses = task_losses(model, x, y, tasks)
    grads = task_gradients(losses, shared).detach()
    after = lookahead_losses(model, x, y, tasks, grads, lr)
    unit = grads / grads.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return 1.0 - after / losses.detach().clamp_min(1e-12)[None, :], unit @ unit.T


def transference(
    model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec], lr: float
) -> Tensor:
    """The ``(T, T)`` lookahead transference ``Z[i, j]`` of source task ``i`` onto target ``j`` (module doc)."""
    return _measure(model, x, y, tasks, lr)[0]


class AffinityTracker:
    """A :func:`mtlkit.train.fit` monitor: lookahead transference every ``every`` training steps.

    Called before each update with the step's batch; it reads the model and never changes it (nor
    any random state), so training with and without tracking gives the same weights (tested).
    :meth:`table` returns tidy rows ``(step, epoch, source, target, Z, cos)``; ``cos`` is the cosine
    similarity of the two tasks' gradients on the shared parameters, the cheap baseline that ``Z``
    refines (to first order ``Z(i -> j) = lr * g_i . g_j / L_j``).
    """

    def __init__(self, tasks: Sequence[TaskSpec], every: int = 1, lr: float = 1e-3) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.tasks, self.every, self.lr = list(tasks), every, lr
        self._steps: list[int] = []
        self._epochs: list[int] = []
        self._z: list[Tensor] = []
        self._cos: list[Tensor] = []

    def __call__(self, step: int, epoch: int, model: nn.Module, x: Tensor, y: dict[str, Tensor]) -> None:
        if step % self.every:
            return
        self._steps.append(step)
        self._epochs.append(epoch)
        z, cos = _measure(model, x, y, self.tasks, self.lr)
        self._z.append(z.cpu())
        self._cos.append(cos.cpu())

    def table(self) -> pd.DataFrame:
        """Tidy rows ``(step, epoch, source, target, Z, cos)`` for every measured step and ordered pair."""
        names = [t.name for t in self.tasks]
        if not self._z:
            return pd.DataFrame(columns=["step", "epoch", "source", "target", "Z", "cos"])
        z = torch.stack(self._z).numpy()  # (S, T, T)
        S, T = len(self._z), len(names)
        src, tgt = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
        keep = (src != tgt).ravel()
        return pd.DataFrame(
            {
                "step": np.repeat(self._steps, T * T)[np.tile(keep, S)],
                "epoch": np.repeat(self._epochs, T * T)[np.tile(keep, S)],
                "source": np.tile(np.array(names)[src.ravel()][keep], S),
                "target": np.tile(np.array(names)[tgt.ravel()][keep], S),
                "Z": z.reshape(S, -1)[:, keep].ravel().astype(float),
                "cos": torch.stack(self._cos).numpy().reshape(S, -1)[:, keep].ravel().astype(float),
            }
        )


def affinity(table: pd.DataFrame) -> pd.DataFrame:
    """Inter-task affinity: ``Z`` averaged over the measured steps (and over seeds when present), as rows
    ``(source, target, affinity)``."""
    return table.groupby(["source", "target"], as_index=False).Z.mean().rename(columns={"Z": "affinity"})


def affinity_candidates(aff: pd.DataFrame, tasks: Sequence[str]) -> list[Candidate]:
    """Full-size candidate networks scored from affinities, for :func:`mtlkit.grouping.branch_and_bound`.

    As in TAG, a task's score in a group is the mean affinity onto it from the other members; the
    selection *minimises*, so each score enters negated, and a task alone scores 0. Only full-size
    networks can be scored this way (affinities say nothing about a half-width network).
    """
    a = {(r.source, r.target): float(r.affinity) for r in aff.itertuples()}
    out = []
    for g in subsets(tasks):
        loss = {t: (-float(np.mean([a[(u, t)] for u in g if u != t])) if len(g) > 1 else 0.0) for t in g}
        out.append(Candidate(network_name(g, "full"), g, 1.0, loss))
    return out


def tracking_overhead(config: dict, every: int, lr: float, repeats: int = 3) -> tuple[float, float]:
    """Wall seconds of one :func:`~mtlkit.train.fit` of ``config`` (a
    :func:`~mtlkit.train.train_and_evaluate` config) without and with an :class:`AffinityTracker`
    every ``every`` steps: the fastest of ``repeats`` alternating timings of each, on one torch thread
    (as a sweep's worker runs), after a one-epoch warm-up of each (first calls pay one-off costs)."""
    import time

    from mtlkit.data import make_data
    from mtlkit.models import build_model
    from mtlkit.study import seed_everything
    from mtlkit.train import fit

    def timed(epochs: int, track: bool) -> float:
        seed_everything(int(config["seed"]))
        model = build_model(in_shape=data.input_shape, tasks=data.tasks, **config["model"])
        tracker = AffinityTracker(data.tasks, every=every, lr=lr) if track else None
        t0 = time.perf_counter()
        fit(model, data, seed=int(config["seed"]), monitor=tracker, **{**config["fit"], "epochs": epochs})
        return time.perf_counter() - t0

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = make_data(**config["data"])
        timed(1, False), timed(1, True)
        epochs = int(config["fit"]["epochs"])
        runs = [(timed(epochs, False), timed(epochs, True)) for _ in range(repeats)]
    finally:
        torch.set_num_threads(threads)
    return min(r[0] for r in runs), min(r[1] for r in runs)


def gain_correlation(
    per_seed: pd.DataFrame, gains: pd.DataFrame, column: str, within: bool = False
) -> pd.Series:
    """Per seed, the Spearman correlation between ``column`` of ``per_seed`` (rows ``seed, source,
    target``: e.g. averaged affinity or gradient cosine) and the ground-truth gain of the target task
    trained with the source (:func:`mtlkit.grouping.pairwise_gains`).

    With ``within``, the correlation is taken *within each target* (how well ``column`` ranks a task's
    partners) and averaged over targets: the comparison a grouping needs, since a task is served by its
    best network whatever the scale of its own losses.
    """
    truth = gains.rename(columns={"partner": "source", "task": "target"})

    def rho(g: pd.DataFrame) -> float:
        return g[[column, "gain"]].corr("spearman").iloc[0, 1]

    out = {}
    for s, g in per_seed.groupby("seed"):
        both = g.merge(truth, on=["source", "target"])
        out[s] = float(np.nanmean([rho(t) for _, t in both.groupby("target")])) if within else rho(both)
    return pd.Series(out, name=column)


def step_size_sensitivity(z: pd.DataFrame, gains: pd.DataFrame) -> pd.DataFrame:
    """How the lookahead step size ``eta`` changes what affinities say. ``z``: tidy transference rows
    ``eta, seed, source, target, value`` (one tracked run per step size and seed; the runs train
    identically, so only the lookahead differs). Per ``eta`` and seed: the mean ``Z`` over all pairs and
    steps, and the Spearman correlation of averaged affinity with the true gain, over all ordered pairs
    (``rho``) and within each target (``rho_within``). Past the first-order regime the curvature term
    ``eta^2 g_i' H_j g_i / 2`` pushes every ``Z`` down in proportion to the *source's* gradient norm."""
    rows = []
    for eta, g in z.groupby("eta"):
        per_seed = g.groupby(["seed", "source", "target"], as_index=False).value.mean()
        mean_z = per_seed.groupby("seed").value.mean()
        rho = gain_correlation(per_seed, gains, "value")
        within = gain_correlation(per_seed, gains, "value", within=True)
        rows += [
            {"eta": eta, "seed": s, "mean_Z": mean_z[s], "rho": rho[s], "rho_within": within[s]}
            for s in rho.index
        ]
    return pd.DataFrame(rows)


def compute_vs_pairs(
    configs: dict[int, dict], every: int, lr: float, n_tasks: int, epochs: int
) -> pd.DataFrame:
    """Per seed: :func:`tracking_overhead` of its config, the affinity method's compute in network-epochs
    (one joint run times the overhead) and the ratio of HOA's pair training (``n(n-1)/2`` networks x
    ``epochs``) to it. Columns: seed, plain_s, tracked_s, overhead, affinity_compute, ratio_vs_HOA_pairs."""
    rows = []
    for seed, config in configs.items():
        plain, tracked = tracking_overhead(config, every, lr)
        rows.append({"plain_s": plain, "tracked_s": tracked, "seed": seed, "overhead": tracked / plain})
    table = pd.DataFrame(rows)
    table["affinity_compute"] = epochs * table.overhead
    table["ratio_vs_HOA_pairs"] = n_tasks * (n_tasks - 1) // 2 * epochs / table.affinity_compute
    return table
