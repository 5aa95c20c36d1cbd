"""MultiDigits: two handwritten digits side by side (8x16), and many tasks derived from the pair.

The offline analogue of MultiMNIST (Sabour et al. 2017) used by the small-towers paper: scikit-learn's
bundled 8x8 digits (1,797 images, no download). The *images* are split into train/val/test first;
pairs are then drawn within each split, so a base image never appears in two splits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from mtlkit.data.base import SPLITS, MultiTaskData, TaskSpec, split_indices

# name -> (number of classes, label from the (left, right) digit labels)
TASKS: dict[str, tuple[int, Callable[[Tensor, Tensor], Tensor]]] = {
    "left": (10, lambda a, b: a),
    "right": (10, lambda a, b: b),
    "sum_parity": (2, lambda a, b: (a + b) % 2),
    "left_gt_right": (2, lambda a, b: (a > b).long()),
    "sum_mod3": (3, lambda a, b: (a + b) % 3),
    "sum": (19, lambda a, b: a + b),
    "product_parity": (2, lambda a, b: (a * b) % 2),
    "left_ge5": (2, lambda a, b: (a >= 5).long()),
    "right_ge5": (2, lambda a, b: (b >= 5).long()),
    "left_parity": (2, lambda a, b: a % 2),
    "right_parity": (2, lambda a, b: b % 2),
}
DEFAULT_TASKS = ["left", "right", "sum_parity", "left_gt_right", "sum_mod3", "sum", "product_parity"]
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)


def load_digits_tensors() -> tuple[Tensor, Tensor]:
    """scikit-learn's 8x8 digits as ``(images[N, 8, 8] in [0, 1], labels[N])``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.tensor(d.images / 16.0, dtype=torch.float32), torch.tensor(d.target, dtype=torch.long)


def check_tasks(tasks: Sequence[str], known: Sequence[str]) -> list[str]:
    """Return ``tasks`` as a list, or raise ``ValueError`` naming the unknown ones and the known ones."""
    tasks = list(tasks)
    unknown = [t for t in tasks if t not in known]
    if unknown or not tasks or len(set(tasks)) != len(tasks):
        raise ValueError(f"tasks {tasks}: unknown {unknown}, or empty/repeated; known tasks: {list(known)}")
    return tasks


def pair_up(
    images: Tensor,
    labels: Tensor,
    tasks: Sequence[str],
    n_pairs: Sequence[int],
    seed: int,
    fractions: Sequence[float] = SPLIT_FRACTIONS,
    compose: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> MultiTaskData:
    """Split base images, draw ``n_pairs[s]`` pairs within each split, derive the tasks.

    ``compose(left, right)`` makes one input from the two images (default: side by side, ``(n, 1, h, 2w)``;
    overlaid MNIST passes its own). Inputs are standardised with the mean and standard deviation of the
    *training* pairs only. Shared by MultiDigits (8x8), MNIST pairs and overlaid MNIST pairs (28x28).
    """
    tasks = check_tasks(tasks, list(TASKS))
    g = torch.Generator().manual_seed(seed)
    parts = split_indices(len(images), fractions, g)
    x, y, ids = {}, {}, {}
    for s, part, n in zip(SPLITS, parts, n_pairs):
        pick = part[torch.randint(len(part), (n, 2), generator=g)]
        left, right = pick[:, 0], pick[:, 1]
        if compose is None:
            x[s] = torch.cat([images[left], images[right]], dim=-1).unsqueeze(1)  # (n, 1, h, 2w)
        else:
            x[s] = compose(images[left], images[right])
        a, b = labels[left], labels[right]
        y[s] = {t: TASKS[t][1](a, b).long() for t in tasks}
        ids[s] = pick
    mean, std = x["train"].mean(), x["train"].std()
    x = {s: (v - mean) / std for s, v in x.items()}
    specs = [TaskSpec(t, "classification", TASKS[t][0]) for t in tasks]
    return MultiTaskData(x, y, specs, {"base_images": ids, "norm": (float(mean), float(std)), "seed": seed})


def make_multidigits(
    tasks: Sequence[str] = DEFAULT_TASKS, n_train: int = 4000, n_eval: int | None = None, seed: int = 0
) -> MultiTaskData:
    """MultiDigits with ``n_train`` training pairs and ``n_eval`` (default ``n_train // 4``) val/test pairs.

    Examples
    --------
    >>> d = make_multidigits(["left", "sum_parity"], n_train=100, seed=0)
    >>> d.x["train"].shape, d.task("left").n_outputs
    (torch.Size([100, 1, 8, 16]), 10)
    """
    if n_train < 1:
        raise ValueError(f"n_train must be >= 1, got {n_train}")
    n_eval = max(1, n_train // 4) if n_eval is None else n_eval
    images, labels = load_digits_tensors()
    return pair_up(images, labels, tasks, (n_train, n_eval, n_eval), seed)
