"""How task losses (or their gradients) are combined into one update: one registry, selected by name.

Every entry is a small :class:`Weighting` whose :meth:`~Weighting.backward` receives the per-task
losses (a ``(T,)`` tensor in task order), the shared and the task-specific parameters, performs the
backward pass, and returns the weights it used (for logging). Methods that need per-task gradients
(:class:`GradientWeighting`) get them, heads included, from one batched backward pass
(:func:`mtlkit.lookahead.task_jacobian`), over *all* shared parameters (exact at this scale; the papers
often use the last shared layer or the representation to save compute). Randomness (PCGrad's task order) comes
from an explicit :class:`torch.Generator`, never from global state.

The baselines follow the survey (Crawshaw 2020, arXiv 2009.09796, section 3):

========== ============================================================ ================
name       method                                                       paper
========== ============================================================ ================
equal      sum of the task losses                                       -
fixed      constant weights per task (a point on a weighted-sum front)  -
uncertainty homoscedastic uncertainty weighting                         Kendall+ 2018
dwa        dynamic weight average                                       Liu+ 2019
gradnorm   gradient normalization                                       Chen+ 2018
pcgrad     projecting conflicting gradients                             Yu+ 2020
mgda       multiple-gradient descent (min-norm point, exact gradients)  Sener & Koltun 2018
========== ============================================================ ================
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlkit.data.base import TaskSpec
from mtlkit.lookahead import at_next_step, best_update, check_lookahead, task_jacobian
from mtlkit.min_norm import combined, min_norm_weights, pcgrad


class Weighting(nn.Module):
    """Base class: ``backward(losses, shared, specific)`` does the backward pass and returns the weights used.

    ``shared`` are the parameters every task's loss reaches (the trunk), ``specific`` the model's other
    trainable parameters (the task heads)."""

    def __init__(self, tasks: Sequence[TaskSpec], generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.generator = generator

    def weights(self, losses: Tensor) -> Tensor:
        """Per-task loss weights; the default backward minimises ``sum_t w_t L_t``."""
        return torch.ones_like(losses)

    def backward(self, losses: Tensor, shared: Sequence[Tensor], specific: Sequence[Tensor]) -> Tensor:
        w = self.weights(losses)
        (w.detach() * losses).sum().backward()
        return w.detach()

    def epoch_end(self, train_losses: Tensor) -> None:
        """Called with the epoch's mean training loss per task (used by DWA)."""

    def observe(self, model: nn.Module, x: Tensor, y: dict[str, Tensor]) -> None:
        """Called before each :meth:`backward` with the model and the step's batch (used by IT-MTL)."""

    def log(self) -> dict[str, float]:
        """Extra per-epoch quantities for the training history (read, then reset, at each epoch's end)."""
        return {}


