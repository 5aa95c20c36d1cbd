"""Task environments; every builder returns a :class:`~mtlkit.data.base.MultiTaskData`."""

from mtlkit.data.base import MultiTaskData, TaskSpec
from mtlkit.data.correlated import make_correlated
from mtlkit.data.mnist import make_mnist_pairs
from mtlkit.data.multidigits import make_multidigits
from mtlkit.data.overlaid import make_overlaid

__all__ = ["DATASETS", "MultiTaskData", "TaskSpec", "make_data"]

DATASETS = {
    "multidigits": make_multidigits,
    "mnist": make_mnist_pairs,
    "overlaid": make_overlaid,
    "correlated": make_correlated,
}
"""Every task environment by name, and its builder."""


def make_data(name: str, **kwargs) -> MultiTaskData:
    """A task environment by name: ``multidigits``, ``mnist``, ``overlaid`` or ``correlated`` (kwargs go to its
    builder)."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {list(DATASETS)}")
    return DATASETS[name](**kwargs)
