"""The ground truth's runs (mtlkit.subsets): the seeds of a block trained as one stack, each seed as its
own run would be, in blocks fixed by the seed numbers."""

import numpy as np

from mtlkit.grouping import candidate_networks
from mtlkit.subsets import SEED_BLOCK, seed_blocks, train_subsets

TASKS = ["left", "sum_parity", "left_gt_right"]
CONFIG = {
    "data": {"name": "multidigits", "tasks": TASKS, "n_train": 64},
    "width": 8,
    "depth": 2,
    "epochs": 3,
    "lr": 0.01,
    "batch_size": 16,
}
ROWS = ["network", "size", "cost", "epoch", "split", "task", "metric"]


def test_seed_blocks_depend_on_the_seed_numbers_alone():
    first = list(range(SEED_BLOCK))
    assert seed_blocks([0]) == seed_blocks([SEED_BLOCK - 1]) == seed_blocks(first) == {0: first}
    second = [SEED_BLOCK + s for s in first]
    assert seed_blocks([SEED_BLOCK - 1, SEED_BLOCK]) == {0: first, SEED_BLOCK: second}
    assert seed_blocks([SEED_BLOCK + 1, 2]) == {0: first, SEED_BLOCK: second}


def test_a_stack_of_seeds_trains_each_seed_as_its_own_run():
    together = train_subsets({**CONFIG, "seeds": [3, 5]})
    n_networks = len(candidate_networks(TASKS))
    assert together.groupby("seed").network.nunique().to_dict() == {3: n_networks, 5: n_networks}
    alone = {s: train_subsets({**CONFIG, "seeds": [s]}) for s in (3, 5)}
    for seed, own in alone.items():
        mine = together[together.seed == seed].reset_index(drop=True)
        assert mine[ROWS].equals(own[ROWS]), seed  # the same networks, epochs and metrics, in order
        # a different stack size moves the float rounding only (the fused Adam kernel's last elements);
        # another seed's data, initial weights or minibatch order would move the losses by ~1e-1
        assert np.abs(mine.value.to_numpy() - own.value.to_numpy()).max() < 1e-4, seed
    assert np.abs(alone[3].value.to_numpy() - alone[5].value.to_numpy()).max() > 1e-2
    only = train_subsets({**CONFIG, "seeds": [5, 6]}, [(frozenset(["left"]), "full")])  # e.g. HOA's networks
    assert set(only.network) == {"full:left"} and sorted(only.seed.unique()) == [5, 6]
