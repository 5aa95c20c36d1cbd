"""Per-task gradients and lookahead losses: the computations transference, IT-MTL and the gradient
weightings are built on.

**Lookahead transference** of task ``i`` onto task ``j`` on a batch (Fifty et al. 2020, arXiv
2010.15413; TAG, arXiv 2109.04617)::

    Z(i -> j) = 1 - L_j(shared + u_i, heads) / L_j(shared, heads)

positive when an update ``u_i`` on task ``i``'s loss alone lowers ``j``'s loss on the same batch; the
task heads are left as they are. What ``u_i`` is, is the protocol:

* ``"optimizer"`` (TAG's definition, the default): the change **one step of the training optimizer**
  would make from its *current state* if the shared parameters' gradient were ``g_i`` - with Adam, Adam's
  step with its current moment estimates (and step count); with momentum, the momentum-buffer step. It is
  computed on copies (:func:`optimizer_updates`): neither the model nor the optimizer changes.
* ``"sgd"``: a plain SGD step ``u_i = -lr * g_i``, whatever trains the model. To first order
  ``Z(i -> j) = lr * g_i . g_j / L_j``; the curvature term ``lr^2 g_i' H_j g_i / 2`` lowers every
  ``Z(i -> j)`` in proportion to the source's squared gradient once ``lr`` is large.

A monitor called by :func:`mtlkit.train.fit` does not receive the optimizer. :func:`at_next_step`
reaches it anyway: it runs a callback once, just before the next ``step()`` of the optimizer that holds
given parameters (a global optimizer pre-step hook), when the parameters and the optimizer's state are
still those the monitor saw. All ``T`` lookaheads are evaluated at once (``torch.func.vmap`` over
``functional_call``), so tracking costs ``T`` gradients and ``T`` batched forward passes per step.
"""

from __future__ import annotations

import copy
import time
import weakref
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.optim.optimizer import register_optimizer_step_pre_hook

from mtlkit.data.base import TaskSpec
from mtlkit.losses import task_loss

STEPS = ("optimizer", "sgd")
"""What a lookahead step is: the training optimizer's update (TAG), or a plain SGD step of size ``lr``."""


def check_lookahead(step: str, lr: float | None, who: str) -> None:
    """Refuse a lookahead ``step`` not in :data:`STEPS`, a non-positive ``lr``, or ``"sgd"`` without one."""
    if step not in STEPS:
        raise ValueError(f"{who}: the lookahead step must be one of {list(STEPS)}, got {step!r}")
    if (lr is None and step == "sgd") or (lr is not None and not lr > 0):
        raise ValueError(f"{who}: lr must be > 0 (an SGD lookahead needs one), got {lr}")


def task_jacobian(losses: Tensor, params: Sequence[Tensor], retain_graph: bool = True) -> list[Tensor | None]:
    """Each task loss's gradient w.r.t. each of ``params``: a ``(T, *p.shape)`` tensor per parameter, or
    ``None`` for a parameter no loss reaches. One batched backward pass (``is_grads_batched``); with
    ``retain_graph`` the graph is kept for an update that follows."""
    eye = torch.eye(len(losses), device=losses.device, dtype=losses.dtype)
    return list(
        torch.autograd.grad(
            losses,
            list(params),
            grad_outputs=eye,
            is_grads_batched=True,
            retain_graph=retain_graph,
            allow_unused=True,
        )
    )


def task_gradients(losses: Tensor, shared: Sequence[Tensor], retain_graph: bool = True) -> Tensor:
    """The ``(T, P)`` matrix of each task loss's gradient w.r.t. the flattened ``shared`` parameters (zeros
    where a loss does not reach a parameter); see :func:`task_jacobian`."""
    grads = task_jacobian(losses, shared, retain_graph)
    T = len(losses)
    return torch.cat(
        [(g if g is not None else p.new_zeros((T, *p.shape))).reshape(T, -1) for p, g in zip(shared, grads)],
        dim=1,
    )


