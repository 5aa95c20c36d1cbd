"""Transference on a model that is not mtlkit's, in the user's own loop: the docs example runs as written,
``Z`` equals a hand computation on deep copies (TAG's Adam lookahead and a plain SGD step, dropout active),
measuring changes neither the model, nor the optimizer, nor the random state, nor training, and bad input is
refused with an error naming it."""

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mtlkit.losses import TrainingDiverged
from mtlkit.tracking import Transference

DOC = Path(__file__).resolve().parents[1] / "docs" / "own_model.md"
TASKS = ["a", "b"]


def test_the_docs_example_runs_and_says_what_it_shows(capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "one example, executed here as written"
    scope: dict = {"__name__": "own_model_example"}
    exec(compile(blocks[0], str(DOC), "exec"), scope)
    tracker, aff = scope["tracker"], scope["tracker"].affinity()
    assert list(aff.index) == list(aff.columns) == ["a", "b", "c"]
    assert aff.isna().to_numpy().diagonal().all() and aff.stack().notna().sum() == 6
    assert sorted(tracker.table().step.unique()) == list(range(0, 150, 5))
    # b is a plus noise, c depends on other inputs: a step on a helps b more than c, and the other way round
    assert aff.loc["a", "b"] > aff.loc["a", "c"] and aff.loc["b", "a"] > aff.loc["b", "c"]
    assert aff.loc["a", "b"] > 0 and aff.loc["b", "a"] > 0
    assert "target" in capsys.readouterr().out, "the example prints the affinity table"


class Net(nn.Module):
    """Not an mtlkit model: a trunk with dropout, two heads, a tuple out."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(0.25), nn.Linear(16, 8), nn.Tanh())
        self.head_a, self.head_b = nn.Linear(8, 1), nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.head_a(h).squeeze(1), self.head_b(h).squeeze(1)


def losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    a, b = model(x)
    return torch.stack([nn.functional.mse_loss(a, y[:, 0]), nn.functional.mse_loss(b, y[:, 1])])


OPTIMIZERS = {
    "adam": lambda params: torch.optim.Adam(params, lr=0.02),
    "adam_fused": lambda params: torch.optim.Adam(params, lr=0.02, fused=True),
}


def _trained(make_opt, steps: int = 4):
    """The model, its optimizer after a few steps (non-empty state) and a batch."""
    torch.manual_seed(0)
    x = torch.randn(48, 5)
    y = torch.stack([x[:, 0] + x[:, 1], x[:, 0] - 2 * x[:, 2]], 1)
    model = Net()
    opt = make_opt(model.parameters())
    for _ in range(steps):
        opt.zero_grad()
        losses(model, x, y).sum().backward()
        opt.step()
    return model, opt, x, y


def _by_hand(model, x, y, seed: int, step_on) -> torch.Tensor:
    """Z by hand: per source task, a deep copy of the model takes one step on that task's loss alone (trunk
    only, via ``step_on(twin, loss)``), then both tasks' losses are compared; every forward draws the
    dropout masks from ``seed``."""
    torch.manual_seed(seed)
    with torch.no_grad():
        before = losses(model, x, y)
    z = torch.zeros(2, 2)
    for i in range(2):
        twin = copy.deepcopy(model)
        torch.manual_seed(seed)
        step_on(twin, losses(twin, x, y)[i])
        torch.manual_seed(seed)
        with torch.no_grad():
            z[i] = 1 - losses(twin, x, y) / before
    return z


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_lookahead_equals_one_step_of_a_copied_optimizer(name):
    model, opt, x, y = _trained(OPTIMIZERS[name])
    tracker = Transference(model, model.trunk.parameters(), losses, TASKS, opt)
    torch.manual_seed(7)
    z = tracker.measure(x, y)

    def adam_step(twin: nn.Module, loss: torch.Tensor) -> None:
        twin_opt = OPTIMIZERS[name](twin.parameters())
        twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        twin_opt.zero_grad()
        loss.backward()
        twin.head_a.zero_grad(set_to_none=True)  # the heads stay where they are
        twin.head_b.zero_grad(set_to_none=True)
        twin_opt.step()

    hand = _by_hand(model, x, y, 7, adam_step)
    assert torch.allclose(z, hand, rtol=1e-4, atol=1e-6), (z, hand)
    assert z[0, 1] != 0 and z[1, 0] != 0
    rows = tracker.table().set_index(["source", "target"]).Z
    assert rows[("a", "b")] == pytest.approx(float(z[0, 1])) and rows[("b", "a")] == pytest.approx(
        float(z[1, 0])
    )


def test_sgd_lookahead_equals_one_plain_gradient_step():
    model, opt, x, y = _trained(OPTIMIZERS["adam"])
    lr = 0.3
    tracker = Transference(model, model.trunk.parameters(), losses, TASKS, lookahead="sgd", lr=lr)
    torch.manual_seed(11)
    z = tracker.measure(x, y)

    def sgd_step(twin: nn.Module, loss: torch.Tensor) -> None:
        grads = torch.autograd.grad(loss, list(twin.trunk.parameters()))
        with torch.no_grad():
            for p, g in zip(twin.trunk.parameters(), grads):
                p -= lr * g

    hand = _by_hand(model, x, y, 11, sgd_step)
    assert torch.allclose(z, hand, rtol=1e-4, atol=1e-6), (z, hand)
    assert tracker.labels == ["sgd 0.3"]


def test_measuring_changes_nothing_and_training_is_the_same():
    """Weights, gradients, optimizer state and the random state are as before measuring (dropout active), and
    a loop that measures every step ends with the same weights as one that never does."""
    model, opt, x, y = _trained(OPTIMIZERS["adam"])
    opt.zero_grad()
    losses(model, x, y).sum().backward()
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    state = copy.deepcopy(opt.state_dict())
    rng = torch.get_rng_state()
    tracker = Transference(model, model.trunk.parameters(), losses, TASKS, opt, sgd=(0.1,))
    tracker.measure(x, y)
    assert torch.equal(rng, torch.get_rng_state())
    assert all(
        torch.equal(params[n], p) and torch.equal(grads[n], p.grad) for n, p in model.named_parameters()
    )
    after = opt.state_dict()
    assert after["param_groups"] == state["param_groups"]
    for k, v in state["state"].items():
        assert all(torch.equal(v[s], after["state"][k][s]) for s in v)

    def train(measure: bool) -> list[torch.Tensor]:
        model, opt, x, y = _trained(OPTIMIZERS["adam"], steps=0)
        tracker = Transference(model, model.trunk.parameters(), losses, TASKS, opt)
        for step in range(6):
            opt.zero_grad()
            losses(model, x, y).sum().backward()
            if measure:
                tracker.measure(x, y, step=step)
            opt.step()
        return [p.detach() for p in model.parameters()]

    assert all(torch.equal(p, q) for p, q in zip(train(True), train(False)))


def test_a_closure_loss_and_the_table():
    model, opt, x, y = _trained(OPTIMIZERS["adam"])
    model.eval()
    tracker = Transference(model, model.trunk.parameters(), lambda m: losses(m, x, y), TASKS, opt, sgd=(0.1,))
    z0, z1 = tracker.measure(), tracker.measure(step=40)
    assert torch.equal(z0, z1), "the same parameters and batch (eval mode): the same Z"
    table = tracker.table()
    assert list(table.columns) == [
        "lookahead",
        "step",
        "source",
        "target",
        "Z",
        "cos",
        "step_norm",
        "Z_linear",
    ]
    assert list(dict.fromkeys(table.lookahead)) == ["optimizer", "sgd 0.1"] and set(table.step) == {0, 40}
    assert tracker.affinity("sgd 0.1").loc["a", "b"] == pytest.approx(
        table[(table.lookahead == "sgd 0.1") & (table.source == "a")].Z.mean()
    )


def test_bad_input_is_refused_naming_it():
    model, opt, x, y = _trained(OPTIMIZERS["adam"], steps=0)
    shared = list(model.trunk.parameters())

    def make(**kw):
        args = dict(model=model, shared=shared, loss_fn=losses, tasks=TASKS, optimizer=opt) | kw
        return Transference(**args)

    with pytest.raises(ValueError, match="shared is empty"):
        make(shared=[])
    stranger = nn.Linear(5, 16).weight
    with pytest.raises(ValueError, match=r"shared\[0\] \(\(16, 5\)\) is not a parameter of Net"):
        make(shared=[stranger])
    with pytest.raises(ValueError, match="shared must be an iterable of parameters.*got a Sequential"):
        make(shared=model.trunk)
    with pytest.raises(ValueError, match=r"shared\[1\] repeats"):
        make(shared=[shared[0], shared[0]])
    with pytest.raises(ValueError, match=r"tasks must be two or more distinct names, got \['a'\]"):
        make(tasks=["a"])
    with pytest.raises(ValueError, match=r"must be one of \['optimizer', 'sgd'\], got 'adam'"):
        make(lookahead="adam")
    with pytest.raises(ValueError, match="lr must be > 0.*got None"):
        make(lookahead="sgd", optimizer=None)
    with pytest.raises(ValueError, match="needs the training optimizer"):
        make(optimizer=None)
    with pytest.raises(ValueError, match="does not update every shared parameter"):
        make(optimizer=torch.optim.Adam(model.head_a.parameters()))
    with pytest.raises(ValueError, match="loss_fn must be callable"):
        make(loss_fn=None)
    before = [p.detach().clone() for p in model.parameters()]
    tracker = make(loss_fn=lambda m, x, y: losses(m, x, y).sum())
    with pytest.raises(ValueError, match=r"shape \(2,\), one loss per task of \['a', 'b'\], got \(\)"):
        tracker.measure(x, y)
    with pytest.raises(ValueError, match="got dict"):
        make(loss_fn=lambda m, x, y: dict(zip(TASKS, losses(m, x, y)))).measure(x, y)
    with pytest.raises(TrainingDiverged, match=r"non-finite loss for task\(s\) \['b'\]"):
        make(loss_fn=lambda m, x, y: losses(m, x, y) * torch.tensor([1.0, float("nan")])).measure(x, y)
    with pytest.raises(ValueError, match="no transference measured yet"):
        tracker.affinity()
    with pytest.raises(ValueError, match=r"lookahead must be one of \['optimizer'\], got 'sgd 1'"):
        tracker.affinity("sgd 1")
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))
    bn = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8))
    heads = nn.Linear(8, 2)
    both = nn.Sequential(bn, heads)
    refused = Transference(
        both, bn.parameters(), lambda m, x: m(x).pow(2).mean(0), TASKS, lookahead="sgd", lr=0.1
    )
    with pytest.raises(ValueError, match=r"batch-norm layers in training mode \(\['0.1'\]\)"):
        refused.measure(x)
    both.eval()
    assert refused.measure(x).shape == (2, 2), "in eval mode it measures"


def _make(**kw):
    """A Transference on the trained Net with Adam, ``kw`` replacing its arguments; and a batch."""
    model, opt, x, y = _trained(OPTIMIZERS["adam"], steps=1)
    args = dict(model=model, shared=model.trunk.parameters(), loss_fn=losses, tasks=TASKS, optimizer=opt)
    return Transference(**(args | kw)), x, y


@pytest.mark.parametrize(
    "kw, error, message",
    [
        (
            {"lr": float("inf")},
            ValueError,
            r"lr = inf is out of range: expected a number in \[1e-09, 1e\+06\]",
        ),
        ({"lr": 1e30}, ValueError, r"lr = 1e\+30 is out of range"),
        ({"lookahead": "sgd", "optimizer": None, "lr": 0.0}, ValueError, r"lr = 0.0 is out of range"),
        ({"sgd": (float("inf"),)}, ValueError, r"sgd step = inf is out of range"),
        ({"sgd": 0.1}, TypeError, r"sgd must be a sequence of step sizes, e.g. \(0.1,\), got 0.1"),
        ({"lr": "0.1"}, TypeError, r"lr = '0.1' is a str; .*\(give the number 0.1, not the text '0.1'\)"),
        ({"lr": True}, TypeError, r"lr = True is a bool"),
        (
            {"tasks": {"a", "b"}},
            TypeError,
            r"tasks must be a list or tuple .* got a set \(a set has no order\)",
        ),
        ({"model": object()}, TypeError, r"model must be a torch.nn.Module .* got object"),
        ({"optimizer": "adam"}, TypeError, r"optimizer must be a torch.optim.Optimizer .* got str"),
    ],
)
def test_bad_arguments_are_refused_in_one_line_saying_what_to_change(kw, error, message):
    """Before: ``lr=inf`` gave a NaN ``Z``, ``1e30`` minus infinity, ``sgd=(inf,)`` was measured, ``"0.1"``
    failed in a comparison, a set of tasks was taken in its arbitrary order."""
    with pytest.raises(error, match=message) as info:
        _make(**kw)
    assert "\n" not in str(info.value) and str(info.value).startswith("Transference: ")


def test_optimizers_a_lookahead_cannot_step_are_refused_before_any_compute():
    model, _, x, y = _trained(OPTIMIZERS["adam"], steps=0)
    shared = model.trunk.parameters

    def make(opt):
        return Transference(model, shared(), losses, TASKS, opt)

    with pytest.raises(ValueError, match=r"LBFGS.step\(\) needs a closure.*lookahead='sgd'"):
        make(torch.optim.LBFGS(model.parameters()))
    with pytest.raises(
        ValueError, match=r"Adam has capturable=True.*\['cpu'\]: create it with capturable=False"
    ):
        make(torch.optim.Adam(model.parameters(), capturable=True))


def test_numpy_scalars_are_step_sizes():
    tracker, x, y = _make(
        lookahead="sgd", optimizer=None, lr=np.float32(0.1), sgd=(np.float64(1), np.int64(2))
    )
    plain, _, _ = _make(lookahead="sgd", optimizer=None, lr=0.1, sgd=(1.0, 2.0))
    assert tracker.labels == plain.labels == ["sgd 0.1", "sgd 1", "sgd 2"]
    torch.manual_seed(1)
    z = tracker.measure(x, y)
    torch.manual_seed(1)
    assert torch.allclose(z, plain.measure(x, y))


def test_a_model_of_mixed_dtypes_is_refused_naming_two_parameters():
    model, _, _, _ = _trained(OPTIMIZERS["adam"], steps=0)
    model.head_b.double()
    with pytest.raises(
        ValueError, match=r"mix dtypes \(trunk.0.weight: torch.float32, head_b.weight: torch.float64\)"
    ):
        Transference(model, model.trunk.parameters(), losses, TASKS, lookahead="sgd", lr=0.1)


@pytest.mark.parametrize(
    "loss_fn, message",
    [
        (lambda m, x, y: losses(m, x, y) - 10.0, r"losses \{'a': -.*, 'b': -.*\} are not positive"),
        (lambda m, x, y: losses(m, x, y) * torch.tensor([1.0, 0.0]), r"losses \{'b': 0.0\} are not positive"),
        (lambda m, x, y: losses(m, x, y).detach(), r"the losses do not require grad"),
    ],
)
def test_losses_z_cannot_divide_by_are_refused_by_measure(loss_fn, message):
    """Before: negative losses gave ``Z`` near 1e13 (the ratio's denominator clamped at 1e-12), and a
    detached loss ended in autograd's traceback."""
    tracker, x, y = _make(loss_fn=loss_fn)
    with pytest.raises(ValueError, match=message) as info:
        tracker.measure(x, y)
    assert "\n" not in str(info.value)
