"""``mtlkit.selection.select`` in Python refuses what ``mtlkit select`` refuses, with the same messages (one
validation, :func:`mtlkit.table_checks.check_table`, which the command runs on the file it reads): a frame's
rows are named by position where a file's are named by line. Before, a duplicated row was averaged silently,
an empty frame gave an empty selection of total 0, and a missing ``early`` column, a missing HOA pair and a
text column ended in pandas' ``KeyError`` and ``TypeError``."""

import io

import pandas as pd
import pytest

import mtlkit.user_tables as user_tables
from mtlkit.data.standley import TableError
from mtlkit.selection import select
from mtlkit.table_checks import TableWarning

TEXT = """network,task,val,test,cost,early
ab,a,0.40,0.42,1,0.60
ab,b,0.30,0.33,1,0.50
a,a,0.35,0.36,1,0.55
b,b,0.32,0.31,1,0.45
a-half,a,0.45,0.47,0.5,0.70
b-half,b,0.36,0.35,0.5,0.52
"""
TABLE = pd.read_csv(io.StringIO(TEXT))


def refused(table, method="optimal", budget=2.0):
    """The one-line message ``select`` refuses ``table`` with."""
    with pytest.raises(TableError) as info:
        select(table, budget, method)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_frame_selects_as_the_file_does(tmp_path):
    path = tmp_path / "losses.csv"
    path.write_text(TEXT)
    for method in ("optimal", "esa"):
        assert select(TABLE, 2.0, method) == select(user_tables.read_losses(path, method), 2.0, method)


def test_a_network_task_row_given_twice_is_refused_not_averaged():
    twice = pd.concat([TABLE, TABLE.iloc[[0]].assign(val=5.0)])
    assert "network 'ab' has task 'a' on rows [0, 6]; each (network, task) must appear once" in refused(twice)


def test_an_empty_frame_and_a_missing_column_are_refused():
    assert "the table has no rows" in refused(TABLE.iloc[:0])
    assert "the table lacks column(s) ['network']" in refused(TABLE.drop(columns="network"))
    with pytest.raises(TypeError, match="table must be a pandas DataFrame"):
        select(TABLE.to_dict("records"), 2.0, "optimal")


def test_esa_without_early_names_the_column_and_the_others_do_without_it():
    assert "needs an 'early' column" in refused(TABLE.drop(columns="early"), "esa")
    assert select(TABLE.drop(columns="early"), 2.0, "optimal") == select(TABLE, 2.0, "optimal")


def test_a_missing_hoa_pair_is_named():
    rows = [dict(network="abc", task=t, val=0.3, test=0.3, cost=1.0, early=0.5) for t in "abc"]
    rows += [dict(network="c", task="c", val=0.3, test=0.3, cost=1.0, early=0.5)]
    err = refused(pd.concat([TABLE, pd.DataFrame(rows)]), "hoa")
    assert (
        "predicts network 'abc' (tasks ['a', 'b', 'c'], cost 1)" in err
        and "0 serve exactly ['a', 'c']" in err
    )


def test_a_text_column_is_refused_naming_a_value():
    err = refused(TABLE.assign(val=TABLE.val.astype(str)))
    assert "column 'val' holds" in err and "not numbers (row 0: '0.4')" in err


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.assign(task=t.task.where(t.network != "b", "A")), "tasks 'a' (row 0) and 'A' (row 3)"),
        (lambda t: t.assign(network=t.network.replace("a", "a b")), "row 2: network = 'a b'"),
        (lambda t: t.assign(network=t.network.replace("ab", "total")), "row 0: a network is named 'total'"),
        (lambda t: t.assign(cost=t.cost.where(t.network != "a-half", 1e-300)), "cost = 1e-300 (row 4)"),
        (lambda t: t.assign(val=t.val.where(t.network != "ab", -1e308)), "the val values' magnitudes add up"),
        (
            lambda t: t.assign(test=t.test.where(t.network != "a", float("inf"))),
            "row 2: test = inf is not a finite",
        ),
        (lambda t: t.assign(task=t.task.where(t.network != "a", None)), "row 2: task is empty"),
        (lambda t: t.assign(network=t.network.where(t.network != "a", 7)), "row 2: network is 7 (int)"),
    ],
)
def test_the_files_refusals_apply_to_a_frame(change, message):
    assert message in refused(change(TABLE.copy()))


def test_a_task_one_network_serves_is_a_warning():
    with pytest.warns(TableWarning, match=r"task 'c' is served by one network only \('c', row 6\)"):
        chosen, _ = select(pd.concat([TABLE, TABLE.iloc[[3]].assign(network="c", task="c")]), 3.0, "optimal")
    assert "c" in chosen.networks
