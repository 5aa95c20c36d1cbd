"""``mtlkit select`` at scale (docs/select.md, "The limit, the estimate and the progress"): a search that
could not finish is refused before it starts with its estimate, the estimate never undercounts the sets a
search tries, a long search reports progress on stderr (the library stays quiet), and a search past
``--max-seconds`` is stopped in one line."""

import itertools
import math
import time

import pytest

import mtlkit.grouping as grouping
import mtlkit.search_budget as search_budget
import mtlkit.selection as selection
from benchmarks.select_scaling import loss_table
from mtlkit.cli import main
from mtlkit.data.standley import TableError
from mtlkit.grouping import branch_and_bound
from mtlkit.search_budget import SearchTooLong, check_search, sets_within
from mtlkit.selection import select


def one_line_refusal(capsys, argv):
    code = main(["select", *map(str, argv)])
    out, err = capsys.readouterr()
    assert code == 2 and not out, out
    assert err.startswith("mtlkit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_20_tasks_and_2000_networks_are_refused_at_once_with_the_estimate(tmp_path, capsys, monkeypatch):
    """The issue's case: 20 tasks, 2,000 candidate networks (every single task, 1,960 random groups, a
    half-width network per task), budget 10. The command answers within 10 s, reading the file included,
    with the bound and what bounds a search; no search is started."""
    path = tmp_path / "big.csv"
    table = loss_table(20, n_groups=1960, seed=0)
    assert table.network.nunique() == 2000
    table.to_csv(path, index=False)

    def never(*args, **kwargs):
        raise AssertionError("a search was started")

    monkeypatch.setattr(selection, "cheapest_cover", never)
    monkeypatch.setattr(selection, "branch_and_bound", never)
    t0 = time.perf_counter()
    err = one_line_refusal(capsys, [path, "--budget", 10])
    assert time.perf_counter() - t0 < 10
    assert "the exact search may try up to " in err and "(2,000 candidates, 20 tasks, budget 10)" in err
    assert "past the 6e+11 allowed in 60 s (--max-seconds)" in err
    assert "fewer candidate networks" in err and "smaller budget" in err and "hoa and esa" in err


@pytest.mark.parametrize(
    "costs, budget, whole",
    [
        ([1.0] * 6 + [0.5] * 4, 2.0, True),  # 1 and 0.5 are whole steps of 2 / 4096
        ([1.0] * 6 + [0.5] * 4, 3.0, False),
        ([1.0, 0.3, 0.7, 0.45, 1.2, 0.25, 0.6], 1.5, False),
        ([0.5] * 9, 2.2, False),
    ],
)
def test_the_bound_counts_every_set_within_the_budget(costs, budget, whole):
    """Against enumeration: never below the number of sets of networks within the budget (the empty set
    included), and equal to it when every cost is a whole number of the budget's steps."""
    exact = sum(
        1
        for r in range(len(costs) + 1)
        for combo in itertools.combinations(costs, r)
        if sum(combo) <= budget + 1e-9
    )
    bound = sets_within(costs, budget)
    assert bound >= exact
    if whole:
        assert bound == exact


def test_the_bound_is_never_below_the_sets_a_search_tries(monkeypatch):
    """The search reports the sets it has tried; with a report after every set, the last report is the
    number it tried in all, and it is within the bound."""
    table = loss_table(5, seed=3)
    cands = selection.candidates(selection.mean_scores(table.assign(seed=0)), "val")
    tasks = sorted(set(table.task))
    monkeypatch.setattr(grouping, "PROGRESS_EVERY", 1)
    for budget in (1.5, 2.5, 4.0):
        tried = []
        branch_and_bound(cands, tasks, budget, tried.append)
        assert tried and tried == sorted(tried)
        assert 1 < tried[-1] <= sets_within([c.cost for c in cands], budget), budget


def test_the_search_is_quiet_without_progress_and_reports_through_it(capsys, monkeypatch):
    """The library prints nothing; ``progress`` receives lines (here from the start: the quiet spell set
    to 0), each naming the search, the sets tried, the bound and the time."""
    table = loss_table(6, seed=0)
    plain = select(table, 3.0, "optimal")
    assert capsys.readouterr() == ("", "")
    monkeypatch.setattr(search_budget, "QUIET_S", 0.0)
    monkeypatch.setattr(search_budget, "EVERY_S", 0.0)
    monkeypatch.setattr(grouping, "PROGRESS_EVERY", 256)
    lines = []
    assert select(table, 3.0, "optimal", progress=lines.append) == plain
    assert capsys.readouterr() == ("", "")
    assert any(line.startswith("searching for the best selection: ") for line in lines), lines
    assert all(" sets of networks tried in " in line for line in lines)
    assert any(" of at most " in line for line in lines)


def test_mtlkit_select_prints_progress_on_stderr_and_the_selection_on_stdout(tmp_path, capsys, monkeypatch):
    path = tmp_path / "losses.csv"
    loss_table(6, seed=0).to_csv(path, index=False)
    monkeypatch.setattr(search_budget, "QUIET_S", 0.0)
    monkeypatch.setattr(search_budget, "EVERY_S", 0.0)
    monkeypatch.setattr(grouping, "PROGRESS_EVERY", 256)
    code = main(["select", str(path), "--budget", "3"])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("| network | cost | tasks | val | test |") and "| total | 3 |" in out
    lines = err.splitlines()
    assert lines and all(line.startswith("mtlkit select: searching for ") for line in lines), err


def test_a_search_past_max_seconds_is_stopped_in_one_line(tmp_path, capsys):
    """Seven tasks, every group, budget 3.5: a search of a second or more, stopped after 0.05 s at its
    first report, saying how far it got."""
    path = tmp_path / "losses.csv"
    loss_table(7, seed=0).to_csv(path, index=False)
    t0 = time.perf_counter()
    err = one_line_refusal(capsys, [path, "--budget", 3.5, "--max-seconds", 0.05])
    assert time.perf_counter() - t0 < 10
    assert "stopped at its limit of 0.05 s (--max-seconds) after " in err and " sets of networks" in err
    assert "or raise the limit" in err


def test_a_tiny_limit_refuses_even_a_small_search_before_it_starts(tmp_path, capsys):
    path = tmp_path / "losses.csv"
    loss_table(4, seed=0).to_csv(path, index=False)
    err = one_line_refusal(capsys, [path, "--budget", 2, "--max-seconds", 1e-9])
    assert "may try up to " in err and "allowed in 1e-09 s" in err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon", "-inf"])
def test_a_max_seconds_that_is_not_a_positive_number_is_refused(tmp_path, capsys, value):
    path = tmp_path / "losses.csv"
    loss_table(3, seed=0).to_csv(path, index=False)
    err = one_line_refusal(capsys, [path, "--budget", 2, "--max-seconds", value])
    assert "--max-seconds = " in err
    assert "expected a positive number" in err


def test_no_limit_never_refuses_and_the_api_checks_its_limit():
    costs = [1.0] * 40
    assert check_search(costs, 8, 20.0, math.inf) == sets_within(costs, 20.0)
    with pytest.raises(SearchTooLong, match="may try up to"):
        check_search(costs, 8, 20.0, 1.0)
    table = loss_table(3, seed=0)
    for bad in ("60", 0, True):
        with pytest.raises(TableError, match="max_seconds = "):
            select(table, 2.0, "optimal", max_seconds=bad)
