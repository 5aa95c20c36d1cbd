"""Seeds of one configuration trained as one stack: ``S`` separate :func:`~mtlkit.train.fit` runs vs one
:func:`~mtlkit.stacked.fit_seeds` (study 00's model and data: 7 MultiDigits tasks, 4000 training pairs,
an MLP trunk of 2 x 128, one torch thread), with early stopping on so that some seeds leave the stack."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from benchmarks.common import write
from mtlkit.data.multidigits import make_multidigits
from mtlkit.losses import TrainingDiverged
from mtlkit.models import build_model
from mtlkit.seeding import seed_everything
from mtlkit.stacked import fit_seeds
from mtlkit.train import fit

WEIGHTINGS = ("equal", "pcgrad", "mgda")
SIZES = (1, 5, 10, 30)


def _models(datas: list, seeds: list[int]) -> list[torch.nn.Module]:
    """Each seed's model, built as its own run builds it."""
    models = []
    for s, d in zip(seeds, datas):
        seed_everything(s)
        models.append(build_model("hard", d.input_shape, d.tasks, width=128, depth=2))
    return models


def _separate(datas: list, seeds: list[int], **kw) -> tuple[float, list[int]]:
    """Seconds of one ``fit`` per seed, and the epoch each stopped at."""
    models, stops = _models(datas, seeds), []
    t0 = time.perf_counter()
    for model, d, s in zip(models, datas, seeds):
        try:
            stops.append(int(fit(model, d, seed=s, **kw).epoch.max()))
        except TrainingDiverged:
            stops.append(0)
    return time.perf_counter() - t0, stops


def _stacked(datas: list, seeds: list[int], **kw) -> tuple[float, list[int]]:
    """Seconds of one ``fit_seeds`` of all seeds, and the epoch each stopped at."""
    models = _models(datas, seeds)
    t0 = time.perf_counter()
    hists = fit_seeds(models, datas, seeds=seeds, **kw)
    return time.perf_counter() - t0, [int(h.epoch.max()) if len(h) else 0 for h in hists]


def seeds_speedup(epochs: int = 5, lr: float = 0.05, patience: int = 1, repeats: int = 2) -> list[dict]:
    """For each weighting and number of seeds ``S``: the best and the median of ``repeats`` timings of
    each side, the two sides interleaved (their order alternating) so that the machine's noise is shared.
    ``lr`` is above study 00's so that some seeds stop early within the few ``epochs``; there PCGrad's and
    MGDA's training is chaotic (a 1e-7 change of the initial weights changes a run's epoch-1 validation
    loss by 1%), so float rounding can move a seed's stopping epoch: ``same_stops`` says whether both
    sides trained the same epochs, and ``per_epoch_speedup`` compares the seconds per seed-epoch."""
    datas = [make_multidigits(n_train=4000, seed=s) for s in range(max(SIZES))]
    rows = []
    for weighting in WEIGHTINGS:
        kw = {"epochs": epochs, "lr": lr, "patience": patience, "weighting": weighting}
        for side in (_separate, _stacked):  # warm-up: one-off costs of the first calls
            side(datas[:2], [0, 1], **{**kw, "epochs": 1})
        for S in SIZES:
            seeds = list(range(S))
            times: dict[Callable, list[float]] = {_separate: [], _stacked: []}
            stops: dict[Callable, list[int]] = {}
            for r in range(repeats):
                for side in (_separate, _stacked) if r % 2 == 0 else (_stacked, _separate):
                    t, stops[side] = side(datas[:S], seeds, **kw)
                    times[side].append(t)
            sep, stk = times[_separate], times[_stacked]
            rows.append(
                {
                    "weighting": weighting,
                    "S": S,
                    "epochs": epochs,
                    "lr": lr,
                    "patience": patience,
                    "seeds_stopped_early": sum(0 < e < epochs for e in stops[_stacked]),
                    "same_stops": stops[_separate] == stops[_stacked],
                    "separate_s": min(sep),
                    "stacked_s": min(stk),
                    "speedup": min(sep) / min(stk),
                    "median_speedup": statistics.median(sep) / statistics.median(stk),
                    "separate_epochs": sum(stops[_separate]),
                    "stacked_epochs": sum(stops[_stacked]),
                    "per_epoch_speedup": min(sep) / sum(stops[_separate]) / (min(stk) / sum(stops[_stacked])),
                }
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    torch.set_num_threads(1)
    print(write("seeds", seeds_speedup()).to_string(index=False))
