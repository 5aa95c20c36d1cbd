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


class LinearBank(nn.Module):
    """``n`` independent linear layers applied at once: ``(n, B, a) -> (n, B, b)`` with one batched matmul.
    Initialised like ``nn.Linear``: U(-1/sqrt(a), 1/sqrt(a)) for weights and biases."""

    def __init__(self, n: int, a: int, b: int) -> None:
        super().__init__()
        bound = 1.0 / a**0.5
        self.weight = nn.Parameter(torch.empty(n, a, b).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, 1, b).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:  # the same input for every member
            x = x.unsqueeze(0).expand(len(self.weight), -1, -1)
        return torch.baddbmm(self.bias, x, self.weight)

    def member(self, i: int) -> nn.Linear:
        """Member ``i`` as an ordinary ``nn.Linear`` with the same weights."""
        lin = nn.Linear(self.weight.shape[1], self.weight.shape[2])
        with torch.no_grad():
            lin.weight.copy_(self.weight[i].T)
            lin.bias.copy_(self.bias[i, 0])
        return lin


class MLPBank(nn.Module):
    """``n`` independent MLPs of ``depth`` ReLU layers of ``width``, evaluated together with batched
    matmuls (one call per layer instead of one per member: several times faster for small MLPs).
    ``(B, in)`` or ``(n, B, in)`` -> ``(n, B, width)``."""

    def __init__(self, n: int, in_dim: int, width: int, depth: int) -> None:
        super().__init__()
        sizes = [in_dim] + [width] * depth
        self.layers = nn.ModuleList(LinearBank(n, a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


TRUNKS = ("mlp", "cnn")


def make_trunk(kind: str, in_shape: Sequence[int], width: int, depth: int = 2) -> nn.Module:
    """A trunk by name: ``mlp`` (``depth`` layers of ``width``) or ``cnn`` (:class:`SmallCNN`)."""
    if kind == "mlp":
        return MLPTrunk(in_shape, width, depth)
    if kind == "cnn":
        return SmallCNN(in_shape, width)
    raise ValueError(f"unknown trunk {kind!r}; known: {list(TRUNKS)}")


class LeNet(nn.Module):
    """A LeNet-style convolutional bottom (the shared bottom of the small-towers paper's MultiMNIST model):
    two ``kernel`` x ``kernel`` convolutions (``channels`` and ``2 * channels`` maps, padded), each followed
    by a 2x2 max-pool and a ReLU, then a ReLU layer of ``width`` units (the shared representation)."""

    def __init__(self, in_shape: Sequence[int], width: int, channels: int = 10, kernel: int = 5) -> None:
        super().__init__()
        c, h, w = in_shape
        if h < 4 or w < 4:
            raise ValueError(f"LeNet needs images of at least 4x4 (two 2x2 pools), got {h}x{w}")
        pad = kernel // 2
        self.features = nn.Sequential(
            nn.Conv2d(c, channels, kernel, padding=pad),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, kernel, padding=pad),
            nn.MaxPool2d(2),
            nn.ReLU(),
        )
        self.fc = nn.Sequential(nn.Linear(2 * channels * (h // 4) * (w // 4), width), nn.ReLU())
        self.out_dim = width
        self.features.to(
            memory_format=torch.channels_last
        )  # same values; CPU convolutions+pools ~1.4x faster

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1))


def he_init_(module: nn.Module) -> nn.Module:
    """Re-initialise every linear and convolutional layer of ``module`` in place: He (Kaiming) normal
    weights for ReLU units (fan-in), zero biases. Returns ``module``.

    PyTorch's default initialisation shrinks the signal through each ReLU layer; a six-layer
    conv-plus-towers model trained with SGD can then sit on its initial plateau for many epochs.

    >>> m = he_init_(mlp(4, [8], 2))
    >>> float(m[0].bias.detach().abs().sum())
    0.0
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module