def _shared_named(model: nn.Module) -> dict[str, nn.Parameter]:
    """The model's shared parameters by name (those of ``model.shared_parameters()``)."""
    ids = {id(p) for p in model.shared_parameters()}
    named = {n: p for n, p in model.named_parameters() if id(p) in ids}
    if not named:
        raise ValueError(f"{model.__class__.__name__} has no shared parameters: transference is undefined")
    return named


def task_losses(model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec]) -> Tensor:
    """The ``(T,)`` losses of ``tasks`` on one batch."""
    out = model(x, [t.name for t in tasks])
    return torch.stack([task_loss(t, out[t.name], y[t.name]) for t in tasks])


def losses_after(
    model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec], updates: Tensor
) -> Tensor:
    """Every task's loss on ``(x, y)`` after the shared parameters move by ``updates[c]``.

    ``updates`` is ``(C, P)`` over the flattened shared parameters (in ``shared_parameters()`` order);
    task heads are left as they are. Returns ``(C, T)``; the model is not modified.
    """
    named = _shared_named(model)
    names = [t.name for t in tasks]
    sizes = [p.numel() for p in named.values()]
    if updates.shape[1] != sum(sizes):
        raise ValueError(f"updates have {updates.shape[1]} entries, shared parameters {sum(sizes)}")

    def after(update: Tensor) -> Tensor:
        chunks = update.split(sizes)
        params = {n: p.detach() + d.view_as(p) for (n, p), d in zip(named.items(), chunks)}
        out = functional_call(model, params, (x, names), strict=False)
        return torch.stack([task_loss(t, out[t.name], y[t.name]) for t in tasks])

    with torch.no_grad():
        return vmap(after)(updates.detach())


def total_transference(
    model: nn.Module,
    x: Tensor,
    y: dict[str, Tensor],
    tasks: Sequence[TaskSpec],
    before: Tensor,
    updates: Tensor,
) -> Tensor:
    """``(C,)`` total transference ``sum_j (1 - L_j(shared + updates[c]) / L_j(shared))`` of each update
    (IT-MTL's criterion); ``before`` holds the ``(T,)`` losses at the current parameters."""
    after = losses_after(model, x, y, tasks, updates)
    return (1.0 - after / before.detach().clamp_min(1e-12)[None, :]).sum(1)


