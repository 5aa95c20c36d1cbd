"""``benchmarks/select_scaling.py``'s table builder makes loss tables that ``mtlkit select`` accepts (the
timings themselves are measured only in ``benchmarks/``, never in a test)."""

import math

import pytest

from benchmarks.select_scaling import loss_table
from mtlkit.selection import METHODS
from mtlkit.user_tables import read_losses, select_from_file


@pytest.mark.parametrize(
    ("kwargs", "networks"), [({}, 2**3 - 1 + 3), ({"max_size": 2}, 3 + 3 + 3), ({"n_groups": 2}, 3 + 2 + 3)]
)
def test_tiny_tables_are_valid_loss_tables(tmp_path, kwargs, networks):
    """Three tasks: every group, groups up to two tasks, and two random groups (with every single task);
    a half-width network per task. The file reads for every method and every method selects from it."""
    table = loss_table(3, **kwargs, seed=1)
    assert list(table.columns) == ["network", "task", "val", "test", "cost", "early"]
    assert table.network.nunique() == networks
    assert not table.duplicated(["network", "task"]).any()
    assert set(table.groupby("network").cost.nunique()) == {1}
    assert set(table.cost) == {0.5, 1.0}
    path = tmp_path / "losses.csv"
    table.to_csv(path, index=False)
    for method in METHODS:
        if method == "hoa" and "n_groups" in kwargs:
            continue  # random groups need not have the pair networks HOA predicts from
        read = read_losses(path, method)
        assert len(read) == len(table)
        out = select_from_file(path, 1.5, method)
        total = out[out.network == "total"].iloc[0]
        assert total.cost <= 1.5 and math.isfinite(total.test)


def test_random_groups_are_distinct_and_capped():
    table = loss_table(4, n_groups=11, seed=0)  # every group of two or more of four tasks
    full = table[table.cost == 1.0].groupby("network").task.agg(frozenset)
    assert full.is_unique and len(full) == 4 + 11
    assert table.network.nunique() == 4 + 11 + 4
    with pytest.raises(ValueError, match="only 11 groups"):
        loss_table(4, n_groups=12)
