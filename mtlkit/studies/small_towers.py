"""Study 02 - small towers (Wang et al. 2020, arXiv 2008.05808): small self-auxiliary heads, dropped at
inference, against same-size auxiliary towers, extra towers (PTA-inspired) and a parameter-count control,
compared by the hypervolume of their test-loss Pareto fronts. MultiDigits (MultiMNIST-style overlaid
MNIST pairs in full mode) with a LeNet-style shared bottom is the primary data set; the synthetic
correlated-regression pair with hard sharing and MMoE is an extension the paper did not verify.

The experiment's pieces are in :mod:`mtlkit.fronts`; this module holds the declared parameters
(:data:`SPEC`), what the paper reported (:data:`PAPER`), the grid of runs (:func:`run_configs`), the run
itself (:func:`train_point`), the analysis (:func:`hypervolume_table`, :func:`make_claims`) and the
figures (:mod:`mtlkit.studies.small_towers_figures`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from mtlkit.data import make_data
from mtlkit.data.multidigits import TASKS
from mtlkit.fronts import (
    Variant,
    differences,
    gains,
    head_sizes,
    hypervolumes,
    reference_point,
    shapes,
    train_variant,
    weight_grid,
    wide_tower,
)
from mtlkit.losses import TrainingDiverged
from mtlkit.models.towers import SMALL_HEADS, count_parameters
from mtlkit.params import Param, StudySpec
from mtlkit.runs import FitConfig, RunConfig
from mtlkit.stats import Claim, at_last_epoch
from mtlkit.studies.common import COMMON, sizes
from mtlkit.train import evaluate

DIGIT_DATA = ("multidigits", "overlaid")
"""The primary data: two 8x8 digits side by side (MultiDigits), or MultiMNIST-style overlaid MNIST pairs."""
HEADS_BY_MODE = (["linear"], ["linear"], list(SMALL_HEADS))
GAMMAS_BY_MODE = ([1.0], [2.0], [0.5, 1.0, 3.0, 4.0])  # default: only the main gamma (budget)
LRS_BY_MODE = ([0.02, 0.05], [0.02, 0.05, 0.1], [0.01, 0.02, 0.05, 0.1])
STOPPING = ("each", "sum")
"""Early stopping once every task's own validation loss has plateaued, or once their sum has."""
CORR_BY_MODE = ([0.5], [0.5], [0.0, 0.5, 1.0])


def _sized(name: str, kind: str, help: str, values: tuple, **kw: object) -> Param:
    """A parameter whose value is set per mode: ``values`` = (smoke, default, full)."""
    return Param(name, kind, help=help, by_mode=dict(zip(("smoke", "default", "full"), values)), **kw)


