"""Two regression tasks with a controllable correlation: the MMoE synthetic generator.

Construction (Ma et al., KDD 2018, "Modeling Task Relationships in Multi-task Learning with
Multi-gate Mixture-of-Experts", section 3.2), with the sinusoids kept mild so that small training sets
are learnable (see ``docs/papers.md``):

1. draw orthonormal ``u1, u2`` in ``R^d``;
2. ``w1 = c u1``, ``w2 = c (p u1 + sqrt(1 - p^2) u2)`` - ``p`` is the *requested* correlation, the
   cosine between the two tasks' weight vectors;
3. ``x ~ N(0, I_d)``;
4. ``y_k = w_k.x + sum_{i=1..m} sin(alpha_i w_k.x + beta_i) + eps_k``, ``eps_k ~ N(0, noise^2)``,
   with ``alpha_i ~ U(0.5, 1.5)`` and ``beta_i ~ U(-pi, pi)`` drawn once per seed and shared by tasks.

The nonlinearity makes the *label* correlation differ from ``p``; ``info["label_corr"]`` reports the
achieved Pearson correlation of ``y1`` and ``y2`` on the training split next to the requested one.
"""

from __future__ import annotations

import math

import torch

from mtlkit.data.base import SPLITS, MultiTaskData, TaskSpec


def make_correlated(
    correlation: float,
    n_train: int = 2000,
    n_eval: int | None = None,
    dim: int = 16,
    n_sin: int = 2,
    scale: float = 1.0,
    noise: float = 0.1,
    seed: int = 0,
) -> MultiTaskData:
    """Tasks ``y1``, ``y2`` whose weight vectors have cosine ``correlation`` (in [-1, 1]).

    Examples
    --------
    >>> d = make_correlated(0.9, n_train=4000, seed=0)
    >>> d.info["requested_corr"], round(d.info["label_corr"], 1)
    (0.9, 0.9)
    """
    if not -1.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [-1, 1], got {correlation}")
    if dim < 2:
        raise ValueError(f"dim must be >= 2 (two orthogonal directions), got {dim}")
    n_eval = max(1, n_train // 4) if n_eval is None else n_eval
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, 2, generator=g, dtype=torch.float64))
    u1, u2 = q[:, 0], q[:, 1]
    w1 = scale * u1
    w2 = scale * (correlation * u1 + math.sqrt(max(0.0, 1 - correlation**2)) * u2)
    alpha = 0.5 + torch.rand(n_sin, generator=g, dtype=torch.float64)
    beta = (torch.rand(n_sin, generator=g, dtype=torch.float64) * 2 - 1) * math.pi

    def label(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        z = x @ w
        wave = torch.sin(alpha * z[:, None] + beta).sum(1) if n_sin else torch.zeros_like(z)
        return z + wave + noise * torch.randn(len(x), generator=g, dtype=torch.float64)

    x, y = {}, {}
    for s, n in zip(SPLITS, (n_train, n_eval, n_eval)):
        xs = torch.randn(n, dim, generator=g, dtype=torch.float64)
        x[s] = xs.float()
        y[s] = {"y1": label(w1, xs).float()[:, None], "y2": label(w2, xs).float()[:, None]}
    corr = float(torch.corrcoef(torch.stack([y["train"]["y1"][:, 0], y["train"]["y2"][:, 0]]))[0, 1])
    specs = [TaskSpec("y1", "regression", 1), TaskSpec("y2", "regression", 1)]
    return MultiTaskData(x, y, specs, {"requested_corr": correlation, "label_corr": corr, "seed": seed})
