"""The training loops: :func:`fit` (one network, any weighting), :func:`fit_many` (a stack of networks at
once) and :func:`evaluate`. Both loops share the task losses and their non-finite check
(:mod:`mtlkit.losses`) and the tidy rows they return (:func:`tidy_rows`).

The loop is visible in one place: minibatches by index permutation, per-task losses, the weighting
method's backward pass, an optimizer step; validation after every epoch, and the best epoch's weights
restored at the end (selection on the summed validation loss, never on test).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from mtlkit.data.base import MultiTaskData
from mtlkit.losses import check_finite, member_loss, task_loss
from mtlkit.progress import trange
from mtlkit.weighting import Weighting, make_weighting

COLUMNS = ["epoch", "split", "task", "metric", "value"]
METRICS = ("loss", "weight")
"""What :func:`fit` records of each task per training epoch: its mean loss and its mean weight."""


def tidy_rows(split: str, values: Iterable[tuple[str, str, float]], **extra: object) -> list[dict]:
    """Tidy rows ``{**extra, split, task, metric, value}`` from ``(task, metric, value)`` triples."""
    return [{**extra, "split": split, "task": t, "metric": m, "value": float(v)} for t, m, v in values]


OPTIMIZERS = ("adam", "sgd", "plain_sgd")
FUSED_DEVICES = ("cpu", "cuda")
"""Devices on which Adam and SGD use PyTorch's fused kernels (``fused=True``); elsewhere ``foreach``."""


def _optimizer(
    name: str, params: list[nn.Parameter], lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    # the fused kernels where the device has them: Adam's step is 2.7-3x, SGD's 1.4-2.6x cheaper on CPU
    fused = all(p.device.type in FUSED_DEVICES and p.dtype.is_floating_point for p in params)
    kernel = {"fused": True} if fused else {"foreach": True}
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **kernel)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, **kernel)
    if name == "plain_sgd":  # no momentum: the online backprop of the cognitive-control networks
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, **kernel)
    raise ValueError(f"unknown optimizer {name!r}; known: ['adam', 'sgd', 'plain_sgd']")


EXPLODED_FACTOR = 2.0
"""A classification loss above this many times a uniform guess's (``ln K`` for ``K`` classes) has exploded."""


def exploded(losses: dict[str, float], data: MultiTaskData) -> bool:
    """True when a classification task's loss in ``losses`` is above :data:`EXPLODED_FACTOR` times the
    cross-entropy of a uniform guess, ``ln K``, or not finite: the network is confidently wrong, as a
    diverged run is (an untrained or merely poor network stays near ``ln K``)."""
    kinds = {t.name: t for t in data.tasks}
    return any(
        kinds[t].kind == "classification" and not loss <= EXPLODED_FACTOR * math.log(kinds[t].n_outputs)
        for t, loss in losses.items()
    )


def evaluate(
    model: nn.Module,
    data: MultiTaskData,
    split: str,
    tasks: Sequence[str] | None = None,
    batch_size: int = 4096,
) -> pd.DataFrame:
    """Loss (and accuracy for classification) of every task on ``split``, as tidy rows."""
    return pd.DataFrame(tidy_rows(split, evaluated(model, data, split, tasks, batch_size)))


@torch.no_grad()
def evaluated(
    model: nn.Module,
    data: MultiTaskData,
    split: str,
    tasks: Sequence[str] | None = None,
    batch_size: int = 4096,
) -> list[tuple[str, str, float]]:
    """What :func:`evaluate` tabulates, as ``(task, metric, value)`` triples (no pandas: fit's epochs)."""
    model.eval()
    tasks = list(tasks or data.task_names)
    totals = {t: [0.0, 0.0] for t in tasks}  # summed loss, correct
    for x, y in data.batches(split, batch_size, shuffle=False):
        out = model(x, tasks)
        for t in tasks:
            spec = data.task(t)
            totals[t][0] += float(task_loss(spec, out[t], y[t])) * len(x)
            if spec.kind == "classification":
                totals[t][1] += float((out[t].argmax(1) == y[t]).sum())
    n = data.n(split)
    values = []
    for t in tasks:
        values.append((t, "loss", totals[t][0] / n))
        if data.task(t).kind == "classification":
            values.append((t, "accuracy", totals[t][1] / n))
    model.train()
    return values