SPEC = StudySpec(
    name="02_small_towers",
    title="02 - Small towers: under-parameterized self-auxiliary heads and the Pareto front",
    paper="Wang, Zhao, Dai, Fifty, Lin, Hong, Chi 2020, Small Towers Make Big Differences, arXiv 2008.05808",
    figure="hypervolume",
    params=COMMON
    + sizes(seeds=(2, 7, 20), epochs=(4, 200, 300), n_train=(200, 800, 5000))
    + (
        _sized("patience", "int", "early stopping: epochs without a better val loss", (2, 10, 20), low=1),
        _sized("digits", "str", "primary data set", ("multidigits",) * 2 + ("overlaid",), choices=DIGIT_DATA),
        Param("digit_tasks", "list", ["left", "right"], "the two digit tasks", choices=tuple(TASKS)),
        _sized("n_weights", "int", "task weightings alpha per front", (2, 3, 11), low=2, high=1000),
        _sized(
            "heads", "list", "small heads; the first meets the baselines", HEADS_BY_MODE, choices=SMALL_HEADS
        ),
        Param("aux_weight", "float", 2.0, "gamma: loss weight of each auxiliary head", low=0.0, high=100.0),
        _sized(
            "gammas", "floats", "more gammas, first head (sensitivity)", GAMMAS_BY_MODE, low=0.0, high=100.0
        ),
        _sized("correlations", "floats", "synthetic task correlations", CORR_BY_MODE, low=-1.0, high=1.0),
        Param("width", "int", 50, "shared representation / expert width", low=2, high=65536),
        Param("tower", "int", 50, "main tower: two hidden layers of this width", low=1, high=65536),
        _sized(
            "channels", "int", "LeNet: channels of the 1st conv (2x in the 2nd)", (6, 6, 10), low=1, high=999
        ),
        _sized("kernel", "int", "LeNet: convolution kernel size", (3, 3, 5), low=1, high=15),
        Param("bottleneck", "int", 8, "units of the bottleneck head", low=1, high=65536),
        Param("pool", "int", 2, "adjacent units averaged by the pooled head", low=1, high=65536),
        Param("n_pseudo", "int", 2, "extra towers (PTA-inspired) per task", low=1, high=64),
        Param("n_experts", "int", 4, "MMoE experts (extension)", low=1, high=256),
        Param(
            "aux_temperature",
            "float",
            20.0,
            "divides the auxiliary logits (authors' code: 20)",
            low=1e-3,
            high=1e3,
        ),
        Param(
            "stopping", "str", "each", "stop when each task's val loss / their sum plateaus", choices=STOPPING
        ),
        _sized(
            "lrs", "floats", "SGD learning rates, chosen per method on val", LRS_BY_MODE, low=1e-8, high=10.0
        ),
        _sized(
            "select_seeds", "int", "seeds (not the evaluation seeds) that choose the lr", (1, 1, 3), low=1
        ),
        Param(
            "lr", "float", 0.05, "SGD lr of the earlier configuration (sensitivity row)", low=1e-8, high=10.0
        ),
        _sized("today_seeds", "int", "first seeds rerun in the earlier configuration", (2, 3, 10), low=0),
        Param("ext_lr", "float", 0.01, "Adam learning rate, synthetic extension", low=1e-8, high=10.0),
        Param("batch_size", "int", 128, "minibatch size", low=1, high=10**6),
    ),
    deltas={
        key: (
            0.05,
            "0.05 of test hypervolume (a 0-1 scale, normalised by the labels' marginal loss): the paper "
            "compares fronts by eye and reports no hypervolume; a twentieth of the scale is the smallest "
            "shift a reader sees in a front plot",
        )
        for key in ("D1", "D2", "D3", "D4", "E1")
    },
    headline=("D1.linear",),
    checks=(
        (
            lambda p: len(p["digit_tasks"]) == 2,
            "parameter 'digit_tasks' = {digit_tasks}: give exactly two tasks",
        ),
        (lambda p: p["pool"] <= p["width"], "parameter 'pool' = {pool} must be at most 'width' = {width}"),
    ),
)

PAPER = {
    "D1.linear": "Wang et al. 2020 (arXiv 2008.05808), Fig. 4: on MultiMNIST a linear self-auxiliary head (510 "
    "parameters, 9.1% of the Dense 50-50-10 tower; gamma = 2) moves the shared-bottom front outward on both "
    "tasks; fronts compared visually, no hypervolume reported",
    "D1.bottleneck": "arXiv 2008.05808, Fig. 4 and code: a bottleneck head of 8 units (498 parameters) on "
    "MultiMNIST moves the front outward; no number reported",
    "D1.pooled": "arXiv 2008.05808: average pooling then linear is its MovieLens head (11 parameters); "
    "not reported on MultiMNIST",
    "D2": "arXiv 2008.05808: front quality improves as the auxiliary tower shrinks, then worsens; same-size "
    "auxiliary towers help less than small ones (no number read; in the released code they are never trained)",
    "D3": "arXiv 2008.05808: small heads beat pseudo-task augmentation (2-4 extra full-size towers; Meyerson & "
    "Miikkulainen 2018) (no number read; in the released code those towers are never trained); ours are extra "
    "towers only, without PTA's varied decoders",
    "D4": "not in the paper: a control of ours; the paper attributes the gain to under-parameterized heads "
    "(about 9% of a tower), not to extra parameters",
    "E1.hard": "extension, not in the paper: the MMoE synthetic generator (Ma et al. 2018) is in the paper's "
    "code, its use in the paper unverified",
    "E1.mmoe": "extension, not in the paper: arXiv 2008.05808's use of MMoE is unverified",
}
"""What the paper reported for each claim."""

