"""Self-auxiliary towers (Wang et al. 2020, arXiv 2008.05808; WWW'22 "Can Small Heads Help?").

For every task, a second, *small* tower on the same shared representation predicts the same label.
Training minimises ``sum_t w_t (L_t + gamma L_t^aux)``; at inference the auxiliary towers are dropped,
so the served model is exactly the base model (:meth:`SelfAuxiliaryTowers.served`).

The auxiliary outputs are exposed as extra tasks named ``<task>.aux`` that share their targets with
``<task>`` (:func:`with_aux_tasks`), so the one training loop and the weighting registry train them
without special cases.

Auxiliary heads come in the paper's types (:func:`aux_head`): ``linear``, ``pooled`` (average pooling over
adjacent representation units, then linear), ``bottleneck`` (one hidden layer of a few units), and
``tower`` (as large as the main tower: the same-size baseline). :class:`PseudoTaskTowers` is the other
baseline, extra towers inspired by pseudo-task augmentation (Meyerson & Miikkulainen 2018, without its
varied decoders): extra full-size towers on the same label, one of which serves each task at inference.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

from torch import Tensor, nn

from mtlkit.data.base import SPLITS, MultiTaskData, TaskSpec
from mtlkit.models.blocks import mlp

AUX = ".aux"
PSEUDO = ".pt"
HEADS = ("linear", "pooled", "bottleneck", "tower")
"""Auxiliary head types: the paper's three small ones, and ``tower`` (a copy of the main tower's shape)."""
SMALL_HEADS = HEADS[:3]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class PooledLinear(nn.Module):
    """Average the representation over windows of ``pool`` adjacent units, then one linear layer."""

    def __init__(self, in_dim: int, out_dim: int, pool: int = 2) -> None:
        super().__init__()
        if not 1 <= pool <= in_dim:
            raise ValueError(f"pool must be in [1, {in_dim}], got {pool}")
        self.pool = nn.AvgPool1d(pool)
        self.linear = nn.Linear(in_dim // pool, out_dim)

    def forward(self, z: Tensor) -> Tensor:
        return self.linear(self.pool(z.unsqueeze(1)).squeeze(1))


def aux_head(
    kind: str,
    in_dim: int,
    n_outputs: int,
    *,
    tower: Sequence[int] = (),
    bottleneck: int = 8,
    pool: int = 2,
) -> nn.Module:
    """An auxiliary head of type ``kind`` (:data:`HEADS`) on an ``in_dim`` representation.

    >>> [count_parameters(aux_head(k, 50, 10, tower=[50, 50])) for k in HEADS]
    [510, 260, 498, 5610]
    """
    if kind == "linear":
        return nn.Linear(in_dim, n_outputs)
    if kind == "pooled":
        return PooledLinear(in_dim, n_outputs, pool)
    if kind == "bottleneck":
        if bottleneck < 1:
            raise ValueError(f"bottleneck must be >= 1 unit, got {bottleneck}")
        return mlp(in_dim, [bottleneck], n_outputs)
    if kind == "tower":
        return mlp(in_dim, tower, n_outputs)
    raise ValueError(f"unknown head {kind!r}; known: {list(HEADS)}")


class SelfAuxiliaryTowers(nn.Module):
    """Wrap a model that has ``representations(x, tasks)``, ``heads`` and ``out_dim`` (hard sharing or
    MMoE) with one auxiliary tower per task: a linear layer (``hidden=()``), an MLP of ``hidden``, or the
    given ``heads`` (task name -> module, e.g. from :func:`aux_head`).

    With ``validate_served``, the model in evaluation mode answers ``<t>.aux`` with the *main* tower's
    output: the validation loss that :func:`~mtlkit.train.fit` sums to pick the best epoch and to stop
    early is then twice the served model's, and the auxiliary towers' own fit does not steer the choice.
    (Training mode is unaffected.)
    """

    def __init__(
        self,
        base: nn.Module,
        tasks: Sequence[TaskSpec],
        hidden: Sequence[int] = (),
        heads: Mapping[str, nn.Module] | None = None,
        validate_served: bool = False,
        temperature: float | Mapping[str, float] = 1.0,
    ) -> None:
        super().__init__()
        self.base = base
        self.validate_served = validate_served
        names = [t.name for t in tasks]
        self.temperature = (
            dict(temperature) if isinstance(temperature, Mapping) else dict.fromkeys(names, temperature)
        )
        if set(self.temperature) != set(names) or not all(v > 0 for v in self.temperature.values()):
            raise ValueError(f"temperature must be > 0 for each of {names}, got {temperature}")
        if heads is not None and set(heads) != {t.name for t in tasks}:
            raise ValueError(f"heads for {sorted(heads)}, tasks are {[t.name for t in tasks]}")
        self.aux = nn.ModuleDict(
            dict(heads)
            if heads is not None
            else {t.name: mlp(base.out_dim, hidden, t.n_outputs) for t in tasks}
        )

    def forward(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        names = list(tasks or [*self.base.heads.keys(), *(t + AUX for t in self.aux.keys())])
        needed = list(dict.fromkeys(t.removesuffix(AUX) for t in names))
        reps = self.base.representations(x, needed)
        main = self.validate_served and not self.training
        out = {}
        for t in names:
            task = t.removesuffix(AUX)
            if t.endswith(AUX) and not main:
                out[t] = self.aux[task](reps[task]) / self.temperature[task]
            else:
                out[t] = self.base.heads[task](reps[task])
        return out

    def shared_parameters(self) -> list[nn.Parameter]:
        return self.base.shared_parameters()

    def served(self) -> nn.Module:
        """The model that is deployed: the base model, auxiliary towers removed."""
        return self.base


def with_task_copies(data: MultiTaskData, copies: Mapping[str, str]) -> MultiTaskData:
    """``data`` plus a task per entry ``new name -> existing task``, sharing that task's targets (no copy)."""
    specs = list(data.tasks) + [
        TaskSpec(n, data.task(t).kind, data.task(t).n_outputs) for n, t in copies.items()
    ]
    y = {s: {**data.y[s], **{n: data.y[s][t] for n, t in copies.items()}} for s in SPLITS}
    return MultiTaskData(data.x, y, specs, dict(data.info))


