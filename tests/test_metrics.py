import pandas as pd
import pytest

from mtlkit.metrics import delta_m, delta_m_by, paired_gap


def test_delta_m_hand_computed():
    assert delta_m({"a": 0.9, "b": 0.8}, {"a": 0.9, "b": 1.0}) == pytest.approx(-10.0)
    assert delta_m({"a": 0.5}, {"a": 1.0}, higher_is_better=False) == pytest.approx(50.0)
    assert delta_m({"a": 1.1, "b": 2.0}, {"a": 1.0, "b": 1.0}, {"a": True, "b": False}) == pytest.approx(
        (10 - 100) / 2
    )
    with pytest.raises(ValueError):
        delta_m({"a": 1.0}, {"b": 1.0})


def test_delta_m_by_pairs_on_seed():
    rows = []
    for seed, single, shared in ((0, 0.8, 0.88), (1, 0.5, 0.45)):
        rows += [
            {"method": "single", "seed": seed, "task": "t", "metric": "accuracy", "value": single},
            {"method": "hard", "seed": seed, "task": "t", "metric": "accuracy", "value": shared},
        ]
    dm = delta_m_by(pd.DataFrame(rows), "single").set_index(["method", "seed"]).delta_m
    assert dm[("hard", 0)] == pytest.approx(10.0) and dm[("hard", 1)] == pytest.approx(-10.0)
    assert dm[("single", 0)] == 0.0


def test_paired_gap():
    df = pd.DataFrame(
        {
            "method": ["a", "b", "a", "b"],
            "seed": [0, 0, 1, 1],
            "task": ["t"] * 4,
            "value": [3.0, 1.0, 2.0, 2.5],
        }
    )
    assert paired_gap(df, "a", "b").gap.tolist() == [2.0, -0.5]