class GradientWeighting(Weighting):
    """Base of the methods that read every task's gradient (GradNorm, PCGrad, MGDA, IT-MTL).

    One batched backward pass (:func:`~mtlkit.lookahead.task_jacobian`) gives each task's gradient
    w.r.t. the shared *and* the task-specific parameters, so no second pass is needed: :meth:`combine`
    turns the ``(T, P)`` shared gradients into the weights ``w`` (logged) and the shared update, and
    each task-specific parameter gets ``sum_t w_t`` times task ``t``'s gradient - a head's own loss's
    gradient scaled by its weight, what ``(w * losses).sum().backward()`` would give it - or, where
    :attr:`weighted_heads` is false, its own loss's gradient unscaled.
    """

    weighted_heads = True
    """Whether the heads' gradients are scaled by the task weights (else each gets its own loss's)."""

    def combine(self, grads: Tensor, losses: Tensor) -> tuple[Tensor, Tensor]:
        """``(w, update)``: the ``(T,)`` weights and the flat ``(P,)`` update of the shared parameters."""
        raise NotImplementedError

    def backward(self, losses: Tensor, shared: Sequence[Tensor], specific: Sequence[Tensor]) -> Tensor:
        if not shared:
            return super().backward(losses, shared, specific)
        # losses (T,), or (S, T) for S stacked networks with (S, ...) parameters: (T, P) or (S, T, P) grads
        n, jac = losses.dim(), task_jacobian(losses, [*shared, *specific], False)
        jac = [g if g is None else g.detach().movedim(0, n - 1).flatten(n) for g in jac]
        size = [p.numel() // losses[..., 0].numel() for p in shared]
        grads = torch.cat(
            [losses.new_zeros(*losses.shape, m) if g is None else g for m, g in zip(size, jac)], -1
        )
        return self.step(losses.detach(), shared, specific, grads, jac[len(shared) :])

    def step(
        self,
        losses: Tensor,
        shared: Sequence[Tensor],
        specific: Sequence[Tensor],
        grads: Tensor,
        heads: Sequence[Tensor | None],
    ) -> Tensor:
        """Set every parameter's gradient from each task's gradients: ``grads`` of the flattened
        ``shared`` parameters (``(T, P)``, or ``(S, T, P)`` for stacked networks), ``heads[i]`` of
        ``specific[i]`` (``(T, P_i)`` or ``(S, T, P_i)``; ``None`` where no loss reaches it). Returns the weights."""
        w, update = self.combine(grads, losses)
        _assign(shared, update)
        for p, g in zip(specific, heads):
            if g is not None:  # a parameter no loss reaches keeps no gradient, as after a backward pass
                p.grad = combined(w if self.weighted_heads else torch.ones_like(w), g).view_as(p)
        return w


def _assign(shared: Sequence[Tensor], update: Tensor) -> None:
    """Set the gradients of ``shared`` to the flat ``update``: ``(P,)``, or ``(S, P)`` for stacked ones."""
    for p, chunk in zip(shared, update.split([p.numel() // update[..., 0].numel() for p in shared], -1)):
        p.grad = chunk.reshape(p.shape).clone()


def _min_norm(grads: Tensor) -> Tensor:
    """MGDA's weights: ``T`` times the min-norm convex combination of the ``(..., T, P)`` gradients."""
    return grads.shape[-2] * min_norm_weights(grads @ grads.mT).to(grads)


class Equal(Weighting):
    """Equal weights: minimise the plain sum of task losses (the usual, and often hard to beat, baseline)."""


class Fixed(Weighting):
    """Constant weights by task name (missing tasks weigh 1): the weighted sum whose sweep over weights
    traces a Pareto front (Wang et al. 2020; every scalarisation baseline)."""

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        generator: torch.Generator | None = None,
        weights: dict[str, float] | None = None,
    ) -> None:
        super().__init__(tasks, generator)
        unknown = set(weights or {}) - {t.name for t in self.tasks}
        if unknown:
            raise ValueError(
                f"weights for unknown tasks {sorted(unknown)}; tasks: {[t.name for t in self.tasks]}"
            )
        self.register_buffer("w", torch.tensor([float((weights or {}).get(t.name, 1.0)) for t in self.tasks]))

    def weights(self, losses: Tensor) -> Tensor:
        return self.w.to(losses)


class Uncertainty(Weighting):
    """Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla 2018, arXiv 1705.07115).

    Learns ``s_t = log sigma_t^2`` per task and minimises ``c_t exp(-s_t) L_t + s_t / 2`` with
    ``c_t = 1`` for classification and ``1/2`` for regression, as in the paper's derivation.
    """

    def __init__(self, tasks: Sequence[TaskSpec], generator: torch.Generator | None = None) -> None:
        super().__init__(tasks, generator)
        self.log_var = nn.Parameter(torch.zeros(len(self.tasks)))
        self.register_buffer(
            "scale", torch.tensor([1.0 if t.kind == "classification" else 0.5 for t in self.tasks])
        )

    def backward(self, losses: Tensor, shared: Sequence[Tensor], specific: Sequence[Tensor]) -> Tensor:
        w = self.scale * torch.exp(-self.log_var)
        (w * losses + self.log_var / 2).sum().backward()
        return w.detach()


class DWA(Weighting):
    """Dynamic Weight Average (Liu, Johns & Davison 2019, arXiv 1803.10704).

    ``w_t = T softmax_t(r_t / temperature)`` with ``r_t = L_t(e-1) / L_t(e-2)``, the ratio of the last
    two epochs' mean training losses; equal weights for the first two epochs.
    """

    def __init__(
        self, tasks: Sequence[TaskSpec], generator: torch.Generator | None = None, temperature: float = 2.0
    ) -> None:
        super().__init__(tasks, generator)
        self.temperature = temperature
        self.history: list[Tensor] = []

    def weights(self, losses: Tensor) -> Tensor:
        if len(self.history) < 2:
            return torch.ones_like(losses)
        r = (self.history[-1] / self.history[-2].clamp_min(1e-12)).to(losses)
        return losses.shape[-1] * torch.softmax(r / self.temperature, dim=-1)

    def epoch_end(self, train_losses: Tensor) -> None:
        self.history = [*self.history[-1:], train_losses.detach().cpu()]


class GradNorm(GradientWeighting):
    """GradNorm (Chen et al. 2018, arXiv 1711.02257): balance gradient norms by relative training rate.

    With ``G_t = w_t |g_t|`` and ``r_t = (L_t / L_t(0)) / mean``, the weights move down the gradient of
    ``sum_t |G_t - mean(G) r_t^alpha|`` (target held constant), by a step of ``lr``, and are
    renormalised to sum to ``T``. ``g_t`` is over all shared parameters (the paper uses the last
    shared layer, to save compute).
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        generator: torch.Generator | None = None,
        alpha: float = 1.5,
        lr: float = 0.025,
    ) -> None:
        super().__init__(tasks, generator)
        self.alpha, self.lr = alpha, lr
        self.register_buffer("w", torch.ones(len(self.tasks)))
        self.initial: Tensor | None = None

    def weights(self, losses: Tensor) -> Tensor:  # without shared parameters: the current weights
        return self.w.clone()

    def combine(self, grads: Tensor, losses: Tensor) -> tuple[Tensor, Tensor]:
        w, norms = self.w.clone(), grads.norm(dim=-1)
        if self.initial is None:
            self.initial = losses.clamp_min(1e-12)
        rate = losses / self.initial
        rate = rate / rate.mean(-1, keepdim=True)
        G = w * norms
        target = G.mean(-1, keepdim=True) * rate.pow(self.alpha)
        new = (w - self.lr * torch.sign(G - target) * norms).clamp_min(1e-3)
        self.w.copy_(new * new.shape[-1] / new.sum(-1, keepdim=True))
        return w, combined(w, grads)


class PCGrad(GradientWeighting):
    """PCGrad (Yu et al. 2020, arXiv 2001.06782): the shared update is :func:`pcgrad` of the task gradients.

    Task-specific parameters get their own loss's gradient, as in the paper.
    """

    def combine(self, grads: Tensor, losses: Tensor) -> tuple[Tensor, Tensor]:
        return torch.ones_like(losses), pcgrad(grads, self.generator)


class MGDA(GradientWeighting):
    """MGDA (Sener & Koltun 2018, arXiv 1810.04650): weight losses by the min-norm convex combination.

    The weights come from the exact gradients w.r.t. the shared parameters (not the MGDA-UB
    representation bound) and are scaled by ``T`` so the step size is comparable to ``equal``. Each head
    gets its own loss's gradient, unweighted (the paper's Algorithm 2; LibMTL and torchjd do the same).
    """

    weighted_heads = False

    def combine(self, grads: Tensor, losses: Tensor) -> tuple[Tensor, Tensor]:
        w = _min_norm(grads)
        return w, combined(w, grads)


class ITMTL(GradientWeighting):
    """IT-MTL (Fifty et al. 2020, arXiv 2010.15413): each step, the candidate shared gradient (``sum``,
    ``pcgrad``, ``mgda``: min-norm direction x ``T``) with the highest total transference of its lookahead
    (:func:`~mtlkit.lookahead.best_update`): ``lookahead="optimizer"``, the training optimizer's update
    (at ``lr`` if given), chosen just before its ``step()``; ``"sgd"``, a plain SGD step of ``lr``. Heads
    get their own loss's gradient; :meth:`log` gives the share of steps that took each candidate. On a
    stack of networks (``(S, T, P)`` gradients, one generator per network) each network chooses its own."""

    CANDIDATES = ("sum", "pcgrad", "mgda")

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        generator: torch.Generator | None = None,
        lr: float | None = None,
        candidates: Sequence[str] = ("sum", "pcgrad"),
        lookahead: str = "optimizer",
    ) -> None:
        super().__init__(tasks, generator)
        if not candidates or set(candidates) - set(self.CANDIDATES):
            raise ValueError(f"unknown IT-MTL candidates {list(candidates)}; known: {list(self.CANDIDATES)}")
        self.lr = check_lookahead(lookahead, lr, "IT-MTL")
        self.candidates, self.lookahead = list(candidates), lookahead
        self.register_buffer("counts", torch.zeros(len(self.candidates)), persistent=False)
        self.batch: tuple[nn.Module, Tensor, dict[str, Tensor]] | None = None
        self.directions: Tensor | None = None

    def observe(self, model: nn.Module, x: Tensor, y: dict[str, Tensor]) -> None:
        self.batch = (model, x, y)

    def _direction(self, name: str, grads: Tensor) -> Tensor:
        if name == "mgda":
            return combined(_min_norm(grads), grads)
        return pcgrad(grads, self.generator) if name == "pcgrad" else grads.sum(-2)

    def _choose(self, shared: list[Tensor], directions: Tensor, before: Tensor, opt: object = None) -> None:
        pick = best_update(*self.batch, self.tasks, directions, before, self.lr, opt)  # () or (S,)
        self.counts += nn.functional.one_hot(pick, len(self.candidates)).to(self.counts)
        _assign(shared, torch.take_along_dim(directions, pick[..., None, None], -2).squeeze(-2))

    def combine(self, grads: Tensor, losses: Tensor) -> tuple[Tensor, Tensor]:
        self.directions = torch.stack([self._direction(c, grads) for c in self.candidates], -2)
        return torch.ones_like(losses), self.directions[..., 0, :]

    def step(self, losses: Tensor, shared: Sequence[Tensor], *rest: object) -> Tensor:
        """:meth:`GradientWeighting.step` with the first candidate, then the choice (see the class)."""
        if self.batch is None:
            raise RuntimeError("IT-MTL needs the batch: call observe(model, x, y) before backward")
        shared, before = list(shared), losses.detach()
        w = super().step(before, shared, *rest)
        directions = self.directions  # (C, P), or (S, C, P) on a stack
        if self.lookahead == "sgd":
            self._choose(shared, directions, before)
        else:
            at_next_step(shared, lambda opt: self._choose(shared, directions, before, opt))
        return w

    def log(self) -> dict[str, float | Tensor]:
        """The share of steps that took each candidate (on a stack, an ``(S,)`` tensor of each network's)."""
        share = self.counts / self.counts.sum(-1, keepdim=True).clamp_min(1)
        self.counts = torch.zeros_like(self.counts)
        return {f"chose_{c}": v if v.dim() else float(v) for c, v in zip(self.candidates, share.unbind(-1))}


WEIGHTINGS: dict[str, type[Weighting]] = {
    "equal": Equal,
    "fixed": Fixed,
    "uncertainty": Uncertainty,
    "dwa": DWA,
    "gradnorm": GradNorm,
    "pcgrad": PCGrad,
    "mgda": MGDA,
    "itmtl": ITMTL,
}


def make_weighting(
    name: str, tasks: Sequence[TaskSpec], generator: torch.Generator | None = None, **kwargs
) -> Weighting:
    """The weighting method ``name`` for ``tasks`` (see :data:`WEIGHTINGS`)."""
    if name not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {name!r}; known: {list(WEIGHTINGS)}")
    return WEIGHTINGS[name](tasks, generator, **kwargs)


__all__ = [
    "ITMTL",
    "WEIGHTINGS",
    "Weighting",
    "make_weighting",
    "min_norm_weights",
    "pcgrad",
]
