"""Lookahead transference recorded over training: in mtlkit's :func:`~mtlkit.train.fit`
(:class:`AffinityTracker`) or in a user's own training loop on any PyTorch model (:class:`Transference`).

Both measure with :func:`mtlkit.lookahead.measure_lookaheads` (the definition of ``Z(i -> j)`` and of the
``"optimizer"`` and ``"sgd"`` lookaheads is in :mod:`mtlkit.lookahead`) and keep the same tidy rows;
:func:`affinity` averages them over the measured steps (TAG's inter-task affinity, Fifty et al. 2021,
arXiv 2109.04617). A measurement changes neither the model, nor the optimizer, nor the torch random state,
so training with and without it gives the same weights.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from mtlkit.checks import number_in
from mtlkit.data.base import TaskSpec
from mtlkit.lookahead import (
    STEP_RANGE,
    at_next_step,
    check_lookahead,
    holds,
    measure_lookaheads,
    named_shared,
    optimizer_step,
    sgd_step,
    task_loss_fn,
)


def affinity(table: pd.DataFrame) -> pd.DataFrame:
    """Inter-task affinity: ``Z`` averaged over the measured steps (and over seeds when present), as rows
    ``(source, target, affinity)``."""
    return table.groupby(["source", "target"], as_index=False).Z.mean().rename(columns={"Z": "affinity"})


class _Recorder:
    """The rows of lookahead transference measured over training, and their tables (shared by
    :class:`Transference` and :class:`AffinityTracker`)."""

    def __init__(
        self, names: Sequence[str], lookahead: str, lr: float | None, sgd: Sequence[float], who: str
    ) -> None:
        lr = check_lookahead(lookahead, lr, who)
        if isinstance(sgd, str) or not isinstance(sgd, Iterable):
            raise TypeError(f"{who}: sgd must be a sequence of step sizes, e.g. (0.1,), got {sgd!r}")
        sgd = [number_in(eta, f"{who}: sgd step", *STEP_RANGE) for eta in sgd]
        self.names, self.lookahead, self.lr, self.sgd = list(names), lookahead, lr, sgd
        main = "optimizer" if lookahead == "optimizer" else f"sgd {lr:g}"
        self.labels = [main] + [f"sgd {eta:g}" for eta in self.sgd]
        self.seconds = 0.0
        self._epochs = False  # whether the rows carry a training epoch (fit's monitor)
        self._rows: list[tuple[int, int, Tensor, Tensor, Tensor, Tensor]] = []

    def _record(
        self,
        model: nn.Module,
        shared: dict[str, Tensor],
        loss_fn: Callable[..., Tensor],
        batch: Sequence[object],
        optimizer: torch.optim.Optimizer | None,
        step: int,
        epoch: int = 0,
    ) -> Tensor:
        t0 = time.perf_counter()
        main = sgd_step(self.lr) if optimizer is None else optimizer_step(optimizer, self.lr)
        how = [main] + [sgd_step(eta) for eta in self.sgd]
        z, cos, norm, lin = measure_lookaheads(model, shared, loss_fn, batch, how, self.names)
        self._rows.append((step, epoch, z.cpu(), cos.cpu(), norm.cpu(), lin.cpu()))
        self.seconds += time.perf_counter() - t0
        return z[0]

    def table(self) -> pd.DataFrame:
        """Tidy rows ``(lookahead, step, [epoch,] source, target, Z, cos, step_norm, Z_linear)`` per lookahead,
        measured step and ordered pair of different tasks: ``lookahead`` is ``"optimizer"`` or
        ``"sgd <size>"``, ``cos`` the cosine similarity of the two tasks' gradients on the shared
        parameters, ``step_norm`` the norm of the source's lookahead update, ``Z_linear`` ``Z``'s first-order term
        (:func:`~mtlkit.lookahead.first_order_transference`)."""
        names = self.names
        columns = ["lookahead", "step", "epoch", "source", "target", "Z", "cos", "step_norm", "Z_linear"]
        columns = columns if self._epochs else [c for c in columns if c != "epoch"]
        if not self._rows:
            return pd.DataFrame(columns=columns)
        steps, epochs, zs, coss, norms, lins = zip(*self._rows)
        L, S, T = len(self.labels), len(steps), len(names)
        src, tgt = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
        keep = (src != tgt).ravel()
        per = int(keep.sum())
        z = torch.stack(zs).numpy().reshape(S, L, -1)[:, :, keep].transpose(1, 0, 2)  # (L, S, pairs)
        lin = torch.stack(lins).numpy().reshape(S, L, -1)[:, :, keep].transpose(1, 0, 2)
        cos = torch.stack(coss).numpy().reshape(S, -1)[:, keep]
        norm = torch.stack(norms).numpy()[:, :, src.ravel()[keep]].transpose(1, 0, 2)  # (L, S, pairs)
        table = {
            "lookahead": np.repeat(self.labels, S * per),
            "step": np.tile(np.repeat(steps, per), L),
            "epoch": np.tile(np.repeat(epochs, per), L),
            "source": np.tile(np.array(names)[src.ravel()][keep], S * L),
            "target": np.tile(np.array(names)[tgt.ravel()][keep], S * L),
            "Z": z.ravel().astype(float),
            "cos": np.tile(cos.ravel(), L).astype(float),
            "step_norm": norm.ravel().astype(float),
            "Z_linear": lin.ravel().astype(float),
        }
        return pd.DataFrame({c: table[c] for c in columns}, columns=columns)

    def affinity(self, lookahead: str | None = None) -> pd.DataFrame:
        """TAG's inter-task affinity (:func:`affinity`) as a ``source x target`` matrix, tasks in their
        order, the diagonal empty (NaN): the mean ``Z`` of the given lookahead (a label of :attr:`labels`;
        the main one when ``None``) over every measured step."""
        label = self.labels[0] if lookahead is None else lookahead
        if label not in self.labels:
            raise ValueError(f"lookahead must be one of {self.labels}, got {lookahead!r}")
        if not self._rows:
            raise ValueError("no transference measured yet: call measure() in the training loop first")
        table = self.table()
        matrix = affinity(table[table.lookahead == label]).pivot(index="source", columns="target")
        return matrix.affinity.reindex(index=self.names, columns=self.names)


class Transference(_Recorder):
    """Lookahead transference and TAG's inter-task affinity on any PyTorch model, in your own training loop.

    ``loss_fn(model, *batch)`` returns the ``(T,)`` tensor of the task losses (in the order of ``tasks``)
    on a batch; ``shared`` are the model's parameters the tasks share (e.g. ``model.encoder.parameters()``);
    every other parameter (the task heads) stays where it is during a lookahead. Call :meth:`measure`
    after your backward pass and before ``optimizer.step()`` on the batches you want measured (each call
    costs one forward, one batched backward and ``T`` batched forwards); :meth:`affinity` averages.

    The lookahead update ``u_i`` of task ``i`` is, with ``lookahead="optimizer"`` (TAG), the change one
    step of ``optimizer`` would make from its current state if the shared parameters' gradient were task
    ``i``'s alone (at learning rate ``lr`` when given, else the optimizer's); with ``"sgd"``, a plain SGD
    step of size ``lr`` (no optimizer). ``sgd`` adds plain SGD lookaheads of those sizes on the same
    gradients (rows labelled ``"sgd <size>"``). Measuring changes neither the model (parameters,
    gradients, buffers) nor the optimizer nor the torch random state.

    Bad arguments are refused here, before any compute, in one line saying what to change: a model that
    is no ``nn.Module`` or mixes parameter dtypes; ``tasks`` in no order (a set); a step size (``lr``,
    ``sgd``) that is no number (``"0.1"``, ``True``) or outside :data:`~mtlkit.lookahead.STEP_RANGE`
    (numpy scalars are numbers); an optimizer a lookahead cannot step on a copy (LBFGS needs a closure,
    ``capturable=True`` needs CUDA). :meth:`measure` refuses losses that are not a finite, positive
    ``(T,)`` tensor computed with gradients (:func:`~mtlkit.losses.check_ratio_losses`).
    """

    def __init__(
        self,
        model: nn.Module,
        shared: Iterable[nn.Parameter],
        loss_fn: Callable[..., Tensor],
        tasks: Sequence[str],
        optimizer: torch.optim.Optimizer | None = None,
        *,
        lookahead: str = "optimizer",
        lr: float | None = None,
        sgd: Sequence[float] = (),
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"Transference: model must be a torch.nn.Module (the network you train), got {type(model).__name__}"
            )
        if isinstance(shared, nn.Module | Tensor):
            raise ValueError(
                f"Transference: shared must be an iterable of parameters (e.g. module.parameters()), "
                f"got a {type(shared).__name__}"
            )
        if isinstance(tasks, AbstractSet | Mapping) or not isinstance(tasks, Iterable):
            raise TypeError(
                f"Transference: tasks must be a list or tuple of names in the order of loss_fn's losses, got a "
                f"{type(tasks).__name__}"
                + (" (a set has no order)" if isinstance(tasks, AbstractSet) else "")
            )
        tasks = list(tasks) if not isinstance(tasks, str) else [tasks]
        if len(tasks) < 2 or len(set(tasks)) != len(tasks) or not all(isinstance(t, str) for t in tasks):
            raise ValueError(f"Transference: tasks must be two or more distinct names, got {tasks}")
        if not callable(loss_fn):
            raise ValueError(f"Transference: loss_fn must be callable, got {type(loss_fn).__name__}")
        super().__init__(tasks, lookahead, lr, sgd, "Transference")
        _one_dtype(model)
        self.shared = _named(model, list(shared))
        if lookahead == "optimizer" and optimizer is None:
            raise ValueError(
                "Transference: lookahead='optimizer' needs the training optimizer (optimizer=None)"
            )
        if lookahead == "sgd" and optimizer is not None:
            raise ValueError("Transference: lookahead='sgd' takes no optimizer (its step is -lr * gradient)")
        if optimizer is not None:
            _steppable(optimizer, list(self.shared.values()))
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer

    def measure(self, *batch: object, step: int | None = None) -> Tensor:
        """Measure ``Z`` on ``batch`` (passed to ``loss_fn(model, *batch)``) at the current parameters and
        optimizer state; record it as training step ``step`` (default: the number of measurements so far)
        and return the ``(T, T)`` ``Z[source, target]`` of the main lookahead."""
        at = len(self._rows) if step is None else step
        return self._record(self.model, self.shared, self.loss_fn, batch, self.optimizer, at)


def _one_dtype(model: nn.Module) -> None:
    """Refuse a model whose floating-point parameters mix dtypes (its forward would fail, or the
    lookahead's flattened update would hold two precisions)."""
    first: dict[torch.dtype, str] = {}
    for name, p in model.named_parameters():
        if p.is_floating_point():
            first.setdefault(p.dtype, name)
    if len(first) > 1:
        mixed = ", ".join(f"{n}: {d}" for d, n in first.items())
        raise ValueError(
            f"Transference: the model's parameters mix dtypes ({mixed}); give it one dtype "
            "(model.float() or model.double())"
        )


def _steppable(optimizer: object, shared: list[nn.Parameter]) -> None:
    """Refuse an optimizer whose step the lookahead cannot replay on a copy: not a torch optimizer, one
    that does not hold every shared parameter, one whose ``step()`` needs a closure (LBFGS), and a
    ``capturable`` one (for CUDA graphs) on parameters that are not on CUDA."""
    kind = type(optimizer).__name__
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"Transference: optimizer must be a torch.optim.Optimizer (the one training the model), got {kind}"
        )
    closure = inspect.signature(optimizer.step).parameters.get("closure")
    if closure is not None and closure.default is inspect.Parameter.empty:
        raise ValueError(
            f"Transference: {kind}.step() needs a closure, which a lookahead cannot replay; measure with "
            "lookahead='sgd' and lr=<a step size> (no optimizer), or train with an optimizer that steps without one"
        )
    if any(g.get("capturable") for g in optimizer.param_groups) and any(
        p.device.type != "cuda" for p in shared
    ):
        raise ValueError(
            f"Transference: {kind} has capturable=True, which steps only parameters on CUDA; these are on "
            f"{sorted({p.device.type for p in shared})}: create it with capturable=False"
        )
    if not holds(optimizer, shared):
        raise ValueError(f"Transference: optimizer ({kind}) does not update every shared parameter")


