import math

import pytest

from mtlkit.stats import Claim, claims_table, mean_ci, summarize


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
    c = Claim.test("C", "s", samples, effect="e", direction=direction)
    assert c.verdict == verdict
    assert c.n == len(samples)


def test_claim_threshold_and_table():
    c = Claim.test("C", "above one", [1.5, 1.6, 1.7], effect="e", threshold=1.0)
    assert c.verdict == "reproduced"
    assert Claim.test("C", "above two", [1.5, 1.6, 1.7], effect="e", threshold=2.0).verdict == "contradicted"
    t = claims_table([c])
    assert list(t.verdict) == ["reproduced"] and t.loc[0, "test"] == "> 1"


def test_summarize_groups():
    import pandas as pd

    df = pd.DataFrame({"g": ["a", "a", "b", "b"], "value": [1.0, 3.0, 2.0, 2.0]})
    s = summarize(df, ["g"]).set_index("g")
    assert s.loc["a", "mean"] == 2.0 and s.loc["b", "low"] == 2.0 and s.loc["a", "n"] == 2
