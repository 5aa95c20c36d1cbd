"""Speed against the real peers: mtlkit vs LibMTL 1.1.5 (whole epochs) and torchjd 0.18 (one step).

* **Epochs** (study 00's default configuration: MultiDigits, its 7 tasks, 4,000 training pairs, the
  ``hard`` MLP trunk of width 128 and depth 2, Adam at lr 1e-3, batch 128): seconds per epoch of
  :func:`mtlkit.train.fit` and of LibMTL's ``Trainer.train`` for each of the survey's weightings, the
  same initial weights, the same tensor minibatches (``MultiTaskData.batches`` behind a minimal iterable,
  so no DataLoader is timed), each validating on the same 1,000 examples every epoch. An epoch is timed
  from its first batch, from the second epoch on (LibMTL's GradNorm is equal weighting in its first
  epoch; DWA is in both libraries for two), to the end of the run.
* **Steps** (the same model and batch): one training step of PCGrad and MGDA, mtlkit's
  ``make_weighting(...).backward`` vs torchjd's ``mtl_backward`` + ``jac_to_grad`` with its ``PCGrad`` /
  ``MGDA`` aggregator (their default settings).

mtlkit and the peer alternate within each repeat (which one goes first alternates too), in one process on
one torch thread; each number is the median of :data:`REPEATS` repeats after a warm-up.
``ratio = mtlkit_s / peer_s``: below 1, mtlkit is faster. Each library uses its own conventions (listed in
``docs/weighting.md``), so the updates differ for UW, GradNorm and MGDA; the work per step is the same.
Run alone with ``python -m benchmarks.peers``; a peer that is not installed is skipped, and said so.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from benchmarks.common import write
from mtlkit.data.base import MultiTaskData, TaskSpec
from mtlkit.data.multidigits import make_multidigits
from mtlkit.losses import task_loss
from mtlkit.models import build_model
from mtlkit.studies.landscape import SPEC
from mtlkit.train import fit
from mtlkit.weighting import make_weighting

REPEATS = 5
"""Timed repeats of every measurement (after one warm-up); the median is reported."""
EPOCHS = 4
"""Epochs per timed training run; the first is not timed."""
STEPS = 16
"""Training steps per timed step measurement."""

LIBMTL = {
    "equal": ("EW", {}),
    "uncertainty": ("UW", {}),
    "dwa": ("DWA", {"T": 2.0}),
    "gradnorm": ("GradNorm", {"alpha": 1.5}),
    "pcgrad": ("PCGrad", {}),
    "mgda": ("MGDA", {"mgda_gn": "none"}),
}
"""mtlkit's weighting name -> LibMTL's class name and its ``weight_args`` (LibMTL's own defaults; mtlkit's
DWA temperature is 2 and GradNorm's alpha 1.5 too; mtlkit's MGDA normalises no gradient)."""


def study00_defaults() -> dict[str, Any]:
    """Study 00's parameters in default mode, resolved from its declared spec."""
    resolved: dict[str, Any] = {}
    for p in SPEC.params:
        resolved[p.name] = p.default_for("default", resolved)
    return resolved


class EpochClock:
    """Wraps ``data.batches`` to note the time each pass over the training split starts."""

    def __init__(self, data: MultiTaskData) -> None:
        self.batches = data.batches
        self.starts: list[float] = []

    def __call__(self, split: str, *args: Any, **kwargs: Any) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
        if split == "train":
            self.starts.append(time.perf_counter())
        return self.batches(split, *args, **kwargs)


