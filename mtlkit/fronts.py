"""Study 02's experiment: sweep the task weighting, trace each model's test Pareto front, and compare
fronts by hypervolume (Wang et al. 2020, "Small Towers Make Big Differences", arXiv 2008.05808).

Four *variants* of every base model (hard sharing or MMoE):

* ``none``  - the base model;
* ``small`` - plus a small self-auxiliary tower per task (linear, or a hidden layer of a fraction of
  the main tower's width), dropped at inference;
* ``large`` - plus self-auxiliary towers as large as the main towers;
* ``wide``  - no auxiliary towers, but main towers widened by as many parameters as the small towers
  add: is the gain only more parameters?
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mtlkit.data import make_data
from mtlkit.metrics import hypervolume_2d, marginal_loss
from mtlkit.models import build_model
from mtlkit.models.blocks import mlp
from mtlkit.models.towers import count_parameters, matching_tower

VARIANTS = ("none", "small", "large", "wide")


def weight_grid(n: int) -> list[float]:
    """``n`` weights ``alpha`` for task 1 (task 2 gets ``1 - alpha``), evenly spaced in [0.05, 0.95]."""
    return [round(float(a), 4) for a in np.linspace(0.05, 0.95, n)]


def small_tower(tower: Sequence[int], fraction: float) -> list[int]:
    """The auxiliary tower: linear for ``fraction`` 0, else one hidden layer of ``fraction`` x the
    main tower's first width (at least one unit)."""
    return [] if fraction == 0 else [max(1, round(fraction * tower[0]))]


def wide_tower(data_spec: dict[str, Any], model: dict[str, Any], fraction: float) -> list[int]:
    """The parameter-count control: the main tower widened until the served model has as many
    parameters as the base model plus one small tower (``fraction``) per task."""
    data = make_data(**{**data_spec, "n_train": 4})  # shapes only
    tower = list(model["tower"])
    width = model.get("width", 128)
    extra = sum(count_parameters(mlp(width, small_tower(tower, fraction), t.n_outputs)) for t in data.tasks)
    model_kw = {k: v for k, v in model.items() if k != "tower"}

    def build(tw: Sequence[int]):
        return build_model(in_shape=data.input_shape, tasks=data.tasks, tower=list(tw), **model_kw)

    return matching_tower(build, tower, extra)


def reference_point(data_spec: dict[str, Any], tasks: Sequence[str]) -> tuple[float, float]:
    """The hypervolume reference: each task's test loss under its training-label marginal."""
    d = make_data(**data_spec)
    return tuple(marginal_loss(d.y["train"][t], d.y["test"][t], d.task(t).kind) for t in tasks)


def hypervolumes(
    final: pd.DataFrame,
    refs: dict[tuple, tuple[float, float]],
    tasks: dict[str, Sequence[str]],
    by: Sequence[str] = ("dataset", "architecture", "variant", "seed"),
) -> pd.DataFrame:
    """Normalised hypervolume (area / reference box) of each group's test-loss points over the weights.

    ``refs[(dataset, seed)]`` is the reference point and ``tasks[dataset]`` the two task names.
    """
    test = final[(final.split == "test") & (final.metric == "loss")]
    rows = []
    for key, g in test.groupby(list(by)):
        k = dict(zip(by, key))
        pts = g.pivot_table(index="alpha", columns="task", values="value")[
            list(tasks[k["dataset"]])
        ].to_numpy()
        ref = refs[(k["dataset"], k["seed"])]
        rows.append({**k, "hypervolume": hypervolume_2d(pts, ref) / (ref[0] * ref[1])})
    return pd.DataFrame(rows)
