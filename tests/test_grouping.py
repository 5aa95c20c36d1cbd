"""Network selection: branch and bound equals brute force; approximations behave on known cases."""

import numpy as np
import pytest

from mtlkit.grouping import (
    Candidate,
    branch_and_bound,
    brute_force,
    evaluate_selection,
    higher_order_approximation,
    random_selection,
    subsets,
)


def random_table(rng, tasks, levels=None):
    """Every subset as a full network, some singles as half networks; with ``levels``, losses are drawn
    from those few values, so that networks tie on tasks and selections tie on totals."""
    table = []
    for s in subsets(tasks):
        for size, cost in (("full", 1.0), ("half", 0.5)):
            if size == "half" and rng.random() < 0.5:
                continue
            table.append(
                Candidate(
                    f"{size}:{'+'.join(sorted(s))}",
                    s,
                    cost,
                    {t: float(rng.choice(levels) if levels else rng.uniform(0.1, 1.0)) for t in s},
                )
            )
    return table


def _minimal(selection, table, tasks):
    """Removing any network of the selection makes its total worse (or leaves a task unserved)."""
    return all(
        evaluate_selection([n for n in selection.networks if n != drop], table, tasks)
        > selection.total + 1e-12
        for drop in selection.networks
    )


@pytest.mark.parametrize("levels", [None, (0.2, 0.3, 0.5)], ids=["distinct", "ties"])
def test_selections_are_minimal_and_the_cheapest_of_the_best_on_300_random_tables(levels):
    """No selection buys a network that serves no task, and among equally good sets the cheaper wins:
    branch and bound agrees with brute force on (total, cost), with ties in half of the tables."""
    rng = np.random.default_rng(7)
    ties = 0
    for trial in range(300):
        tasks = [f"t{i}" for i in range(int(rng.integers(2, 5)))]
        table = random_table(rng, tasks, levels)
        budget = float(rng.choice([1.0, 1.5, 2.0, 2.5, 3.0]))
        a, b = brute_force(table, tasks, budget), branch_and_bound(table, tasks, budget)
        assert (a is None) == (b is None), trial
        if b is None:
            continue
        assert b.total == pytest.approx(a.total, abs=1e-12) and b.cost == pytest.approx(a.cost), trial
        assert _minimal(b, table, tasks) and _minimal(a, table, tasks), (trial, b)
        ties += sum(len(set(c.loss.values())) < len(c.loss) for c in table) > 0
    assert levels is None or ties > 100, "the tied tables really hold ties"


def test_a_network_made_useless_by_a_later_one_is_not_bought():
    tasks = ["a", "b"]
    table = [
        Candidate("a1", frozenset("a"), 1.0, {"a": 0.3}),  # best for a when bought alone ...
        Candidate("ab", frozenset("ab"), 1.0, {"a": 0.3, "b": 0.4}),  # ... but ab ties it on a
    ]
    best = branch_and_bound(table, tasks, 2.0)
    assert best.networks == ("ab",) and best.cost == 1.0


def test_random_selections_spend_the_budget_as_the_paper_draws_them():
    rng = np.random.default_rng(3)
    tasks = ["a", "b", "c"]
    table = random_table(rng, tasks)
    cheapest = min(c.cost for c in table)
    spent = [random_selection(table, tasks, 2.5, rng).cost for _ in range(200)]
    assert all(2.5 - cheapest < s <= 2.5 + 1e-9 for s in spent), "what is left cannot buy another network"


def test_selection_hand_case():
    tasks = ["a", "b"]
    table = [
        Candidate("ab", frozenset("ab"), 1.0, {"a": 0.5, "b": 0.5}),
        Candidate("a", frozenset("a"), 1.0, {"a": 0.1}),
        Candidate("b", frozenset("b"), 1.0, {"b": 0.4}),
    ]
    assert branch_and_bound(table, tasks, 1.0).networks == ("ab",)
    assert branch_and_bound(table, tasks, 2.0).total == pytest.approx(0.5)  # a (0.1) + b (0.4)
    assert branch_and_bound(table, tasks, 3.0).networks == ("a", "b"), (
        "a network that improves nothing is not bought"
    )
    assert branch_and_bound(table, tasks, 0.5) is None


def test_hoa_averages_pairs():
    pairs = {
        frozenset(p): {t: v for t, v in zip(p, vals)}
        for p, vals in ((("a", "b"), (1.0, 2.0)), (("a", "c"), (3.0, 4.0)), (("b", "c"), (5.0, 6.0)))
    }
    hoa = higher_order_approximation(pairs, ["a", "b", "c"])
    assert hoa[frozenset("abc")] == {"a": 2.0, "b": 3.5, "c": 5.0}


