"""Where time goes outside the model: a sweep on 1 vs 2 local workers and on a Dask LocalCluster, and
mtlkit's training loop vs a plain hand-written PyTorch loop on the same model, data and weighting.

A plain ``pip install LibMTL`` (1.1.5, its only PyPI release) replaces torch 2.13.0 (it requires
torchvision, whose wheels pin torch) and still does not import or train here; installed with ``--no-deps``
and four fixes applied at import (:mod:`benchmarks.libmtl_compat`), it does, and :mod:`benchmarks.peers`
times its ``Trainer`` against :func:`mtlkit.train.fit`. The loop here is the floor: what any trainer, LibMTL's
included, does for equal weighting."""

from __future__ import annotations

import importlib.util
import time

import torch
import torch.nn.functional as F

from benchmarks.common import best_of, write
from mtlkit.data.multidigits import make_multidigits
from mtlkit.models import build_model
from mtlkit.runs import FitConfig, RunConfig, train_and_evaluate
from mtlkit.sweep import run_sweep
from mtlkit.train import fit

TASKS = ["left", "right", "sum_parity", "left_gt_right", "sum_mod3"]


def sweep_workers(runs: int = 8, epochs: int = 40) -> list[dict]:
    """Wall seconds of one sweep of ``runs`` training runs (no cache) per backend and worker count. A cold
    pool pays for starting its worker processes (each imports torch); joblib keeps loky's workers for
    the next sweep (warm); a Dask ``LocalCluster`` is started and stopped inside the timing."""
    configs = [
        RunConfig(
            seed=s,
            data={"name": "multidigits", "tasks": TASKS, "n_train": 2000, "seed": s},
            model={"architecture": "hard", "width": 64, "depth": 2},
            fit=FitConfig(epochs=epochs),
        )
        for s in range(runs)
    ]
    variants = [("loky", 1, "in-process"), ("loky", 2, "cold pool"), ("loky", 2, "warm pool")]
    if importlib.util.find_spec("distributed") is not None:
        variants.append(("dask", 2, "LocalCluster, startup included"))
    seconds = {}
    for backend, n_jobs, how in variants:
        t0 = time.perf_counter()
        run_sweep(train_and_evaluate, configs, n_jobs=n_jobs, backend=backend, progress=False)
        seconds[(backend, n_jobs, how)] = time.perf_counter() - t0
    base = seconds[("loky", 1, "in-process")]
    return [
        {
            "benchmark": "sweep",
            "what": f"{runs} training runs (5 tasks, 2,000 pairs, {epochs} epochs), no cache",
            "baseline": "loky, 1 worker (in-process)",
            "baseline_s": base,
            "variant": f"{backend}, {n} workers ({how})",
            "mtlkit_s": t,
            "speedup": base / t,
        }
        for (backend, n, how), t in seconds.items()
    ]


def training_loop(n_train: int = 2000, epochs: int = 3) -> list[dict]:
    """Seconds per epoch: :func:`mtlkit.train.fit` (equal weights, validation and history every epoch)
    vs a bare loop with the same model, optimizer, minibatches and loss (no validation, no history)."""
    data = make_multidigits(TASKS, n_train=n_train, seed=0)

    def ours() -> None:
        torch.manual_seed(0)
        model = build_model("hard", data.input_shape, data.tasks, width=64, depth=2)
        fit(model, data, epochs=epochs, seed=0)

    def plain() -> None:
        torch.manual_seed(0)
        model = build_model("hard", data.input_shape, data.tasks, width=64, depth=2)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(0)
        x, ys = data.x["train"], data.y["train"]
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=g)
            for i in range(0, len(x), 128):
                idx = perm[i : i + 128]
                out = model(x[idx])
                loss = sum(F.cross_entropy(out[t], ys[t][idx]) for t in TASKS)
                opt.zero_grad()
                loss.backward()
                opt.step()

    t_ours, t_plain = best_of(ours, repeats=3) / epochs, best_of(plain, repeats=3) / epochs
    return [
        {
            "benchmark": "training loop",
            "what": f"one epoch, 5 tasks, {n_train} pairs, batch 128, equal weights",
            "baseline": "hand-written PyTorch loop (LibMTL 1.1.5 itself: peers.csv)",
            "baseline_s": t_plain,
            "mtlkit_s": t_ours,
            "slowdown": t_ours / t_plain,
        }
    ]


def main() -> None:
    torch.set_num_threads(1)
    print(write("training_loop", training_loop()).to_string(index=False))
    print(write("sweep", sweep_workers()).to_string(index=False))
