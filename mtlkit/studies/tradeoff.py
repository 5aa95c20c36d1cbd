"""Study 01 - the trade-off between learning and multitasking (Musslick et al., CogSci 2017; Ravi, Musslick
et al. 2020, arXiv 2007.10527). Task-cued networks learn single tasks from task -> hidden weights of swept
initial similarity (the 2017 manipulation), or are pre-trained with or without concurrent trials (the 2020
reading); both are scored on concurrent trials they never trained on. A bandit agent picks the training
strategy per environment.

The experiments are :func:`~mtlkit.multitasking.learn_and_multitask` and
:func:`~mtlkit.multitasking.pretrain_and_probe`; this module holds the study's declared parameters
(:data:`SPEC`), what the papers reported (:data:`PAPER`), its runs, its protocol and its figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from mtlkit.data.stimulus import MAPPINGS
from mtlkit.multitasking import REGIMES
from mtlkit.params import Param, StudySpec
from mtlkit.plotting import band, plot_intervals
from mtlkit.stats import summarize
from mtlkit.studies.common import ACCURACY_SHARE, COMMON, ENVIRONMENTS, EPOCH, REWARD, RHO, SIMILARITY

INIT = {"shallow": 0.1, "deep": 0.5}
"""Initial weight scale U(-a, a) of each network (the deep one barely trains from 0.1)."""


LEVELS = ([0.0, 0.5, 0.975], [0.0, 0.2, 0.4, 0.6, 0.8, 0.975], [round(0.025 * k, 3) for k in range(40)])
"""The initial similarities of the sweep per mode (the paper: 40 values from 0 to 0.975)."""

OVERLAPS = ([0.0, 0.333, 1.0], [0.0, 0.333, 0.667, 1.0], [0.0, 0.25, 0.5, 0.75, 1.0])
"""The feature overlaps of the overlap sweep per mode: 0 to ``n_features`` shared features (the paper: 0 to 1
in steps of 0.2 of 5 features)."""


MAX_BYTES = 2**30
"""The largest data set study 01 builds (a memory bound checked before any compute)."""


def data_set_bytes(p: dict) -> int:
    """Float32 bytes of the largest data set the study builds: every stimulus under every task, or under
    every pair of tasks that can run at once (the multitasking trials), with input, task cue and target."""
    d, f = p["n_dims"], p["n_features"]
    conditions = max(d**2, d**2 * (d - 1) ** 2 // 2)  # tasks, or pairs on distinct input and output dims
    return 4 * f**d * conditions * (2 * d * f + d**2)


def _sized(name: str, kind: str, help: str, sizes: tuple, low: float, high: float) -> Param:
    return Param(
        name, kind, help=help, low=low, high=high, by_mode=dict(zip(("smoke", "default", "full"), sizes))
    )


def _ordered(a: str, op: str, b: str) -> tuple:
    holds = (lambda p: p[a] < p[b]) if op == "<" else (lambda p: p[a] <= p[b])
    return holds, f"parameters '{a}' = {{{a}}} and '{b}' = {{{b}}}: need {a} {op} {b}"


SPEC = StudySpec(
    name="01_tradeoff",
    title="01 - Multi-task learning vs multitasking: shared representations learn fast, separated ones run in parallel",
    paper="Musslick et al., CogSci 2017; Ravi, Musslick, Hamin, Willke, Cohen 2020, arXiv 2007.10527",
    figure="tradeoff",
    params=COMMON
    + (
        _sized("seeds", "int", "independent networks per condition", (2, 25, 100), 2, 1000),
        Param("n_dims", "int", 3, "input (and output) dimensions D; D x D tasks", low=3, high=8),
        _sized("n_features", "int", "features per dimension F (stimuli = F^D)", (3, 3, 4), 2, 10),
        Param("mapping", "str", "identity", "feature -> response rule of each task", choices=MAPPINGS),
        Param("hidden", "int", 100, "units per hidden layer", low=2, high=4096),
        Param("depth", "int", 3, "hidden layers of the deep network (the shallow one has 1)", low=2, high=16),
        _sized("epochs", "int", "epoch cap to learn the (pre-)training tasks", (15, 400, 2000), 1, 10**5),
        _sized("new_epochs", "int", "epoch cap to learn the new task", (15, 300, 2000), 1, 10**5),
        Param("criterion", "float", 0.01, "mean squared error that counts as learned", low=1e-6, high=1.0),
        Param("lr", "float", 1.0, "SGD (momentum 0.9) learning rate", low=1e-6, high=100.0),
        Param("batch_size", "int", 16, "minibatch size", low=1, high=100000),
        Param("noise", "float", 0.0, "std of Gaussian noise on training stimuli", low=0.0, high=10.0),
        _sized("similarities", "floats", "initial task -> hidden similarities swept", LEVELS, 0.0, 0.99),
        Param("cue_init", "float", 1.0, "sweep: task -> hidden weights in U(-a, a)", low=1e-3, high=10.0),
        _sized("overlaps", "floats", "feature overlaps swept (share of features shared)", OVERLAPS, 0, 1),
        _sized("overlap_seeds", "int", "seeds of the overlap sweep (the first ones)", (2, 6, 25), 2, 1000),
        Param("overlap_samples", "int", 27, "overlap sweep: continuous stimuli", low=2, high=10000),
        Param("held_out_pairs", "float", 0.5, "share of pairs never trained", low=0.05, high=0.95),
        Param("horizon_min", "float", 30.0, "environments: shortest horizon (epochs)", low=1.0, high=1e7),
        Param("horizon_max", "float", 300.0, "environments: longest horizon", low=1.0, high=1e7),
        Param("concurrency_min", "float", 0.0, "environments: lowest concurrency value", low=0.0, high=1.0),
        Param("concurrency_max", "float", 1.0, "environments: highest concurrency value", low=0.0, high=1.0),
        _sized("environments", "int", "training environments for the agent", (30, 200, 1000), 1, 10**6),
        _sized("test_environments", "int", "held-out environments", (20, 100, 500), 1, 10**6),
        _sized("episodes", "int", "agent training episodes", (300, 3000, 20000), 1, 10**7),
    ),
    deltas={
        "C5": RHO,
        "C6": RHO,
        "C0": SIMILARITY,
        "C1": EPOCH,
        "C3.speed": EPOCH,
        "C2": ACCURACY_SHARE,
        "C3.multitasking": ACCURACY_SHARE,
        "C4.choice": ENVIRONMENTS,
        "C4": REWARD,
    },
    headline=("C1", "C2", "C4.choice"),
    checks=(
        _ordered("horizon_min", "<", "horizon_max"),
        _ordered("concurrency_min", "<=", "concurrency_max"),
        (
            lambda p: len(set(p["similarities"])) >= 3,
            "parameter 'similarities' = {similarities}: need 3 levels",
        ),
        (
            lambda p: len({round(o * p["n_features"]) for o in p["overlaps"]}) >= 3,
            "parameter 'overlaps' = {overlaps}: need 3 levels that share different numbers of the "
            "{n_features} features",
        ),
        _ordered("overlap_seeds", "<=", "seeds"),
        (
            lambda p: data_set_bytes(p) <= MAX_BYTES,
            lambda p: (
                f"parameters n_dims = {p['n_dims']}, n_features = {p['n_features']}: "
                f"{p['n_features'] ** p['n_dims']:,} stimuli need about {data_set_bytes(p) / 2**30:,.1f} GiB for "
                f"the multitasking trials; at most {MAX_BYTES / 2**30:g} GiB: "
                "lower n_features or n_dims"
            ),
        ),
    ),
)

_2017 = "Musslick et al. 2017 (CogSci, 'Multitasking capability versus learning efficiency')"
_2020 = "Ravi, Musslick et al. 2020 (arXiv 2007.10527), abstract"
PAPER = {
    "C0": f"a manipulation check of ours: {_2020} obtains separated representations by training on "
    "concurrent trials; no number read",
    "C1": f"{_2020}: shared representations make new tasks faster to learn; {_2017} Fig. 3b: more "
    "sharing, fewer epochs; direction only (values not read)",
    "C2": f"{_2020}: separated representations allow concurrent execution; {_2017} Fig. 3b (never-trained "
    "concurrent trials): more sharing, lower multitasking accuracy; direction only",
    "C3.speed": f"{_2020}: the trade-off also holds in deep networks; direction only",
    "C3.multitasking": f"{_2020}: the trade-off also holds in deep networks; direction only",
    "C4.choice": f"{_2020}: a meta-learning agent optimizes its training strategy as a function of an "
    "unfamiliar environment; no number read",
    "C4.worse": f"{_2020}: the agent's strategy beats the worse fixed one (implied); no number read",
    "C4.better": f"{_2020}: the agent approaches the better fixed strategy (implied); no number read",
    "C5.similarity": f"a manipulation check of ours: {_2017} Fig. 5 sets the initial similarity (40 values, "
    "0 to 0.975) and reads the trade-off off it",
    "C5.speed": f"{_2017} Fig. 5a (feature overlap 1): higher initial task-weight similarity, fewer epochs "
    "to learn; direction only (values not read)",
    "C5.multitasking": f"{_2017} Fig. 5a: higher initial task-weight similarity, lower multitasking "
    "accuracy on never-trained concurrent trials; direction only (values not read)",
    "C6.sharing": f"{_2017} Fig. 3: more feature overlap between tasks, more similar learned task "
    "representations; direction only (values not read)",
    "C6.speed": f"{_2017} Fig. 3: more feature overlap, faster learning (fewer iterations to the criterion); "
    "direction only",
    "C6.multitasking": f"{_2017} Fig. 3b: more feature overlap, lower multitasking accuracy on "
    "never-trained concurrent trials; direction only",
}
"""What the papers reported for each claim (directions only: their figures' values could not be read)."""


def networks(p: dict) -> dict[str, int]:
    """The two networks compared: hidden layers of the shallow and of the deep one."""
    return {"shallow": 1, "deep": p["depth"]}


def _common(p: dict, seed: int) -> dict:
    keys = ("epochs", "criterion", "lr", "batch_size", "noise")
    return {
        "seed": seed,
        "optimizer": "sgd",
        **{k: p[k] for k in keys},
        "env": {"n_dims": p["n_dims"], "n_features": p["n_features"], "mapping": p["mapping"]},
    }


def run_config(p: dict, network: str, regime: str, seed: int) -> dict:
    """One :func:`~mtlkit.multitasking.pretrain_and_probe` run: ``network`` pre-trained under ``regime``."""
    model = {"hidden": p["hidden"], "depth": networks(p)[network], "init": INIT[network]}
    return {
        **_common(p, seed),
        "regime": regime,
        "new_task": [0, 0],
        "model": model,
        "new_epochs": p["new_epochs"],
        "held_out_pairs": p["held_out_pairs"],
    }


def run_configs(p: dict, seeds: Sequence[int]) -> dict[tuple, dict]:
    """Every run of the regime comparison, keyed ``(network, regime, seed)``."""
    return {(n, r, s): run_config(p, n, r, s) for n in networks(p) for r in REGIMES for s in seeds}


def first_levels(levels: Sequence[float]) -> list[float]:
    """The levels run at the first task -> hidden scale: the lowest, the middle and the highest."""
    s = sorted(set(levels))
    return sorted({s[0], s[len(s) // 2], s[-1]})


def sweep_configs(p: dict, seeds: Sequence[int]) -> dict[tuple, dict]:
    """Every run of the initial-similarity sweep (:func:`~mtlkit.multitasking.learn_and_multitask`, the
    shallow network), keyed ``(cue_init, similarity, seed)``: at the scale of the other weights (0.1, the
    first setting, the primary claims) the :func:`first_levels`, and every level at the task -> hidden
    scale ``cue_init`` chosen after seeing the first run."""
    grid = {INIT["shallow"]: first_levels(p["similarities"]), p["cue_init"]: p["similarities"]}
    return {
        (a, s, k): {
            **_common(p, k),
            "similarity": s,
            "model": {"hidden": p["hidden"], "depth": 1, "init": INIT["shallow"], "cue_init": a},
        }
        for a, levels in grid.items()
        for s in levels
        for k in seeds
    }


def protocol(p: dict, seeds: Sequence[int]) -> str:
    """The study's protocol as Markdown, every value from the resolved parameters ``p``."""
    d, n_tasks, stim = p["n_dims"], p["n_dims"] ** 2, p["n_features"] ** p["n_dims"]
    n_pairs = n_tasks * (d - 1) ** 2 // 2  # distinct input and distinct output dimensions
    n_old = n_pairs - (d - 1) ** 2  # the pairs without the new task (0, 0)
    held = min(n_old - 1, max(1, round(p["held_out_pairs"] * n_old)))
    a, lo, hi = p["cue_init"], p["horizon_min"], p["horizon_max"]
    f, o_seeds = p["n_features"], list(seeds)[: p["overlap_seeds"]]
    shared = ", ".join(str(round(o * f)) for o in p["overlaps"])
    return f"""
- **Data.** {d} input x {d} output dimensions, {p["n_features"]} one-hot features each: {stim} stimuli,
  {n_tasks} tasks, `{p["mapping"]}` feature -> response rule. Trials are generated; training stops on the
  training trials' MSE (the papers' criterion). Stimulus noise in training: {p["noise"]}.
- **Network.** Stimulus + task cue -> {p["hidden"]} sigmoid units per hidden layer (shallow: 1 layer, deep:
  {p["depth"]}) -> sigmoid responses; the cue feeds every layer and the output; biases fixed at -2; weights
  U(-a, a), a = {INIT["shallow"]} (shallow), {INIT["deep"]} (deep).
- **Training.** SGD, momentum 0.9, lr {p["lr"]}, batch {p["batch_size"]}, squared error, until MSE <
  {p["criterion"]} or the cap: {p["epochs"]} epochs (all tasks / pre-training), {p["new_epochs"]} (new task).
  {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}); a seed fixes the pair split and the initial weights.
- **Sweep (2017, Fig. 5).** Shallow network, single-task trials of all {n_tasks} tasks only. The task ->
  hidden weights of tasks on one input dimension start with correlation s. C5 (primary): in U(-{INIT["shallow"]},
  {INIT["shallow"]}), the scale of the other weights and the first setting, at s in {first_levels(p["similarities"])};
  C5.*.scaled: in U(-{a:g}, {a:g}), chosen after seeing that first run, at s in {p["similarities"]}. Learning
  speed: epochs to the criterion. Multitasking: Luce accuracy on the incongruent trials of all {n_pairs} pairs
  of tasks that can run together (none trained).
- **Overlap sweep (2017, Fig. 3; C6).** Continuous stimuli (U(0, 1) units, {p["overlap_samples"]} stimuli, the
  same for every task); task (i, j) reads {f} units of input dimension i, of which {shared} (overlap
  {p["overlaps"]}) are read by every task on i; a fixed random teacher network cuts them into {f} response
  classes. Shallow network, all weights U(-{INIT["shallow"]}, {INIT["shallow"]}), single-task training as
  above; {len(o_seeds)} seeds ({o_seeds[0]}..{o_seeds[-1]}). Sharing: the learned task -> hidden weight
  similarity.
- **Regimes (2020).** Pre-train on every task but (0, 0) with single-task trials only (*shared*) or plus
  the concurrent trials of {n_old - held} of the {n_old} pairs (*separated*); the other {held}, drawn per
  seed, are never trained and score multitasking in both regimes. Learning speed: epochs to learn (0, 0), held out.
- **Agent.** {p["environments"]} training and {p["test_environments"]} held-out environments (horizon
  {lo:g}-{hi:g}, log-uniform; concurrency value {p["concurrency_min"]:g}-{p["concurrency_max"]:g}),
  {p["episodes"]} episodes, leave one seed out.
- **Tests.** A per-seed statistic (C5, C6: Spearman rho across the sweep's levels), its 95% t-interval
  across seeds against 0 (C4.better: -0.01, a non-inferiority margin). `converged`: at most 10% of the claim's training runs stopped at the epoch cap
  instead of the criterion."""


REGIME_LABELS = {
    "single": "single-task training (shared)",
    "concurrent": "with concurrent trials (separated)",
}


def tradeoff_figure(curves: pd.DataFrame, scalars: pd.DataFrame, n_seeds: int) -> plt.Figure:
    """The regime comparison. Rows: shallow and deep network. Columns: the new task's learning curve;
    epochs to learn it and multitasking accuracy on held-out pairs vs task -> hidden similarity (a point per
    seed)."""
    nets = list(dict.fromkeys(scalars.network))
    fig, axes = plt.subplots(len(nets), 3, figsize=(14, 3.6 * len(nets)), squeeze=False)
    palette = dict(zip(REGIME_LABELS, sns.color_palette(n_colors=2)))
    wide = scalars.pivot_table(
        index=["network", "regime", "seed"], columns="measure", values="value"
    ).reset_index()
    for r, (row, net) in enumerate(zip(axes, nets)):
        for reg in REGIMES:
            c = curves[(curves.network == net) & (curves.regime == reg)].rename(columns={"loss": "value"})
            band(row[0], c, REGIME_LABELS[reg])
        row[0].set(
            yscale="log", title=f"{net}: learning a new task", ylabel="new task's loss (MSE)", xlabel="epoch"
        )
        w = wide[wide.network == net]
        for ax, y, label in (
            (row[1], "epochs_to_criterion", "epochs to learn the new task"),
            (row[2], "multitask_accuracy", "multitasking accuracy, held-out pairs"),
        ):
            kw = {"hue": "regime", "palette": palette, "s": 60, "legend": r == 0 and ax is row[2]}
            sns.scatterplot(data=w, x="weight_similarity", y=y, ax=ax, **kw)
            ax.set(xlabel="task -> hidden weight similarity", ylabel=label)
        row[1].set_title(f"{net}: sharing speeds learning")
        row[2].set_title(f"{net}: sharing hurts multitasking")
    handles, labels = axes[0, 2].get_legend_handles_labels()
    axes[0, 2].legend(handles, [REGIME_LABELS.get(x, x) for x in labels], frameon=False, loc="best")
    fig.suptitle(f"{n_seeds} seeds per condition; bands are 95% t-intervals", y=1.0)
    fig.tight_layout()
    return fig


def similarity_figure(sim: pd.DataFrame) -> plt.Figure:
    """Seed-averaged task x task similarity of the last hidden layer's activity, per network and regime."""
    keys = list(dict.fromkeys(zip(sim.network, sim.regime)))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.9), squeeze=False)
    for ax, (net, reg) in zip(axes[0], keys):
        d = sim[(sim.network == net) & (sim.regime == reg)]
        m = d.pivot_table(index="task_a", columns="task_b", values="value", sort=False)
        kw = {"vmin": -1, "vmax": 1, "cmap": "vlag", "square": True, "xticklabels": True, "yticklabels": True}
        sns.heatmap(m, ax=ax, cbar=ax is axes[0, -1], **kw)
        ax.grid(False)
        ax.set(title=f"{net}\n{REGIME_LABELS[reg]}", xlabel="task (input dim, output dim)", ylabel="")
    fig.tight_layout()
    return fig


def agent_figure(evals: pd.DataFrame, n_seeds: int) -> plt.Figure:
    """The agent in held-out environments: its choices (first held-out seed) and reward per policy."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.3), gridspec_kw={"width_ratios": [1.2, 1]})
    first = evals[(evals.seed == evals.seed.min())]
    agent = first[first.policy == "agent"].set_index("env")
    oracle = first[first.policy == "oracle"].set_index("env")
    order = ["shared", "separated"]
    kw = {"hue": "choice", "style": "choice", "hue_order": order, "style_order": order}
    sns.scatterplot(data=agent, x="horizon", y="concurrency", ax=a, s=55, **kw)
    wrong = agent[agent.choice != oracle.choice]
    kw = {"s": 140, "facecolors": "none", "edgecolors": "red", "label": "differs from oracle"}
    a.scatter(wrong.horizon, wrong.concurrency, **kw)
    a.set_xscale("log")
    a.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
    a.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    a.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    a.set(
        xlabel="horizon (epochs of work, log scale)",
        ylabel="value of concurrent work v",
        title="Agent's training strategy per held-out environment",
    )
    a.legend(frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    s = summarize(evals.groupby(["policy", "seed"], as_index=False).reward.mean(), ["policy"], "reward")
    order = ["always shared", "always separated", "agent", "oracle"]
    plot_intervals(s, "policy", ax=b, order=order)
    b.set_xticklabels([o.replace(" ", "\n") for o in order])
    b.set(
        ylabel="mean reward per step (held-out envs)",
        title=f"Reward in unfamiliar environments ({n_seeds} held-out seeds, 95% CI)",
    )
    fig.tight_layout()
    return fig
