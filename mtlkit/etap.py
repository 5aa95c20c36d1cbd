"""ETAP's two predictors as its authors' code fits them (Ayman, Mukhopadhyay, Laszka, ICLR 2026,
arXiv 2602.18591), on a few trained groups' measured gains.

- The score (computed during the joint run, :func:`mtlkit.lookahead.first_order_transference`): the
  inner product of a target task's gradient with a source task's optimizer update, divided by the target's
  loss and the learning rate; a task's score in a group is the mean score onto it from the other members
  (:func:`mtlkit.surrogates.group_scores`).
- The base predictor (:func:`spline_ridge`): the gain over single-task learning, ``1 - L_group / L_single``,
  regressed on the score with a B-spline basis and a ridge penalty, degree, number of knots and penalty
  chosen on the code's grid by k-fold cross-validation (mean squared error).
- The residual predictor (:func:`membership_ridge`): the base predictor's residuals, one output per task,
  regressed on the group's 0/1 membership vector with a ridge penalty chosen by cross-validation;
  predictions of tasks outside a group are dropped. The final gain is the sum (:func:`etap_gains`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import SplineTransformer

SPLINE_DEGREES = tuple(range(2, 7))
"""The code's B-spline degrees."""

SPLINE_ALPHAS = (0.001, 0.002, 0.003, 0.004, 0.005, *(i / 100 for i in range(1, 11)), 0.2, 0.3, 0.4, 0.5)
SPLINE_ALPHAS += (0.6, 0.7, 0.8, 0.9, 1.0)
"""The code's ridge penalties of the base predictor."""

RESIDUAL_ALPHAS = tuple(np.logspace(-6, 2, 20))
"""The code's ridge penalties of the residual predictor."""


def spline_knots(n: int) -> tuple[int, ...]:
    """The code's grid of knot counts for ``n`` training points: 2 to ``floor(sqrt(n)) + 9``."""
    return tuple(range(2, int(np.sqrt(n)) + 10))


def _ridge_fits(
    b: np.ndarray, y: np.ndarray, alphas: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Ridge with an unpenalised intercept for every alpha at once: coefficients ``(A, k)``, the basis
    mean and the target mean (what ``sklearn.linear_model.Ridge`` fits, by one SVD)."""
    mean, ym = b.mean(axis=0), float(y.mean())
    u, s, vt = np.linalg.svd(b - mean, full_matrices=False)
    uty = u.T @ (y - ym)
    coef = np.stack([vt.T @ (s / (s**2 + a) * uty) for a in alphas])
    return coef, mean, ym


def spline_ridge(
    x: np.ndarray, y: np.ndarray, folds: int = 10
) -> tuple[SplineTransformer, np.ndarray, float, dict]:
    """The base predictor: a B-spline basis of the score (``include_bias=True``, uniform knots over the
    training range) and a ridge on it, with degree, knots and penalty chosen on the code's grid by
    ``min(folds, n)``-fold cross-validation (unshuffled folds, mean of the folds' squared errors, the first
    best in the grid's order: penalty, degree, knots). Returns the refitted basis, coefficients,
    intercept and the chosen settings."""
    x, y = np.asarray(x, float).reshape(-1, 1), np.asarray(y, float)
    grid = list(itertools.product(SPLINE_DEGREES, spline_knots(len(y))))
    k = min(folds, len(y))
    if k >= 2:
        score = np.zeros((len(SPLINE_ALPHAS), len(grid)))
        for train, test in KFold(k).split(x):
            for g, (degree, knots) in enumerate(grid):
                basis = SplineTransformer(n_knots=knots, degree=degree).fit(x[train])
                coef, mean, ym = _ridge_fits(basis.transform(x[train]), y[train], SPLINE_ALPHAS)
                pred = (basis.transform(x[test]) - mean) @ coef.T + ym  # (n_test, A)
                score[:, g] += ((pred - y[test, None]) ** 2).mean(axis=0) / k
        a, g = np.unravel_index(int(np.argmin(score)), score.shape)
    else:
        a, g = SPLINE_ALPHAS.index(1.0), 0
    degree, knots = grid[g]
    basis = SplineTransformer(n_knots=knots, degree=degree).fit(x)
    coef, mean, ym = _ridge_fits(basis.transform(x), y, [SPLINE_ALPHAS[a]])
    return (
        basis,
        coef[0],
        float(ym - mean @ coef[0]),
        {"degree": degree, "n_knots": knots, "alpha": SPLINE_ALPHAS[a]},
    )


def membership_ridge(members: np.ndarray, residuals: np.ndarray, folds: int = 5) -> Ridge:
    """The residual predictor: one ridge per task (jointly, as ``Ridge`` fits several outputs) from the
    0/1 membership vector to the residual vector (zero outside the group), its penalty chosen on the code's
    grid by ``min(folds, n)``-fold cross-validation (``Ridge()``'s default penalty with fewer than 2 groups)."""
    k = min(folds, len(members))
    if k < 2:
        return Ridge().fit(members, residuals)
    search = GridSearchCV(
        Ridge(), {"alpha": list(RESIDUAL_ALPHAS)}, cv=KFold(k), scoring="neg_mean_squared_error"
    )
    return search.fit(members, residuals).best_estimator_


def etap_gains(scores: pd.DataFrame, single: Mapping[str, float], trained: pd.DataFrame) -> pd.DataFrame:
    """ETAP's predicted gain and loss of every task in every group (``scores``: rows ``network, task, score``
    for groups of two or more tasks; ``single``: each task's single-task loss; ``trained``: rows ``network,
    task, loss``, the true losses of the trained groups). The gain is ``1 - L_group / L_single``; both
    predictors are fitted on the trained groups and their sum predicts every group, trained ones included
    (as the code predicts them). Rows: network, task, score, gain, loss."""
    fit = scores.merge(trained, on=["network", "task"])
    if fit.empty:
        raise ValueError("ETAP needs at least one trained group of two or more tasks")
    y = 1 - fit.loss.to_numpy() / fit.task.map(single).to_numpy()
    basis, coef, icpt = spline_ridge(fit.score.to_numpy(), y)[:3]

    def base(frame: pd.DataFrame) -> np.ndarray:
        return basis.transform(frame.score.to_numpy(float).reshape(-1, 1)) @ coef + icpt

    tasks = sorted(single)
    col = {t: i for i, t in enumerate(tasks)}

    def matrix(frame: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
        m = np.zeros((frame.network.nunique(), len(tasks)))
        rows = {n: i for i, n in enumerate(dict.fromkeys(frame.network))}
        for n, t, v in zip(frame.network, frame.task, values):
            m[rows[n], col[t]] = v
        return pd.DataFrame(m, index=list(rows), columns=tasks)

    member_fit = matrix(fit, np.ones(len(fit)))
    residual = membership_ridge(member_fit.to_numpy(), matrix(fit, y - base(fit)).to_numpy())
    member_all = matrix(scores, np.ones(len(scores)))
    shift = pd.DataFrame(residual.predict(member_all.to_numpy()), index=member_all.index, columns=tasks)
    out = scores[["network", "task", "score"]].copy()
    out["gain"] = base(scores) + np.array([shift.at[n, t] for n, t in zip(scores.network, scores.task)])
    out["loss"] = out.task.map(single) * (1 - out.gain)
    return out
