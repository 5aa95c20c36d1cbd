"""The MGDA min-norm solver against an exact reference that shares none of its code, and on edge cases."""

from itertools import combinations

import mpmath
import numpy as np
import pytest
import torch

from mtlkit.min_norm import min_norm_weights


def _reference(M: np.ndarray) -> np.ndarray:
    """The exact minimiser of ``lam^T M lam`` on the simplex, by brute force over supports.

    On each support ``S`` the minimiser of the problem with only ``sum(lam) = 1`` solves the KKT system
    ``[[M_SS, 1], [1^T, 0]] [mu; nu] = [0; 1]``; the simplex's minimiser is one of these (on a support
    whose gradients are affinely independent, Caratheodory), so it is the feasible one (``mu >= 0``) of
    least objective. float64 screens every support; the near-best are solved again in 40-digit mpmath
    on the same (exact) matrix entries, and the winner must satisfy the KKT conditions."""
    T, scale = len(M), M.diagonal().max()
    found = []
    for k in range(1, T + 1):
        for S in combinations(range(T), k):
            A = np.ones((k + 1, k + 1))
            A[:k, :k], A[k, k] = M[np.ix_(S, S)], 0.0
            try:
                mu = np.linalg.solve(A, np.eye(k + 1)[k])[:k]
            except np.linalg.LinAlgError:
                continue
            if mu.min() >= -1e-9:
                found.append((float(mu @ M[np.ix_(S, S)] @ mu), S))
    best = min(f for f, _ in found)
    with mpmath.workdps(40):
        Mm = mpmath.matrix(M.tolist())  # the float64 entries, exactly
        exact = []
        for _, S in (c for c in found if c[0] <= best + 1e-8 * scale):
            A = mpmath.matrix([[Mm[i, j] for j in S] + [1] for i in S] + [[1] * len(S) + [0]])
            mu = mpmath.lu_solve(A, mpmath.matrix([0] * len(S) + [1]))
            if min(mu[: len(S)]) >= 0:
                lam = [mpmath.mpf(0)] * T
                for i, s in enumerate(S):
                    lam[s] = mu[i]
                w = [mpmath.fsum(Mm[i, j] * lam[j] for j in range(T)) for i in range(T)]
                exact.append((mpmath.fsum(a * b for a, b in zip(lam, w)), lam, w))
        f, lam, w = min(exact, key=lambda e: e[0])
        assert min(w) >= f - 1e-12 * scale, "KKT: no task gradient may point further into the hull"
        return np.array([float(v) for v in lam])


def _gradients(kind: str, T: int, rng: np.random.Generator) -> np.ndarray:
    P = T + 3
    if kind == "random":
        return rng.standard_normal((T, P))
    if kind == "cond1e8":  # singular values 1 .. 1e-4: the Gram matrix has condition number 1e8
        U = np.linalg.qr(rng.standard_normal((P, P)))[0][:T]
        V = np.linalg.qr(rng.standard_normal((T, T)))[0]
        return V @ np.diag(np.logspace(0, -4, T)) @ U
    if kind == "parallel":  # along (or against) one direction, with a small spread around it
        return rng.uniform(-1, 2, (T, 1)) * rng.standard_normal(P) + 1e-3 * rng.standard_normal((T, P))
    return rng.standard_normal((T, max(1, T // 2 - 1))) + 2.0  # "rank-deficient": T > P


@pytest.mark.parametrize("T", range(2, 11))
def test_matches_the_exact_reference(T):
    rng = np.random.default_rng(T)
    for kind in ("random", "cond1e8", "parallel", "rank-deficient") * 2:
        G = _gradients(kind, T, rng)
        M = G @ G.T
        lam = min_norm_weights(torch.tensor(M)).double().numpy()
        assert lam.shape == (T,) and lam.min() >= 0
        assert lam.sum() == pytest.approx(1.0, abs=1e-6)
        ref = _reference(M)
        if kind != "rank-deficient":  # a unique minimiser: the weights themselves
            np.testing.assert_allclose(lam, ref, rtol=0, atol=1e-6, err_msg=kind)
        else:  # the weights need not be unique: the objective, and the KKT conditions
            scale = M.diagonal().max()
            lam = lam / lam.sum()  # float32 weights sum to 1 only within rounding
            f = lam @ M @ lam
            assert f == pytest.approx(ref @ M @ ref, rel=0, abs=1e-9 * scale)
            assert (M @ lam).min() >= f - 1e-6 * scale  # (float32 weights)


def test_returns_float32_on_the_cpu():
    lam = min_norm_weights(torch.eye(4, dtype=torch.float64))
    assert lam.dtype == torch.float32 and lam.shape == (4,)
    assert torch.allclose(lam, torch.full((4,), 0.25))


def test_one_task():
    assert torch.equal(min_norm_weights(torch.tensor([[3.0]])), torch.tensor([1.0]))


def test_two_tasks_closed_form_and_both_clamps():
    g = torch.tensor([[2.0, 0.0], [0.0, 1.0]])  # gamma = (g2.g2 - g1.g2) / |g1 - g2|^2 = 1/5
    assert torch.allclose(min_norm_weights(g @ g.T), torch.tensor([0.2, 0.8]))
    g = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    assert torch.equal(min_norm_weights(g @ g.T), torch.tensor([1.0, 0.0]))
    assert torch.equal(min_norm_weights(g.flip(0) @ g.flip(0).T), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize("T", [2, 3, 6])
def test_all_zero_gradients_give_equal_weights(T):
    assert torch.equal(min_norm_weights(torch.zeros(T, T)), torch.full((T,), 1.0 / T))


@pytest.mark.parametrize("T", [2, 5])
def test_one_zero_gradient_takes_all_the_weight(T):
    g = torch.randn(T, 4, generator=torch.Generator().manual_seed(0))
    g[T - 1] = 0
    assert torch.equal(min_norm_weights(g @ g.T), torch.eye(T)[T - 1])


def test_duplicated_gradients_share_one_weight():
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-0.5, 1.0, 0.0])
    two = min_norm_weights(torch.stack([a, b]) @ torch.stack([a, b]).T)
    g = torch.stack([a, a, b, a, torch.tensor([0.0, 2.0, 1.0])])
    lam = min_norm_weights(g @ g.T)
    assert lam[4] == 0 and lam.sum() == pytest.approx(1.0)
    assert torch.allclose(torch.stack([lam[[0, 1, 3]].sum(), lam[2]]), two, atol=1e-6)
    same = min_norm_weights(torch.ones(4, 4))  # one gradient four times: any weights, summing to 1
    assert same.min() >= 0 and same.sum() == pytest.approx(1.0)


def test_three_tasks_by_hand():
    g = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # g1 and g3 cancel: x = 0
    assert torch.allclose(min_norm_weights(g @ g.T), torch.tensor([0.5, 0.0, 0.5]))
    assert torch.allclose(min_norm_weights(torch.eye(3)), torch.full((3,), 1 / 3))


@pytest.mark.parametrize("T", [2, 7])
def test_the_weights_do_not_depend_on_the_scale(T):
    g = torch.randn(T, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(T))
    lam = min_norm_weights(g @ g.T)
    for c in (1e-12, 1e12):
        assert torch.allclose(min_norm_weights(c * (g @ g.T)), lam, rtol=0, atol=1e-6)


def test_a_non_finite_gram_matrix_gives_nan_weights():
    assert min_norm_weights(torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]])).isnan().all()
