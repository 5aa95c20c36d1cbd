"""Study 02's grid, head sizes, claims and committed results: small heads are small, the grid holds the
paper's baselines, claims are per data set and can fail, and the committed runs converged."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from mtlkit.fronts import KEYS, differences, low_weight_effects, select_lr
from mtlkit.models.towers import SMALL_HEADS
from mtlkit.params import validate
from mtlkit.stats import CONVERGED_SHARE
from mtlkit.studies import small_towers as st
from mtlkit.studies import small_towers_tables as tt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "02_small_towers"


@pytest.mark.parametrize("mode", ["default", "full"])
def test_every_small_head_is_at_most_ten_percent_of_its_main_tower(mode):
    p = validate(st.SPEC, {"mode": mode})
    table = st.head_table(p).reset_index()
    heads = table[table.part.isin([f"head: {k}" for k in SMALL_HEADS])]
    assert len(heads) == len(SMALL_HEADS) * 4, "three head types, two tasks, digits and synthetic"
    assert (heads["% of main tower"] <= 10).all(), heads
    digits_linear = table[(table.dataset == st.DIGITS) & (table.part == "head: linear")]
    assert digits_linear.parameters.tolist() == [510, 510], "the paper's MultiMNIST linear head"
    mains = table[(table.dataset == st.DIGITS) & table.part.str.startswith("main tower")]
    assert mains.parameters.tolist() == [5610, 5610], "the paper's Dense 50-50-10 tower"


def test_default_grid_holds_the_papers_baselines_and_stays_in_budget():
    p = validate(st.SPEC, {"mode": "default"})
    assert p["seeds"] >= 5 and p["aux_weight"] == 2.0
    grid = st.run_configs(p, list(range(p["seeds"])))
    keys = pd.DataFrame(list(grid), columns=list(KEYS))
    digits = keys[keys.dataset == st.DIGITS]
    fronts = set(zip(digits.variant, digits.gamma))
    assert {("none", 0.0), ("linear", 2.0), ("large", 2.0), ("pseudo", 1.0), ("wide", 0.0)} <= fronts
    assert set(keys[keys.dataset != st.DIGITS].architecture) == {"hard", "mmoe"}
    assert set(digits.architecture) == {"hard"}, "MMoE is an extension, on the synthetic data only"
    select = st.run_configs(p, tt.select_seeds(p), stage="select")
    old = st.run_configs(p, list(range(p["today_seeds"])), stage="today")
    n_digits = len(digits) + len(select) + len(old)  # digits runs cost ~1.5 CPU s each, synthetic ~0.4
    assert n_digits <= 200 and len(grid) - len(digits) <= 100, "default mode: about 200 s on 2 quiet cores"
    assert not set(tt.select_seeds(p)) & set(range(p["seeds"])), "the lr is never chosen on evaluation seeds"
    for key, cfg in grid.items():
        w = cfg.run.fit.weighting["weights"]
        assert abs(sum(w.values()) - 1) < 1e-9 and cfg.run.fit.patience == p["patience"]
        assert (cfg.run.model.get("trunk") == "lenet") == (key[0] == st.DIGITS)
        assert cfg.run.data["seed"] == cfg.run.seed == key[-1]
    wide = next(c for k, c in grid.items() if k[2] == "wide")
    assert wide.run.model["tower"][0] > p["tower"]


def test_lr_is_chosen_per_method_on_validation_with_the_same_grid_for_every_method():
    p = validate(st.SPEC, {"mode": "smoke"})
    select = st.run_configs(p, tt.select_seeds(p), stage="select")
    keys = pd.DataFrame(list(select), columns=[*KEYS, "lr"])
    assert set(keys.dataset) == {st.DIGITS}, "the extension's Adam rate is not selected"
    per_method = {m: (tuple(sorted(set(d.lr))), len(d)) for m, d in keys.groupby(["variant", "gamma"])}
    assert set(per_method.values()) == {(tuple(sorted(p["lrs"])), len(keys) // len(per_method))}, "same grid"
    assert all(c.select and c.run.fit.lr == k[-1] for k, c in select.items())
    hv = pd.DataFrame(
        [("none", 0.0, 0.02, 0, 0.5), ("none", 0.0, 0.05, 0, 0.7), ("none", 0.0, 0.02, 1, 0.6)]
        + [("none", 0.0, 0.05, 1, 0.6), ("linear", 2.0, 0.02, 0, 0.4), ("linear", 2.0, 0.05, 0, 0.4)],
        columns=["variant", "gamma", "lr", "seed", "hypervolume"],
    )
    chosen = select_lr(hv)
    assert chosen[("none", 0.0)] == 0.05, "the best mean validation hypervolume over the selection seeds"
    assert chosen[("linear", 2.0)] == 0.02, "ties go to the smaller rate"
    grid = st.run_configs(p, [0], lrs={("none", 0.0): 0.02, ("linear", 2.0): 0.1})
    lr = {k[2:4]: c.run.fit.lr for k, c in grid.items() if k[0] == st.DIGITS}
    assert lr[("none", 0.0)] == 0.02 and lr[("linear", 2.0)] == lr[("linear", 1.0)] == 0.1, (
        "gamma fronts: head's"
    )
    assert lr[("wide", 0.0)] == p["lr"], "a method without a chosen rate keeps the declared one"
    old = st.run_configs(p, [0], stage="today")
    assert {(k[1], k[2]) for k in old} == {("today", "none"), ("today", "linear")}
    assert all(
        c.variant.temperature == 1 and not c.run.fit.patience_each and c.run.fit.lr == p["lr"]
        for c in old.values()
    )
    assert all(
        c.variant.temperature == p["aux_temperature"] and c.run.fit.patience_each for c in grid.values()
    )


def test_low_weight_effects_take_the_task_with_the_smaller_weight():
    rows = [
        ("test", "accuracy", v, g, a, s, t, x)
        for s in (0, 1)
        for v, g, bump in (("none", 0.0, 0.0), ("linear", 2.0, 0.1))
        for a in (0.05, 0.5, 0.95)
        for t, x in (("left", 0.5 + bump * (a < 0.5)), ("right", 0.6 + bump * (a > 0.5) * 2))
    ]
    final = pd.DataFrame(
        rows, columns=["split", "metric", "variant", "gamma", "alpha", "seed", "task", "value"]
    )
    e = low_weight_effects(final, ("linear", 2.0), ("none", 0.0), ["left", "right"], "accuracy")
    assert e.groupby("alpha").effect.mean().round(6).to_dict() == {0.05: 0.1, 0.5: 0.0, 0.95: 0.2}


def test_full_mode_uses_overlaid_mnist_pairs_and_every_head_type():
    p = validate(st.SPEC, {"mode": "full"})
    assert p["digits"] == "overlaid" and p["heads"] == list(SMALL_HEADS) and p["n_weights"] == 11
    assert st.datasets(p)[st.DIGITS]["name"] == "overlaid"


def test_train_point_reports_best_epoch_and_served_size():
    p = validate(st.SPEC, {"mode": "smoke", "n_train": 40, "epochs": 2, "channels": 2})
    grid = st.run_configs(p, [0])
    rows = {k[2]: st.train_point(c) for k, c in grid.items() if k[0] == st.DIGITS and k[4] == 0.05}
    for variant, r in rows.items():
        final = r[r.epoch == 0]
        best = final[(final.metric == "best_epoch") & (final.split == "val") & (final.task == "all")].value
        assert len(best) == 1 and 1 <= best.item() <= 2
        assert set(final[final.metric == "loss"].task) == set(p["digit_tasks"]), variant
        assert set(r[r.epoch > 0].task) <= set(p["digit_tasks"]), "only the served tasks' history"
    served = {v: r[(r.metric == "parameters") & (r.split == "test")].value.item() for v, r in rows.items()}
    trained = {v: r[(r.metric == "parameters") & (r.split == "train")].value.item() for v, r in rows.items()}
    assert served["linear"] == served["large"] == served["pseudo"] == served["none"] < served["wide"]
    assert trained["none"] < trained["linear"] < trained["large"] < trained["pseudo"]


def _hv(values: dict[tuple[str, float], list[float]], dataset=st.DIGITS, arch="hard") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"dataset": dataset, "architecture": arch, "variant": v, "gamma": g, "seed": s, "hypervolume": h}
            for (v, g), hs in values.items()
            for s, h in enumerate(hs)
        ]
    )


def test_claims_are_per_data_set_paired_by_seed_and_can_fail():
    p = validate(st.SPEC, {"mode": "smoke", "seeds": 3})
    base = [0.5, 0.6, 0.7]
    digits = {
        ("none", 0.0): base,
        ("linear", 2.0): [b - 0.1 for b in base],  # small heads hurt on every seed: D1 contradicted
        ("large", 2.0): [b - 0.2 for b in base],
        ("pseudo", 1.0): [0.45, 0.4, 0.8],
        ("wide", 0.0): base,
        ("linear", 1.0): base,
    }
    synthetic = {("none", 0.0): [0.2, 0.3, 0.4], ("linear", 2.0): [0.3, 0.45, 0.5]}
    hv = pd.concat(
        [_hv(digits)] + [_hv(synthetic, "corr=0.5", a) for a in ("hard", "mmoe")], ignore_index=True
    )
    best = hv[["dataset", "architecture", "variant", "gamma", "seed"]].assign(best_epoch=2, alpha=0.5)
    best.loc[(best.dataset == st.DIGITS) & (best.variant == "large"), "best_epoch"] = p["epochs"]
    claims = {c.id: c for c in st.make_claims(hv, best, p)}
    assert set(claims) == {"D1.linear", "D2", "D3", "D4", "E1.hard", "E1.mmoe"}
    assert all(c.paper == st.PAPER[c.id] and c.support == (-1.0, 1.0) for c in claims.values())
    assert claims["D1.linear"].verdict == "contradicted"
    assert claims["D1.linear"].values == pytest.approx((-0.1, -0.1, -0.1))
    assert claims["D2"].verdict == "reproduced" and claims["D2"].estimate == pytest.approx(0.1)
    assert claims["D3"].values == pytest.approx((-0.05, 0.1, -0.2))
    assert claims["E1.hard"].values == pytest.approx((0.1, 0.15, 0.1)), "synthetic only, never the digits"
    # converged: D2's runs are half 'large' runs at the cap; the others never reach it
    assert claims["D2"].at_last_epoch == pytest.approx(0.5) and claims["D2"].converged is False
    assert claims["D1.linear"].at_last_epoch == 0.0 and claims["D1.linear"].converged is True
    gam = st.gamma_table(hv, p)
    assert gam.groupby("gamma").gain.mean().to_dict() == pytest.approx({1.0: 0.0, 2.0: -0.1})
    assert differences(hv, ("linear", 2.0), ("none", 0.0), ["corr=0.5"], "mmoe").tolist() == pytest.approx(
        [0.1, 0.15, 0.1]
    )


@pytest.mark.skipif(not (RESULTS / "claims.json").is_file(), reason="no committed results")
def test_committed_runs_converged_and_claims_cite_the_paper():
    metrics = pd.read_csv(RESULTS / "metrics.csv", low_memory=False)
    best = metrics[(metrics.epoch == 0) & (metrics.metric == "best_epoch")]
    manifest = json.loads((RESULTS / "manifest.json").read_text())
    cap = manifest["params"]["epochs"]
    assert len(best) > 0 and (best.value >= cap).mean() < CONVERGED_SHARE
    claims = json.loads((RESULTS / "claims.json").read_text())["claims"]
    ids = {c["id"] for c in claims}
    assert {"D1.linear", "D2", "D3", "D4", "E1.hard", "E1.mmoe"} <= ids
    for c in claims:
        assert c["paper"] and c["converged"] is not None and c["support"] == [-1.0, 1.0]
        assert ("Extension" in c["statement"]) == c["id"].startswith("E"), "the extension is labelled"


@pytest.mark.skipif(not (RESULTS / "claims.json").is_file(), reason="no committed results")
def test_committed_discussion_cites_the_claims_numbers():
    claims = {c["id"]: c for c in json.loads((RESULTS / "claims.json").read_text())["claims"]}
    nb = json.loads((RESULTS / "02_small_towers.ipynb").read_text())
    texts = [
        "".join(o["data"]["text/markdown"])
        for cell in nb["cells"]
        for o in cell.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    ]
    discussion = next(t for t in texts if "base model's test hypervolume is" in t)
    for cid, c in claims.items():
        cited = f"{c['estimate']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}], {c['verdict']}"
        assert cited in re.sub(r"\s+", " ", discussion), (cid, cited)
