"""Many seeds of one configuration trained as one stacked program: :func:`fit_seeds`.

A study trains the same hard-sharing MLP (study 00's model) on several seeds. :func:`fit_seeds` stacks
the seeds' networks into one :class:`~mtlkit.models.batched.StackedNetworks` (one batched matmul per
layer for all seeds) and trains them together, each seed exactly as its own :func:`~mtlkit.train.fit`
would (to float rounding): its own initial weights and data, its own minibatch order and PCGrad task
order from its own generator, Adam's element-wise state. The weighting methods run on the stack
unchanged: their state gains a leading seed dimension, and the task gradients of every seed come from
one batched backward pass of the ``(S, T)`` loss matrix (:func:`~mtlkit.lookahead.task_jacobian`).
IT-MTL's lookahead of a candidate is one update of the whole stack (Adam's state is element-wise), its
losses an ``(S, T)`` matrix: each seed chooses its own candidate.

A seed that stops early (``patience``, ``stop_below``) or diverges (a non-finite loss) leaves the stack:
its parameters, optimizer state and weighting state are compacted out, so the others go on at the
smaller size. A diverged seed is reported in its history's ``attrs["diverged"]``, not raised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from mtlkit.data.base import MultiTaskData, TaskSpec
from mtlkit.losses import member_loss
from mtlkit.models.batched import StackedNetworks
from mtlkit.train import COLUMNS, _optimizer
from mtlkit.weighting import GradientWeighting, Weighting, make_weighting

UNSUPPORTED: tuple[str, ...] = ()
"""Weightings :func:`fit_seeds` cannot stack: none (IT-MTL's lookahead is one update of the whole stack
per candidate, each seed choosing its own)."""


def _widen(combiner: Weighting, n: int) -> None:
    """Give every parameter and buffer of ``combiner`` a leading dimension of ``n`` (one copy per seed)."""
    for module in combiner.modules():
        for name, p in module._parameters.items():
            if p is not None:
                module._parameters[name] = nn.Parameter(p.detach().expand(n, *p.shape).clone())
        for name, b in module._buffers.items():
            if b is not None:
                module._buffers[name] = b.expand(n, *b.shape).clone()


def _take(value: object, keep: Tensor) -> object:
    """``value`` for the kept seeds: a tensor's rows, a list's items (one per seed, or tensors)."""
    if isinstance(value, Tensor):
        return value[keep.to(value.device)]
    if isinstance(value, list) and value and isinstance(value[0], torch.Generator):
        return [value[i] for i in keep.tolist()]
    if isinstance(value, list) and value and isinstance(value[0], Tensor):
        return [_take(v, keep) for v in value]
    return value


def _compact(
    modules: Sequence[nn.Module], combiner: Weighting, opt: torch.optim.Optimizer, keep: Tensor
) -> None:
    """Keep only the seeds ``keep`` (positions in the stack): every stacked parameter and buffer of
    ``modules``, its optimizer state (``opt`` then holds the new parameters) and the weighting's state."""
    new: dict[nn.Parameter, nn.Parameter] = {}
    for module in {m for top in modules for m in top.modules()}:
        for name, p in module._parameters.items():
            if p is not None:
                new[p] = module._parameters[name] = nn.Parameter(p.detach()[keep])
        for name, b in module._buffers.items():
            if b is not None:
                module._buffers[name] = b[keep]
    state = {
        new[p]: {k: v[keep] if isinstance(v, Tensor) and v.dim() else v for k, v in opt.state[p].items()}
        for p in opt.param_groups[0]["params"]
        if p in opt.state
    }
    opt.param_groups[0]["params"] = [new[p] for p in opt.param_groups[0]["params"]]
    opt.state.clear()
    opt.state.update(state)
    for name, value in list(vars(combiner).items()):
        if not name.startswith("_"):
            setattr(combiner, name, _take(value, keep))


