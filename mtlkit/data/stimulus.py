"""The stimulus environment of the multitasking studies (Musslick et al. 2016, 2017; Ravi, Musslick et al.
2020).

``n_dims`` input dimensions, each showing one of ``n_features`` features (one-hot per dimension);
``n_out`` output dimensions of ``n_features`` response units. Task ``(i, j)`` maps the feature shown on
input dimension ``i`` to a response on output dimension ``j``: feature ``k`` -> response ``k`` (or a
fixed random permutation per task, ``mapping="permuted"``). A one-hot *task cue* says which task(s) to
perform.

* a **single-task trial** cues one task; the target is its one-hot response on its output dimension
  and zeros elsewhere;
* a **concurrent trial** cues two tasks that use different input *and* different output dimensions; the
  target is the union of both responses. Tasks sharing an input dimension are never cued together:
  that would ask one input dimension for two different responses at once.

The network sees ``[stimulus, cue]`` as one input vector, and the single "task" of the resulting
:class:`~mtlkit.data.base.MultiTaskData` is the response vector (regression on sigmoid outputs,
mean squared error, as in the original networks).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mtlkit.data.base import SPLITS, MultiTaskData, TaskSpec

Task = tuple[int, int]
MAPPINGS = ("identity", "permuted")


@dataclass(frozen=True)
class StimulusEnv:
    """An environment of ``n_dims`` x ``n_features`` stimuli and ``n_dims x n_out`` possible tasks.

    Examples
    --------
    >>> env = StimulusEnv(n_dims=3, n_features=3)
    >>> env.n_stimuli, env.n_inputs, env.n_outputs, len(env.all_tasks)
    (27, 18, 9, 9)
    """

    n_dims: int = 3
    n_features: int = 4
    n_out: int | None = None
    mapping: str = "identity"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_dims < 2 or self.n_features < 2:
            raise ValueError(f"need n_dims >= 2 and n_features >= 2, got {self.n_dims}, {self.n_features}")
        if self.n_out is not None and self.n_out < 2:
            raise ValueError(f"n_out must be >= 2, got {self.n_out}")
        if self.mapping not in MAPPINGS:
            raise ValueError(f"unknown mapping {self.mapping!r}; known: {list(MAPPINGS)}")

    @property
    def n_outdims(self) -> int:
        return self.n_out or self.n_dims

    @property
    def all_tasks(self) -> list[Task]:
        return [(i, j) for i in range(self.n_dims) for j in range(self.n_outdims)]

    @property
    def n_tasks(self) -> int:
        return self.n_dims * self.n_outdims

    @property
    def n_stimuli(self) -> int:
        return self.n_features**self.n_dims

    @property
    def n_stim_units(self) -> int:
        return self.n_dims * self.n_features

    @property
    def n_inputs(self) -> int:
        return self.n_stim_units + self.n_tasks

    @property
    def n_outputs(self) -> int:
        return self.n_outdims * self.n_features

    def task_index(self, task: Task) -> int:
        i, j = task
        if not (0 <= i < self.n_dims and 0 <= j < self.n_outdims):
            raise ValueError(
                f"task {task} is outside the environment: input dims 0..{self.n_dims - 1}, "
                f"output dims 0..{self.n_outdims - 1}"
            )
        return i * self.n_outdims + j

    def response_map(self, task: Task) -> Tensor:
        """The task's feature -> response position: the identity (feature k -> response k, as in Musslick
        et al. 2016), or a fixed random permutation per task (``mapping="permuted"``, seeded)."""
        if self.mapping == "identity":
            return torch.arange(self.n_features)
        g = torch.Generator().manual_seed(self.seed * 10007 + self.task_index(task))
        return torch.randperm(self.n_features, generator=g)

    def features(self) -> Tensor:
        """Every stimulus as its feature index per input dimension, ``(n_stimuli, n_dims)``."""
        return torch.tensor(list(itertools.product(range(self.n_features), repeat=self.n_dims)))

    def stimuli(self) -> Tensor:
        """Every stimulus, one-hot per input dimension, ``(n_stimuli, n_dims * n_features)``."""
        f = self.features()
        return torch.nn.functional.one_hot(f, self.n_features).flatten(1).float()

    @staticmethod
    def can_multitask(a: Task, b: Task) -> bool:
        """Two tasks can run concurrently when they use different input and different output dimensions."""
        return a[0] != b[0] and a[1] != b[1]

    def pairs(self, tasks: Sequence[Task]) -> list[tuple[Task, Task]]:
        """All unordered pairs of ``tasks`` that can run concurrently."""
        return [(a, b) for a, b in itertools.combinations(tasks, 2) if self.can_multitask(a, b)]

    def split_pairs(
        self, tasks: Sequence[Task], held_out: float, seed: int = 0
    ) -> tuple[list[tuple[Task, Task]], list[tuple[Task, Task]]]:
        """Split the concurrent pairs of ``tasks`` into pairs to train on and a held-out share
        ``held_out`` (at least one) that is never trained concurrently, drawn with ``seed``. Every task
        of a held-out pair keeps at least one training pair when that is possible, so a regime that
        trains on concurrent trials has practised each task in parallel with *some* other task.

        >>> env = StimulusEnv(3, 3)
        >>> train, held = env.split_pairs(env.all_tasks, 0.5, seed=1)
        >>> len(train), len(held), set(train) & set(held)
        (9, 9, set())
        """
        pairs = self.pairs(tasks)
        if len(pairs) < 2 or not 0 < held_out < 1:
            raise ValueError(f"need >= 2 concurrent pairs and 0 < held_out < 1, got {len(pairs)}, {held_out}")
        k = min(len(pairs) - 1, max(1, round(held_out * len(pairs))))
        g = torch.Generator().manual_seed(seed)
        best: tuple[int, list[int]] | None = None
        for _ in range(200):  # redraw until every held-out task still has a training pair
            order = torch.randperm(len(pairs), generator=g).tolist()
            trained = {t for i in order[k:] for t in pairs[i]}
            missing = sum(t not in trained for i in order[:k] for t in pairs[i])
            if best is None or missing < best[0]:
                best = (missing, order)
            if missing == 0:
                break
        held = set(best[1][:k])
        return [q for i, q in enumerate(pairs) if i not in held], [
            q for i, q in enumerate(pairs) if i in held
        ]

    def responses(self, task: Task) -> Tensor:
        """The correct response position of ``task`` for every stimulus, ``(n_stimuli,)``."""
        return self.response_map(task)[self.features()[:, task[0]]]

    def incongruent(self, a: Task, b: Task) -> Tensor:
        """For a concurrent trial of ``a = (i, j)`` and ``b = (k, l)``, which stimuli are *incongruent*:
        where the crosstalk task ``(i, l)`` (``a``'s input read out at ``b``'s output) or ``(k, j)`` would
        answer differently from the correct task at that output. With the identity mapping this is
        "the two input dimensions show different features". ``(n_stimuli,)`` bool."""
        (i, j), (k, m) = a, b
        return (self.responses((i, m)) != self.responses(b)) | (self.responses((k, j)) != self.responses(a))

    def trials(self, cued: Sequence[Sequence[Task]]) -> tuple[Tensor, Tensor, Tensor]:
        """Inputs, targets and cue sets for every stimulus under every cue set in ``cued``.

        Returns ``x`` (``[stimulus, cue]``), ``y`` (union of the cued tasks' responses) and ``which``
        (``(n, n_tasks)`` bool: the cued tasks of each trial).
        """
        stim = self.stimuli()
        xs, ys, ws = [], [], []
        for group in cued:
            group = list(group)
            for a, b in itertools.combinations(group, 2):
                if not self.can_multitask(a, b):
                    raise ValueError(
                        f"tasks {a} and {b} share an input or output dimension: they cannot be cued together"
                    )
            cue = torch.zeros(len(stim), self.n_tasks)
            y = torch.zeros(len(stim), self.n_outdims, self.n_features)
            for t in group:
                cue[:, self.task_index(t)] = 1
                y[torch.arange(len(stim)), t[1], self.responses(t)] = 1
            xs.append(torch.cat([stim, cue], 1))
            ys.append(y.flatten(1))
            ws.append(cue.bool())
        return torch.cat(xs), torch.cat(ys), torch.cat(ws)

    def dataset(
        self, cued: Sequence[Sequence[Task]], noise: float = 0.0, repeats: int = 1, seed: int = 0
    ) -> MultiTaskData:
        """Trials for ``cued`` as :class:`MultiTaskData` (task ``response``); ``repeats`` noisy copies in
        train, the clean trials in val and test. Gaussian ``noise`` is added to the stimulus units."""
        x, y, which = self.trials(cued)
        g = torch.Generator().manual_seed(seed)
        xt = x.repeat(repeats, 1)
        if noise > 0:
            xt[:, : self.n_stim_units] += noise * torch.randn(len(xt), self.n_stim_units, generator=g)
        xs = {"train": xt, "val": x, "test": x}
        ys = {"train": {"response": y.repeat(repeats, 1)}, "val": {"response": y}, "test": {"response": y}}
        info = {"which": {"train": which.repeat(repeats, 1), "val": which, "test": which}, "env": self}
        assert set(xs) == set(SPLITS)
        return MultiTaskData(xs, ys, [TaskSpec("response", "regression", self.n_outputs)], info)
