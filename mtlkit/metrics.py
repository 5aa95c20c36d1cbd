"""Per-task metrics and multi-task summaries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

# Which direction is better for each metric name used in the tidy tables.
HIGHER_IS_BETTER = {"accuracy": True, "loss": False, "mse": False}


def delta_m(
    mtl: Mapping[str, float], stl: Mapping[str, float], higher_is_better: bool | Mapping[str, bool] = True
) -> float:
    """Mean relative change of a multi-task model vs single-task models, in percent.

    ``Delta_m = 100/T sum_t s_t (M_t - S_t) / S_t`` with ``s_t = +1`` when higher is better, else ``-1``
    (Maninis et al. 2019; Vandenhende et al. 2021). Positive means the multi-task model is better.

    Examples
    --------
    >>> round(delta_m({"a": 0.9, "b": 0.8}, {"a": 0.9, "b": 1.0}), 6)
    -10.0
    >>> delta_m({"a": 0.5}, {"a": 1.0}, higher_is_better=False)
    50.0
    """
    if set(mtl) != set(stl):
        raise ValueError(f"tasks differ: {sorted(mtl)} vs {sorted(stl)}")
    total = 0.0
    for t in mtl:
        up = higher_is_better if isinstance(higher_is_better, bool) else higher_is_better[t]
        total += (1 if up else -1) * (mtl[t] - stl[t]) / stl[t]
    return 100.0 * total / len(mtl)


def delta_m_by(
    df: pd.DataFrame, baseline: str, metric: str = "accuracy", by: str = "method", pair: str = "seed"
) -> pd.DataFrame:
    """``delta_m`` of every ``by`` group vs ``baseline``, paired on ``pair`` (same seed = same data).

    ``df`` is tidy with columns ``by``, ``pair``, ``task``, ``metric``, ``value``; returns one row per
    ``(by, pair)`` with column ``delta_m``.
    """
    d = df[df.metric == metric]
    wide = d.pivot_table(index=[by, pair], columns="task", values="value")
    up = HIGHER_IS_BETTER[metric]
    rows = []
    for (group, p), row in wide.iterrows():
        base = wide.loc[(baseline, p)]
        rows.append({by: group, pair: p, "delta_m": delta_m(row.to_dict(), base.to_dict(), up)})
    return pd.DataFrame(rows)


def paired_gap(
    df: pd.DataFrame,
    a: str,
    b: str,
    by: str = "method",
    on: tuple[str, ...] = ("seed", "task"),
    value: str = "value",
) -> pd.DataFrame:
    """``value`` of group ``a`` minus group ``b``, matched on the ``on`` columns (e.g. same seed and task)."""
    left = df[df[by] == a].set_index(list(on))[value]
    right = df[df[by] == b].set_index(list(on))[value]
    return (left - right).rename("gap").reset_index()


# --- multitasking measures (study 01) -----------------------------------------------------------


def epochs_to_criterion(curve: Sequence[float], criterion: float) -> int:
    """First epoch (1-based) whose loss is below ``criterion``; ``len(curve) + 1`` if never (censored).

    Examples
    --------
    >>> epochs_to_criterion([0.5, 0.2, 0.009, 0.001], 0.01), epochs_to_criterion([0.5, 0.2], 0.01)
    (3, 3)
    """
    for i, v in enumerate(curve, start=1):
        if v < criterion:
            return i
    return len(curve) + 1


def luce_accuracy(out: Tensor, target: Tensor, dims: Tensor) -> Tensor:
    """Luce-normalised activation of the correct unit within each cued output dimension.

    ``out`` and ``target`` are ``(n, n_out_dims, n_features)``; ``dims`` is ``(n, k)`` long: the output
    dimension of each of the ``k`` cued tasks of a trial. Returns ``(n, k)``: ``out[correct] /
    sum(out over that dimension)`` (Musslick et al. 2017's multitasking accuracy; 1 = all activation on
    the correct response, ``1/n_features`` = none preferred).

    Examples
    --------
    >>> out = torch.tensor([[[0.8, 0.2], [0.5, 0.5]]]); tgt = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> luce_accuracy(out, tgt, torch.tensor([[0, 1]]))
    tensor([[0.8000, 0.5000]])
    """
    idx = dims[..., None].expand(-1, -1, out.shape[-1])
    o, t = out.gather(1, idx), target.gather(1, idx)
    return (o * t).sum(-1) / o.sum(-1).clamp_min(1e-12)


def similarity_matrix(patterns: Tensor) -> Tensor:
    """Pearson correlation between the flattened activity patterns of each task, ``(T, ...) -> (T, T)``."""
    flat = patterns.flatten(1)
    return torch.corrcoef(flat)


def sharing_index(sim: Tensor, tasks: Sequence[tuple[int, int]]) -> float:
    """Mean similarity of the pairs of tasks that share an input dimension (how *shared* their
    representations are); ``nan`` when no two tasks share one."""
    vals = [
        float(sim[a, b])
        for a in range(len(tasks))
        for b in range(a + 1, len(tasks))
        if tasks[a][0] == tasks[b][0]
    ]
    return sum(vals) / len(vals) if vals else float("nan")


# --- Pareto fronts (study 02) -------------------------------------------------------------------


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (``(n, k)``, every column minimised).

    Examples
    --------
    >>> pareto_front(np.array([[1, 3], [2, 2], [3, 1], [3, 3], [2, 2]])).tolist()
    [True, True, True, False, True]
    """
    p = np.asarray(points, dtype=float)
    keep = np.ones(len(p), dtype=bool)
    for i in range(len(p)):
        dominated_by = np.all(p <= p[i], axis=1) & np.any(p < p[i], axis=1)
        keep[i] = not dominated_by.any()
    return keep


def hypervolume_2d(points: np.ndarray, ref: Sequence[float]) -> float:
    """Area dominated by ``points`` (two minimised objectives) inside the box below ``ref``; exact.

    Points that do not dominate ``ref`` add nothing.

    Examples
    --------
    >>> hypervolume_2d(np.array([[1, 3], [2, 2], [3, 1]]), (4, 4))  # 1*1 + 1*2 + 1*3
    6.0
    """
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    p = p[(p[:, 0] < ref[0]) & (p[:, 1] < ref[1])]
    if len(p) == 0:
        return 0.0
    p = p[pareto_front(p)]
    p = p[np.lexsort((p[:, 1], p[:, 0]))]
    xs = np.append(p[1:, 0], ref[0])
    return float(np.sum((xs - p[:, 0]) * (ref[1] - p[:, 1])))


def marginal_loss(y_train: Tensor, y_test: Tensor, kind: str) -> float:
    """Test loss of a predictor that knows only the training labels' marginal: the mean (MSE) for
    regression, the class frequencies (cross-entropy) for classification. A natural reference point."""
    if kind == "regression":
        return float(((y_test - y_train.mean(0)) ** 2).mean())
    freq = torch.bincount(y_train, minlength=int(max(y_train.max(), y_test.max())) + 1).double() + 1.0
    p = freq / freq.sum()
    return float(-torch.log(p[y_test]).mean())
