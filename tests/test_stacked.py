"""fit_seeds trains S seeds as one stack: seed k must end as its own fit run would (to float rounding)."""

import copy

import pytest
import torch

import mtlkit.stacked as stacked
from mtlkit.data.multidigits import make_multidigits
from mtlkit.losses import TrainingDiverged
from mtlkit.models import build_model
from mtlkit.runs import (
    FitConfig,
    RunConfig,
    SeedsConfig,
    side_by_side,
    train_and_evaluate,
    train_and_evaluate_seeds,
)
from mtlkit.seeding import seed_everything
from mtlkit.stacked import fit_seeds
from mtlkit.train import fit

TASKS = ["left", "sum_parity", "left_gt_right"]
SEEDS = [0, 1, 2]


def _runs(seeds, **data_kw):
    """Each seed's data (data seed = seed) and model, built as train_and_evaluate builds them."""
    datas, models = [], []
    for s in seeds:
        seed_everything(s)
        datas.append(make_multidigits(TASKS, n_train=data_kw.get("n_train", 300), seed=s))
        models.append(build_model("hard", datas[-1].input_shape, datas[-1].tasks, width=32, depth=2))
    return datas, models


def _assert_same(model, hist, separate, separate_hist, atol=1e-5):
    for (k, v), w in zip(separate.state_dict().items(), model.state_dict().values()):
        # Adam divides by sqrt(v): float noise between batched and single matmuls grows to ~1e-5 in
        # the odd weight whose gradient is near 0; a wrong batch, task order or state differs by ~1e-2
        assert torch.allclose(v, w, atol=10 * atol), k
    assert hist.attrs["best_epoch"] == separate_hist.attrs["best_epoch"]
    for c in ("epoch", "split", "task", "metric"):
        assert (hist[c].to_numpy() == separate_hist[c].to_numpy()).all(), c
    assert abs(hist.value.to_numpy() - separate_hist.value.to_numpy()).max() < atol


ITMTL_SGD = pytest.param(
    {"name": "itmtl", "lookahead": "sgd", "lr": 0.01, "candidates": ["sum", "pcgrad", "mgda"]}, id="itmtl-sgd"
)


@pytest.mark.parametrize(
    "weighting", ["equal", "uncertainty", "dwa", "gradnorm", "pcgrad", "mgda", "itmtl", ITMTL_SGD]
)
def test_each_seed_of_the_stack_equals_its_own_fit(weighting):
    datas, models = _runs(SEEDS)
    separate = copy.deepcopy(models)
    kw = {"epochs": 3, "lr": 0.01, "batch_size": 64, "weighting": weighting}  # DWA adapts from epoch 3
    hists = fit_seeds(models, datas, seeds=SEEDS, **kw)
    for k, s in enumerate(SEEDS):
        alone = fit(separate[k], datas[k], seed=s, **kw)
        _assert_same(models[k], hists[k], separate[k], alone)
        assert hists[k].attrs["seed"] == s and hists[k].attrs["diverged"] is None
    if isinstance(weighting, dict) or weighting == "itmtl":  # each seed chose its own candidates
        chose = [h[h.metric.str.startswith("chose_")] for h in hists]
        names = weighting["candidates"] if isinstance(weighting, dict) else ["sum", "pcgrad"]
        assert list(chose[0].metric[: len(names)]) == [f"chose_{c}" for c in names]
        assert len({tuple(c.value.round(6)) for c in chose}) > 1, "the seeds' choices differ"
    if weighting in ("gradnorm", "dwa", "mgda", "uncertainty"):  # the weights did move, per seed
        w = [h[(h.metric == "weight") & (h.epoch == 3)].value.to_numpy() for h in hists]
        assert all(abs(x - 1).max() > 1e-3 for x in w) and abs(w[0] - w[1]).max() > 1e-6


