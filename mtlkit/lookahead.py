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

The measurement works on any model: :func:`measure_lookaheads` takes a ``loss_fn(model, *batch)`` returning
the ``(T,)`` task losses and the names of the shared parameters, and evaluates the loss at shifted shared
parameters with :func:`~torch.func.functional_call` (:func:`shifted_losses`), so the model, its optimizer
and the random state are left as they were. :mod:`mtlkit.tracking` records it over training, in mtlkit's
``fit`` or in a user's own loop.

A monitor called by :func:`mtlkit.train.fit` does not receive the optimizer. :func:`at_next_step`
reaches it anyway: it runs a callback once, just before the next ``step()`` of the optimizer that holds
given parameters (a global optimizer pre-step hook), when the parameters and the optimizer's state are
still those the monitor saw. All ``T`` lookaheads are evaluated at once (``torch.func.vmap`` over
``functional_call``), so tracking costs ``T`` gradients and ``T`` batched forward passes per step.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.optim.optimizer import register_optimizer_step_pre_hook

from mtlkit.checks import number_in
from mtlkit.data.base import TaskSpec
from mtlkit.losses import check_ratio_losses, member_loss, task_loss
from mtlkit.models.batched import StackedNetworks

STEPS = ("optimizer", "sgd")
"""What a lookahead step is: the training optimizer's update (TAG), or a plain SGD step of size ``lr``."""
STEP_RANGE = (1e-9, 1e6)
"""The step sizes accepted (study 04's ``lookahead_lr`` x ``sgd_factors`` lie within): ``Z`` is rounding
noise below, and the step leaves any sane model above."""


def check_lookahead(step: str, lr: object, who: str) -> float | None:
    """Refuse a lookahead ``step`` not in :data:`STEPS`, ``"sgd"`` without ``lr``, and an ``lr`` not a
    number in :data:`STEP_RANGE` (:func:`~mtlkit.checks.number_in`); returns ``lr`` as a float or None."""
    if step not in STEPS:
        raise ValueError(f"{who}: the lookahead step must be one of {list(STEPS)}, got {step!r}")
    if lr is None and step == "sgd":
        raise ValueError(f"{who}: lr must be > 0 (an SGD lookahead needs one), got None")
    return None if lr is None else number_in(lr, f"{who}: lr", *STEP_RANGE)


def task_jacobian(losses: Tensor, params: Sequence[Tensor], retain_graph: bool = True) -> list[Tensor | None]:
    """Each task loss's gradient w.r.t. each of ``params``: a ``(T, *p.shape)`` tensor per parameter, or
    ``None`` for a parameter no loss reaches. One batched backward pass (``is_grads_batched``); with
    ``retain_graph`` the graph is kept for an update that follows. ``losses`` may be ``(S, T)``, the
    losses of ``S`` stacked networks with disjoint parameters: then the gradient of ``losses[:, t].sum()``
    is every network's task-``t`` gradient at once, ``(T, *p.shape)`` per stacked parameter."""
    T = losses.shape[-1]
    eye = torch.eye(T, device=losses.device, dtype=losses.dtype)
    eye = eye.view(T, *[1] * (losses.dim() - 1), T).expand(T, *losses.shape)
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


def named_shared(model: nn.Module) -> dict[str, nn.Parameter]:
    """An mtlkit model's shared parameters by name (those of ``model.shared_parameters()``)."""
    ids = {id(p) for p in model.shared_parameters()}
    named = {n: p for n, p in model.named_parameters() if id(p) in ids}
    if not named:
        raise ValueError(f"{model.__class__.__name__} has no shared parameters: transference is undefined")
    return named


def task_losses(model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec]) -> Tensor:
    """The ``(T,)`` losses of ``tasks`` on one batch; ``(S, T)`` for :class:`StackedNetworks`, each on its own."""
    loss = member_loss if isinstance(model, StackedNetworks) else task_loss
    out = model(x, [t.name for t in tasks])
    return torch.stack([loss(t, out[t.name], y[t.name]) for t in tasks], -1)


class _Bound(nn.Module):
    """``loss_fn(model, *batch)`` as a module's forward, so that :func:`~torch.func.functional_call` can run
    it at substituted parameters whatever submodules ``loss_fn`` calls (the model is its child ``model``)."""

    def __init__(self, model: nn.Module, loss_fn: Callable[..., Tensor]) -> None:
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, *batch: object) -> Tensor:
        return self.loss_fn(self.model, *batch)