def _losses(
    stack: StackedNetworks, tasks: Sequence[TaskSpec], x: Tensor, y: dict[str, Tensor], trunk_grad: bool
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """The ``(S, T)`` task losses of every seed's network on its own batch, the trunk's activations and
    the heads' outputs. Without ``trunk_grad`` the trunk runs without a graph (:func:`_task_jacobian`
    backpropagates through it by hand) and the heads read its output as a leaf."""
    acts = [x]
    with torch.set_grad_enabled(trunk_grad):
        for layer in stack.trunk.layers:
            acts.append(torch.relu(layer(acts[-1])))
    z = acts[-1] if trunk_grad else acts[-1].requires_grad_()
    outs = list(stack.head_outputs(z, [t.name for t in tasks]).values())  # all heads in one batched matmul
    return torch.stack([member_loss(t, o, y[t.name]) for t, o in zip(tasks, outs)], 1), acts, outs


def _task_jacobian(
    stack: StackedNetworks, losses: Tensor, acts: list[Tensor], outs: list[Tensor]
) -> tuple[Tensor, list[Tensor]]:
    """Each task's gradients: ``(S, T, P)`` of the flattened trunk, ``(S, T, P_i)`` of each head parameter
    (see :meth:`~mtlkit.weighting.GradientWeighting.step`). The heads' and each task's gradient at the
    trunk's output come from one backward pass (a head reaches only its own task's loss); the trunk's
    are backpropagated by hand, the ``T`` tasks folded into the columns of each batched matmul: the same
    numbers as a batched backward pass, without its ``T``-fold copies of every operand."""
    heads = list(stack.heads.parameters())
    grads = torch.autograd.grad(losses.sum(), [*outs, *heads])
    S, T = losses.shape
    delta = torch.stack([g @ h.weight.detach().mT for g, h in zip(grads[:T], stack.heads.values())], 2)
    sizes = [p[0].numel() for p in stack.trunk.parameters()]
    jac, end = losses.new_empty(S, T, sum(sizes)), sum(sizes)
    for i in range(len(acts) - 1, 0, -1):  # delta: (S, B, T, width), each task's gradient at layer i
        layer, a = stack.trunk.layers[i - 1], acts[i - 1]
        d = delta * (acts[i] > 0).unsqueeze(2)  # through the ReLU
        (B, b), start = d.shape[1::2], end - sizes[2 * i - 1] - sizes[2 * i - 2]
        gw = torch.bmm(a.mT, d.view(S, B, T * b)).view(S, -1, T, b).transpose(1, 2)
        jac[..., start : end - b].view(S, T, -1, b).copy_(gw)
        jac[..., end - b : end] = d.sum(1)
        end = start
        if i > 1:
            delta = torch.bmm(d.view(S, B * T, b), layer.weight.detach().mT).view(S, B, T, -1)
    head_jac = []
    for t in range(T):  # head t's gradient is task t's alone
        for g in grads[T + 2 * t : T + 2 * t + 2]:
            head_jac.append(losses.new_zeros(S, T, g[0].numel()))
            head_jac[-1][:, t] = g.flatten(1)
    return jac, head_jac


@torch.no_grad()
def _evaluate(stack: StackedNetworks, tasks: Sequence[TaskSpec], x: Tensor, y: dict[str, Tensor]) -> Tensor:
    """``(S, T, 2)``: each seed's loss and accuracy (NaN for regression) of every task on its own split."""
    out = stack(x)
    rows = []
    for t in tasks:
        o, target = out[t.name], y[t.name]
        acc = (
            (o.argmax(-1) == target).float().mean(1) if t.kind == "classification" else o[:, 0, 0] * math.nan
        )
        rows.append(torch.stack([member_loss(t, o, target), acc], 1))
    return torch.stack(rows, 1)


def _frames(
    records: list[tuple[int, list[int], Tensor, Tensor]], tasks: Sequence[TaskSpec], n: int, logged: list[str]
) -> list[pd.DataFrame]:
    """Each seed's tidy history in :func:`~mtlkit.train.fit`'s row order, from the per-epoch blocks
    ``(epoch, seeds in the stack, train (S, 2 T + L): each task's loss and weight then the weighting's
    ``logged`` quantities, val (S, T, 2) loss and accuracy)``."""
    cls = [t.kind == "classification" for t in tasks]
    layout = [("train", t.name, m) for t in tasks for m in ("loss", "weight")]
    layout += [("train", "all", m) for m in logged] + [
        ("val", t.name, m) for t, c in zip(tasks, cls) for m in ("loss", "accuracy")[: 1 + c]
    ]
    val_cols = [2 * k + m for k, c in enumerate(cls) for m in range(1 + c)]
    values: list[list[np.ndarray]] = [[] for _ in range(n)]
    epochs: list[list[int]] = [[] for _ in range(n)]
    for epoch, alive, train, val in records:
        block = torch.cat([train.flatten(1), val.flatten(1)[:, val_cols]], 1).double().numpy()
        for pos, k in enumerate(alive):
            values[k].append(block[pos])
            epochs[k].append(epoch)
    split, task, metric = (np.array(c, dtype=object) for c in zip(*layout))
    frames = []
    for k in range(n):
        E = len(epochs[k])
        frames.append(
            pd.DataFrame(
                {
                    "epoch": np.repeat(np.array(epochs[k], dtype=np.int64), len(layout)),
                    "split": np.tile(split, E),
                    "task": np.tile(task, E),
                    "metric": np.tile(metric, E),
                    "value": np.concatenate(values[k]) if E else np.zeros(0),
                }
            )[COLUMNS]
        )
    return frames


def fit_seeds(
    models: Sequence[nn.Module],
    data: MultiTaskData | Sequence[MultiTaskData],
    *,
    seeds: Sequence[int],
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 128,
    weighting: str | dict = "equal",
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    restore_best: bool = True,
    stop_below: float | None = None,
    patience: int | None = None,
) -> list[pd.DataFrame]:
    """Train ``models[k]`` on ``data[k]`` with ``seed=seeds[k]`` for every ``k`` at once, as one stack.

    ``models`` are hard-sharing networks with an MLP trunk and linear heads (study 00's model; e.g. each
    built by ``seed_everything(seed); build_model("hard", ...)`` as its own run would); ``data`` is one
    :class:`MultiTaskData` for all seeds or one per seed (same tasks and sizes). The arguments mean what
    they mean for :func:`~mtlkit.train.fit` (``weighting`` a name or ``{"name": ..., **kwargs}``; every
    method, IT-MTL included: :data:`UNSUPPORTED` is empty), and seed ``k`` ends as ``fit(models[k], data[k],
    seed=seeds[k], ...)`` would leave it, to float rounding: each model is trained in place, its best
    epoch's weights restored. Returns one tidy history per seed, as ``fit`` returns it, with
    ``attrs["best_epoch"]``, ``attrs["seed"]`` and ``attrs["diverged"]``: ``None``, or where the seed's
    loss became non-finite (it left the stack there; ``fit`` would have raised
    :class:`~mtlkit.losses.TrainingDiverged`; its history holds the epochs it completed).
    """
    S = len(models)
    datas = [data] * S if isinstance(data, MultiTaskData) else list(data)
    if epochs < 1 or S < 1 or len(seeds) != S or len(datas) != S:
        raise ValueError(
            f"need epochs >= 1 and one seed and data set per model, got {epochs}, {S}, {len(seeds)}"
        )
    if patience is not None and (patience < 1 or not restore_best):
        raise ValueError(f"patience must be >= 1 and needs restore_best, got {patience}")
    spec = {"name": weighting} if isinstance(weighting, str) else dict(weighting)
    if spec["name"] in UNSUPPORTED:
        raise ValueError(f"fit_seeds cannot stack the weighting {spec['name']!r}")
    tasks = datas[0].tasks
    if any(d.tasks != tasks or d.n("train") != datas[0].n("train") for d in datas):
        raise ValueError("every seed's data needs the same tasks and sizes")

    shared_data = all(d is datas[0] for d in datas)

    def stacked(get: Callable[[MultiTaskData], Tensor]) -> Tensor:  # (S, N, ...), a view if data is shared
        first = get(datas[0])
        return first.expand(S, *first.shape) if shared_data else torch.stack([get(d) for d in datas])

    X = {s: stacked(lambda d, s=s: d.x[s].flatten(1)) for s in ("train", "val")}
    Y = {s: {t.name: stacked(lambda d, s=s, t=t: d.y[s][t.name]) for t in tasks} for s in ("train", "val")}
    stack = StackedNetworks.from_members(models, tasks).to(X["train"].device)
    kept = StackedNetworks.from_members(models, tasks).to(X["train"].device)  # each seed's weights to return
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    combiner = make_weighting(tasks=tasks, generator=gens, **spec)
    _widen(combiner, S)
    combiner.to(X["train"].device)
    by_hand = isinstance(combiner, GradientWeighting)  # the task Jacobian by :func:`_task_jacobian`
    opt = _optimizer(optimizer, [*stack.parameters(), *combiner.parameters()], lr, weight_decay)
    alive = list(range(S))  # the seeds in the stack, in stack order
    best = torch.full((S,), math.inf)
    best_epoch, diverged = [0] * S, [None] * S
    records: list[tuple[int, list[int], Tensor, Tensor]] = []
    n, T = datas[0].n("train"), len(tasks)

    def keep_weights(positions: list[int]) -> None:  # copy stack positions into their seeds' kept weights
        pos = torch.tensor(positions, dtype=torch.long)
        seeds_idx = torch.tensor([alive[p] for p in positions], dtype=torch.long)
        with torch.no_grad():
            for dst, src in zip(kept.parameters(), stack.parameters()):
                dst.index_copy_(0, seeds_idx.to(dst.device), src[pos.to(src.device)])

    def leave(positions: list[int]) -> Tensor:  # compact the seeds at ``positions`` out of the stack
        out = torch.tensor([p for p in range(len(alive)) if p not in positions], dtype=torch.long)
        _compact([stack, combiner], combiner, opt, out)
        alive[:] = [alive[p] for p in out.tolist()]
        return out

    stack.train()
    for epoch in range(1, epochs + 1):
        if not alive:  # every seed stopped
            break
        perms = torch.stack([torch.randperm(n, generator=g) for g in combiner.generator]).to(
            X["train"].device
        )
        sums, steps = torch.zeros(len(alive), T, 2), 0
        for i in range(0, n, batch_size):
            while alive:
                who = torch.tensor(alive, device=perms.device)[:, None]
                idx = perms[:, i : i + batch_size]
                batch = X["train"][who, idx], {t: y[who, idx] for t, y in Y["train"].items()}
                losses, acts, outs = _losses(stack, tasks, *batch, not by_hand)
                bad = (~torch.isfinite(losses).all(1)).nonzero()[:, 0].tolist()
                if not bad:
                    break
                for p in bad:
                    names = [t.name for t, v in zip(tasks, losses[p].tolist()) if not math.isfinite(v)]
                    diverged[alive[p]] = (
                        f"non-finite loss for task(s) {names} at epoch {epoch}, step {steps + 1}"
                    )
                keep_weights([p for p in bad if not restore_best or best_epoch[alive[p]] == 0])
                out = leave(bad)
                perms, sums = perms[out.to(perms.device)], sums[out]
            if not alive:
                break
            for q in opt.param_groups[0]["params"]:
                q.grad = None
            shared, specific = stack.shared_parameters(), list(stack.heads.parameters())
            combiner.observe(stack, *batch)
            if by_hand:
                w = combiner.step(
                    losses.detach(), shared, specific, *_task_jacobian(stack, losses, acts, outs)
                )
            else:
                w = combiner.backward(losses, shared, specific)
            opt.step()
            sums += torch.stack([losses.detach(), w.detach()], -1).cpu()
            steps += 1
        if not alive:  # every seed diverged
            break
        combiner.epoch_end(sums[..., 0] / steps)
        logged = combiner.log()  # IT-MTL's (S,) share of steps per candidate
        train = torch.cat(
            [(sums / steps).flatten(1), *[v.float().cpu()[:, None] for v in logged.values()]], 1
        )
        who = torch.tensor(alive, device=X["val"].device)
        val = _evaluate(stack, tasks, X["val"][who], {t: y[who] for t, y in Y["val"].items()}).cpu()
        records.append((epoch, list(alive), train, val))
        total = val[..., 0].sum(1)
        better = [p for p, k in enumerate(alive) if restore_best and total[p] < best[k]]
        for p in better:
            best[alive[p]], best_epoch[alive[p]] = total[p], epoch
        keep_weights(better)
        done = [
            p
            for p, k in enumerate(alive)
            if (stop_below is not None and total[p] < stop_below)
            or (patience is not None and epoch - best_epoch[k] >= patience)
        ]
        keep_weights([p for p in done if not restore_best or best_epoch[alive[p]] == 0])
        if done:
            leave(done)
    keep_weights([p for p, k in enumerate(alive) if not restore_best or best_epoch[k] == 0])
    for k, model in enumerate(models):
        model.load_state_dict(kept.member(k).state_dict())
    frames = _frames(records, tasks, S, list(combiner.log()))
    for k, frame in enumerate(frames):
        frame.attrs.update(
            best_epoch=best_epoch[k] if restore_best else epochs, seed=int(seeds[k]), diverged=diverged[k]
        )
    return frames
