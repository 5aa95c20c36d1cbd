"""mtlkit against its peers (the `bench` extra, requirements-bench.lock): the same numbers where the
conventions agree, and each convention difference pinned where they do not (docs/weighting.md).

torchjd 0.18 for the per-task gradients, PCGrad and MGDA; LibMTL 1.1.5 for a whole equal-weighting training
run. Each test skips, saying why, where its peer is not installed.
"""

import copy
import importlib.util
import itertools

import numpy as np
import pytest
import torch

from mtlkit.data.multidigits import make_multidigits
from mtlkit.lookahead import task_gradients
from mtlkit.losses import task_loss
from mtlkit.models import build_model
from mtlkit.train import fit
from mtlkit.weighting import make_weighting, min_norm_weights, pcgrad

NO_PEER = "not installed: the peers come with `pip install --no-deps -r requirements-bench.lock`"


@pytest.fixture(scope="module")
def study00():
    """Study 00's model (7 MultiDigits tasks, MLP trunk of width 128, depth 2) and a small dataset."""
    data = make_multidigits(n_train=512, seed=0)
    torch.manual_seed(0)
    model = build_model("hard", data.input_shape, data.tasks, width=128, depth=2)
    return data, model


def batch_losses(data, model, seed=0):
    """The 7 task losses of ``model`` on one training batch of 128, as a list."""
    x, y = next(data.batches("train", 128, torch.Generator().manual_seed(seed)))
    z = model.trunk(x)
    return [task_loss(data.task(t), model.heads[t](z), y[t]) for t in data.task_names], z


def test_task_gradients_are_torchjds_jacobian(study00):
    autojac = pytest.importorskip("torchjd.autojac", reason=f"torchjd {NO_PEER}")
    data, model = study00
    losses, _ = batch_losses(data, model)
    shared = model.shared_parameters()
    ours = task_gradients(torch.stack(losses), shared)
    theirs = torch.cat([j.flatten(1) for j in autojac.jac(losses, shared, retain_graph=True)], dim=1)
    assert ours.shape == theirs.shape == (7, sum(p.numel() for p in shared))
    assert ours.abs().max() > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


