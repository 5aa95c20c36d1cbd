"""Task environments; every builder returns a :class:`~mtlkit.data.base.MultiTaskData`."""

from mtlkit.data.base import MultiTaskData, TaskSpec

__all__ = ["MultiTaskData", "TaskSpec", "make_data"]


def make_data(name: str, **kwargs) -> MultiTaskData:
    """A task environment by name: ``multidigits``, ``mnist`` or ``correlated`` (kwargs go to its builder)."""
    from mtlkit.data.correlated import make_correlated
    from mtlkit.data.mnist import make_mnist_pairs
    from mtlkit.data.multidigits import make_multidigits

    builders = {"multidigits": make_multidigits, "mnist": make_mnist_pairs, "correlated": make_correlated}
    if name not in builders:
        raise ValueError(f"unknown data set {name!r}; known: {list(builders)}")
    return builders[name](**kwargs)
