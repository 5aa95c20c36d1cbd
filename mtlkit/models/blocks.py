"""Trunks and towers: small MLP and CNN building blocks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def mlp(
    in_dim: int, hidden: Sequence[int], out_dim: int | None = None, act: type[nn.Module] = nn.ReLU
) -> nn.Sequential:
    """``Linear -> act`` for each width in ``hidden``, then a final ``Linear`` to ``out_dim`` if given.

    Examples
    --------
    >>> mlp(4, [8, 8], 2)(torch.zeros(3, 4)).shape
    torch.Size([3, 2])
    """
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), act()]
        d = h
    if out_dim is not None:
        layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class MLPTrunk(nn.Module):
    """Flatten the input, then ``depth`` hidden layers of ``width`` units (the shared representation)."""

    def __init__(self, in_shape: Sequence[int], width: int, depth: int) -> None:
        super().__init__()
        in_dim = int(torch.tensor(in_shape).prod())
        self.net = mlp(in_dim, [width] * depth)
        self.out_dim = width if depth else in_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))


class SmallCNN(nn.Module):
    """Two conv layers (3x3, ReLU, the second with 2x2 max-pool), then a linear layer of ``width``."""

    def __init__(self, in_shape: Sequence[int], width: int, channels: int = 16) -> None:
        super().__init__()
        c, h, w = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.fc = nn.Sequential(nn.Linear(2 * channels * (h // 2) * (w // 2), width), nn.ReLU())
        self.out_dim = width

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1))


TRUNKS = ("mlp", "cnn")


def make_trunk(kind: str, in_shape: Sequence[int], width: int, depth: int = 2) -> nn.Module:
    """A trunk by name: ``mlp`` (``depth`` layers of ``width``) or ``cnn`` (:class:`SmallCNN`)."""
    if kind == "mlp":
        return MLPTrunk(in_shape, width, depth)
    if kind == "cnn":
        return SmallCNN(in_shape, width)
    raise ValueError(f"unknown trunk {kind!r}; known: {list(TRUNKS)}")