class Batches:
    """A minimal re-iterable of ``(x, {task: y})`` minibatches (what LibMTL's trainer reads instead of a
    DataLoader): each pass is ``data.batches(split, ...)``, drawing its order from ``generator``."""

    def __init__(
        self,
        data: MultiTaskData,
        split: str,
        batch_size: int,
        generator: torch.Generator | None = None,
        shuffle: bool = True,
    ) -> None:
        self.data, self.split, self.batch_size = data, split, batch_size
        self.generator, self.shuffle = generator, shuffle

    def __len__(self) -> int:
        return -(-self.data.n(self.split) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
        return self.data.batches(self.split, self.batch_size, self.generator, shuffle=self.shuffle)


def libmtl_trainer(
    libmtl: Any, model: nn.Module, tasks: list[TaskSpec], method: str, lr: float, quiet: bool = True
) -> Any:
    """LibMTL's ``Trainer`` (HPS architecture, ``rep_grad=False``) for mtlkit's weighting ``method``, with a
    copy of ``model``'s trunk as its encoder and copies of its heads as decoders, Adam at ``lr`` (no
    weight decay, no scheduler) and mtlkit's task losses; accuracy as each task's metric."""
    from LibMTL import weighting as lw
    from LibMTL.architecture import HPS
    from LibMTL.loss import AbsLoss
    from LibMTL.metrics import AbsMetric, AccMetric

    class TaskLoss(AbsLoss):
        def __init__(self, spec: TaskSpec) -> None:
            super().__init__()
            self.spec = spec

        def compute_loss(self, pred: Tensor, gt: Tensor) -> Tensor:
            return task_loss(self.spec, pred, gt)

    class MSEMetric(AbsMetric):
        def update_fun(self, pred: Tensor, gt: Tensor) -> None:
            self.record.append(float((pred - gt).pow(2).sum()))
            self.bs.append(len(pred))

        def score_fun(self) -> list[float]:
            return [sum(self.record) / sum(self.bs)]

    task_dict = {
        t.name: {
            "metrics": ["acc" if t.kind == "classification" else "mse"],
            "metrics_fn": AccMetric() if t.kind == "classification" else MSEMetric(),
            "loss_fn": TaskLoss(t),
            "weight": [1 if t.kind == "classification" else 0],
        }
        for t in tasks
    }
    name, weight_args = LIBMTL[method]
    trunk = model.trunk
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        return libmtl.Trainer(
            task_dict=task_dict,
            weighting=getattr(lw, name),
            architecture=HPS,
            encoder_class=lambda: copy.deepcopy(trunk),
            decoders=nn.ModuleDict({t: copy.deepcopy(h) for t, h in model.heads.items()}),
            rep_grad=False,
            multi_input=False,
            optim_param={"optim": "adam", "lr": lr, "weight_decay": 0.0},
            scheduler_param=None,
            weight_args=weight_args,
            arch_args={},
        )


def libmtl_train(trainer: Any, data: MultiTaskData, epochs: int, batch_size: int, seed: int) -> None:
    """``trainer.train`` for ``epochs`` on ``data``'s training split (minibatch order from ``seed``, as
    :func:`mtlkit.train.fit` draws it), validating on ``data``'s validation split every epoch."""
    train = Batches(data, "train", batch_size, torch.Generator().manual_seed(seed))
    val = Batches(data, "val", 4096, shuffle=False)  # evaluate()'s batch size
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.train(train, val, epochs)


def _timed_epochs(data: MultiTaskData, run: Callable[[], None]) -> float:
    """Seconds per epoch of ``run`` from the start of its second pass over the training split to its end."""
    clock = EpochClock(data)
    data.batches = clock
    try:
        run()
        end = time.perf_counter()
    finally:
        del data.batches
    return (end - clock.starts[1]) / (len(clock.starts) - 1)


def epochs_vs_libmtl(libmtl: Any, p: dict[str, Any], methods: list[str]) -> list[dict]:
    """Seconds per epoch of ``fit`` vs LibMTL's ``Trainer`` for each weighting, at study 00's defaults ``p``."""
    data = make_multidigits(p["tasks"], n_train=p["n_train"], seed=0)
    torch.manual_seed(0)
    model = build_model(
        "hard", data.input_shape, data.tasks, trunk=p["trunk"], width=p["width"], depth=p["depth"]
    )

    def ours(method: str) -> float:
        net = copy.deepcopy(model)
        return _timed_epochs(
            data,
            lambda: fit(
                net,
                data,
                epochs=EPOCHS,
                lr=p["lr"],
                batch_size=p["batch_size"],
                weighting=method,
                patience=p["patience"],
                seed=0,
            ),
        )

    def peer(method: str) -> float:
        trainer = libmtl_trainer(libmtl, model, data.tasks, method, p["lr"])
        return _timed_epochs(data, lambda: libmtl_train(trainer, data, EPOCHS, p["batch_size"], seed=0))

    times = _interleaved({m: (lambda m=m: ours(m), lambda m=m: peer(m)) for m in methods})
    what = (
        f"seconds per epoch, study 00 defaults: {len(data.tasks)} tasks, {p['n_train']} pairs, "
        f"{p['trunk']} width {p['width']} depth {p['depth']}, batch {p['batch_size']}, Adam lr {p['lr']}"
    )
    return [
        _row("epoch", m, f"LibMTL {_version('LibMTL')} {LIBMTL[m][0]}", times[m], what, LIBMTL[m][1])
        for m in methods
    ]


def steps_vs_torchjd(p: dict[str, Any]) -> list[dict]:
    """Seconds per training step of mtlkit's PCGrad and MGDA vs torchjd's ``mtl_backward`` + aggregator."""
    from torchjd.aggregation import MGDA, PCGrad
    from torchjd.autojac import jac_to_grad, mtl_backward

    data = make_multidigits(p["tasks"], n_train=p["n_train"], seed=0)
    torch.manual_seed(0)
    model = build_model(
        "hard", data.input_shape, data.tasks, trunk=p["trunk"], width=p["width"], depth=p["depth"]
    )
    batches = list(data.batches("train", p["batch_size"], torch.Generator().manual_seed(0)))[:STEPS]
    names = data.task_names

    def ours(method: str) -> Callable[[], None]:
        net = copy.deepcopy(model)
        opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
        weighting = make_weighting(method, data.tasks, torch.Generator().manual_seed(0))
        shared = net.shared_parameters()
        specific = [q for q in net.parameters() if all(q is not s for s in shared)]

        def run() -> None:
            for x, y in batches:
                out = net(x, names)
                losses = torch.stack([task_loss(data.task(t), out[t], y[t]) for t in names])
                opt.zero_grad(set_to_none=True)
                weighting.backward(losses, shared, specific)
                opt.step()

        return run

    def peer(method: str) -> Callable[[], None]:
        net = copy.deepcopy(model)
        opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
        aggregator = PCGrad() if method == "pcgrad" else MGDA()
        shared = net.shared_parameters()
        heads = [list(net.heads[t].parameters()) for t in names]

        def run() -> None:
            for x, y in batches:
                z = net.trunk(x)
                losses = [task_loss(data.task(t), net.heads[t](z), y[t]) for t in names]
                opt.zero_grad(set_to_none=True)
                mtl_backward(losses, features=z, shared_params=shared, tasks_params=heads)
                jac_to_grad(shared, aggregator)
                opt.step()

        return run

    runs = {m: (ours(m), peer(m)) for m in ("pcgrad", "mgda")}
    times = {m: (a / len(batches), b / len(batches)) for m, (a, b) in _interleaved(runs).items()}
    what = f"seconds per training step, {len(names)} tasks, width {p['width']}, batch {p['batch_size']}"
    aggregators = {"pcgrad": ("PCGrad", {}), "mgda": ("MGDA", {"epsilon": 1e-3, "max_iters": 100})}
    return [
        _row(
            "step",
            m,
            f"torchjd {_version('torchjd')} {aggregators[m][0]}",
            times[m],
            what + ", mtl_backward + jac_to_grad",
            aggregators[m][1],
        )
        for m in ("pcgrad", "mgda")
    ]


def _interleaved(
    runs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]],
) -> dict[str, tuple[float, float]]:
    """Median seconds of each ``(ours, peer)`` pair over :data:`REPEATS` rounds after a warm-up round, the two
    alternating (and which goes first alternating by round). A callable returning a float reports its own
    time; otherwise its wall time is taken."""

    def seconds(fn: Callable[[], Any]) -> float:
        t0 = time.perf_counter()
        out = fn()
        return float(out) if isinstance(out, float) else time.perf_counter() - t0

    samples: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in runs}
    for r in range(REPEATS + 1):
        for m, (ours, peer) in runs.items():
            order = [(0, ours), (1, peer)] if r % 2 == 0 else [(1, peer), (0, ours)]
            for k, fn in order:
                t = seconds(fn)
                if r > 0:
                    samples[m][k].append(t)
    return {m: (statistics.median(a), statistics.median(b)) for m, (a, b) in samples.items()}