def test_random_selection_is_feasible():
    rng = np.random.default_rng(1)
    tasks = ["a", "b", "c"]
    table = random_table(rng, tasks)
    for _ in range(20):
        s = random_selection(table, tasks, 2.0, rng)
        assert s is None or (
            s.cost <= 2.0 and s.total == pytest.approx(evaluate_selection(s.networks, table, tasks))
        )


def test_score_table_takes_each_networks_best_validation_epoch():
    import pandas as pd

    from mtlkit.grouping import candidate_networks
    from mtlkit.selection import network_epochs, score_table

    rows = []
    for epoch, (val, test) in enumerate(((0.9, 0.8), (0.5, 0.6), (0.7, 0.4)), start=1):
        for split, v in (("val", val), ("test", test)):
            rows.append(
                {
                    "network": "full:a",
                    "size": "full",
                    "cost": 1.0,
                    "epoch": epoch,
                    "split": split,
                    "task": "a",
                    "metric": "loss",
                    "value": v,
                }
            )
    h = pd.DataFrame(rows)
    assert score_table(h).set_index("network").loc["full:a", ["epoch", "test"]].tolist() == [2, 0.6]
    assert score_table(h, upto=1).set_index("network").loc["full:a", "test"] == 0.8  # ESA: early epochs only
    assert len(candidate_networks(["a", "b", "c", "d", "e"])) == 36
    assert network_epochs(5, 10, "HOA", 2) == (5 + 10 + 5) * 10 and network_epochs(5, 10, "ESA", 2) == 36 * 2


def test_load_ground_truth_only_from_a_complete_matching_run_of_this_code(tmp_path):
    import json

    import pandas as pd

    from mtlkit.results import file_sha256, mtlkit_hash
    from mtlkit.studies.task_grouping import load_ground_truth

    def write(table: pd.DataFrame, code: str | None = None, listed: str | None = None) -> None:
        table.to_csv(tmp_path / "ground_truth.csv", index=False)
        manifest = {
            "params": {"epochs": 30, "tasks": ["a", "b"]},
            "mtlkit_hash": code or mtlkit_hash(),
            "outputs": {"ground_truth.csv": listed or file_sha256(tmp_path / "ground_truth.csv")},
        }
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))

    missing, why = load_ground_truth(tmp_path, {"epochs": 30})
    assert missing is None and "no usable ground truth" in why
    row = {"seed": 0, "network": "full:a", "size": "full", "cost": 1.0, "task": "a", "val": 1.0, "test": 1.0}
    write(pd.DataFrame([row]))
    old, why = load_ground_truth(tmp_path, {"epochs": 30})
    assert old is None and "scores" in why  # written by code that predates the early scores
    good = pd.DataFrame([{**row, "scores": "final"}])
    write(good)
    table, why = load_ground_truth(tmp_path, {"epochs": 30, "tasks": ["a", "b"]})
    assert table is not None and len(table) == 1 and "1 seeds" in why
    other, why = load_ground_truth(tmp_path, {"epochs": 3, "tasks": ["a", "b"]})
    assert other is None and "epochs=30" in why and "here 3" in why
    write(good, code="0" * 64)
    stale, why = load_ground_truth(tmp_path, {"epochs": 30})
    assert stale is None and "other code" in why
    write(good, listed="0" * 64)  # the file is not the one the manifest lists (a run killed half-way)
    torn, why = load_ground_truth(tmp_path, {"epochs": 30})
    assert torn is None and "not the file its manifest lists" in why
    write(good)
    listed = {
        "params": [],
        **{k: v for k, v in json.loads((tmp_path / "manifest.json").read_text()).items() if k != "params"},
    }
    for manifest in ("[" * 100_000 + "]" * 100_000, json.dumps(listed)):  # nested too deep; params a list
        (tmp_path / "manifest.json").write_text(manifest)
        unusable, why = load_ground_truth(tmp_path, {"epochs": 30})
        assert unusable is None and "no usable ground truth" in why and len(why) < 400, why


def test_branch_and_bound_handles_more_candidates_than_the_recursion_limit():
    import sys

    import numpy as np

    from mtlkit.grouping import Candidate, branch_and_bound, brute_force, subsets

    tasks = [f"t{i}" for i in range(10)]
    rng = np.random.default_rng(0)
    table = [
        Candidate("+".join(sorted(g)), g, 1.0, {t: float(rng.uniform(0.5, 1.5)) for t in g})
        for g in subsets(tasks)
    ]
    assert len(table) > sys.getrecursionlimit()
    best = branch_and_bound(table, tasks, 2.0)
    assert best is not None and len(best.networks) <= 2
    assert best.total == brute_force(table, tasks, 2.0).total


