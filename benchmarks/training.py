"""The training loop's costs: minibatching by index permutation vs a DataLoader, and each weighting
method's step time vs equal weighting (7 MultiDigits tasks, the study-00 model)."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.common import best_of, write
from mtlkit.data.multidigits import make_multidigits
from mtlkit.models import build_model
from mtlkit.train import fit
from mtlkit.weighting import WEIGHTINGS


def batching(n_train: int = 4000, batch_size: int = 128) -> list[dict]:
    """One pass over the training split: tensor index permutation vs ``DataLoader(TensorDataset)``."""
    data = make_multidigits(n_train=n_train, seed=0)
    g = torch.Generator().manual_seed(0)
    ys = [data.y["train"][t] for t in data.task_names]
    loader = DataLoader(TensorDataset(data.x["train"], *ys), batch_size=batch_size, shuffle=True, generator=g)

    def ours() -> None:
        for _ in data.batches("train", batch_size, g):
            pass

    def dataloader() -> None:
        for _ in loader:
            pass

    t_ours, t_dl = best_of(ours), best_of(dataloader)
    return [
        {
            "benchmark": "minibatching",
            "what": f"one epoch, {n_train} examples, batch {batch_size}",
            "baseline": "torch DataLoader",
            "baseline_s": t_dl,
            "mtlkit_s": t_ours,
            "speedup": t_dl / t_ours,
        }
    ]


def weighting_step_cost(n_train: int = 2000, epochs: int = 2) -> list[dict]:
    """Seconds per epoch of :func:`mtlkit.train.fit` for each weighting method, relative to ``equal``."""
    data = make_multidigits(n_train=n_train, seed=0)

    def run(name: str) -> None:
        torch.manual_seed(0)
        model = build_model("hard", data.input_shape, data.tasks, width=128, depth=2)
        fit(model, data, epochs=epochs, weighting=name, seed=0)

    times = {name: best_of(lambda n=name: run(n), repeats=3) / epochs for name in WEIGHTINGS}
    return [
        {
            "benchmark": "weighting step cost",
            "what": f"one epoch of fit, 7 tasks, {n_train} examples",
            "baseline": "equal",
            "baseline_s": times["equal"],
            "mtlkit_s": t,
            "method": name,
            "slowdown": t / times["equal"],
        }
        for name, t in times.items()
    ]


def main() -> None:
    torch.set_num_threads(1)
    print(write("batching", batching()).to_string(index=False))
    print(write("weighting_cost", weighting_step_cost()).to_string(index=False))
