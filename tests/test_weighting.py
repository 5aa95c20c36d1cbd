"""Each weighting method on cases whose answer can be computed by hand."""

import pytest
import torch

from mtlkit.data.base import TaskSpec
from mtlkit.lookahead import task_gradients
from mtlkit.weighting import (
    DWA,
    WEIGHTINGS,
    GradNorm,
    Uncertainty,
    make_weighting,
    min_norm_weights,
    pcgrad,
)

T2 = [TaskSpec("a", "classification", 2), TaskSpec("b", "regression", 1)]


def test_pcgrad_two_conflicting_gradients():
    # g1.g2 = -1: g1 -> g1 - (-1/2) g2 = (0.5, 0.5); g2 -> g2 - (-1/1) g1 = (0, 1); sum (0.5, 1.5)
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    assert torch.allclose(pcgrad(g), torch.tensor([0.5, 1.5]))
    # the projected gradients no longer conflict with the other task's gradient
    assert float(torch.tensor([0.5, 0.5]) @ g[1]) == pytest.approx(0.0)


def test_pcgrad_leaves_agreeing_gradients_alone():
    g = torch.tensor([[1.0, 2.0], [0.5, 0.1], [0.0, 1.0]])
    assert torch.allclose(pcgrad(g, torch.Generator().manual_seed(1)), g.sum(0))


def test_min_norm_two_vectors():
    g = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(min_norm_weights(g @ g.T), torch.tensor([0.5, 0.5]))
    # g1 = (2, 0), g2 = (0, 1): gamma = (g2.g2 - g1.g2)/|g1 - g2|^2 = 1/5
    g = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(min_norm_weights(g @ g.T), torch.tensor([0.2, 0.8]))
    # one vector in the hull is shorter than all others: all weight on it
    g = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    assert torch.allclose(min_norm_weights(g @ g.T), torch.tensor([1.0, 0.0]))


def test_min_norm_many_vectors_beats_random_simplex_points():
    g = torch.randn(5, 12, generator=torch.Generator().manual_seed(0))
    lam = min_norm_weights(g @ g.T)
    assert lam.min() >= 0 and lam.sum() == pytest.approx(1.0, abs=1e-5)
    best = float((lam @ g).norm())
    w = torch.distributions.Dirichlet(torch.ones(5)).sample((5000,))
    assert best <= float((w @ g).norm(dim=1).min()) + 1e-4
    assert torch.allclose(min_norm_weights(torch.eye(3)), torch.full((3,), 1 / 3), atol=1e-4)


def test_task_gradients_match_one_backward_per_task():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    losses = torch.stack([(w**2).sum(), (3 * w).sum()])
    G = task_gradients(losses, [w])
    assert torch.allclose(G, torch.tensor([[2.0, -4.0], [3.0, 3.0]]))


def test_uncertainty_weights_and_gradient():
    u = Uncertainty(T2)
    with torch.no_grad():
        u.log_var.copy_(torch.tensor([0.0, 1.0]))
    losses = torch.tensor([2.0, 4.0], requires_grad=True)
    w = u.backward(losses, [], [])
    # classification: exp(-s) ; regression: exp(-s)/2
    assert torch.allclose(w, torch.tensor([1.0, 0.5 * torch.exp(torch.tensor(-1.0))]))
    # d/ds [c exp(-s) L + s/2] = -c exp(-s) L + 1/2
    assert torch.allclose(
        u.log_var.grad, torch.tensor([-2.0 + 0.5, -0.5 * torch.exp(torch.tensor(-1.0)) * 4 + 0.5])
    )


def test_dwa_weights_from_loss_ratios():
    d = DWA(T2, temperature=2.0)
    assert torch.equal(d.weights(torch.ones(2)), torch.ones(2))
    d.epoch_end(torch.tensor([1.0, 1.0]))
    d.epoch_end(torch.tensor([0.5, 1.0]))  # task a's loss halved, b's did not move
    w = d.weights(torch.ones(2))
    expected = 2 * torch.softmax(torch.tensor([0.5, 1.0]) / 2.0, 0)
    assert torch.allclose(w, expected) and w[1] > w[0]


def test_gradnorm_moves_weight_to_the_task_with_the_smaller_gradient():
    p = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    gn = GradNorm(T2, alpha=0.0, lr=0.1)
    for _ in range(5):
        losses = torch.stack([10 * p[0], 1 * p[1]])  # |g_a| = 10, |g_b| = 1, equal training rates
        p.grad = None
        gn.backward(losses, [p], [])
    assert gn.w.sum() == pytest.approx(2.0) and gn.w[1] > gn.w[0]


@pytest.mark.parametrize("name", list(WEIGHTINGS))
def test_every_method_trains_a_tiny_shared_model(name, tiny_data):
    from mtlkit.models import build_model
    from mtlkit.train import fit

    model = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=16, depth=1)
    hist = fit(model, tiny_data, epochs=4, lr=0.01, batch_size=32, weighting=name, seed=0)
    loss = hist[(hist.split == "train") & (hist.metric == "loss")].groupby("epoch").value.sum()
    assert loss.iloc[-1] < loss.iloc[0], f"{name} did not reduce the training loss"
    assert make_weighting(name, tiny_data.tasks).__class__ is WEIGHTINGS[name]


def test_unknown_weighting():
    with pytest.raises(ValueError, match="known"):
        make_weighting("magic", T2)


@pytest.mark.parametrize("name", ["gradnorm", "pcgrad", "mgda", "itmtl"])
def test_one_batched_backward_gives_the_two_pass_gradients(name, tiny_data):
    """The gradient methods take the heads' gradients from the same batched backward as the shared
    ones: the result equals the two passes it replaces (the shared update from the task gradients, then
    ``(w * losses).sum()``'s gradient for the heads), and a head no loss reaches keeps no gradient."""
    from mtlkit.lookahead import task_losses
    from mtlkit.models import build_model

    tasks = tiny_data.tasks[:2]  # the third head is in the model, but no loss reaches it
    model = build_model("hard", tiny_data.input_shape, tiny_data.tasks, width=8, depth=1)
    shared = model.shared_parameters()
    specific = [q for q in model.parameters() if all(q is not s for s in shared)]
    x, y = tiny_data.x["train"][:32], {t: v[:32] for t, v in tiny_data.y["train"].items()}
    kw = {"lookahead": "sgd", "lr": 0.1} if name == "itmtl" else {}
    weighting = make_weighting(name, tasks, torch.Generator().manual_seed(0), **kw)
    weighting.observe(model, x, y)
    losses = task_losses(model, x, y, tasks)
    G = task_gradients(losses, shared).detach()
    heads = torch.autograd.grad(losses.sum(), specific, retain_graph=True, allow_unused=True)
    weighted = [
        torch.autograd.grad(losses[k], specific, retain_graph=True, allow_unused=True) for k in range(2)
    ]
    w = weighting.backward(losses, shared, specific)
    update = torch.cat([p.grad.flatten() for p in shared])
    if name in ("gradnorm", "mgda"):
        assert torch.allclose(update, w @ G, atol=1e-6)
    for i, q in enumerate(specific):
        if heads[i] is None:
            assert q.grad is None
            continue
        scale = w if weighting.weighted_heads else torch.ones_like(w)
        want = sum(scale[k] * weighted[k][i] for k in range(2) if weighted[k][i] is not None)
        assert torch.allclose(q.grad, want, atol=1e-6)
    assert sum(q.grad is None for q in specific) == 2  # the unreached head's weight and bias