def test_pcgrad_draws_torchjds_order_and_matches_it():
    """torchjd's PCGrad draws ``torch.randperm(T)`` from the global generator once per task, in task order;
    mtlkit's ``pcgrad`` draws the same from its own generator: seeded alike, they project in the same order."""
    aggregation = pytest.importorskip("torchjd.aggregation", reason=f"torchjd {NO_PEER}")
    grads = torch.randn(7, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    results = {}
    for seed in (0, 1):
        ours = pcgrad(grads, torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        theirs = aggregation.PCGrad()(grads)
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
        results[seed] = ours
    # the order matters for these gradients, so the agreement above is the order's, not a coincidence
    assert not torch.allclose(results[0], results[1], rtol=1e-3)


def test_pcgrad_weighting_step_is_torchjds_mtl_backward(study00):
    """The whole backward: shared gradients by PCGrad (float32 rounding: torchjd projects through the
    Gramian, mtlkit through the gradients), each head its own loss's gradient, in both."""
    aggregation = pytest.importorskip("torchjd.aggregation", reason=f"torchjd {NO_PEER}")
    autojac = pytest.importorskip("torchjd.autojac", reason=f"torchjd {NO_PEER}")
    data, model = study00
    ours, theirs = copy.deepcopy(model), copy.deepcopy(model)
    losses, _ = batch_losses(data, ours)
    shared = ours.shared_parameters()
    specific = [q for q in ours.parameters() if all(q is not s for s in shared)]
    make_weighting("pcgrad", data.tasks, torch.Generator().manual_seed(3)).backward(
        torch.stack(losses), shared, specific
    )
    losses, z = batch_losses(data, theirs)
    heads = [list(theirs.heads[t].parameters()) for t in data.task_names]
    autojac.mtl_backward(losses, features=z, shared_params=theirs.shared_parameters(), tasks_params=heads)
    torch.manual_seed(3)
    autojac.jac_to_grad(theirs.shared_parameters(), aggregation.PCGrad())
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)


def exact_min_norm(gram: np.ndarray) -> np.ndarray:
    """The min-norm convex weights of MGDA exactly, by the KKT conditions on every support (T <= 10)."""
    T = len(gram)
    for k in range(1, T + 1):
        for support in itertools.combinations(range(T), k):
            S = list(support)
            A = np.zeros((k + 1, k + 1))
            A[:k, :k], A[:k, k], A[k, :k] = gram[np.ix_(S, S)], -1.0, 1.0
            try:
                sol = np.linalg.solve(A, np.r_[np.zeros(k), 1.0])
            except np.linalg.LinAlgError:
                continue
            lam = np.zeros(T)
            lam[S] = sol[:k]
            value = lam @ gram @ lam
            if lam.min() >= -1e-12 and (gram @ lam).min() >= value * (1 - 1e-9):
                return lam
    raise AssertionError("no support satisfies the KKT conditions")


MIN_NORM_WEIGHTS, MIN_NORM_NORM = 1e-6, 1e-6
"""How far mtlkit's min-norm weights may be from the exact ones (float32), and its squared norm above the
minimum (relative). The Frank-Wolfe solver mtlkit had before issue 15 was up to 1e-2 and 0.4% off here."""


def test_mgda_weights_are_torchjds_times_T(study00):
    """mtlkit's MGDA weighs the losses by ``T`` times the min-norm weights (they sum to ``T``, so the step's
    scale matches equal weighting's); torchjd's weights sum to 1. Both solve the same problem: torchjd run
    to convergence equals the exact solution, and so does mtlkit's (an active-set solver,
    :mod:`mtlkit.min_norm`) within ``MIN_NORM_WEIGHTS``."""
    aggregation = pytest.importorskip("torchjd.aggregation", reason=f"torchjd {NO_PEER}")
    autojac = pytest.importorskip("torchjd.autojac", reason=f"torchjd {NO_PEER}")
    data, model = study00
    losses, _ = batch_losses(data, model, seed=1)
    shared = model.shared_parameters()
    G = task_gradients(torch.stack(losses), shared).detach().double()
    gram = G @ G.T
    exact = exact_min_norm(gram.numpy())
    assert (exact > 1e-3).sum() >= 2, "a degenerate test: one task's gradient is the min-norm point"
    converged = aggregation.MGDA(epsilon=1e-14, max_iters=50_000).gramian_weighting(gram)
    np.testing.assert_allclose(converged.numpy(), exact, atol=1e-8)
    lam = min_norm_weights(gram).double().numpy()
    np.testing.assert_allclose(lam, exact, atol=MIN_NORM_WEIGHTS)
    assert lam @ gram.numpy() @ lam <= (exact @ gram.numpy() @ exact) * (1 + MIN_NORM_NORM)
    w, _ = make_weighting("mgda", data.tasks).combine(G.float(), torch.stack(losses).detach())
    assert float(w.sum()) == pytest.approx(7.0, rel=1e-6)
    torch.testing.assert_close(w, 7 * min_norm_weights(gram.float()))
    autojac.backward(losses, inputs=shared, retain_graph=True)
    theirs = autojac.jac_to_grad(shared, aggregation.MGDA(epsilon=1e-14, max_iters=50_000))
    assert float(theirs.sum()) == pytest.approx(1.0, rel=1e-4)  # float32 Gramian
    np.testing.assert_allclose((w / 7).numpy(), theirs.numpy(), atol=1e-5)  # torchjd's own float32 Gramian


def test_equal_weighting_training_is_libmtls(study00):
    """Two epochs of equal weighting: mtlkit's ``fit`` and LibMTL's ``Trainer`` (EW, HPS), from the same
    initial weights on the same minibatches in the same order, end at the same weights (to the float
    rounding of Adam's implementations: mtlkit's ``foreach``, LibMTL's default)."""
    if importlib.util.find_spec("LibMTL") is None:  # not importorskip: LibMTL imports only through the shims
        pytest.skip(f"LibMTL {NO_PEER}")
    from benchmarks.libmtl_compat import import_libmtl
    from benchmarks.peers import libmtl_train, libmtl_trainer

    data, model = study00
    ours = copy.deepcopy(model)
    trainer = libmtl_trainer(import_libmtl(), model, data.tasks, "equal", lr=1e-3)
    fit(ours, data, epochs=2, lr=1e-3, batch_size=128, seed=5, restore_best=False)
    libmtl_train(trainer, data, epochs=2, batch_size=128, seed=5)
    theirs = dict(trainer.model.encoder.named_parameters())
    theirs |= {f"{t}.{n}": p for t, d in trainer.model.decoders.items() for n, p in d.named_parameters()}
    mine = dict(ours.trunk.named_parameters())
    mine |= {f"{t}.{n}": p for t, h in ours.heads.items() for n, p in h.named_parameters()}
    before = dict(model.trunk.named_parameters())
    assert mine.keys() == theirs.keys()
    for name, p in mine.items():
        torch.testing.assert_close(p, theirs[name], rtol=1e-5, atol=1e-6, msg=name)
        if name in before:
            assert not torch.allclose(p, before[name]), f"{name} did not train"