@pytest.mark.parametrize("weighting", ["equal", "uncertainty", "gradnorm", "dwa"])
def test_early_stopped_seeds_leave_the_stack(monkeypatch, weighting):
    """Stopped seeds are compacted out: parameters, Adam's state (and the weighting's own parameters and
    state); the others go on, each still equal to its own early-stopped run."""
    seeds = [0, 1, 2, 3]
    datas, models = _runs(seeds)
    separate = copy.deepcopy(models)
    sizes = []
    compact = stacked._compact

    def spy(modules, combiner, opt, keep):  # the optimizer's state after each compaction
        compact(modules, combiner, opt, keep)
        sizes.append({v.shape[0] for st in opt.state.values() for v in st.values() if v.dim()})

    monkeypatch.setattr(stacked, "_compact", spy)
    kw = {"epochs": 8, "lr": 0.05, "patience": 1, "weighting": weighting}
    hists = fit_seeds(models, datas, seeds=seeds, **kw)
    stops = [h.epoch.max() for h in hists]
    assert len(set(stops)) > 1 and min(stops) < kw["epochs"]  # seeds stopped at different epochs
    assert all(len(s) == 1 for s in sizes)  # every state tensor shrank together
    early = sorted({e for e in stops if e < kw["epochs"]})  # the stack's size after each of those epochs
    assert [s.pop() for s in sizes][: len(early)] == [len(seeds) - sum(s <= e for s in stops) for e in early]
    for k, s in enumerate(seeds):
        alone = fit(separate[k], datas[k], seed=s, **kw)
        assert alone.epoch.max() == stops[k]
        _assert_same(models[k], hists[k], separate[k], alone)


def test_a_diverging_seed_is_reported_and_the_others_go_on():
    datas, models = _runs(SEEDS)
    datas[1].x["train"][5, 0, 0, 0] = float("nan")  # seed 1 meets a NaN in its first epoch
    separate = copy.deepcopy(models)
    kw = {"epochs": 2, "lr": 0.01, "weighting": "mgda"}
    hists = fit_seeds(models, datas, seeds=SEEDS, **kw)
    assert "non-finite loss" in hists[1].attrs["diverged"] and "epoch 1" in hists[1].attrs["diverged"]
    assert hists[1].empty and torch.isfinite(models[1].trunk.net[0].weight).all()
    with pytest.raises(TrainingDiverged):
        fit(separate[1], datas[1], seed=1, **kw)
    for k in (0, 2):
        assert hists[k].attrs["diverged"] is None
        _assert_same(models[k], hists[k], separate[k], fit(separate[k], datas[k], seed=SEEDS[k], **kw))


def test_fit_seeds_refuses_a_seed_count_unlike_the_models():
    datas, models = _runs([0])
    assert "itmtl" not in stacked.UNSUPPORTED
    with pytest.raises(ValueError, match="one seed"):
        fit_seeds(models, datas, seeds=[0, 1], epochs=1)


def test_the_stack_ends_when_every_seed_has_stopped():
    datas, models = _runs([0, 1])
    separate = copy.deepcopy(models)
    kw = {"epochs": 40, "lr": 0.05, "patience": 1}
    hists = fit_seeds(models, datas, seeds=[0, 1], **kw)
    assert all(h.epoch.max() < kw["epochs"] for h in hists)
    for k in (0, 1):
        _assert_same(models[k], hists[k], separate[k], fit(separate[k], datas[k], seed=k, **kw))


def _run_config(seed, weighting="equal", trunk="mlp"):
    return RunConfig(
        seed=seed,
        data={"name": "multidigits", "tasks": TASKS, "n_train": 300, "seed": seed},
        model={"architecture": "hard", "trunk": trunk, "width": 32, "depth": 2},
        fit=FitConfig(epochs=3, weighting=weighting, patience=1),
    )


@pytest.mark.parametrize("weighting", ["equal", "mgda"])
def test_a_study_s_seeds_side_by_side_give_each_seed_s_own_rows(weighting):
    """train_and_evaluate_seeds (what study 00's sweep runs) returns, for every seed, the rows its own
    train_and_evaluate gives, to float rounding; a config it cannot stack runs seed by seed, exactly."""
    configs = {(weighting, s, "shared"): _run_config(s, weighting) for s in SEEDS}
    stacks = side_by_side(configs, seed_at=1)
    assert list(stacks) == [(weighting, "shared")] and stacks[(weighting, "shared")].stackable()
    rows = train_and_evaluate_seeds(stacks[(weighting, "shared")])
    for s in SEEDS:
        own = train_and_evaluate(configs[(weighting, s, "shared")])
        mine = rows[rows.seed == s].drop(columns="seed").reset_index(drop=True)
        assert (
            (mine[["epoch", "split", "task", "metric"]] == own[["epoch", "split", "task", "metric"]])
            .all()
            .all()
        )
        assert abs(mine.value - own.value).max() < 1e-4
    cnn = SeedsConfig(tuple(_run_config(s, trunk="cnn") for s in SEEDS[:2]))
    assert not cnn.stackable()
    rows = train_and_evaluate_seeds(cnn)
    assert (
        rows[rows.seed == 1]
        .drop(columns="seed")
        .reset_index(drop=True)
        .equals(train_and_evaluate(cnn.runs[1]))
    )
    with pytest.raises(ValueError, match="seeds only"):
        SeedsConfig((_run_config(0), _run_config(1, "mgda")))
