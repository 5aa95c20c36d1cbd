"""Many small multi-task networks trained as one stacked model: how all 2^n - 1 task subsets are trained.

Member ``m`` is an MLP trunk with one linear head per task, exactly :class:`~mtlkit.models.sharing.HardSharing`
with an MLP trunk; it is trained only on the tasks of its subset (``mask[m]``), so the heads of other
tasks receive no gradient and stay as initialised (unused). Every layer of every member is evaluated at
once with :class:`~mtlkit.models.blocks.LinearBank` (batched matmuls), and since Adam's update is
element-wise, one optimizer over the stacked parameters keeps each member's state separate.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlkit.data.base import TaskSpec
from mtlkit.models.blocks import LinearBank, MLPBank, MLPTrunk
from mtlkit.models.sharing import HardSharing


class StackedNetworks(nn.Module):
    """``n`` hard-sharing MLP networks (``depth`` layers of ``width``, linear heads for all ``tasks``)."""

    def __init__(self, n: int, in_dim: int, tasks: Sequence[TaskSpec], width: int, depth: int) -> None:
        super().__init__()
        self.n, self.in_dim, self.width, self.depth = n, in_dim, width, depth
        self.tasks = list(tasks)
        self.trunk = MLPBank(n, in_dim, width, depth)
        self.heads = nn.ModuleDict({t.name: LinearBank(n, width, t.n_outputs) for t in tasks})

    def forward(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        """``x``: ``(B, in)`` shared by all members, or ``(n, B, in)`` one batch each -> ``{task: (n, B, k)}``."""
        z = self.trunk(x)
        return {t: self.heads[t](z) for t in (tasks or self.heads.keys())}

    def head_outputs(
        self, z: Tensor, tasks: Sequence[str], members: slice = slice(None)
    ) -> dict[str, Tensor]:
        """``{task: (m, B, k)}`` of ``tasks``' heads of the stack's ``members`` (a slice; all by default) on
        their trunks' output ``z`` ``(m, B, width)``, from one batched matmul of the heads' weights side by
        side (the values of :meth:`forward` to float rounding; one matmul instead of one per head, and one
        gradient into ``z`` instead of a sum of them)."""
        heads = [self.heads[t] for t in tasks]
        bias, weight = (torch.cat([getattr(h, p)[members] for h in heads], -1) for p in ("bias", "weight"))
        outs = torch.baddbmm(bias, z, weight).split([h.bias.shape[-1] for h in heads], -1)
        return dict(zip(tasks, outs))

    def outputs(self, x: Tensor, members: slice = slice(None)) -> dict[str, Tensor]:
        """Every task's outputs as :meth:`forward` gives them (to float rounding), faster - the trunk's ReLUs
        in place and all heads by :meth:`head_outputs` - for the stack's ``members`` (a slice: views of their
        weights, no copy). ``x``: ``(B, in)`` shared by those members or ``(m, B, in)`` one batch each."""
        for layer in self.trunk.layers:
            weight = layer.weight[members]
            x = x.expand(len(weight), -1, -1) if x.dim() == 2 else x
            x = torch.baddbmm(layer.bias[members], x, weight).relu_()
        return self.head_outputs(x, list(self.heads), members)

    @classmethod
    def concat(cls, stacks: Sequence[StackedNetworks]) -> StackedNetworks:
        """One stack of the members of ``stacks`` (alike in shape and tasks), in order, with their weights."""
        first = stacks[0]
        if any(
            (s.in_dim, s.width, s.depth, s.tasks) != (first.in_dim, first.width, first.depth, first.tasks)
            for s in stacks
        ):
            raise ValueError("only stacks of the same shape and tasks can be concatenated")
        # the new stack's own initial weights are overwritten: the global RNG is left as it was
        with torch.random.fork_rng(devices=[]):
            out = cls(sum(s.n for s in stacks), first.in_dim, first.tasks, first.width, first.depth)
        with torch.no_grad():
            for name, p in out.named_parameters():
                p.copy_(torch.cat([s.get_parameter(name) for s in stacks]))
        return out

    def shared_parameters(self) -> list[nn.Parameter]:
        """The trunks' parameters (every task's loss reaches them)."""
        return list(self.trunk.parameters())

    @classmethod
    def from_members(cls, models: Sequence[HardSharing], tasks: Sequence[TaskSpec]) -> StackedNetworks:
        """The stack of ``models`` (the reverse of :meth:`member`): hard-sharing networks with an
        :class:`~mtlkit.models.blocks.MLPTrunk` and one linear head per task of ``tasks``, alike in shape."""
        linears = [[m for m in model.trunk.net if isinstance(m, nn.Linear)] for model in models]
        first = linears[0]
        if not first or any(len(model.heads[t.name]) != 1 for model in models for t in tasks):
            raise ValueError("stacking needs MLP trunks and linear heads (hard sharing, no tower)")
        stack = cls(len(models), first[0].in_features, tasks, first[0].out_features, len(first))
        with torch.no_grad():
            for i, (model, lins) in enumerate(zip(models, linears)):
                for lin, bank in zip(lins, stack.trunk.layers, strict=True):
                    bank.weight[i] = lin.weight.T
                    bank.bias[i, 0] = lin.bias
                for t in tasks:
                    stack.heads[t.name].weight[i] = model.heads[t.name][0].weight.T
                    stack.heads[t.name].bias[i, 0] = model.heads[t.name][0].bias
        return stack

    def member(self, i: int, tasks: Sequence[str] | None = None) -> HardSharing:
        """Member ``i`` as an ordinary :class:`HardSharing` model with the same weights (heads for ``tasks``)."""
        specs = [t for t in self.tasks if tasks is None or t.name in tasks]
        trunk = MLPTrunk((self.in_dim,), self.width, self.depth)
        model = HardSharing(trunk, specs)
        with torch.no_grad():
            linears = [m for m in trunk.net if isinstance(m, nn.Linear)]
            for lin, bank in zip(linears, self.trunk.layers):
                src = bank.member(i)
                lin.weight.copy_(src.weight)
                lin.bias.copy_(src.bias)
            for t in specs:
                src = self.heads[t.name].member(i)
                model.heads[t.name][0].weight.copy_(src.weight)
                model.heads[t.name][0].bias.copy_(src.bias)
        return model
