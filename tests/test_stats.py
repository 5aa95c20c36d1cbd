import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from mtlkit.stats import (
    Claim,
    at_last_epoch,
    claims_markdown,
    claims_table,
    detectable_effect,
    mean_ci,
    power_table,
    seeds_needed,
    summarize,
)


def test_mean_ci_matches_hand_computation():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    # t_{0.975, 2} = 4.302653; sd = 1; half = 4.302653 / sqrt(3)
    assert m == 2.0
    assert hi - m == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert m - lo == pytest.approx(hi - m)


def test_mean_ci_single_value_has_no_interval():
    m, lo, hi = mean_ci([0.3])
    assert m == 0.3 and math.isnan(lo) and math.isnan(hi)


@pytest.mark.parametrize(
    ("samples", "direction", "verdict"),
    [
        ([0.5, 0.6, 0.7], ">", "reproduced"),
        ([-0.5, -0.6, -0.7], ">", "contradicted"),
        ([-0.5, 0.6, 0.1], ">", "inconclusive"),
        ([-0.5, -0.6, -0.7], "<", "reproduced"),
        ([0.5, 0.6, 0.7], "<", "contradicted"),
        ([0.5], ">", "inconclusive"),
    ],
)
def test_claim_verdict_is_computed(samples, direction, verdict):
    c = Claim.test("C", "s", samples, effect="e", paper="p", direction=direction)
    assert c.verdict == verdict
    assert c.n == len(samples)


def test_claim_threshold_and_table():
    c = Claim.test("C", "above one", [1.5, 1.6, 1.7], effect="e", paper="p", threshold=1.0)
    assert c.verdict == "reproduced"
    assert (
        Claim.test("C", "above two", [1.5, 1.6, 1.7], effect="e", paper="p", threshold=2.0).verdict
        == "contradicted"
    )
    t = claims_table([c])
    assert list(t.verdict) == ["reproduced"] and t.loc[0, "test"] == "> 1"


def test_summarize_groups():
    import pandas as pd

    df = pd.DataFrame({"g": ["a", "a", "b", "b"], "value": [1.0, 3.0, 2.0, 2.0]})
    s = summarize(df, ["g"]).set_index("g")
    assert s.loc["a", "mean"] == 2.0 and s.loc["b", "low"] == 2.0 and s.loc["a", "n"] == 2


@pytest.mark.parametrize(
    ("direction", "threshold", "support"),
    [(">", 0.0, (0.0, 1.0)), (">", -0.1, (0.0, None)), ("<", 1.0, (0.0, 1.0)), ("<", 5.0, (None, 1.0))],
)
def test_a_claim_that_cannot_be_contradicted_is_refused(direction, threshold, support):
    with pytest.raises(ValueError, match="can never be contradicted"):
        Claim.test(
            "C",
            "s",
            [0.2, 0.3],
            effect="e",
            paper="p",
            direction=direction,
            threshold=threshold,
            support=support,
        )


def test_a_claim_inside_its_support_can_go_either_way():
    share = dict(effect="share", paper="p", threshold=0.5, support=(0.0, 1.0))
    assert Claim.test("C", "s", [0.9, 0.95, 0.92], **share).verdict == "reproduced"
    assert Claim.test("C", "s", [0.1, 0.05, 0.12], **share).verdict == "contradicted"


def test_convergence_is_recorded_and_flagged():
    assert at_last_epoch([5, 10, 10, 3], cap=10) == 0.5
    c = Claim.test("C", "s", [1.0, 1.2], effect="e", paper="p", at_last_epoch=0.5)
    assert c.converged is False and "not converged: 50%" in claims_table([c]).verdict[0]
    assert Claim.test("C", "s", [1.0, 1.2], effect="e", paper="p", at_last_epoch=0.1).converged is True


def test_claims_markdown_keeps_the_full_text_and_the_paper():
    long = "a statement far longer than fifty characters, which pandas would cut short in a notebook"
    md = claims_markdown([Claim.test("C1", long, [1.0, 1.1], effect="e", paper="Fig. 3 | arXiv 1234.5678")])
    assert long in md and "Fig. 3 \\| arXiv 1234.5678" in md and md.count("\n") == 2