def best_update(
    model: nn.Module,
    x: Tensor,
    y: dict[str, Tensor],
    tasks: Sequence[TaskSpec],
    directions: Tensor,
    before: Tensor,
    lr: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> int:
    """IT-MTL's choice: the row of ``directions`` (``(C, P)`` candidate gradients of the shared parameters)
    whose lookahead update - ``optimizer``'s from its current state (at ``lr`` if given), else a plain SGD
    step of ``lr`` - has the highest :func:`total_transference` (the first on a tie)."""
    shared = list(_shared_named(model).values())
    updates = -lr * directions if optimizer is None else optimizer_updates(optimizer, shared, directions, lr)
    return int(torch.argmax(total_transference(model, x, y, tasks, before, updates)))


def optimizer_updates(
    optimizer: torch.optim.Optimizer, params: Sequence[Tensor], grads: Tensor, lr: float | None = None
) -> Tensor:
    """The ``(C, P)`` changes one ``step()`` of ``optimizer`` would make to the flattened ``params`` if
    their gradient were ``grads[c]``, each from a copy of the optimizer's current state (Adam: its moment
    estimates and step count; SGD with momentum: its buffer). Parameters not in ``params`` stay as they
    are; ``lr`` replaces the optimizer's learning rate when given. Neither ``params`` nor ``optimizer``
    changes."""
    group_of = {id(q): g for g in optimizer.param_groups for q in g["params"]}
    if any(id(p) not in group_of for p in params):
        raise ValueError("the optimizer does not hold these parameters")
    sizes = [p.numel() for p in params]
    groups: dict[int, dict] = {}  # a copy of each optimizer group, holding every candidate's clones
    clones: list[list[Tensor]] = []
    for row in grads.detach():
        mine = []
        for p, g in zip(params, row.split(sizes)):
            c = p.detach().clone()
            c.grad = g.view_as(p).clone()
            source = group_of[id(p)]
            group = groups.setdefault(id(source), {k: v for k, v in source.items() if k != "params"})
            group.setdefault("params", []).append(c)
            if lr is not None:
                group["lr"] = lr
            mine.append(c)
        clones.append(mine)
    twin = type(optimizer)(list(groups.values()))
    for mine in clones:
        for p, c in zip(params, mine):
            if p in optimizer.state:
                state = optimizer.state[p]
                twin.state[c] = {
                    k: v.clone() if torch.is_tensor(v) else copy.deepcopy(v) for k, v in state.items()
                }
    twin.step()
    with torch.no_grad():
        return torch.stack([torch.cat([(c - p).flatten() for p, c in zip(params, mine)]) for mine in clones])


_PENDING: dict[int, tuple[weakref.ref, list[Callable[[torch.optim.Optimizer], None]]]] = {}
_HOOK: list = []  # the one global pre-step hook, registered on first use


def _dispatch(optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
    if not _PENDING:
        return None
    for group in optimizer.param_groups:
        for p in group["params"]:
            entry = _PENDING.get(id(p))
            if entry is not None and entry[0]() is p:
                del _PENDING[id(p)]
                for callback in entry[1]:
                    callback(optimizer)
    return None


def at_next_step(params: Sequence[Tensor], callback: Callable[[torch.optim.Optimizer], None]) -> None:
    """Call ``callback(optimizer)`` once, just before the next ``step()`` of the optimizer that holds
    ``params[0]`` (after the gradients are set, before any parameter or state changes). The callback may
    read the optimizer and change its gradients; it must not step it."""
    if not _HOOK:
        _HOOK.append(register_optimizer_step_pre_hook(_dispatch))
    first = params[0]
    entry = _PENDING.get(id(first))
    if entry is None or entry[0]() is not first:
        entry = _PENDING[id(first)] = (weakref.ref(first), [])
    entry[1].append(callback)


def _measure(
    model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec], steps: Sequence[Callable]
) -> tuple[Tensor, Tensor, Tensor]:
    """For each lookahead in ``steps`` (``step(shared, grads)`` gives the ``(T, P)`` updates): the ``(T, T)``
    transference ``Z`` and the norm of each source's update ``(T,)``, stacked over lookaheads; and the
    gradients' ``(T, T)`` cosine similarity. The gradients are computed once."""
    shared = list(_shared_named(model).values())
    losses = task_losses(model, x, y, tasks)
    grads = task_gradients(losses, shared).detach()
    updates = torch.stack([step(shared, grads) for step in steps])  # (L, T, P)
    after = losses_after(model, x, y, tasks, updates.flatten(0, 1)).view(len(steps), len(tasks), -1)
    unit = grads / grads.norm(dim=1, keepdim=True).clamp_min(1e-12)
    z = 1.0 - after / losses.detach().clamp_min(1e-12)[None, None, :]
    return z, unit @ unit.T, updates.norm(dim=2)


def sgd_step(lr: float) -> Callable[[Sequence[Tensor], Tensor], Tensor]:
    """The lookahead update of a plain SGD step of size ``lr``."""
    return lambda shared, grads: -lr * grads


def optimizer_step(
    optimizer: torch.optim.Optimizer, lr: float | None = None
) -> Callable[[Sequence[Tensor], Tensor], Tensor]:
    """The lookahead update of one step of ``optimizer`` from its current state (:func:`optimizer_updates`)."""
    return lambda shared, grads: optimizer_updates(optimizer, shared, grads, lr)


def transference(
    model: nn.Module,
    x: Tensor,
    y: dict[str, Tensor],
    tasks: Sequence[TaskSpec],
    lr: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> Tensor:
    """The ``(T, T)`` lookahead transference ``Z[i, j]`` of source task ``i`` onto target ``j``: with
    ``optimizer``, its update from its current state (at learning rate ``lr`` when given); without, a
    plain SGD step of size ``lr`` (module doc)."""
    if optimizer is None and lr is None:
        raise ValueError("give the optimizer whose update is the lookahead, or an SGD step size lr")
    step = sgd_step(lr) if optimizer is None else optimizer_step(optimizer, lr)
    return _measure(model, x, y, tasks, [step])[0][0]


class AffinityTracker:
    """A :func:`mtlkit.train.fit` monitor: lookahead transference every ``every`` training steps.

    ``step="optimizer"`` (TAG) takes the training optimizer's update as the lookahead: it is measured
    with the optimizer passed as ``optimizer`` when the caller passes one, else just before that step's
    ``optimizer.step()`` (:func:`at_next_step`), when parameters and state are still those of the call;
    ``lr`` then replaces the optimizer's learning rate when given. ``step="sgd"`` takes a plain SGD step
    of size ``lr``. ``sgd`` adds plain SGD lookaheads of those sizes on the same steps and gradients
    (sensitivity rows). The tracker reads the model and never changes it, the optimizer or any random
    state, so training with and without tracking gives the same weights (tested). :meth:`table` returns
    tidy rows ``(lookahead, step, epoch, source, target, Z, cos, step_norm)``: ``lookahead`` is
    ``"optimizer"`` or ``"sgd <size>"``, ``cos`` the cosine similarity of the two tasks' gradients on the
    shared parameters, ``step_norm`` the norm of the source's lookahead update. ``seconds`` is the time
    spent measuring.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        every: int = 1,
        lr: float | None = None,
        step: str = "optimizer",
        sgd: Sequence[float] = (),
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        check_lookahead(step, lr, "AffinityTracker")
        for eta in sgd:
            check_lookahead("sgd", eta, "AffinityTracker")
        self.tasks, self.every, self.lr, self.step, self.sgd = list(tasks), every, lr, step, list(sgd)
        main = "optimizer" if step == "optimizer" else f"sgd {lr:g}"
        self.labels = [main] + [f"sgd {eta:g}" for eta in self.sgd]
        self.seconds = 0.0
        self._rows: list[tuple[int, int, Tensor, Tensor, Tensor]] = []

    def __call__(
        self,
        step: int,
        epoch: int,
        model: nn.Module,
        x: Tensor,
        y: dict[str, Tensor],
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        if step % self.every:
            return

        def measure(opt: torch.optim.Optimizer | None) -> None:
            t0 = time.perf_counter()
            how = [sgd_step(self.lr) if opt is None else optimizer_step(opt, self.lr)]
            z, cos, norm = _measure(model, x, y, self.tasks, how + [sgd_step(eta) for eta in self.sgd])
            self._rows.append((step, epoch, z.cpu(), cos.cpu(), norm.cpu()))
            self.seconds += time.perf_counter() - t0

        if self.step == "sgd":
            measure(None)
        elif optimizer is not None:
            measure(optimizer)
        else:
            at_next_step(list(_shared_named(model).values()), measure)

    def table(self) -> pd.DataFrame:
        """Tidy rows ``(lookahead, step, epoch, source, target, Z, cos, step_norm)`` for every lookahead,
        measured step and ordered pair."""
        names = [t.name for t in self.tasks]
        columns = ["lookahead", "step", "epoch", "source", "target", "Z", "cos", "step_norm"]
        if not self._rows:
            return pd.DataFrame(columns=columns)
        steps, epochs, zs, coss, norms = zip(*self._rows)
        L, S, T = len(self.labels), len(steps), len(names)
        src, tgt = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
        keep = (src != tgt).ravel()
        per = int(keep.sum())
        z = torch.stack(zs).numpy().reshape(S, L, -1)[:, :, keep].transpose(1, 0, 2)  # (L, S, pairs)
        cos = torch.stack(coss).numpy().reshape(S, -1)[:, keep]
        norm = torch.stack(norms).numpy()[:, :, src.ravel()[keep]].transpose(1, 0, 2)  # (L, S, pairs)
        return pd.DataFrame(
            {
                "lookahead": np.repeat(self.labels, S * per),
                "step": np.tile(np.repeat(steps, per), L),
                "epoch": np.tile(np.repeat(epochs, per), L),
                "source": np.tile(np.array(names)[src.ravel()][keep], S * L),
                "target": np.tile(np.array(names)[tgt.ravel()][keep], S * L),
                "Z": z.ravel().astype(float),
                "cos": np.tile(cos.ravel(), L).astype(float),
                "step_norm": norm.ravel().astype(float),
            },
            columns=columns,
        )