def shifted_losses(
    model: nn.Module,
    shared: Mapping[str, Tensor],
    loss_fn: Callable[..., Tensor],
    batch: Sequence[object],
    updates: Tensor,
) -> Tensor:
    """The ``(C, T)`` losses ``loss_fn(model, *batch)`` (a ``(T,)`` tensor) after the ``shared`` parameters
    (the model's, by name) move by ``updates[c]``, a ``(C, P)`` tensor over them flattened in ``shared``'s
    order; every other parameter is left as it is. The model is not modified: its parameters are swapped
    for the call (:func:`~torch.func.functional_call`, batched over the rows with ``vmap``; random layers
    draw one mask for all rows)."""
    sizes = [p.numel() for p in shared.values()]
    if updates.shape[1] != sum(sizes):
        raise ValueError(f"updates have {updates.shape[1]} entries, shared parameters {sum(sizes)}")
    bound = _Bound(model, loss_fn)

    def after(update: Tensor) -> Tensor:
        chunks = update.split(sizes)
        params = {f"model.{n}": p.detach() + d.view_as(p) for (n, p), d in zip(shared.items(), chunks)}
        return functional_call(bound, params, tuple(batch), strict=False)

    with torch.no_grad():
        return vmap(after, randomness="same")(updates.detach())


def losses_after(
    model: nn.Module, x: Tensor, y: dict[str, Tensor], tasks: Sequence[TaskSpec], updates: Tensor
) -> Tensor:
    """Every task's loss on ``(x, y)`` after the shared parameters of an mtlkit model move by
    ``updates[c]`` (``(C, P)``, in ``shared_parameters()`` order): :func:`shifted_losses` of
    :func:`task_losses`. Returns ``(C, T)``; the model is not modified."""
    return shifted_losses(model, named_shared(model), task_loss_fn(tasks), (x, y), updates)


def task_loss_fn(tasks: Sequence[TaskSpec]) -> Callable[[nn.Module, Tensor, dict[str, Tensor]], Tensor]:
    """:func:`task_losses` of ``tasks`` as a ``loss_fn(model, x, y)``."""
    return lambda model, x, y: task_losses(model, x, y, tasks)


def total_transference(
    model: nn.Module,
    x: Tensor,
    y: dict[str, Tensor],
    tasks: Sequence[TaskSpec],
    before: Tensor,
    updates: Tensor,
) -> Tensor:
    """``(C,)`` total transference ``sum_j (1 - L_j(shared + updates[c]) / L_j(shared))`` of each update
    (IT-MTL's criterion); ``before`` holds the ``(T,)`` losses at the current parameters (a stack's
    ``(S, T)``: then ``(C, S)``)."""
    after = losses_after(model, x, y, tasks, updates)
    return (1.0 - after / before.detach().clamp_min(1e-12)[None]).sum(-1)