def _row(benchmark: str, method: str, peer: str, times: tuple[float, float], what: str, config: dict) -> dict:
    ours, theirs = times
    return {
        "benchmark": f"{benchmark} vs peer",
        "method": method,
        "peer": peer,
        "peer_s": theirs,
        "mtlkit_s": ours,
        "ratio": ours / theirs,
        "what": what,
        "config": ", ".join(f"{k}={v}" for k, v in config.items()),
        "repeats": REPEATS,
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def main() -> pd.DataFrame | None:
    """Measure every comparison whose peer is installed, write ``results/benchmarks/peers.csv``, print a table."""
    torch.set_num_threads(1)
    p = study00_defaults()
    rows: list[dict] = []
    if importlib.util.find_spec("LibMTL") is not None:
        from benchmarks.libmtl_compat import import_libmtl

        rows += epochs_vs_libmtl(import_libmtl(), p, list(LIBMTL))
    else:
        print("peers: LibMTL is not installed (pip install --no-deps -r requirements-bench.lock); skipped")
    if importlib.util.find_spec("torchjd") is not None:
        rows += steps_vs_torchjd(p)
    else:
        print("peers: torchjd is not installed (pip install --no-deps -r requirements-bench.lock); skipped")
    if not rows:
        return None
    df = write("peers", rows)
    table = df[["benchmark", "method", "peer", "mtlkit_s", "peer_s", "ratio"]]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return df


if __name__ == "__main__":
    main()
