"""Multi-gate Mixture-of-Experts (Ma et al., KDD 2018): shared experts, one softmax gate per task.

Each task sees its own mixture of the experts' outputs, ``sum_e g_t(x)_e f_e(x)``, so tasks can share
experts where they agree and use different ones where they conflict (the survey's "mixture of experts"
family, Crawshaw 2020, section 2.1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlkit.data.base import TaskSpec
from mtlkit.models.blocks import MLPBank, mlp


class MMoE(nn.Module):
    """``n_experts`` MLP experts of ``width`` units, a linear softmax gate and a tower per task."""

    def __init__(
        self,
        in_shape: Sequence[int],
        tasks: Sequence[TaskSpec],
        *,
        width: int = 16,
        depth: int = 1,
        n_experts: int = 4,
        tower: Sequence[int] = (),
    ) -> None:
        super().__init__()
        if n_experts < 1:
            raise ValueError(f"n_experts must be >= 1, got {n_experts}")
        in_dim = int(torch.tensor(in_shape).prod())
        self.experts = MLPBank(n_experts, in_dim, width, depth)
        self.gates = nn.ModuleDict({t.name: nn.Linear(in_dim, n_experts) for t in tasks})
        self.heads = nn.ModuleDict({t.name: mlp(width, tower, t.n_outputs) for t in tasks})
        self.out_dim = width

    def gate_weights(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Each task's softmax over experts, ``(n, n_experts)`` (rows sum to one)."""
        flat = x.flatten(1)
        return {t: torch.softmax(self.gates[t](flat), dim=-1) for t in (tasks or self.heads.keys())}

    def representations(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Each task's gated mixture of the experts, ``(n, width)``."""
        e = self.experts(x.flatten(1))  # (E, n, width)
        return {t: torch.einsum("ne,enw->nw", g, e) for t, g in self.gate_weights(x, tasks).items()}

    def forward(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        return {t: self.heads[t](z) for t, z in self.representations(x, tasks).items()}

    def shared_parameters(self) -> list[nn.Parameter]:
        """The experts: every task's loss reaches them."""
        return list(self.experts.parameters())