def test_claims_round_trip_through_json():
    import json

    c = Claim.test(
        "C", "s", [1.0, 1.5], effect="e", paper="p", threshold=0.5, support=(0.0, None), at_last_epoch=0.0
    )
    back = Claim.from_dict(json.loads(json.dumps(c.to_dict())))
    assert back == c


WHY = "the smallest change a reader would act on"


@pytest.mark.parametrize(
    ("samples", "verdict"),
    [
        ([0.50, 0.55, 0.60, 0.52, 0.58], "reproduced"),  # 95% interval above the threshold
        ([-0.50, -0.55, -0.60, -0.52, -0.58], "contradicted"),  # below it
        ([0.01, -0.01, 0.02, -0.02, 0.0], "absent"),  # 90% interval inside (-0.1, 0.1)
        ([0.3, -0.3, 0.4, -0.2, 0.1], "inconclusive"),  # neither: the seeds it would take are said
        ([0.05, 0.06, 0.07, 0.05, 0.06], "reproduced"),  # a real effect below delta is still reproduced
    ],
)
def test_four_verdicts_with_a_smallest_effect(samples, verdict):
    c = Claim.test("C", "s", samples, effect="e", paper="p", delta=0.1, delta_why=WHY)
    assert c.verdict == verdict
    assert c.seeds_needed == seeds_needed(float(np.std(samples, ddof=1)), 0.1)
    assert ("seeds would decide" in claims_table([c]).verdict[0]) == (verdict == "inconclusive")
    assert c.delta == 0.1 and c.delta_why == WHY and c.to_dict()["delta"] == 0.1
    if verdict == "absent":  # the same spread with a smaller delta cannot rule the effect out
        narrow = Claim.test("C", "s", samples, effect="e", paper="p", delta=0.01, delta_why=WHY)
        assert narrow.verdict == "inconclusive" and narrow.seeds_needed > len(samples)


def test_absent_is_an_equivalence_test_around_the_threshold():
    """Two one-sided tests at 5% each: the 90% interval, not the 95% one, must lie inside threshold +- delta."""
    samples = [1.00, 1.06, 0.96, 1.03, 0.98, 1.01]
    lo90, hi90 = mean_ci(samples, 0.90)[1:]
    delta = max(hi90 - 1.0, 1.0 - lo90) * 1.01  # just wide enough for the 90% interval
    c = Claim.test("C", "s", samples, effect="e", paper="p", threshold=1.0, delta=delta, delta_why=WHY)
    assert c.verdict == "absent" and not (1 - delta < c.low and c.high < 1 + delta)


def test_seeds_needed_matches_the_power_formula():
    n = seeds_needed(sd=0.3, delta=0.1)
    t = stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)
    assert (t * 0.3 / 0.1) ** 2 <= n < (t * 0.3 / 0.1) ** 2 + 1
    assert seeds_needed(0.0, 0.1) is None and seeds_needed(0.3, 0.0) is None


def test_a_delta_needs_its_reason():
    with pytest.raises(ValueError, match="delta"):
        Claim.test("C", "s", [0.1, 0.2], effect="e", paper="p", delta=0.1)
    with pytest.raises(ValueError, match="delta"):
        Claim.test("C", "s", [0.1, 0.2], effect="e", paper="p", delta=-1.0, delta_why=WHY)


def test_detectable_effect_and_seeds_needed_are_one_power_computation():
    # n seeds detect d = detectable_effect(sd, n); a design sized for d then needs at most n seeds
    for sd, n in [(1.0, 10), (0.3, 25), (2.5, 6)]:
        d = detectable_effect(sd, n)
        assert seeds_needed(sd, d) <= n and seeds_needed(sd, d * 0.9) > n


def test_power_table_shows_sd_detectable_effect_and_seeds_for_delta():
    c = Claim.test(
        "C1", "x", [0.1, 0.5, 0.3, 0.7], effect="e", paper="", delta=0.2, delta_why="a stated threshold"
    )
    row = power_table([replace(c, headline=True)]).iloc[0]
    sd = float(np.std([0.1, 0.5, 0.3, 0.7], ddof=1))
    assert row["headline"] == "yes" and row["seeds"] == 4 and row["per-seed SD"] == f"{sd:.3g}"
    assert row["seeds for δ"] == f"{seeds_needed(sd, 0.2)} (more than run)"
    assert row["detectable at these seeds"] == f"{detectable_effect(sd, 4):.3g}"