def test_a_name_used_twice_is_refused_not_silently_resolved_to_the_last():
    """Before the check, ``evaluate_selection`` kept the last of two networks named alike and scored a
    selection with losses the search never saw."""
    table = [
        Candidate("x", frozenset("a"), 1.0, {"a": 0.1}),
        Candidate("x", frozenset("a"), 1.0, {"a": 0.9}),
    ]
    with pytest.raises(ValueError, match="two candidates are named 'x'"):
        evaluate_selection(["x"], table, ["a"])
    for search in (brute_force, branch_and_bound):
        with pytest.raises(ValueError, match="two candidates are named 'x'"):
            search(table, ["a"], 1.0)


@pytest.mark.parametrize(
    "tasks, cost, loss, match",
    [
        (frozenset("a"), 1.0, {"a": 0.2, "b": 0.1}, "differ from the tasks of its losses"),
        (frozenset("ab"), 1.0, {"a": 0.2}, "differ from the tasks of its losses"),
        (frozenset(), 1.0, {}, "non-empty"),
        (frozenset("a"), 0.0, {"a": 0.2}, "cost = 0.0"),
        (frozenset("a"), -1.0, {"a": 0.2}, "cost = -1.0"),
        (frozenset("a"), float("inf"), {"a": 0.2}, "cost = inf"),
        (frozenset("a"), float("nan"), {"a": 0.2}, "cost = nan"),
        (frozenset("a"), 1.0, {"a": float("nan")}, "not finite"),
    ],
)
def test_a_candidate_checks_itself(tasks, cost, loss, match):
    """``brute_force`` reads a candidate's ``tasks`` and ``branch_and_bound`` the keys of its ``loss``:
    a candidate whose two disagree (there, a network serving ``a`` with a loss for ``b`` too) made them
    return different selections, so such a candidate cannot be made."""
    with pytest.raises(ValueError, match=match):
        Candidate("n", tasks, cost, loss)


def _final(rows):
    """A ground truth's ``final`` table from ``(seed, network, task, val, test)`` rows (full-size networks)."""
    import pandas as pd

    cols = ["seed", "network", "task", "val", "test"]
    return pd.DataFrame(rows, columns=cols).assign(size="full", cost=1.0)


def test_choice_regret_is_zero_when_validation_is_test_and_the_seeds_agree():
    from mtlkit.selection import choice_regret

    rng = np.random.default_rng(3)
    tasks = ["a", "b", "c"]
    one = [(c.name, t, v, v) for c in random_table(rng, tasks) if c.cost == 1.0 for t, v in c.loss.items()]
    final = _final([(s, *r) for s in range(3) for r in one])
    out = choice_regret(final, tasks, [1.0, 1.5, 2.0, 3.0])
    assert list(out.columns) == ["held-out", "per-seed oracle", "noise floor"]
    assert (out.to_numpy() == 0).all()


def test_choice_regret_holds_seed_s_out_of_both_held_out_choices():
    from mtlkit.selection import choice_regret

    # seed 0's test favours the two single-task networks, seed 1's the pair network; seed 0's validation favours
    # the pair, seed 1's the singles: a choice that saw seed s's own losses would be scored differently
    test = {
        0: {"full:a": 0.1, "full:b": 0.1, "full:a+b": 0.6},
        1: {"full:a": 0.5, "full:b": 0.5, "full:a+b": 0.1},
    }
    val = {
        0: {"full:a": 0.5, "full:b": 0.5, "full:a+b": 0.1},
        1: {"full:a": 0.1, "full:b": 0.1, "full:a+b": 0.9},
    }
    serves = {"full:a": "a", "full:b": "b", "full:a+b": "ab"}
    final = _final([(s, n, t, val[s][n], test[s][n]) for s in (0, 1) for n in serves for t in serves[n]])
    out = choice_regret(final, ["a", "b"], [2.0])
    # seed 0: validation on seed 1 picks the singles (0.2 on seed 0's test), test on seed 1 the pair (1.2);
    # had either choice seen seed 0, both would be the pair (0) or the singles (0)
    assert out.loc[0, "held-out"] == pytest.approx(100 * (0.2 / 1.2 - 1))
    # seed 1: validation on seed 0 picks the pair (0.2 on seed 1's test), test on seed 0 the singles (1.0)
    assert out.loc[1, "held-out"] == pytest.approx(100 * (0.2 / 1.0 - 1))
    # the earlier reference: the choice on both seeds' validation (the singles) against each seed's own optimum
    assert out["per-seed oracle"].tolist() == pytest.approx([0.0, 400.0])
    # the noise floor: the choice on both seeds' test losses (the singles, 0.6 against 0.7) against the same
    assert out["noise floor"].tolist() == pytest.approx([0.0, 400.0])
