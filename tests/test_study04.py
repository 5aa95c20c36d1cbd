"""Study 04's module: the protocol is printed from the resolved parameters, the runs use TAG's lookahead by
default (SGD lookaheads only as sensitivity rows), the compute comparison counts and times both methods,
and the helpers behind the claims compute what they say."""

import pandas as pd
import pytest

from mtlkit.params import validate
from mtlkit.selection import network_epochs
from mtlkit.session import Params
from mtlkit.studies import STUDIES
from mtlkit.studies import transference as study04
from mtlkit.transference import at_cap, at_cap_by_claim, hoa_members, relative_totals

SPEC = STUDIES["04_transference"]


def _params(**given) -> Params:
    return Params(validate(SPEC, {"mode": "smoke", **given}))


def test_default_mode_has_five_seeds_and_every_claim_a_paper_and_a_threshold():
    assert validate(SPEC, {"mode": "default"})["seeds"] >= 5
    assert set(study04.PAPER) == set(study04.THRESHOLDS)
    assert study04.THRESHOLDS["C2.compute"] == 1.0, "no cheaper than HOA"
    assert "11.6x" in study04.PAPER["C2.compute"] and "10" in study04.PAPER["C2.all"]


def test_protocol_is_printed_from_the_resolved_parameters():
    p = _params(lr=0.01, every=7, joint_epochs=9, patience=3)
    text = " ".join(study04.protocol(p, [4, 5]).value)
    assert "Adam step from the optimizer's current state" in text and "learning rate 0.01" in text
    assert "every 7 steps" in text and "at most 9 epochs" in text and "stop after 3" in text
    assert "0.01, 0.1, 1" in text, "the SGD sensitivity rows, from lookahead_lr x sgd_factors"
    assert "excludes singletons" in text and "HOA / affinity > 1" in text and "2 (4 to 5)" in text
    assert "leaving one seed out" in text and "Earlier reference" in text, "C1 against held-out gains"
    assert "from the affinity method's own candidates" in text and "same inference cost" in text
    assert "both sides at the same" in text and "without early stopping" in text
    sgd = " ".join(study04.protocol(_params(lookahead="sgd", lookahead_lr=0.1), [0]).value)
    assert "a plain SGD step of size 0.1" in sgd


def test_runs_use_tags_lookahead_and_measure_the_sgd_rows_in_the_same_run():
    p = _params(lr=0.002)
    equal = study04.run_config(p, "equal", 3)
    assert (equal.track.step, equal.track.lr) == ("optimizer", 0.002)
    assert equal.track.sgd == pytest.approx((0.002, 0.02, 0.2))
    assert equal.fit.patience == p.patience and equal.fit.epochs == p.joint_epochs
    itmtl = study04.run_config(p, "itmtl", 3).fit.weighting
    assert itmtl["lookahead"] == "optimizer" and itmtl["lr"] == 0.002
    assert all(study04.run_config(p, m, 3).track is None for m in ("single", "pcgrad", "itmtl"))
    # an SGD study lookahead is not measured twice
    sgd = _params(lookahead="sgd", lr=0.002)
    assert study04.sgd_steps(sgd) == pytest.approx((0.02, 0.2))
    assert study04.run_config(sgd, "equal", 0).track.step == "sgd"


def test_hoa_trains_singles_pairs_and_half_singles():
    tasks = ["a", "b", "c", "d", "e"]
    members = hoa_members(tasks)
    assert len(members) == 5 + 10 + 5 == network_epochs(5, 1, "HOA", 1)
    assert {size for g, size in members if len(g) == 2} == {"full"}