def best_update(
    model: nn.Module,
    x: Tensor,
    y: dict[str, Tensor],
    tasks: Sequence[TaskSpec],
    directions: Tensor,
    before: Tensor,
    lr: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> Tensor:
    """IT-MTL's choice: the row of ``directions`` (``(C, P)`` candidate gradients of the shared parameters)
    whose lookahead update - ``optimizer``'s from its current state (at ``lr`` if given), else a plain SGD
    step of ``lr`` - has the highest :func:`total_transference` (the first on a tie). For a
    :class:`StackedNetworks` (``before`` ``(S, T)``), ``directions`` are each network's ``(S, C, P)`` and
    the ``(S,)`` choices come from one lookahead of the stack per candidate."""
    shared = list(named_shared(model).values())
    if directions.dim() == 3:  # (C, S * P): each candidate over the stacked parameters, flattened
        sizes = [p[0].numel() for p in shared]
        directions = torch.cat([d.movedim(1, 0).flatten(1) for d in directions.split(sizes, -1)], -1)
    updates = -lr * directions if optimizer is None else optimizer_updates(optimizer, shared, directions, lr)
    return torch.argmax(total_transference(model, x, y, tasks, before, updates), 0)


def holds(optimizer: torch.optim.Optimizer, params: Sequence[Tensor]) -> bool:
    """Whether ``optimizer`` updates every one of ``params``."""
    held = {id(q) for g in optimizer.param_groups for q in g["params"]}
    return all(id(p) in held for p in params)


def optimizer_updates(
    optimizer: torch.optim.Optimizer, params: Sequence[Tensor], grads: Tensor, lr: float | None = None
) -> Tensor:
    """The ``(C, P)`` changes one ``step()`` of ``optimizer`` would make to the flattened ``params`` if
    their gradient were ``grads[c]``, each from a copy of the optimizer's current state (Adam: its moment
    estimates and step count; SGD with momentum: its buffer). Parameters not in ``params`` stay as they
    are; ``lr`` replaces the optimizer's learning rate when given. Neither ``params`` nor ``optimizer``
    changes."""
    if not holds(optimizer, params):
        raise ValueError(f"the optimizer ({type(optimizer).__name__}) does not hold these parameters")
    group_of = {id(q): g for g in optimizer.param_groups for q in g["params"]}
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


def measure_lookaheads(
    model: nn.Module,
    shared: Mapping[str, Tensor],
    loss_fn: Callable[..., Tensor],
    batch: Sequence[object],
    steps: Sequence[Callable[[Sequence[Tensor], Tensor], Tensor]],
    names: Sequence[str],
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Lookahead transference of any model: ``loss_fn(model, *batch)`` returns the ``(T,)`` losses of the
    tasks ``names``, ``shared`` names the model's shared parameters. For each lookahead in ``steps``
    (``step(shared, grads)`` gives the ``(T, P)`` updates): the ``(T, T)`` transference ``Z`` and the norm
    of each source's update ``(T,)``, stacked over lookaheads; the gradients' ``(T, T)`` cosine
    similarity; and ``Z``'s first-order term (:func:`first_order_transference`), stacked over lookaheads.
    The gradients are computed once (one forward, one batched backward). The lookahead forwards start
    from the random state the forward started from (a dropout layer draws the same mask before and after the step, as long as ``vmap`` draws as the plain call does); neither the model
    (parameters, gradients, buffers) nor the torch random state changes. Losses that are not what ``Z``
    needs (:func:`~mtlkit.losses.check_ratio_losses`: a ``(T,)`` tensor with gradients, finite and
    positive) are refused before the lookahead."""
    norms = [
        (n or "model", m) for n, m in model.named_modules() if getattr(m, "running_mean", None) is not None
    ]
    running = [n for n, m in norms if m.training]  # batch norms whose running statistics would move
    if running:
        raise ValueError(
            f"{type(model).__name__} has batch-norm layers in training mode ({running[:3]}): measuring would "
            "move their running statistics; measure with model.eval() (and model.train() after)"
        )
    cuda = {p.device for p in shared.values() if p.device.type == "cuda"}
    devices = sorted(d.index if d.index is not None else torch.cuda.current_device() for d in cuda)
    with torch.random.fork_rng(devices=devices):  # the random state after: as before
        with torch.random.fork_rng(devices=devices):  # the lookaheads draw what the forward drew
            losses = loss_fn(model, *batch)
            check_ratio_losses(losses, names)
            params = list(shared.values())
            grads = task_gradients(losses, params, retain_graph=False).detach()
            updates = torch.stack([step(params, grads) for step in steps])  # (L, T, P)
        after = shifted_losses(model, shared, loss_fn, batch, updates.flatten(0, 1))
    after = after.view(len(steps), len(names), -1)
    unit = grads / grads.norm(dim=1, keepdim=True).clamp_min(1e-12)
    z = 1.0 - after / losses.detach().clamp_min(1e-12)[None, None, :]
    return z, unit @ unit.T, updates.norm(dim=2), first_order_transference(grads, updates, losses.detach())


def first_order_transference(grads: Tensor, updates: Tensor, losses: Tensor) -> Tensor:
    """``Z``'s first-order Taylor term: ``-(u_j . g_i) / L_i`` for source ``j``'s update ``u_j`` (``updates``:
    ``(L, T, P)``) and target ``i``'s gradient ``g_i`` (``(T, P)``) and loss ``L_i``; ``(L, T, T)``, source first."""
    return -(updates @ grads.T) / losses.clamp_min(1e-12)[None, None, :]


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
    names = [t.name for t in tasks]
    return measure_lookaheads(model, named_shared(model), task_loss_fn(tasks), (x, y), [step], names)[0][0]
