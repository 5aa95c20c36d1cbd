"""Per-task metrics and multi-task summaries."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

# Which direction is better for each metric name used in the tidy tables.
HIGHER_IS_BETTER = {"accuracy": True, "loss": False, "mse": False}


def delta_m(mtl: Mapping[str, float], stl: Mapping[str, float], higher_is_better: bool | Mapping[str, bool] = True) -> float:
    """Mean relative change of a multi-task model vs single-task models, in percent.

    ``Delta_m = 100/T sum_t s_t (M_t - S_t) / S_t`` with ``s_t = +1`` when higher is better, else ``-1``
    (Maninis et al. 2019; Vandenhende et al. 2021). Positive means the multi-task model is better.

    Examples
    --------
    >>> delta_m({"a": 0.9, "b": 0.8}, {"a": 0.9, "b": 1.0})
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


def delta_m_by(df: pd.DataFrame, baseline: str, metric: str = "accuracy", by: str = "method",
               pair: str = "seed") -> pd.DataFrame:
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


def paired_gap(df: pd.DataFrame, a: str, b: str, by: str = "method", on: tuple[str, ...] = ("seed", "task"),
               value: str = "value") -> pd.DataFrame:
    """``value`` of group ``a`` minus group ``b``, matched on the ``on`` columns (e.g. same seed and task)."""
    left = df[df[by] == a].set_index(list(on))[value]
    right = df[df[by] == b].set_index(list(on))[value]
    return (left - right).rename("gap").reset_index()