DIGITS = "digits"
NONE_GAMMA, PSEUDO_GAMMA = 0.0, 1.0  # the 'gamma' key of the base/wide runs and of the pseudo-task runs


def datasets(p: dict) -> dict[str, dict]:
    """The data sets by label: the digits pair (primary) and one synthetic pair per correlation."""
    out = {DIGITS: {"name": p["digits"], "tasks": list(p["digit_tasks"])}}
    out.update({f"corr={c:g}": {"name": "correlated", "correlation": c} for c in p["correlations"]})
    return out


def task_names(p: dict) -> dict[str, list[str]]:
    """The two task names of each data set."""
    return {ds: spec.get("tasks", ["y1", "y2"]) for ds, spec in datasets(p).items()}


def base_variant(
    p: dict, name: str = "none", gamma: float | None = None, temperature: float | None = None
) -> Variant:
    """A :class:`~mtlkit.fronts.Variant` with the study's head sizes and temperature."""
    gamma = p["aux_weight"] if gamma is None else gamma
    temperature = p["aux_temperature"] if temperature is None else temperature
    return Variant(name, gamma, p["n_pseudo"], p["bottleneck"], p["pool"], temperature)


def model_spec(p: dict, ds: str, arch: str) -> dict:
    """The base model of data set ``ds``: a LeNet bottom for the digits, an MLP bottom or MMoE otherwise."""
    model = {"architecture": arch, "width": p["width"], "tower": [p["tower"]] * 2}
    if ds == DIGITS:
        return {**model, "trunk": "lenet", "channels": p["channels"], "kernel": p["kernel"]}
    return {**model, "trunk": "mlp", "depth": 1, "n_experts": p["n_experts"]}


@dataclass(frozen=True)
class PointConfig:
    """One point of a front: the base run (data, model, training, seed) and what is added to it."""

    run: RunConfig
    variant: Variant
    select: bool = False  # a learning-rate selection run: a diverged run returns losses beyond the reference

    def to_dict(self) -> dict:
        out = {"run": self.run.to_dict(), "variant": self.variant.to_dict()}
        return {**out, "select": True} if self.select else out


def train_point(config: PointConfig) -> pd.DataFrame:
    """Train one point (:func:`~mtlkit.fronts.train_variant`) and return tidy rows: the main tasks'
    history (``epoch`` >= 1), and the served model's val/test metrics, the restored best epoch
    (``split == "val"``, ``task == "all"``, ``metric == "best_epoch"``) and the trained and served
    parameter counts (``epoch`` = 0)."""
    run = config.run
    data = make_data(**run.data).to(run.device)
    if config.select:
        try:
            return train_point(PointConfig(run, config.variant))
        except TrainingDiverged:  # a diverged selection run loses: its losses lie beyond the reference
            rows = [
                {"epoch": 0, "split": "val", "task": t, "metric": "loss", "value": 1e9}
                for t in data.task_names
            ]
            return pd.DataFrame(rows)
    fit_kw = {k: v for k, v in asdict(run.fit).items() if k != "weighting"}
    weights = run.fit.weighting["weights"]
    hist, net, served = train_variant(data, run.model, fit_kw, config.variant, weights, run.seed)
    hist = hist[hist.task.isin(data.task_names) & hist.metric.isin(["loss", "accuracy"])]
    extra = [
        ("val", "all", "best_epoch", float(hist.attrs["best_epoch"])),
        ("train", "all", "parameters", float(count_parameters(net))),
        ("test", "all", "parameters", float(count_parameters(served))),
    ]
    final = pd.concat(
        [evaluate(served, data, s) for s in ("val", "test")]
        + [pd.DataFrame(extra, columns=["split", "task", "metric", "value"])],
        ignore_index=True,
    ).assign(epoch=0)
    return pd.concat([hist, final], ignore_index=True)


