"""The feature-overlap environment of Musslick et al. (CogSci 2017, simulation 1): continuous stimuli, and
tasks on one input dimension that read partly the same stimulus features.

Each of the ``n_dims`` input dimensions is a block of ``n_outdims * n_features`` continuous units, every unit
drawn from U(0, 1) per stimulus. Task ``(i, j)`` reads ``n_features`` units of block ``i``: the first
``n_shared = round(overlap * n_features)`` units of the block, which every task on dimension ``i`` reads,
and ``n_features - n_shared`` units of its own (the slot of output dimension ``j``). Units no task reads
are distractors. At ``overlap`` 0 the tasks on one input dimension read disjoint features; at 1 they all
read the same ones.

A task's response is one of ``n_features`` classes: a fixed random *teacher* (a small sigmoid network, the
same for every task, as in the paper) maps the task's features to a number, cut into equally likely
classes at the quantiles of its values on a reference draw of stimuli. ``mapping="permuted"`` passes the
class through a fixed permutation per task. So two tasks on one input dimension agree on every stimulus at
overlap 1 (with the identity mapping) and only by chance at overlap 0.

The environment has ``n_samples`` stimuli, the same for every task (the paper's 50 per task), and keeps
the interface of :class:`~mtlkit.data.stimulus.StimulusEnv` (trials, concurrent pairs, incongruent trials).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mtlkit.data.stimulus import StimulusEnv, Task

TEACHER_HIDDEN = 3
"""Hidden units of the teacher network that labels the stimuli."""

REFERENCE = 1000
"""Stimuli drawn to set the teacher's class boundaries (quantiles)."""


@dataclass(frozen=True)
class OverlapEnv(StimulusEnv):
    """Continuous stimuli with a share ``overlap`` of each task's features shared by the tasks on its input
    dimension.

    Examples
    --------
    >>> env = OverlapEnv(n_dims=3, n_features=4, overlap=0.5, n_samples=50)
    >>> env.n_stimuli, env.n_stim_units, env.n_outputs, env.n_tasks, env.n_shared
    (50, 36, 12, 9, 2)
    >>> env.feature_units((0, 0)), env.feature_units((0, 1)), env.feature_units((1, 2))
    ([0, 1, 2, 3], [0, 1, 4, 5], [12, 13, 18, 19])
    """

    overlap: float = 1.0
    n_samples: int = 50

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.overlap <= 1.0:
            raise ValueError(f"overlap must be in [0, 1], got {self.overlap}")
        if self.n_samples < 2:
            raise ValueError(f"n_samples must be >= 2, got {self.n_samples}")

    @property
    def n_shared(self) -> int:
        """Features every task on one input dimension reads."""
        return round(self.overlap * self.n_features)

    @property
    def block(self) -> int:
        """Units per input dimension: room for every output dimension's own features."""
        return self.n_outdims * self.n_features

    @property
    def n_stimuli(self) -> int:
        return self.n_samples

    @property
    def n_stim_units(self) -> int:
        return self.n_dims * self.block

    def feature_units(self, task: Task) -> list[int]:
        """The stimulus units ``task`` reads: its input dimension's shared units, then its own."""
        self.task_index(task)
        i, j = task
        k, own = self.n_shared, self.n_features - self.n_shared
        start = i * self.block
        return [start + u for u in range(k)] + [start + k + j * own + u for u in range(own)]

    def _generator(self, stream: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 7919 + stream)

    def stimuli(self) -> Tensor:
        """Every stimulus, ``(n_samples, n_stim_units)`` continuous units in U(0, 1) (seeded)."""
        return torch.rand(self.n_samples, self.n_stim_units, generator=self._generator(1))

    def features(self) -> Tensor:
        raise NotImplementedError("continuous stimuli have no feature index per dimension; use stimuli()")

    def _teacher(self, x: Tensor) -> Tensor:
        """The teacher's value for features ``x`` ``(n, n_features)``: one random sigmoid network, the
        same for every task (steep input weights, so that it is not close to linear)."""
        g, f, h = self._generator(2), self.n_features, TEACHER_HIDDEN
        w_in = (torch.rand(f, h, generator=g) - 0.5) * 30
        b_in = -2.5 * torch.rand(h, generator=g)
        w_out = torch.rand(h, 1, generator=g)
        return torch.sigmoid(torch.sigmoid(x @ w_in + b_in) @ w_out).squeeze(1)

    def responses(self, task: Task) -> Tensor:
        """The correct response class of ``task`` for every stimulus, ``(n_samples,)``: the teacher's value
        on the task's features, cut at the quantiles of its values on a reference draw."""
        ref = self._teacher(torch.rand(REFERENCE, self.n_features, generator=self._generator(3)))
        cuts = torch.quantile(ref, torch.linspace(0, 1, self.n_features + 1)[1:-1])
        cls = torch.bucketize(self._teacher(self.stimuli()[:, self.feature_units(task)]), cuts)
        return self.response_map(task)[cls]
