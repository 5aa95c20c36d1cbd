import pytest
import torch

from mtlkit.data import make_data
from mtlkit.data.base import SPLITS, MultiTaskData, TaskSpec
from mtlkit.data.correlated import make_correlated
from mtlkit.data.multidigits import TASKS, load_digits_tensors, make_multidigits


def test_no_base_image_in_two_splits():
    d = make_multidigits(n_train=2000, seed=3)
    seen = {s: set(d.info["base_images"][s].flatten().tolist()) for s in SPLITS}
    assert not seen["train"] & seen["val"]
    assert not seen["train"] & seen["test"]
    assert not seen["val"] & seen["test"]


def test_labels_follow_the_digits():
    images, labels = load_digits_tensors()
    d = make_multidigits(n_train=300, seed=0)
    ids = d.info["base_images"]["train"]
    a, b = labels[ids[:, 0]], labels[ids[:, 1]]
    y = d.y["train"]
    assert torch.equal(y["left"], a) and torch.equal(y["right"], b)
    assert torch.equal(y["sum"], a + b)
    assert torch.equal(y["sum_parity"], (a + b) % 2)
    assert torch.equal(y["left_gt_right"], (a > b).long())
    assert torch.equal(y["product_parity"], (a * b) % 2)
    mean, std = d.info["norm"]
    # the left half of the input is the left image, standardised with train statistics
    assert torch.allclose(d.x["train"][:, 0, :, :8] * std + mean, images[ids[:, 0]], atol=1e-5)
    assert d.task("sum").n_outputs == 19


def test_normalisation_uses_train_only():
    d = make_multidigits(n_train=1000, seed=1)
    assert abs(float(d.x["train"].mean())) < 1e-5
    assert abs(float(d.x["train"].std()) - 1) < 1e-4


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (
        make_multidigits(n_train=200, seed=5),
        make_multidigits(n_train=200, seed=5),
        make_multidigits(n_train=200, seed=6),
    )
    assert torch.equal(a.x["train"], b.x["train"])
    assert not torch.equal(a.x["train"], c.x["train"])


def test_unknown_task_lists_known_tasks():
    with pytest.raises(ValueError, match="known tasks") as e:
        make_multidigits(["left", "colour"])
    assert "colour" in str(e.value) and "sum_parity" in str(e.value)
    assert set(TASKS) >= {"left", "right", "sum_parity", "left_gt_right", "sum_mod3", "sum", "product_parity"}


def test_correlated_reports_requested_and_achieved_correlation():
    lo, hi = make_correlated(0.0, n_train=4000, seed=0), make_correlated(0.9, n_train=4000, seed=0)
    assert lo.info["requested_corr"] == 0.0 and abs(lo.info["label_corr"]) < 0.1
    assert 0.75 < hi.info["label_corr"] < 0.99
    assert hi.y["train"]["y1"].shape == (4000, 1)
    one = make_correlated(1.0, n_train=500, noise=0.0, seed=0)
    assert torch.allclose(one.y["train"]["y1"], one.y["train"]["y2"], atol=1e-5)
    with pytest.raises(ValueError, match="correlation"):
        make_correlated(1.5)


def test_make_data_registry_and_contract_checks():
    assert make_data("multidigits", tasks=["left"], n_train=50).task_names == ["left"]
    with pytest.raises(ValueError, match="known"):
        make_data("cifar")
    x = {s: torch.zeros(3, 2) for s in SPLITS}
    y = {s: {"a": torch.zeros(2)} for s in SPLITS}
    with pytest.raises(ValueError, match="targets for 3 inputs"):
        MultiTaskData(x, y, [TaskSpec("a", "regression", 1)])


def test_batches_cover_the_split_once(tiny_data):
    g = torch.Generator().manual_seed(0)
    seen = torch.cat([xb for xb, _ in tiny_data.batches("train", 10, g)])
    assert len(seen) == tiny_data.n("train")
    assert torch.equal(seen.sort(0).values, tiny_data.x["train"].sort(0).values)
