"""Study 02's experiment: sweep the task weighting, trace each model's test Pareto front, and compare
fronts by hypervolume (Wang et al. 2020, "Small Towers Make Big Differences", arXiv 2008.05808).

*Variants* of every base model (hard sharing on an MLP or LeNet-style bottom, or MMoE), :data:`VARIANTS`:

* ``none``   - the base model;
* ``linear``, ``pooled``, ``bottleneck`` - plus a small self-auxiliary head per task of that type
  (:data:`~mtlkit.models.towers.SMALL_HEADS`), loss weight ``gamma``, dropped at inference;
* ``large``  - plus self-auxiliary towers as large as the main towers (the paper's same-size baseline);
* ``pseudo`` - extra towers, inspired by pseudo-task augmentation (Meyerson & Miikkulainen 2018) but
  without its varied decoders: ``n_pseudo`` extra full-size towers per task on the same label, each with
  the task's own loss weight; at inference each task is served by whichever of its towers has the lowest
  validation loss, the others are dropped;
* ``wide``   - no extra towers, but main towers widened until the served model has as many parameters as
  the base model plus one small head (``wide_head``) per task: is the gain only more parameters?

Every variant serves a model of the base model's size except ``wide``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from mtlkit.data import make_data
from mtlkit.data.base import MultiTaskData
from mtlkit.metrics import hypervolume_2d, marginal_loss
from mtlkit.models import build_model
from mtlkit.models.blocks import LeNet, he_init_
from mtlkit.models.sharing import HardSharing
from mtlkit.models.towers import (
    SMALL_HEADS,
    PseudoTaskTowers,
    SelfAuxiliaryTowers,
    aux_head,
    aux_weights,
    count_parameters,
    matching_tower,
    pseudo_names,
    with_aux_tasks,
    with_task_copies,
)
from mtlkit.seeding import seed_everything
from mtlkit.train import evaluate, fit

VARIANTS = ("none", *SMALL_HEADS, "large", "pseudo", "wide")
KEYS = ("dataset", "architecture", "variant", "gamma", "alpha", "seed")
"""The key columns of a front's runs: a front is one ``(dataset, architecture, variant, gamma, seed)``."""


