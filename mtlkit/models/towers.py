"""Self-auxiliary towers (Wang et al. 2020, arXiv 2008.05808; WWW'22 "Can Small Heads Help?").

For every task, a second, *small* tower on the same shared representation predicts the same label.
Training minimises ``sum_t w_t (L_t + gamma L_t^aux)``; at inference the auxiliary towers are dropped,
so the served model is exactly the base model (:meth:`SelfAuxiliaryTowers.served`).

The auxiliary outputs are exposed as extra tasks named ``<task>.aux`` that share their targets with
``<task>`` (:func:`with_aux_tasks`), so the one training loop and the weighting registry train them
without special cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from mtlkit.data.base import SPLITS, MultiTaskData, TaskSpec
from mtlkit.models.blocks import mlp

AUX = ".aux"


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class SelfAuxiliaryTowers(nn.Module):
    """Wrap a model that has ``representations(x, tasks)``, ``heads`` and ``out_dim`` (hard sharing or
    MMoE) with one auxiliary tower per task: a linear layer (``hidden=()``) or an MLP of ``hidden``."""

    def __init__(self, base: nn.Module, tasks: Sequence[TaskSpec], hidden: Sequence[int] = ()) -> None:
        super().__init__()
        self.base = base
        self.aux = nn.ModuleDict({t.name: mlp(base.out_dim, hidden, t.n_outputs) for t in tasks})

    def forward(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        names = list(tasks or [*self.base.heads.keys(), *(t + AUX for t in self.aux.keys())])
        needed = list(dict.fromkeys(t.removesuffix(AUX) for t in names))
        reps = self.base.representations(x, needed)
        return {
            t: (self.aux[t.removesuffix(AUX)] if t.endswith(AUX) else self.base.heads[t])(
                reps[t.removesuffix(AUX)]
            )
            for t in names
        }

    def shared_parameters(self) -> list[nn.Parameter]:
        return self.base.shared_parameters()

    def served(self) -> nn.Module:
        """The model that is deployed: the base model, auxiliary towers removed."""
        return self.base


def with_aux_tasks(data: MultiTaskData) -> MultiTaskData:
    """``data`` plus a task ``<t>.aux`` per task, sharing ``<t>``'s targets (no copy)."""
    specs = list(data.tasks) + [TaskSpec(t.name + AUX, t.kind, t.n_outputs) for t in data.tasks]
    y = {s: {**data.y[s], **{t + AUX: v for t, v in data.y[s].items()}} for s in SPLITS}
    return MultiTaskData(data.x, y, specs, dict(data.info))


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