def test_compute_table_counts_and_times_both_methods():
    timing = pd.DataFrame(
        [
            (s, what, v)
            for s, (tracked, measuring, hoa) in {0: (4.0, 1.0, 10.0), 1: (5.0, 1.0, 20.0)}.items()
            for what, v in (
                ("tracked joint run", tracked),
                ("of which measuring", measuring),
                ("HOA networks", hoa),
            )
        ],
        columns=["seed", "what", "seconds"],
    )
    p = _params(tasks=["left", "right", "sum_parity"], epochs=10)
    t = study04.compute_table(timing, pd.Series({0: 20, 1: 40}), p)
    assert t["ratio (time)"].tolist() == pytest.approx([2.5, 4.0])
    assert t.overhead.tolist() == pytest.approx([4 / 3, 5 / 4])
    assert t["HOA network-epochs"].tolist() == [90.0, 90.0]  # (3 + 3 + 3) networks x 10 epochs
    assert t["affinity network-epochs"].tolist() == [10.0, 10.0], "timed at the same epochs as HOA"
    assert t["joint run epochs (to plateau)"].tolist() == [20.0, 40.0]
    assert t["ratio (network-epochs)"].tolist() == pytest.approx([9.0, 9.0])
    assert t["ratio (time), earlier protocol"].tolist() == pytest.approx([2.5 / 2, 4.0 / 4])


def test_the_timed_joint_run_trains_for_the_ground_truths_epochs_without_early_stopping():
    p = _params(epochs=7, joint_epochs=30, patience=2)
    run = study04.timing_run(p, 1)
    assert (run.fit.epochs, run.fit.patience) == (7, None)
    assert run.track is not None and run.fit.weighting == study04.run_config(p, "equal", 1).fit.weighting
    assert study04.timing_configs(p, [1])[(1,)]["run"] == run.to_dict()


def test_time_compute_times_the_tracked_run_and_hoas_networks():
    p = _params(n_train=100, epochs=1, joint_epochs=1, every=1)
    rows = study04.time_compute(study04.timing_configs(p, [0])[(0,)]).set_index("what").seconds
    assert list(rows.index) == ["tracked joint run", "of which measuring", "HOA networks"]
    assert (rows > 0).all() and rows["of which measuring"] < rows["tracked joint run"]


def test_relative_totals_and_the_share_at_the_cap():
    rows = [("affinity", b, s, 9.0 - b) for b in (2.0, 3.0) for s in (0, 1)]
    rows += [("optimal", b, s, 6.0) for b in (2.0, 3.0) for s in (0, 1)]
    rows += [("one all-task network", 1.0, s, 10.0 + s) for s in (0, 1)]
    results = pd.DataFrame(rows, columns=["method", "budget", "seed", "test_total"])
    vs_all = relative_totals(results, "affinity", "one all-task network", [2.0, 3.0])
    assert vs_all.tolist() == pytest.approx([100 * (6.5 / 10 - 1), 100 * (6.5 / 11 - 1)])
    vs_opt = relative_totals(results, "affinity", "optimal", [2.0])
    assert vs_opt.tolist() == pytest.approx([100 * (7 / 6 - 1)] * 2)
    assert at_cap(([10, 4], 10), ([3, 3, 2], 3)) == pytest.approx(3 / 5)


def test_each_claim_counts_the_runs_behind_it_at_their_cap():
    best = pd.Series(
        {("equal", 0): 100.0, ("itmtl", 0): 50.0, ("pcgrad", 0): 100.0, ("single", 0): 20.0},
    ).rename_axis(["method", "seed"])
    networks = pd.DataFrame(
        [
            ("full:a", "full", 30),
            ("full:a+b", "full", 10),
            ("full:a+b+c", "full", 30),
            ("half:a", "half", 30),
        ],
        columns=["network", "size", "epoch"],
    )
    shares = at_cap_by_claim(best, 100, networks, 30)
    assert shares["C1"] == pytest.approx(2 / 3), "the tracked run and the single and pair networks"
    assert shares["C2.all"] == shares["C2.regret"] == shares["C2.random"] == pytest.approx(4 / 5)
    assert shares["C1.cosine"] == shares["C1"]
    assert shares["C2.compute"] == pytest.approx(3 / 4), "HOA's networks: no triple"
    assert shares["C3.equal"] == pytest.approx(1 / 3) and shares["C3.pcgrad"] == pytest.approx(1 / 3)
