"""The committed default-mode results match the code that claims to produce them, and their claims are valid."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from mtlkit.params import validate
from mtlkit.results import mtlkit_hash, notebook_hash
from mtlkit.stats import VERDICTS, mean_ci
from mtlkit.studies import STUDIES

ROOT = Path(__file__).resolve().parents[1]
STUDY_NAMES = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
REGENERATE = "results are stale: regenerate them with `make study` (or `mtlkit run {0} --mode default`)"


@pytest.mark.parametrize("name", STUDY_NAMES)
def test_committed_results_are_fresh(name):
    folder = ROOT / "results" / name
    for f in (f"{name}.ipynb", "metrics.csv", "claims.json", "manifest.json"):
        assert (folder / f).is_file(), f"results/{name}/{f} missing: " + REGENERATE.format(name)
    m = json.loads((folder / "manifest.json").read_text())
    assert m["notebook_hash"] == notebook_hash(ROOT / "notebooks" / f"{name}.ipynb"), (
        "notebook changed: " + REGENERATE.format(name)
    )
    assert m["mtlkit_hash"] == mtlkit_hash(), "mtlkit/ changed: " + REGENERATE.format(name)
    assert m["mode"] == "default"
    defaults = validate(STUDIES[name], {"mode": "default"})
    params = {k: v for k, v in m["params"].items() if k not in ("out", "n_jobs", "device", "cache")}
    assert params == {k: v for k, v in defaults.items() if k in params}, (
        "results were not made with the default parameters"
    )
    for fig in m["figures"]:
        assert (folder / "figures" / fig).is_file(), fig
    assert len(pd.read_csv(folder / "metrics.csv")) > 0


@pytest.mark.parametrize("name", STUDY_NAMES)
def test_committed_claims_are_valid(name):
    claims = json.loads((ROOT / "results" / name / "claims.json").read_text())
    assert claims["study"] == name and claims["claims"]
    for c in claims["claims"]:
        assert set(c) >= {
            "id",
            "statement",
            "estimate",
            "low",
            "high",
            "n",
            "verdict",
            "effect",
            "direction",
            "threshold",
        }
        assert c["verdict"] in VERDICTS
        assert c["delta"] is not None and c["delta"] > 0 and len(c["delta_why"].split()) >= 3, (
            f"{c['id']}: every claim declares its smallest effect of interest and why"
        )
        assert c.get("at_last_epoch") is not None, f"{c['id']}: every claim records convergence"
        if c["low"] is None:
            assert c["verdict"] == "inconclusive"
            continue
        assert c["low"] <= c["estimate"] <= c["high"]
        above, below = c["low"] > c["threshold"], c["high"] < c["threshold"]
        lo90, hi90 = mean_ci(c["values"], 1 - 2 * (1 - c["level"]))[1:]
        expected = "inconclusive"
        if (c["direction"] == ">" and above) or (c["direction"] == "<" and below):
            expected = "reproduced"
        elif (c["direction"] == ">" and below) or (c["direction"] == "<" and above):
            expected = "contradicted"
        elif c["threshold"] - c["delta"] < lo90 and hi90 < c["threshold"] + c["delta"]:
            expected = "absent"
        assert c["verdict"] == expected, c["id"]
        assert c["seeds_needed"] is None or c["seeds_needed"] >= 2, c["id"]
        assert not math.isnan(c["estimate"])


BOUNDED_WORDS = ("share", "fraction", "ratio", "rate")


@pytest.mark.parametrize("name", STUDY_NAMES)
def test_every_committed_claim_can_fail_and_cites_the_paper(name):
    """A claim's threshold lies strictly inside the range its statistic can take (a share tested against
    ``> 0`` could never be contradicted), its per-seed values lie in that range, and it says what the
    paper reported."""
    claims = json.loads((ROOT / "results" / name / "claims.json").read_text())["claims"]
    for c in claims:
        assert c.get("paper"), f"{c['id']}: no 'paper' field (what the paper reported)"
        lo, hi = c["support"]
        if c["direction"] == ">":
            assert lo is None or c["threshold"] > lo, (
                f"{c['id']} tests a statistic >= {lo} against > {c['threshold']}"
            )
        else:
            assert hi is None or c["threshold"] < hi, (
                f"{c['id']} tests a statistic <= {hi} against < {c['threshold']}"
            )
        assert all((lo is None or v >= lo) and (hi is None or v <= hi) for v in c["values"]), c["id"]
        if any(w in c["effect"].lower() for w in BOUNDED_WORDS):
            assert lo is not None or hi is not None, (
                f"{c['id']}: {c['effect']!r} is bounded; declare its support"
            )


@pytest.mark.parametrize("name", STUDY_NAMES)
def test_each_study_names_its_headline_claims_and_its_claims_record_them(name):
    spec = STUDIES[name]
    claims = json.loads((ROOT / "results" / name / "claims.json").read_text())["claims"]
    assert spec.headline, f"{name} names no headline claim (what its seed count is chosen for)"
    for key in spec.headline:
        assert any(c["id"] == key or c["id"].startswith(key + ".") for c in claims), f"{name}: no claim {key}"
    for c in claims:
        assert c["headline"] == spec.is_headline(c["id"]), c["id"]
