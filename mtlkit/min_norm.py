"""How task gradients are combined, on their Gram matrix: MGDA's exact min-norm point, PCGrad's projections.

MGDA's min-norm point: convex task weights whose combined gradient is shortest.

Given the Gram matrix ``M = G G^T`` of ``T`` task gradients (the rows of ``G``), find ``lam >= 0`` with
``sum(lam) = 1`` minimising ``lam^T M lam = |lam^T G|^2`` (Desideri 2012; Sener & Koltun 2018, arXiv
1810.04650). Two tasks have a closed form. More tasks use Wolfe's (1976) min-norm-point algorithm,
written on the Gram matrix alone: an active-set method that ends, after finitely many steps, at the
exact minimiser (up to float64 rounding), where Frank-Wolfe only creeps towards it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

TOL = 1e-14
"""Optimality tolerance, relative to the largest squared gradient norm ``max_t M_tt``."""


def _affine_minimiser(M: np.ndarray, S: list[int]) -> np.ndarray:
    """Weights ``mu`` (summing to 1, any sign) of the min-norm point of the affine hull of the gradients
    in ``S``, from the KKT system ``[[M_SS, 1], [1^T, 0]] [mu; nu] = [0; 1]``. Least squares, so a
    singular system (duplicated or affinely dependent gradients) still gives a minimiser."""
    k = len(S)
    A = np.ones((k + 1, k + 1))
    A[:k, :k] = M[np.ix_(S, S)]
    A[k, k] = 0.0
    b = np.zeros(k + 1)
    b[k] = 1.0
    return np.linalg.lstsq(A, b, rcond=None)[0][:k]


def _wolfe(M: np.ndarray, tol: float) -> np.ndarray:
    """Wolfe's min-norm-point algorithm on the Gram matrix ``M``: the corral ``S`` of active tasks grows
    by the task whose gradient most decreases the norm, and shrinks (the minor cycle) whenever the
    affine minimiser of ``S`` leaves the simplex, until every gradient ``g_j`` has ``g_j . x >= |x|^2``
    (within ``tol``) for the current point ``x = lam^T G``: the KKT conditions of the problem.

    In exact arithmetic every major step lowers the norm, so no corral comes twice and the loop ends. In
    floating point a step that does not lower it (rounding, when the gradients' lengths span many orders
    of magnitude) ends it, and so does a guard of ``10 T`` steps (random stress cases need under ``2 T``)."""
    T = len(M)
    S = [int(np.argmin(np.diag(M)))]  # start at the shortest gradient
    lam = np.zeros(T)
    lam[S[0]] = 1.0
    for _ in range(10 * T):
        w = M @ lam  # w_j = g_j . x
        j = int(np.argmin(w))
        if lam @ w - w[j] <= tol or j in S:  # optimal (j in S: no progress left but rounding)
            break
        corral, x = [*S, j], np.append(lam[S], 0.0)
        while True:  # minor cycle: step towards the affine minimiser of the corral, dropping tasks at 0
            mu = _affine_minimiser(M, corral)
            neg = np.flatnonzero(mu < 0)
            if len(neg):  # the affine minimiser leaves the simplex: stop at its face, drop that task
                ratios = x[neg] / (x[neg] - mu[neg])
                mu = x + ratios.min() * (mu - x)
                mu[neg[np.argmin(ratios)]] = 0.0
            corral, x = [s for s, v in zip(corral, mu) if v > 0], mu[mu > 0]
            if not len(neg):
                break
        new = np.zeros(T)
        new[corral] = x
        if new @ (M @ new) >= lam @ w:
            break
        S, lam = corral, new
    return lam


def min_norm_weights(gram: Tensor) -> Tensor:
    """Convex weights ``lam`` minimising ``|sum_t lam_t g_t|^2`` given the Gram matrix ``G G^T``.

    Exact (see the module docstring); the result is float32 on the CPU. All-zero gradients give
    equal weights; a non-finite Gram matrix gives NaN weights (a diverged step stays visible).

    Examples
    --------
    >>> g = torch.tensor([[1.0, 0.0], [0.0, 1.0]]); min_norm_weights(g @ g.T)
    tensor([0.5000, 0.5000])
    >>> g = torch.tensor([[1.0, 0.0], [2.0, 0.0]]); min_norm_weights(g @ g.T)
    tensor([1., 0.])
    >>> g = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]); min_norm_weights(g @ g.T)
    tensor([0.5000, 0.0000, 0.5000])

    A stack of Gram matrices ``(S, T, T)`` gives the ``(S, T)`` weights of each.
    """
    if gram.dim() == 3:
        return torch.stack([min_norm_weights(g) for g in gram.detach().double().cpu()])
    M = gram.detach().double().cpu().numpy()
    T = len(M)
    if not np.isfinite(M).all():
        return torch.full((T,), float("nan"))
    scale = np.diag(M).max()
    if T == 1 or scale <= 0:
        return torch.full((T,), 1.0 / T)
    M = M / scale  # scale-free: the same weights for G and c G
    if T == 2:  # gamma g_1 + (1 - gamma) g_2, clamped to [0, 1]
        denom = M[0, 0] + M[1, 1] - 2 * M[0, 1]
        gamma = 0.5 if denom <= 0 else float(np.clip((M[1, 1] - M[0, 1]) / denom, 0.0, 1.0))
        return torch.tensor([gamma, 1 - gamma], dtype=torch.float32)
    return torch.tensor(_wolfe(M, TOL), dtype=torch.float32)


def combined(w: Tensor, grads: Tensor) -> Tensor:
    """``sum_t w_t g_t``: ``(T,)`` weights and ``(T, P)`` gradients, or a stack ``(S, T)`` and ``(S, T, P)``."""
    return w @ grads if w.dim() == 1 else (w.unsqueeze(-2) @ grads).squeeze(-2)


def pcgrad(grads: Tensor, generator: torch.Generator | Sequence[torch.Generator] | None = None) -> Tensor:
    """PCGrad (Yu et al. 2020, arXiv 2001.06782): project each task gradient off the others it conflicts with.

    For each task ``i`` (and, in random order, each other task ``j``), if ``g_i . g_j < 0`` remove from
    ``g_i`` its component along ``g_j``; return the sum of the projected gradients. As in the paper,
    the projections use the *original* ``g_j``; the order comes from ``generator``. Every projected
    gradient is a combination of the originals, so the projections are done on their Gram matrix.
    A stack ``(S, T, P)`` takes one generator per network and gives its ``(S, P)`` updates.

    Examples
    --------
    >>> pcgrad(torch.tensor([[1.0, 0.0], [-1.0, 1.0]]))
    tensor([0.5000, 1.5000])
    """
    stack, gens = (grads, list(generator)) if grads.dim() == 3 else (grads[None], [generator])
    S, T = stack.shape[:2]
    gram = (stack @ stack.mT).double().cpu().numpy()  # every dot product PCGrad needs, computed once
    orders = np.array([[torch.randperm(T, generator=g).tolist() for _ in range(T)] for g in gens])
    coef, rows = np.tile(np.eye(T), (S, 1, 1)), np.arange(S)  # projected g_i = coef[i] @ grads
    for i, k in itertools.product(range(T), range(T)):  # task i, its k-th other task j, every network
        j = orders[:, i, k]
        dot = np.einsum("st,st->s", coef[:, i], gram[rows, :, j])
        c = (j != i) & (dot < 0)  # the conflicting ones
        coef[rows[c], i, j[c]] -= dot[c] / np.maximum(gram[rows[c], j[c], j[c]], 1e-20)
    w = torch.from_numpy(coef.sum(1)).to(grads)
    return combined(w[0], grads) if grads.dim() == 2 else combined(w, grads)


__all__ = ["combined", "min_norm_weights", "pcgrad"]
