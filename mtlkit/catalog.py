"""The studies: each notebook's name, title, paper and declared parameters (what `mtlkit list` shows)."""

from __future__ import annotations

from mtlkit.data.multidigits import DEFAULT_TASKS, TASKS
from mtlkit.models.blocks import TRUNKS
from mtlkit.study import COMMON, Param, ParameterError, StudySpec
from mtlkit.weighting import WEIGHTINGS


def _sizes(seeds: tuple[int, int, int], epochs: tuple[int, int, int], n_train: tuple[int, int, int]) -> tuple[Param, ...]:
    """The mode-scaled sizes most studies share: seeds, epochs, training examples (smoke, default, full)."""
    modes = ("smoke", "default", "full")
    return (
        Param("seeds", "int", help="number of seeds (independent data draws and initialisations)", low=1, high=1000,
              by_mode=dict(zip(modes, seeds))),
        Param("epochs", "int", help="training epochs per network", low=1, high=10000, by_mode=dict(zip(modes, epochs))),
        Param("n_train", "int", help="training examples (val and test get a quarter each)", low=20, high=10**7,
              by_mode=dict(zip(modes, n_train))),
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
                Param("tasks", "list", DEFAULT_TASKS, "MultiDigits tasks to learn together", choices=tuple(TASKS)),
                Param("weightings", "list", list(WEIGHTINGS), "weighting methods to compare with hard sharing",
                      choices=tuple(WEIGHTINGS)),
            ),
        ),
    ]
}


def get_study(name: str) -> StudySpec:
    """A study by full name (``00_landscape``) or number prefix (``00``, ``0``)."""
    if name in STUDIES:
        return STUDIES[name]
    matches = [s for s in STUDIES if name.isdigit() and s.split("_")[0].lstrip("0") == name.lstrip("0")]
    if len(matches) == 1:
        return STUDIES[matches[0]]
    raise ParameterError(f"unknown study {name!r}; known studies: {list(STUDIES)}")