def fit(
    model: nn.Module,
    data: MultiTaskData,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 128,
    weighting: str | dict | Weighting = "equal",
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    seed: int = 0,
    restore_best: bool = True,
    stop_below: float | None = None,
    patience: int | None = None,
    patience_each: bool = False,
    monitor: Callable[[int, int, nn.Module, Tensor, dict[str, Tensor]], None] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Train ``model`` on all tasks of ``data``; return the tidy history ``(epoch, split, task, metric, value)``.

    ``weighting`` is a name from :data:`mtlkit.weighting.WEIGHTINGS`, a dict ``{"name": ..., **kwargs}``
    (e.g. ``{"name": "fixed", "weights": {"a": 0.3}}``), or an instance. The minibatch
    order and any randomness of the weighting come from ``seed``. ``stop_below`` ends training at the
    first epoch whose summed validation loss is below it (training to criterion, as in Musslick et al.).
    ``patience`` ends it once the summed validation loss has not improved for that many epochs (early
    stopping; the best epoch's weights are restored); with ``patience_each`` it ends only once *every*
    task's own validation loss has gone that many epochs without a new best (each task has plateaued), so
    that a task with a small loss weight is not stopped while it still improves. The history's ``attrs["best_epoch"]`` is the
    restored epoch: when it equals ``epochs``, the run may not have converged.
    ``monitor(step, epoch, model, x, y)`` is called before every update with that step's batch (e.g. a
    :class:`~mtlkit.tracking.AffinityTracker`); it must not change the model.
    Raises :class:`TrainingDiverged` on a non-finite loss.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if patience is not None and (patience < 1 or not restore_best):
        raise ValueError(f"patience must be >= 1 and needs restore_best, got {patience}")
    tasks = data.task_names
    gen = torch.Generator().manual_seed(seed)
    if isinstance(weighting, str):
        weighting = {"name": weighting}
    combiner = (
        make_weighting(tasks=data.tasks, generator=gen, **weighting)
        if isinstance(weighting, dict)
        else weighting
    )
    device = data.x["train"].device
    model.to(device)
    combiner.to(device)
    params = list(model.parameters()) + list(combiner.parameters())
    opt = _optimizer(optimizer, params, lr, weight_decay)
    shared = model.shared_parameters() if hasattr(model, "shared_parameters") else []
    specific = [q for q in model.parameters() if q.requires_grad and all(q is not s for s in shared)]
    history: list[tuple[int, str, str, str, float]] = []  # (epoch, split, task, metric, value)
    best = (math.inf, 0, None)
    task_best = {t: (math.inf, 0) for t in tasks}  # each task's best validation loss and its epoch
    model.train()
    step = 0
    for epoch in trange(1, epochs + 1, desc="epochs", disable=not progress, leave=False):
        sums, weights, steps = torch.zeros(len(tasks)), torch.zeros(len(tasks)), 0
        for x, y in data.batches("train", batch_size, gen):
            if monitor is not None:
                monitor(step, epoch, model, x, y)
            step += 1
            combiner.observe(model, x, y)
            out = model(x, tasks)
            losses = torch.stack([task_loss(data.task(t), out[t], y[t]) for t in tasks])
            if not torch.isfinite(losses).all():
                where = (
                    f"at epoch {epoch}, step {steps + 1} (weighting={combiner.__class__.__name__}, lr={lr})"
                )
                check_finite(losses, tasks, where)
            for q in params:  # opt.zero_grad(set_to_none=True) without its per-call overhead (~45 us)
                q.grad = None
            w = combiner.backward(losses, shared, specific)
            opt.step()
            sums += losses.detach().cpu()
            weights += w.cpu()
            steps += 1
        combiner.epoch_end(sums / steps)
        means = (sums / steps).tolist(), (weights / steps).tolist()
        history += [
            (epoch, "train", t, m, float(v[i])) for i, t in enumerate(tasks) for m, v in zip(METRICS, means)
        ]
        history += [(epoch, "train", "all", m, float(v)) for m, v in combiner.log().items()]
        val = evaluated(model, data, "val")
        history += [(epoch, "val", t, m, v) for t, m, v in val]
        val_total = float(np.sum([v for _, m, v in val if m == "loss"]))
        if restore_best and val_total < best[0]:
            best = (val_total, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        if stop_below is not None and val_total < stop_below:
            break
        for t, m, v in val:
            if m == "loss" and v < task_best[t][0]:
                task_best[t] = (v, epoch)
        since = [epoch - e for _, e in task_best.values()] if patience_each else [epoch - best[1]]
        if patience is not None and min(since) >= patience:
            break
    if restore_best and best[2] is not None:
        model.load_state_dict(best[2])
    hist = pd.DataFrame(history, columns=COLUMNS)
    hist.attrs["best_epoch"] = best[1] if restore_best else epochs
    return hist


def fit_many(
    model: nn.Module,
    data: MultiTaskData | Sequence[MultiTaskData],
    masks: Tensor,
    *,
    epochs: int,
    seeds: Sequence[int],
    lr: float = 1e-3,
    batch_size: int = 128,
    splits: Sequence[str] = ("val", "test"),
) -> pd.DataFrame:
    """Train every member of a :class:`~mtlkit.models.batched.StackedNetworks` on its own tasks.

    ``masks[m, k]`` says whether member ``m`` learns task ``k`` (in ``model.tasks`` order); member ``m``
    draws its minibatches from its own generator seeded with ``seeds[m]``, exactly as :func:`fit` would
    with ``seed=seeds[m]``, and Adam's element-wise state keeps members independent - so each member
    ends with the weights separate training would give (up to float rounding; tested). ``data`` is one
    data set for every member, or ``D`` alike in tasks and sizes (e.g. one per seed): the members are
    then ``D`` equal consecutive blocks, block ``d`` trained and evaluated on ``data[d]``. Every epoch,
    each member is evaluated on ``splits`` (one forward pass per block). Returns tidy rows ``(network,
    epoch, split, task, metric, value)`` for each member's own tasks.
    """
    datas = [data] if isinstance(data, MultiTaskData) else list(data)
    tasks, D = list(model.tasks), len(datas)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    masks = masks.to(torch.bool)
    if masks.shape != (model.n, len(tasks)) or len(seeds) != model.n or model.n % D:
        raise ValueError(
            f"need masks of shape {(model.n, len(tasks))}, {model.n} seeds and a number of data sets that "
            f"divides {model.n}; got masks {tuple(masks.shape)}, {len(seeds)} seeds, {D} data sets"
        )
    sizes = {s: datas[0].n(s) for s in ("train", *splits)}
    if any(d.tasks != datas[0].tasks or any(d.n(s) != k for s, k in sizes.items()) for d in datas):
        raise ValueError(f"data: the {D} data sets need the same tasks and split sizes ({sizes})")
    n, block = sizes["train"], model.n // D
    X = torch.cat([d.x["train"].flatten(1) for d in datas])  # block d's rows start at d * n
    Y = {t.name: torch.cat([d.y["train"][t.name] for d in datas]) for t in tasks}
    start = (torch.arange(model.n) // block * n)[:, None].to(X.device)
    X_eval = [torch.cat([d.x[s].flatten(1) for s in splits]) for d in datas] if splits else []
    Y_eval = [{t.name: torch.cat([d.y[s][t.name] for s in splits]) for t in tasks} for d in datas]
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    params = list(model.parameters())
    opt = _optimizer("adam", params, lr, 0.0)
    learners = [(t, torch.nonzero(masks[:, k])[:, 0]) for k, t in enumerate(tasks) if masks[:, k].any()]
    cols: list[tuple[Tensor, int, str, str, list[Tensor]]] = []  # blocks of rows, see _member_rows
    last_val = torch.full((model.n, len(tasks)), math.nan)
    model.train()
    for epoch in range(1, epochs + 1):
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(X.device) + start
        for i in range(0, n, batch_size):
            idx = perms[:, i : i + batch_size]
            out = model.outputs(X.index_select(0, idx.reshape(-1)).view(*idx.shape, -1))
            # each task's loss for the members that learn it only: no log-softmax for the others' heads
            losses = [member_loss(t, out[t.name][m], Y[t.name][idx[m]]) for t, m in learners]
            total = torch.stack([v.sum() for v in losses]).sum()
            if not math.isfinite(total.item()):
                per = torch.zeros(model.n, len(learners))
                for k, ((_, m), v) in enumerate(zip(learners, losses)):
                    per[m, k] = v.detach()
                check_finite(per, range(model.n), f"at epoch {epoch}", noun="stacked networks")
            for q in params:  # opt.zero_grad(set_to_none=True) without its per-call overhead
                q.grad = None
            total.backward()
            opt.step()
        for d in range(D if splits else 0):  # rows: every task of every split in turn
            part = slice(d * block, (d + 1) * block)
            rows = _evaluated(model, part, X_eval[d], Y_eval[d], masks, {s: sizes[s] for s in splits})
            cols += [(members, epoch, *rest) for members, *rest in rows]
            for k, (members, split, _, values) in enumerate(rows):
                if split == "val" and epoch == epochs:
                    last_val[members, k % len(tasks)] = values[0]
    if "val" in splits:  # after the last epoch: which members' losses exploded
        for m in range(model.n):
            loss = {t.name: float(last_val[m, k]) for k, t in enumerate(tasks) if masks[m, k]}
            flag = torch.tensor([float(exploded(loss, datas[0]))])
            cols.append((torch.tensor([m]), epochs, "val", "all", [flag]))
    return _member_rows(cols)


@torch.no_grad()
def _evaluated(
    model: nn.Module, members: slice, x: Tensor, y: dict[str, Tensor], masks: Tensor, splits: dict[str, int]
) -> list[tuple[Tensor, str, str, list[Tensor]]]:
    """Blocks of :func:`fit_many`'s rows ``(members, split, task, values)`` of the stack's ``members`` (a
    slice), every task of every split in turn, from one forward pass of ``x``: the inputs of ``splits``
    (name: size) one after the other (``y``: their targets); as :func:`_member_rows` takes them, less
    the epoch."""
    model.eval()
    out = model.outputs(x, members)
    index, sizes, names = torch.arange(model.n)[members], list(splits.values()), list(splits)
    rows = []
    for k, t in enumerate(model.tasks):
        mine = torch.nonzero(masks[members, k])[:, 0]
        o, target = out[t.name], y[t.name]
        hits = (o.argmax(-1) == target).float() if t.kind == "classification" else None
        for j, (o_j, y_j) in enumerate(zip(o.split(sizes, 1), target.split(sizes))):
            values = [member_loss(t, o_j, y_j.expand(len(o_j), *y_j.shape))[mine]]
            if hits is not None:
                values.append(hits.split(sizes, 1)[j].mean(1)[mine])
            rows.append((index[mine], j, t.name, values))
    model.train()
    return [(m, names[j], task, v) for m, j, task, v in sorted(rows, key=lambda r: r[1])]


def _member_rows(cols: list[tuple[Tensor, int, str, str, list[Tensor]]]) -> pd.DataFrame:
    """Tidy rows ``(network, epoch, split, task, metric, value)`` from blocks ``(members, epoch, split,
    task, values)``, built with array operations: each member's ``loss`` row, then its ``accuracy``
    (``values[1]``, classification) - or its ``diverged`` flag (task ``"all"``)."""
    parts: dict[str, list[np.ndarray]] = {
        c: [] for c in ("network", "epoch", "split", "task", "metric", "value")
    }
    for members, epoch, split, task, values in cols:
        metrics = ["diverged"] if task == "all" else ["loss", "accuracy"][: len(values)]
        size = len(members) * len(metrics)
        parts["network"].append(np.repeat(members.numpy(), len(metrics)))
        parts["metric"].append(np.tile(metrics, len(members)))
        parts["value"].append(torch.stack(values, 1).reshape(-1).double().numpy())
        for c, v in (("epoch", epoch), ("split", split), ("task", task)):
            parts[c].append(np.full(size, v, dtype=object if isinstance(v, str) else np.int64))
    return pd.DataFrame({c: np.concatenate(v) for c, v in parts.items()})
