import pandas as pd
import pytest
import torch

from mtlkit.losses import TrainingDiverged
from mtlkit.models import build_model
from mtlkit.runs import RunConfig, train_and_evaluate
from mtlkit.train import evaluate, fit


def _fit(data, **kw):
    torch.manual_seed(0)
    model = build_model("hard", data.input_shape, data.tasks, width=16, depth=1)
    return model, fit(model, data, epochs=kw.pop("epochs", 3), lr=0.01, batch_size=32, seed=0, **kw)


def test_same_seed_identical_history(tiny_data):
    _, a = _fit(tiny_data)
    _, b = _fit(tiny_data)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["epoch", "split", "task", "metric", "value"]


def test_learns_and_evaluates(tiny_data):
    model, hist = _fit(tiny_data, epochs=30)
    ev = evaluate(model, tiny_data, "test").set_index(["task", "metric"]).value
    assert ev[("pos", "accuracy")] > 0.85
    assert ("reg", "accuracy") not in ev.index and ev[("reg", "loss")] < 4.0


def test_non_finite_loss_stops_with_a_clear_error(tiny_data):
    tiny_data.y["train"]["reg"][3] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"non-finite loss for task\(s\) \['reg'\]"):
        _fit(tiny_data)


def test_bad_epochs(tiny_data):
    with pytest.raises(ValueError, match="epochs"):
        _fit(tiny_data, epochs=0)


def test_restore_best_keeps_the_best_validation_epoch(tiny_data):
    model, hist = _fit(tiny_data, epochs=6)
    val = hist[(hist.split == "val") & (hist.metric == "loss")].groupby("epoch").value.sum()
    final = evaluate(model, tiny_data, "val")
    assert final[final.metric == "loss"].value.sum() == pytest.approx(val.min(), rel=1e-5)


def test_train_and_evaluate_is_a_pure_function_of_its_config():
    cfg = RunConfig.from_dict(
        {
            "seed": 1,
            "data": {"name": "multidigits", "tasks": ["left", "sum_parity"], "n_train": 120},
            "model": {"architecture": "hard", "width": 16, "depth": 1},
            "fit": {"epochs": 2, "weighting": "pcgrad"},
        }
    )
    a, b = train_and_evaluate(cfg), train_and_evaluate(cfg)
    pd.testing.assert_frame_equal(a, b)
    final = a[a.epoch == 0]
    assert (
        set(final[final.metric == "loss"].split) == {"val", "test"}
        and (final.metric == "best_epoch").sum() == 1
    )
    params = final[final.metric == "parameters"].set_index("split").value
    assert params["train"] == params["test"] > 0, (
        "without auxiliary towers the served model is the trained one"
    )


def test_patience_stops_once_validation_stops_improving(tiny_data):
    torch.manual_seed(0)
    model = build_model("hard", in_shape=tiny_data.input_shape, tasks=tiny_data.tasks, width=8, depth=1)
    hist = fit(model, tiny_data, epochs=200, lr=0.05, patience=3)
    last, best = int(hist.epoch.max()), hist.attrs["best_epoch"]
    assert last < 200 and last - best == 3, "stops three epochs after the best one"
    with pytest.raises(ValueError, match="patience"):
        fit(model, tiny_data, epochs=2, patience=0)


def test_a_loss_far_above_a_uniform_guess_has_exploded(tiny_data):
    import math

    from mtlkit.train import exploded

    uniform = math.log(2)  # two classes
    assert not exploded(
        {"pos": uniform, "big": 0.1, "reg": 1e6}, tiny_data
    )  # regression losses have no scale
    assert not exploded({"pos": 1.9 * uniform}, tiny_data)
    assert exploded({"pos": 2.1 * uniform}, tiny_data)
    assert exploded({"big": float("nan")}, tiny_data) and exploded({"big": float("inf")}, tiny_data)


def test_training_at_a_huge_step_is_flagged_as_diverged(tiny_data):
    from mtlkit.runs import RunConfig, train_and_evaluate
    from mtlkit.tables import diverged_runs

    def run(lr: float) -> bool:
        config = RunConfig.from_dict(
            {
                "seed": 0,
                "data": {"name": "multidigits", "tasks": ["left", "sum_parity"], "n_train": 200},
                "model": {"architecture": "hard", "width": 32, "depth": 2},
                "fit": {"epochs": 3, "lr": lr},
            }
        )
        return bool(diverged_runs(train_and_evaluate(config).assign(seed=0)).diverged.iloc[0])

    assert not run(1e-3) and run(10.0)
