"""Sharing schemes: hard parameter sharing, and one separate network per task.

Hard sharing (Caruana 1997): one trunk for all tasks, one small tower per task - the survey's
(Crawshaw 2020, section 2.1) baseline architecture. Separate networks are the single-task reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlkit.data.base import TaskSpec
from mtlkit.models.blocks import make_trunk, mlp
from mtlkit.models.mmoe import MMoE


class HardSharing(nn.Module):
    """A shared trunk and one tower per task: ``forward(x, tasks) -> {task: output}``."""

    def __init__(self, trunk: nn.Module, tasks: Sequence[TaskSpec], tower: Sequence[int] = ()) -> None:
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict({t.name: mlp(trunk.out_dim, tower, t.n_outputs) for t in tasks})
        self.out_dim = trunk.out_dim

    def representations(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        """The representation each task's tower reads: the same trunk output for every task."""
        z = self.trunk(x)
        return {t: z for t in (tasks or self.heads.keys())}

    def forward(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        return {t: self.heads[t](z) for t, z in self.representations(x, tasks).items()}

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters every task's loss reaches (the trunk)."""
        return list(self.trunk.parameters())


class SeparateNetworks(nn.Module):
    """One full network (trunk + tower) per task; no parameter is shared."""

    def __init__(self, nets: dict[str, nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleDict(nets)

    def forward(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        return {t: self.nets[t](x, [t])[t] for t in (tasks or self.nets.keys())}

    def shared_parameters(self) -> list[nn.Parameter]:
        return []


ARCHITECTURES = ("hard", "separate", "mmoe")


def build_model(
    architecture: str,
    in_shape: Sequence[int],
    tasks: Sequence[TaskSpec],
    *,
    trunk: str = "mlp",
    width: int = 128,
    depth: int = 2,
    tower: Sequence[int] = (),
    n_experts: int = 4,
) -> nn.Module:
    """A model by name: ``hard`` (:class:`HardSharing`), ``separate`` (:class:`SeparateNetworks`) or
    ``mmoe`` (:class:`~mtlkit.models.mmoe.MMoE`, ``n_experts`` MLP experts of ``width``).

    Examples
    --------
    >>> from mtlkit.data.base import TaskSpec
    >>> m = build_model("hard", (1, 8, 16), [TaskSpec("a", "classification", 3)], width=16)
    >>> import torch; m(torch.zeros(2, 1, 8, 16))["a"].shape
    torch.Size([2, 3])
    """
    if architecture == "hard":
        return HardSharing(make_trunk(trunk, in_shape, width, depth), tasks, tower)
    if architecture == "separate":
        return SeparateNetworks(
            {t.name: HardSharing(make_trunk(trunk, in_shape, width, depth), [t], tower) for t in tasks}
        )
    if architecture == "mmoe":
        return MMoE(in_shape, tasks, width=width, depth=depth, n_experts=n_experts, tower=tower)
    raise ValueError(f"unknown architecture {architecture!r}; known: {list(ARCHITECTURES)}")


class TaskCuedNetwork(nn.Module):
    """The multitasking network of Musslick et al. (2016, 2017): stimulus + task cue -> sigmoid hidden
    layer(s) -> sigmoid response units. The cue projects to *every* hidden layer and to the output, so a
    task can select its own hidden units (separation) or reuse another task's (sharing).

    ``depth`` = 1 is the shallow network of the papers; >= 3 the deep one. Biases are fixed at ``bias``
    (-2 in the papers: units are off unless driven), weights start in U(-init, init); the cue -> hidden
    (task -> hidden) weights in U(-cue_init, cue_init) (default ``init``). ``cue_groups`` (a group label per
    task, e.g. its input dimension) with ``cue_similarity`` = s in [0, 1) makes the initial task -> hidden
    weight vectors of tasks in one group correlate by about s (Musslick et al. 2017, Fig. 5): each is
    ``sqrt(s) c_g + sqrt(1 - s) e_t`` with ``c_g`` and ``e_t`` drawn alike, so the scale does not change.
    """

    def __init__(
        self,
        n_stim: int,
        n_tasks: int,
        n_out: int,
        hidden: int = 100,
        depth: int = 1,
        bias: float = -2.0,
        init: float = 0.1,
        cue_init: float | None = None,
        cue_groups: Sequence[int] | None = None,
        cue_similarity: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if not 0 <= cue_similarity < 1 or (cue_similarity > 0 and cue_groups is None):
            raise ValueError(f"cue_similarity must be in [0, 1) and needs cue_groups, got {cue_similarity}")
        if cue_groups is not None and len(cue_groups) != n_tasks:
            raise ValueError(f"cue_groups needs one label per task ({n_tasks}), got {len(cue_groups)}")
        self.n_stim = n_stim
        sizes = [n_stim] + [hidden] * depth
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:]))
        self.cue_to_hidden = nn.ModuleList(nn.Linear(n_tasks, hidden, bias=False) for _ in range(depth))
        self.out = nn.Linear(hidden, n_out, bias=False)
        self.cue_to_out = nn.Linear(n_tasks, n_out, bias=False)
        self.register_buffer("bias", torch.tensor(float(bias)))
        for p in self.parameters():
            nn.init.uniform_(p, -init, init)
        if cue_init is not None or cue_similarity > 0:
            self._init_cue(init if cue_init is None else cue_init, cue_groups or [], cue_similarity)

    @torch.no_grad()
    def _init_cue(self, scale: float, groups: Sequence[int], s: float) -> None:
        for proj in self.cue_to_hidden:
            w = proj.weight.uniform_(-scale, scale)  # (hidden, n_tasks): column t is task t's vector
            for g in dict.fromkeys(groups):
                cols = [t for t, gt in enumerate(groups) if gt == g]
                common = torch.empty(w.shape[0]).uniform_(-scale, scale)
                w[:, cols] = s**0.5 * common[:, None] + (1 - s) ** 0.5 * w[:, cols]

    def cue_weights(self) -> Tensor:
        """Each task's task -> hidden weight vector, every hidden layer concatenated, ``(n_tasks, depth *
        hidden)``: the representation a task's cue asks for (Musslick et al. 2017's similarity measure)."""
        return torch.cat([proj.weight.T for proj in self.cue_to_hidden], 1).detach()

    def hidden(self, x: Tensor) -> list[Tensor]:
        """Activations of every hidden layer, ``[(n, hidden)] * depth``."""
        stim, cue = x[:, : self.n_stim], x[:, self.n_stim :]
        h, acts = stim, []
        for layer, cue_proj in zip(self.layers, self.cue_to_hidden):
            h = torch.sigmoid(layer(h) + cue_proj(cue) + self.bias)
            acts.append(h)
        return acts

    def forward(self, x: Tensor, tasks: Sequence[str] | None = None) -> dict[str, Tensor]:
        h = self.hidden(x)[-1]
        cue = x[:, self.n_stim :]
        return {"response": torch.sigmoid(self.out(h) + self.cue_to_out(cue) + self.bias)}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())