def with_aux_tasks(data: MultiTaskData) -> MultiTaskData:
    """``data`` plus a task ``<t>.aux`` per task, sharing ``<t>``'s targets (no copy)."""
    return with_task_copies(data, {t + AUX: t for t in data.task_names})


class PseudoTaskTowers(nn.Module):
    """Extra towers, PTA-inspired (Meyerson & Miikkulainen 2018; no varied decoders): ``n_pseudo`` per task, each
    of the main tower's shape ``tower``, trained on the task's label as tasks ``<t>.pt1`` ...
    ``<t>.pt<n_pseudo>`` (:func:`pseudo_names`). :meth:`served` keeps one tower per task."""

    def __init__(
        self, base: nn.Module, tasks: Sequence[TaskSpec], n_pseudo: int, tower: Sequence[int]
    ) -> None:
        super().__init__()
        if n_pseudo < 1:
            raise ValueError(f"n_pseudo must be >= 1, got {n_pseudo}")
        self.base = base
        self.pseudo = nn.ModuleDict(
            {
                t.name: nn.ModuleList(mlp(base.out_dim, tower, t.n_outputs) for _ in range(n_pseudo))
                for t in tasks
            }
        )
        self.source = {n: t.name for t in tasks for n in pseudo_names(t.name, n_pseudo)}
        """Each pseudo-task's name -> its task."""

    def tower(self, name: str) -> nn.Module:
        """The tower called ``name``: a task's main tower, or the pseudo-task tower ``<t>.pt<i>``."""
        if name not in self.source:
            return self.base.heads[name]
        task = self.source[name]
        return self.pseudo[task][int(name.removeprefix(task + PSEUDO)) - 1]

    def forward(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        names = list(tasks or [*self.base.heads.keys(), *self.source])
        reps = self.base.representations(x, list(dict.fromkeys(self.source.get(n, n) for n in names)))
        return {n: self.tower(n)(reps[self.source.get(n, n)]) for n in names}

    def shared_parameters(self) -> list[nn.Parameter]:
        return self.base.shared_parameters()

    def served(self, choice: Mapping[str, str]) -> nn.Module:
        """The deployed model: a copy of the base model whose tower for task ``t`` is the tower named
        ``choice[t]`` (``t`` itself or one of its pseudo-tasks); the other towers are dropped, so it has
        exactly the base model's parameter count."""
        served = copy.deepcopy(self.base)
        for task, name in choice.items():
            if name != task and self.source.get(name) != task:
                raise ValueError(f"tower {name!r} is not a pseudo-task of {task!r}")
            served.heads[task] = copy.deepcopy(self.tower(name))
        return served


def pseudo_names(task: str, n_pseudo: int) -> list[str]:
    """The pseudo-task names of ``task``: ``<task>.pt1`` ... ``<task>.pt<n_pseudo>``."""
    return [f"{task}{PSEUDO}{i}" for i in range(1, n_pseudo + 1)]


def aux_weights(weights: dict[str, float], gamma: float) -> dict[str, float]:
    """Loss weights ``w_t`` for the main tasks and ``gamma w_t`` for their auxiliary towers."""
    return {**weights, **{t + AUX: gamma * w for t, w in weights.items()}}


def matching_tower(
    build: Callable[[Sequence[int]], nn.Module], tower: Sequence[int], extra: int
) -> list[int]:
    """The narrowest main tower (every hidden layer widened by the same amount, at least one unit) whose
    model has at least ``extra`` more parameters than ``build(tower)``: the parameter-count control, never
    smaller than the towers it is compared with."""
    if not tower:
        raise ValueError("a linear head cannot be widened: give the main tower hidden layers")
    base = count_parameters(build(tower))
    k = 1
    while count_parameters(build([h + k for h in tower])) - base < extra:
        k += 1
    return [h + k for h in tower]