def variants(p: dict, ds: str) -> list[tuple[str, str, float]]:
    """``(architecture, variant, gamma)`` of every front of data set ``ds``."""
    g, h = p["aux_weight"], p["heads"][0]
    if ds != DIGITS:
        return [(a, v, gg) for a in ("hard", "mmoe") for v, gg in (("none", NONE_GAMMA), (h, g))]
    out = [("none", NONE_GAMMA), *((k, g) for k in p["heads"]), ("large", g), ("pseudo", PSEUDO_GAMMA)]
    out += [("wide", NONE_GAMMA), *((h, gg) for gg in p["gammas"] if gg != g)]
    return [("hard", v, gg) for v, gg in out]


def lr_of(lrs: dict | None, p: dict, name: str, gamma: float) -> float:
    """A digits front's learning rate: its method's chosen one (``lrs[(variant, gamma)]``; a gamma
    sensitivity front takes its head's at the main gamma), or ``p["lr"]`` when none was chosen."""
    if lrs is None:
        return p["lr"]
    return lrs.get((name, gamma), lrs.get((name, p["aux_weight"]), p["lr"]))


def run_configs(
    p: dict,
    seeds: Sequence[int],
    device: str = "cpu",
    lrs: dict | None = None,
    stage: str = "main",
) -> dict[tuple, PointConfig]:
    """Every run, keyed :data:`KEYS` ``(dataset, architecture, variant, gamma, alpha, seed)``, the digits
    at the learning rates ``lrs`` (:func:`lr_of`). ``stage="select"``: the digits' methods (not the gamma
    sensitivity fronts) at every rate of ``p["lrs"]``, keys plus ``lr``; ``stage="today"``: the base model
    and the first head under the earlier configuration (no temperature, ``p["lr"]``, stopping on the
    summed validation loss), architecture ``"today"``."""
    out, today, g = {}, stage == "today", p["aux_weight"]
    for ds, data in datasets(p).items():
        t1, t2 = task_names(p)[ds]
        digits = ds == DIGITS
        if not digits and stage != "main":
            continue
        for arch, name, gamma in variants(p, ds):
            if stage == "select" and name in p["heads"][:1] and gamma != g:
                continue
            if today and (name, gamma) not in (("none", NONE_GAMMA), (p["heads"][0], g)):
                continue
            model = model_spec(p, ds, arch)
            if name == "wide":
                model["tower"] = wide_tower(shapes(data), model, base_variant(p), p["heads"][0])
            variant = base_variant(p, name, gamma, 1.0 if today else None)
            rates = p["lrs"] if stage == "select" else [lr_of(None if today else lrs, p, name, gamma)]
            for alpha, lr in ((a, r) for a in weight_grid(p["n_weights"]) for r in rates):
                fit = FitConfig(
                    epochs=p["epochs"],
                    lr=lr if digits else p["ext_lr"],
                    optimizer="sgd" if digits else "adam",
                    batch_size=p["batch_size"],
                    weighting={"name": "fixed", "weights": {t1: alpha, t2: round(1 - alpha, 4)}},
                    patience=p["patience"],
                    patience_each=p["stopping"] == "each" and not today,
                )
                for s in seeds:
                    run = RunConfig(s, {**data, "n_train": p["n_train"], "seed": s}, model, fit, device)
                    key = (ds, "today" if today else arch, name, gamma, alpha, s)
                    point = PointConfig(run, variant, select=stage == "select")
                    out[(*key, lr) if stage == "select" else key] = point
    return out


