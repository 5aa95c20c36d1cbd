"""How close the training loops come to the machine: GFLOP/s of one training epoch against the same run's
single-thread sgemm, and the aten operators dispatched per training step.

- ``fit``: study 00's model (7 MultiDigits tasks, an MLP trunk of 2 x 128, equal weighting), one network;
- ``fit_many``: study 03's stack (every subset of 5 tasks, 31 networks of width 64);
- ``fit_seeds``: study 00's model, 10 seeds as one stack.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` (matrix products, forward and
backward, validation included); operators by :mod:`torch.profiler` (every ``aten::`` event, nested ones
too). One torch thread, the AVX2 kernels, as every study's run.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import best_of, write
from mtlkit.data.multidigits import make_multidigits
from mtlkit.host import use_portable_kernels
from mtlkit.models import build_model
from mtlkit.models.batched import StackedNetworks
from mtlkit.stacked import fit_seeds
from mtlkit.train import fit, fit_many

N_TRAIN, BATCH = 4000, 128


def sgemm_gflops(n: int = 1024) -> float:
    """Single-thread float32 matrix product of two ``n x n`` matrices, in GFLOP/s (best of 5)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / best_of(lambda: a @ b) / 1e9


def _loops() -> dict[str, tuple[Callable[[], object], int]]:
    """Each loop as a function that trains one epoch from scratch, and its training steps per epoch."""
    data = make_multidigits(n_train=N_TRAIN, seed=0)
    steps = -(-N_TRAIN // BATCH)
    five = make_multidigits(n_train=N_TRAIN, seed=0, tasks=data.task_names[:5])
    subsets = [s for r in range(1, 6) for s in itertools.combinations(range(5), r)]
    masks = torch.zeros(len(subsets), 5, dtype=torch.bool)
    for i, s in enumerate(subsets):
        masks[i, list(s)] = True

    def one() -> object:
        torch.manual_seed(0)
        model = build_model("hard", data.input_shape, data.tasks, width=128, depth=2)
        return fit(model, data, epochs=1, batch_size=BATCH)

    def many() -> object:
        torch.manual_seed(0)
        stack = StackedNetworks(len(subsets), five.x["train"][0].numel(), five.tasks, 64, 2)
        return fit_many(stack, five, masks, epochs=1, seeds=range(len(subsets)), batch_size=BATCH)

    def seeds() -> object:
        torch.manual_seed(0)
        models = [build_model("hard", data.input_shape, data.tasks, width=128, depth=2) for _ in range(10)]
        return fit_seeds(models, data, seeds=range(10), epochs=1, batch_size=BATCH)

    return {"fit": (one, steps), "fit_many (31 subsets)": (many, steps), "fit_seeds (S=10)": (seeds, steps)}


def efficiency() -> list[dict]:
    """One row per loop: GFLOP/s, its share of single-thread sgemm, aten operators per training step."""
    peak = sgemm_gflops()
    rows = []
    for name, (epoch, steps) in _loops().items():
        with FlopCounterMode(display=False) as counter:
            epoch()
        flops = counter.get_total_flops()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            epoch()
        ops = sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))
        seconds = best_of(epoch, repeats=3)
        gflops = flops / seconds / 1e9
        rows.append(
            {
                "loop": name,
                "seconds_per_epoch": seconds,
                "gflop_per_epoch": flops / 1e9,
                "gflops": gflops,
                "sgemm_gflops": peak,
                "share_of_sgemm": gflops / peak,
                "aten_ops_per_step": ops / steps,
            }
        )
    return rows


def main() -> None:
    torch.set_num_threads(1)
    use_portable_kernels()
    t0 = time.perf_counter()
    print(write("efficiency", efficiency()).to_string(index=False))
    print(f"efficiency: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
