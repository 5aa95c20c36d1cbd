"""What measuring transference costs: training with an :class:`~mtlkit.tracking.AffinityTracker`
every k = 1, 5, 10 steps vs plain training, and an IT-MTL step vs an equal-weighting step (study 04's
model: five MultiDigits tasks, a two-layer MLP trunk of 64 units)."""

from __future__ import annotations

import time

import torch

from benchmarks.common import write
from mtlkit.data.multidigits import make_multidigits
from mtlkit.models import build_model
from mtlkit.tracking import AffinityTracker
from mtlkit.train import fit

TASKS = ["left", "right", "sum_parity", "left_gt_right", "sum_mod3"]


def tracking_overhead(
    n_train: int = 2000, epochs: int = 5, every: tuple[int, ...] = (1, 5, 10), repeats: int = 5
) -> list[dict]:
    """Seconds per epoch of :func:`mtlkit.train.fit` with tracking every ``k`` steps (and with IT-MTL)
    relative to plain training with equal weights."""
    data = make_multidigits(TASKS, n_train=n_train, seed=0)

    def run(k: int | None, weighting: str | dict = "equal") -> None:
        torch.manual_seed(0)
        model = build_model("hard", data.input_shape, data.tasks, width=64, depth=2)
        tracker = AffinityTracker(data.tasks, every=k, lr=1e-3) if k else None
        fit(model, data, epochs=epochs, seed=0, monitor=tracker, weighting=weighting)

    variants = {"plain": (None, "equal")}
    variants |= {f"tracking every {k} steps": (k, "equal") for k in every}
    variants["IT-MTL (sum, pcgrad)"] = (None, {"name": "itmtl", "lr": 1e-3})
    for k, w in variants.values():  # warm-up
        run(k, w)
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(repeats):  # interleaved, so that drifts in machine speed hit every variant alike
        for name, (k, w) in variants.items():
            t0 = time.perf_counter()
            run(k, w)
            best[name] = min(best[name], (time.perf_counter() - t0) / epochs)
    plain = best.pop("plain")
    rows = [{"variant": name, "every": variants[name][0] or 1, "mtlkit_s": t} for name, t in best.items()]
    return [
        {
            "benchmark": "transference overhead",
            "what": f"one epoch of fit, 5 tasks, {n_train} examples, batch 128",
            "baseline": "plain training (equal weights)",
            "baseline_s": plain,
            **r,
            "slowdown": r["mtlkit_s"] / plain,
        }
        for r in rows
    ]


def main() -> None:
    torch.set_num_threads(1)
    print(write("transference", tracking_overhead()).to_string(index=False))