@dataclass(frozen=True)
class Variant:
    """What is added to the base model: ``name`` (:data:`VARIANTS`), the loss weight ``gamma`` of each
    auxiliary head relative to its task, the number of pseudo-task towers, the small heads' sizes
    (``bottleneck`` units; ``pool`` adjacent units averaged), and the ``temperature`` that divides the
    auxiliary heads' (and same-size towers') logits on classification tasks."""

    name: str
    gamma: float = 2.0
    n_pseudo: int = 2
    bottleneck: int = 8
    pool: int = 2
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in VARIANTS:
            raise ValueError(f"unknown variant {self.name!r}; known: {list(VARIANTS)}")
        if not self.gamma >= 0:
            raise ValueError(f"gamma must be >= 0, got {self.gamma}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weight_grid(n: int) -> list[float]:
    """``n`` weights ``alpha`` for task 1 (task 2 gets ``1 - alpha``), evenly spaced in [0.05, 0.95]."""
    return [round(float(a), 4) for a in np.linspace(0.05, 0.95, n)]


def build_base(data: MultiTaskData, model: Mapping[str, Any]) -> nn.Module:
    """The base model, He-initialised (:func:`~mtlkit.models.blocks.he_init_`): ``architecture`` ``hard``
    on a ``trunk`` (``lenet``: :class:`~mtlkit.models.blocks.LeNet` with ``channels`` and ``kernel``; or
    any :func:`~mtlkit.models.blocks.make_trunk` kind), or ``mmoe``; main towers of widths ``tower``."""
    kw = dict(model)
    arch, trunk = kw.pop("architecture"), kw.pop("trunk", "mlp")
    channels, kernel = kw.pop("channels", 10), kw.pop("kernel", 5)
    if arch == "hard" and trunk == "lenet":
        net = HardSharing(LeNet(data.input_shape, kw["width"], channels, kernel), data.tasks, kw["tower"])
    else:
        net = build_model(arch, data.input_shape, data.tasks, trunk=trunk, **kw)
    he_init_(net)
    for head in net.heads.values():
        output_init_(head)
    return net


def output_init_(head: nn.Module) -> nn.Module:
    """He-initialise ``head``'s hidden layers and give its output layer PyTorch's default (smaller)
    initialisation, so that the first logits are small (He-initialised outputs start with large losses,
    and with SGD a model could then collapse to predicting the label marginal). Returns ``head``."""
    he_init_(head)
    [*_, last] = (m for m in head.modules() if isinstance(m, nn.Linear))
    last.reset_parameters()
    return head


def small_heads(data: MultiTaskData, width: int, variant: Variant, kind: str) -> dict[str, nn.Module]:
    """One auxiliary head of type ``kind`` per task on a ``width``-unit representation."""
    return {
        t.name: aux_head(kind, width, t.n_outputs, bottleneck=variant.bottleneck, pool=variant.pool)
        for t in data.tasks
    }


def train_variant(
    data: MultiTaskData,
    model: Mapping[str, Any],
    fit_kw: Mapping[str, Any],
    variant: Variant,
    weights: Mapping[str, float],
    seed: int,
) -> tuple[pd.DataFrame, nn.Module, nn.Module]:
    """Train one point of a front: the base model plus ``variant``, task loss weights ``weights``.

    The base model is built and initialised first from ``seed``, so every variant but ``wide`` starts from
    the same base weights. ``fit_kw`` goes to :func:`~mtlkit.train.fit` (its ``weighting`` is replaced).
    Returns the training history, the trained model and the served one.
    """
    seed_everything(seed)
    base = build_base(data, model)
    net, train_data, w = base, data, dict(weights)
    if variant.name in SMALL_HEADS or variant.name == "large":
        if variant.name == "large":
            heads = {t.name: mlp_tower(base.out_dim, model["tower"], t.n_outputs) for t in data.tasks}
        else:
            heads = small_heads(data, base.out_dim, variant, variant.name)
        heads = {k: output_init_(h) for k, h in heads.items()}
        temps = {t.name: variant.temperature if t.kind == "classification" else 1.0 for t in data.tasks}
        net = SelfAuxiliaryTowers(base, data.tasks, heads=heads, validate_served=True, temperature=temps)
        train_data, w = with_aux_tasks(data), aux_weights(w, variant.gamma)
    elif variant.name == "pseudo":
        net = PseudoTaskTowers(base, data.tasks, variant.n_pseudo, model["tower"])
        for towers in net.pseudo.values():
            for tower in towers:
                output_init_(tower)
        names = {n: t for t in data.task_names for n in pseudo_names(t, variant.n_pseudo)}
        train_data = with_task_copies(data, names)
        w = {**w, **{n: w[t] for n, t in names.items()}}
    kw = {**fit_kw, "weighting": {"name": "fixed", "weights": w}}
    hist = fit(net, train_data, seed=seed, **kw)
    if variant.name == "pseudo":
        served = net.served(choose_towers(net, train_data, data.task_names))
    elif net is not base:
        served = net.served()
    else:
        served = base
    return hist, net, served


def mlp_tower(in_dim: int, tower: Sequence[int], n_outputs: int) -> nn.Module:
    """An auxiliary tower of the main tower's shape (the ``large`` variant)."""
    return aux_head("tower", in_dim, n_outputs, tower=tower)


def choose_towers(net: PseudoTaskTowers, data: MultiTaskData, tasks: Sequence[str]) -> dict[str, str]:
    """For each task, the tower (its own or a pseudo-task's) with the lowest validation loss."""
    val = evaluate(net, data, "val")
    loss = val[val.metric == "loss"].set_index("task").value
    return {t: min([t, *(n for n, s in net.source.items() if s == t)], key=lambda n: loss[n]) for t in tasks}


def shapes(data_spec: Mapping[str, Any]) -> MultiTaskData:
    """A tiny draw of the data set (for input shapes and task specs only)."""
    return make_data(**{**data_spec, "n_train": 4, "n_eval": 2})


def wide_tower(data: MultiTaskData, model: Mapping[str, Any], variant: Variant, head: str) -> list[int]:
    """The parameter-count control: the narrowest widening of the main towers that adds at least as many
    parameters as one small ``head`` per task (:func:`~mtlkit.models.towers.matching_tower`)."""
    extra = sum(count_parameters(h) for h in small_heads(data, model["width"], variant, head).values())
    return matching_tower(lambda tw: build_base(data, {**model, "tower": list(tw)}), model["tower"], extra)


def head_sizes(data: MultiTaskData, model: Mapping[str, Any], variant: Variant, head: str) -> pd.DataFrame:
    """Parameters of each task's main tower and of what each variant adds to it, and their share of the
    main tower: the small heads, a same-size tower, the pseudo-task towers and the widened tower."""
    width, tower = model["width"], list(model["tower"])
    wide = wide_tower(data, model, variant, head)
    rows = []
    for t in data.tasks:
        main = count_parameters(aux_head("tower", width, t.n_outputs, tower=tower))
        parts = {
            f"head: {k}": count_parameters(h[t.name])
            for k in SMALL_HEADS
            for h in [small_heads(data, width, variant, k)]
        }
        parts["large: same-size tower"] = main
        parts[f"pseudo: {variant.n_pseudo} towers"] = variant.n_pseudo * main
        parts[f"wide: tower {wide} - main"] = (
            count_parameters(aux_head("tower", width, t.n_outputs, tower=wide)) - main
        )
        rows += [
            {
                "task": t.name,
                "part": "main tower " + "-".join(map(str, [*tower, t.n_outputs])),
                "parameters": main,
            }
        ]
        rows += [{"task": t.name, "part": k, "parameters": v} for k, v in parts.items()]
    out = pd.DataFrame(rows)
    main = out.groupby("task").parameters.transform("first")
    return out.assign(**{"% of main tower": (100 * out.parameters / main).round(1)})


def reference_point(
    data_spec: Mapping[str, Any], tasks: Sequence[str], split: str = "test"
) -> tuple[float, float]:
    """The hypervolume reference: each task's ``split`` loss under its training-label marginal."""
    d = make_data(**data_spec)
    return tuple(marginal_loss(d.y["train"][t], d.y[split][t], d.task(t).kind) for t in tasks)


def select_lr(hv: pd.DataFrame, by: Sequence[str] = ("variant", "gamma")) -> pd.Series:
    """The learning rate of each method (``by``): the one with the highest validation hypervolume averaged
    over the selection seeds (rows ``*by, lr, seed, hypervolume``); ties go to the smaller rate."""
    mean = hv.groupby([*by, "lr"]).hypervolume.mean().reset_index().sort_values([*by, "lr"])
    best = mean.loc[mean.groupby(list(by)).hypervolume.idxmax()]
    return best.set_index(list(by)).lr


def low_weight_effects(
    final: pd.DataFrame, a: tuple[str, float], b: tuple[str, float], tasks: Sequence[str], metric: str
) -> pd.DataFrame:
    """Per weight ``alpha`` and seed: variant ``a`` minus ``b`` on the test ``metric`` of the task with the
    smaller loss weight (task 1 below alpha = 0.5, task 2 above, the mean of both at 0.5); rows
    ``alpha, seed, effect``. ``final`` holds one data set's and architecture's runs."""
    d = final[(final.split == "test") & (final.metric == metric) & final.task.isin(tasks)]
    wide = d.pivot_table(index=["alpha", "seed"], columns=["variant", "gamma", "task"], values="value")
    diff = wide[a] - wide[b]
    t1, t2 = tasks
    alpha = diff.index.get_level_values("alpha").to_numpy()
    low = np.where(alpha < 0.5, diff[t1], np.where(alpha > 0.5, diff[t2], (diff[t1] + diff[t2]) / 2))
    return diff.index.to_frame(index=False).assign(effect=low)


def hypervolumes(
    final: pd.DataFrame,
    refs: dict[tuple, tuple[float, float]],
    tasks: dict[str, Sequence[str]],
    by: Sequence[str] = ("dataset", "architecture", "variant", "seed"),
    split: str = "test",
) -> pd.DataFrame:
    """Normalised hypervolume (area / reference box) of each group's ``split`` loss points over the weights.

    ``refs[(dataset, seed)]`` is the reference point and ``tasks[dataset]`` the two task names.
    """
    test = final[(final.split == split) & (final.metric == "loss")]
    rows = []
    for key, g in test.groupby(list(by)):
        k = dict(zip(by, key))
        pts = g.pivot_table(index="alpha", columns="task", values="value")[
            list(tasks[k["dataset"]])
        ].to_numpy()
        ref = refs[(k["dataset"], k["seed"])]
        rows.append({**k, "hypervolume": hypervolume_2d(pts, ref) / (ref[0] * ref[1])})
    return pd.DataFrame(rows)


def differences(
    hv: pd.DataFrame, a: tuple[str, float], b: tuple[str, float], datasets: Sequence[str], arch: str = "hard"
) -> pd.Series:
    """Per seed: hypervolume of variant ``a = (name, gamma)`` minus that of ``b``, averaged over
    ``datasets`` (same seed = same data draw and base initialisation)."""
    d = hv[(hv.architecture == arch) & hv.dataset.isin(datasets)]
    wide = d.pivot_table(index=["dataset", "seed"], columns=["variant", "gamma"], values="hypervolume")
    return (wide[a] - wide[b]).groupby("seed").mean()


def best_epochs(runs: pd.DataFrame) -> pd.DataFrame:
    """The restored best epoch of every run, one row per run (its :data:`KEYS` and ``best_epoch``)."""
    rows = runs[(runs.epoch == 0) & (runs.metric == "best_epoch")]
    return rows[list(KEYS)].assign(best_epoch=rows.value.to_numpy())


def gains(
    hv: pd.DataFrame,
    runs: Sequence[tuple[str, float]],
    base: tuple[str, float],
    datasets: Sequence[str],
    arch: str = "hard",
) -> pd.DataFrame:
    """:func:`differences` of each ``(variant, gamma)`` in ``runs`` against ``base``, stacked: rows
    ``seed, gain, variant`` (``variant`` holds the ``(name, gamma)`` pair)."""
    frames = [differences(hv, r, base, datasets, arch).rename("gain").reset_index() for r in runs]
    return pd.concat([f.assign(variant=[r] * len(f)) for f, r in zip(frames, runs)], ignore_index=True)