def head_table(p: dict) -> pd.DataFrame:
    """Parameters of each main tower and of each head and extra tower, with their share of the main tower,
    per data set and task (:func:`~mtlkit.fronts.head_sizes`)."""
    syn = next(ds for ds in datasets(p) if ds != DIGITS)  # every synthetic pair has the same shapes
    model, v, h = (lambda ds: model_spec(p, ds, "hard")), base_variant(p), p["heads"][0]
    frames = [head_sizes(shapes(datasets(p)[ds]), model(ds), v, h).assign(dataset=ds) for ds in (DIGITS, syn)]
    return pd.concat(frames, ignore_index=True).set_index(["dataset", "task", "part"])


def hypervolume_table(final: pd.DataFrame, p: dict, seeds: Sequence[int]) -> pd.DataFrame:
    """Normalised test hypervolume of every front (:func:`~mtlkit.fronts.hypervolumes`), one row per
    ``(dataset, architecture, variant, gamma, seed)``, with the reference point of each data set and seed
    (each task's test loss under its training-label marginal)."""
    tasks = task_names(p)
    refs = {
        (ds, s): reference_point({**spec, "n_train": p["n_train"], "seed": s}, tasks[ds])
        for ds, spec in datasets(p).items()
        for s in seeds
    }
    return hypervolumes(final, refs, tasks, by=("dataset", "architecture", "variant", "gamma", "seed"))


def make_claims(hv: pd.DataFrame, best: pd.DataFrame, p: dict) -> list[Claim]:
    """The study's claims: D* on the digits (primary), E* on the synthetic pairs (extension). Each effect is
    a per-seed hypervolume difference in [-1, 1]; ``at_last_epoch`` counts the compared variants' runs."""
    g, h, on = p["aux_weight"], p["heads"][0], f" on {p['digits']}"
    small, none, syn = (h, g), ("none", NONE_GAMMA), [ds for ds in datasets(p) if ds != DIGITS]
    d1 = f"self-auxiliary heads (gamma = {g:g}) raise the base model's hypervolume{on}"
    specs = [(f"D1.{k}", f"Small {k} {d1}", (k, g), none, [DIGITS], "hard") for k in p["heads"]]
    pseudo, wide, d = ("pseudo", PSEUDO_GAMMA), ("wide", NONE_GAMMA), [DIGITS]
    pta, widened = (
        f"extra towers (PTA-inspired: {p['n_pseudo']} extra full-size towers per task)",
        "main towers widened by the same",
    )
    specs += [
        ("D2", f"Small {h} heads beat same-size auxiliary towers{on}", small, ("large", g), d, "hard"),
        ("D3", f"Small {h} heads beat {pta}{on}", small, pseudo, d, "hard"),
        ("D4", f"Small {h} heads beat {widened} parameter count{on}", small, wide, d, "hard"),
    ]
    specs += [
        (
            f"E1.{arch}",
            f"Extension: small {h} heads raise the hypervolume of {model} on the synthetic pairs "
            "(mean over correlations)",
            small,
            none,
            syn,
            arch,
        )
        for arch, model in (("hard", "a shared-bottom model"), ("mmoe", "MMoE"))
    ]
    claims = []
    for cid, statement, a, b, where, arch in specs:
        runs = best[best.dataset.isin(where) & (best.architecture == arch)]
        runs = runs[[(v, gg) in (a, b) for v, gg in zip(runs.variant, runs.gamma)]]
        effect, values = f"test hypervolume: {a[0]} - {b[0]}", differences(hv, a, b, where, arch)
        last = at_last_epoch(runs.best_epoch, p["epochs"])
        kw = {"effect": effect, "paper": PAPER[cid], "support": (-1.0, 1.0), "at_last_epoch": last}
        claims.append(Claim.test(cid, statement, values, **kw))
    return claims


def gamma_table(hv: pd.DataFrame, p: dict) -> pd.DataFrame:
    """Sensitivity to gamma: the first small head's per-seed hypervolume gain over the base model on the
    digits, for every gamma run (rows ``seed, gain, gamma``)."""
    runs = [(p["heads"][0], g) for g in sorted({p["aux_weight"], *p["gammas"]})]
    return gains(hv, runs, ("none", NONE_GAMMA), [DIGITS]).assign(gamma=lambda d: d.variant.str[1])