def _named(model: nn.Module, shared: list) -> dict[str, nn.Parameter]:
    """``shared`` by their names in ``model``; refuses an empty list, a repeat, a tensor that is not one of
    the model's parameters, and a parameter without gradient."""
    if not shared:
        raise ValueError("Transference: shared is empty; give the parameters the tasks share")
    names = {id(p): n for n, p in model.named_parameters()}
    out: dict[str, nn.Parameter] = {}
    for k, p in enumerate(shared):
        name = names.get(id(p))
        if name is None:
            shape = tuple(p.shape) if torch.is_tensor(p) else type(p).__name__
            raise ValueError(
                f"Transference: shared[{k}] ({shape}) is not a parameter of {type(model).__name__}; "
                "shared must be parameters of the model measured"
            )
        if name in out:
            raise ValueError(f"Transference: shared[{k}] repeats the shared parameter {name!r}")
        if not p.requires_grad:
            raise ValueError(f"Transference: shared parameter {name!r} has requires_grad=False")
        out[name] = p
    return out


class AffinityTracker(_Recorder):
    """A :func:`mtlkit.train.fit` monitor: lookahead transference every ``every`` training steps, on an
    mtlkit model (``model(x, tasks) -> {task: out}``, ``model.shared_parameters()``) and ``tasks``'
    losses.

    ``step="optimizer"`` (TAG) takes the training optimizer's update as the lookahead: it is measured
    with the optimizer passed as ``optimizer`` when the caller passes one, else just before that step's
    ``optimizer.step()`` (:func:`~mtlkit.lookahead.at_next_step`), when parameters and state are still
    those of the call; ``lr`` then replaces the optimizer's learning rate when given. ``step="sgd"`` takes
    a plain SGD step of size ``lr``; ``sgd`` adds plain SGD lookaheads of those sizes (sensitivity rows).
    :meth:`table` has an ``epoch`` column; ``seconds`` is the time spent measuring.
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
        super().__init__([t.name for t in tasks], step, lr, sgd, "AffinityTracker")
        self.tasks, self.every, self._epochs = list(tasks), every, True

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
        shared, loss_fn = named_shared(model), task_loss_fn(self.tasks)

        def measure(opt: torch.optim.Optimizer | None) -> None:
            self._record(model, shared, loss_fn, (x, y), opt, step, epoch)

        if self.lookahead == "sgd":
            measure(None)
        elif optimizer is not None:
            measure(optimizer)
        else:
            at_next_step(list(shared.values()), measure)
