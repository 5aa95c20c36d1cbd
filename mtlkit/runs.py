"""A run of one network: a typed, validated :class:`RunConfig`, and :func:`train_and_evaluate`, the pure
function of it that every study's sweep calls. ``RunConfig.to_dict()`` is what the sweep's cache key
hashes, so two equal configs are one run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import torch

from mtlkit.data import DATASETS, make_data
from mtlkit.data.base import MultiTaskData
from mtlkit.lookahead import STEPS
from mtlkit.models import build_model
from mtlkit.models.sharing import ARCHITECTURES
from mtlkit.models.towers import SelfAuxiliaryTowers, aux_weights, count_parameters, with_aux_tasks
from mtlkit.seeding import seed_everything
from mtlkit.stacked import UNSUPPORTED, fit_seeds
from mtlkit.tracking import AffinityTracker
from mtlkit.train import OPTIMIZERS, evaluate, exploded, fit
from mtlkit.weighting import WEIGHTINGS


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class FitConfig:
    """How :func:`~mtlkit.train.fit` trains: epochs (the cap), step size, batch size, weighting, optimizer
    and early-stopping patience.
    ``weighting`` is a name of :data:`~mtlkit.weighting.WEIGHTINGS` or ``{"name": ..., **kwargs}``."""

    epochs: int
    lr: float = 1e-3
    batch_size: int = 128
    weighting: str | Mapping[str, Any] = "equal"
    optimizer: str = "adam"
    patience: int | None = None  # early stopping: epochs without a better validation loss
    patience_each: bool = False  # stop only once every task's own validation loss has plateaued

    def __post_init__(self) -> None:
        _require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _require(self.patience is None or self.patience >= 1, f"patience must be >= 1, got {self.patience}")
        _require(math.isfinite(self.lr) and self.lr > 0, f"lr must be a positive number, got {self.lr}")
        _require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _require(self.optimizer in OPTIMIZERS, f"unknown optimizer {self.optimizer!r}; known: {OPTIMIZERS}")
        name = self.weighting if isinstance(self.weighting, str) else self.weighting.get("name")
        _require(name in WEIGHTINGS, f"unknown weighting {name!r}; known: {list(WEIGHTINGS)}")


@dataclass(frozen=True)
class AuxConfig:
    """Self-auxiliary towers (Wang et al. 2020): hidden widths of each task's auxiliary tower and the loss
    weight ``gamma`` (``weight``) of the auxiliary losses; the towers are dropped before evaluation."""

    hidden: tuple[int, ...]
    weight: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        _require(all(h >= 1 for h in self.hidden), f"tower widths must be >= 1, got {list(self.hidden)}")
        _require(
            math.isfinite(self.weight) and self.weight >= 0, f"aux weight must be >= 0, got {self.weight}"
        )


@dataclass(frozen=True)
class TrackConfig:
    """Lookahead transference every ``every`` training steps (:class:`~mtlkit.tracking.AffinityTracker`).
    The lookahead is one update of the training optimizer from its current state at learning rate ``lr``
    (``step="optimizer"``, TAG's definition; ``lr`` = the training lr gives exactly the training update),
    or a plain SGD step of size ``lr`` (``step="sgd"``); ``sgd`` adds plain SGD lookaheads of those sizes,
    measured on the same steps (sensitivity rows)."""

    every: int
    lr: float
    step: str = "optimizer"
    sgd: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sgd", tuple(float(e) for e in self.sgd))
        _require(self.every >= 1, f"every must be >= 1, got {self.every}")
        for lr in (self.lr, *self.sgd):
            _require(math.isfinite(lr) and lr > 0, f"lookahead lr must be > 0, got {lr}")
        _require(self.step in STEPS, f"lookahead step must be one of {list(STEPS)}, got {self.step!r}")

    def tracker(self, tasks: list) -> AffinityTracker:
        """The :class:`~mtlkit.tracking.AffinityTracker` this config describes."""
        return AffinityTracker(tasks, self.every, self.lr, self.step, self.sgd)


@dataclass(frozen=True)
class RunConfig:
    """One network's run: data (``name`` + :data:`~mtlkit.data.DATASETS` builder kwargs), model
    (:func:`~mtlkit.models.build_model` kwargs), training, seed, device, and optionally self-auxiliary
    towers (``aux``) and transference tracking (``track``)."""

    seed: int
    data: Mapping[str, Any]
    model: Mapping[str, Any]
    fit: FitConfig
    device: str = "cpu"
    aux: AuxConfig | None = None
    track: TrackConfig | None = None

    def __post_init__(self) -> None:
        _require(
            self.data.get("name") in DATASETS,
            f"unknown data set in {dict(self.data)}; known: {list(DATASETS)}",
        )
        arch = self.model.get("architecture", "hard")
        _require(arch in ARCHITECTURES, f"unknown architecture {arch!r}; known: {list(ARCHITECTURES)}")
        _require(self.aux is None or arch != "separate", "self-auxiliary towers need a shared model")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able nested dicts (the sweep's cache key)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunConfig:
        """The inverse of :meth:`to_dict` (``aux`` and ``track`` may be missing or ``None``)."""
        aux, track = d.get("aux"), d.get("track")
        return cls(
            seed=int(d["seed"]),
            data=dict(d["data"]),
            model=dict(d["model"]),
            fit=FitConfig(**d["fit"]),
            device=d.get("device", "cpu"),
            aux=None if aux is None else AuxConfig(**aux),
            track=None if track is None else TrackConfig(**track),
        )


def train_and_evaluate(config: RunConfig) -> pd.DataFrame:
    """A run as a pure function of ``config``: the tidy rows of :func:`trained`."""
    return trained(config)[2]


def trained(config: RunConfig) -> tuple[torch.nn.Module, MultiTaskData, pd.DataFrame]:
    """A run of ``config``: build data and model, :func:`~mtlkit.train.fit`, evaluate; returns the served
    model (its best validation epoch restored), the data and the tidy rows.

    With ``aux``, the model trains with self-auxiliary towers (loss weight ``gamma * w_t``) and is
    served without them; with ``track``, an :class:`~mtlkit.tracking.AffinityTracker` measures
    transference along the way. Returns tidy rows: the history (``epoch`` >= 1), the restored, *served*
    model's final ``val``/``test`` metrics and parameter counts (``epoch`` = 0), and with ``track`` the
    transference rows (``metric == "transference"``, ``task`` = target, with ``lookahead``, ``source``,
    ``step``, gradient-cosine ``cos``, the norm of the source's lookahead update ``step_norm`` and ``Z``'s
    first-order term ``Z_linear`` columns).
    """
    seed = int(config.seed)
    data, model = _built(config)
    fit_kw = asdict(config.fit)
    train_data, served = data, model
    if config.aux is not None:
        model = SelfAuxiliaryTowers(served, data.tasks, list(config.aux.hidden))
        train_data = with_aux_tasks(data)
        spec = fit_kw["weighting"]
        spec = {"name": spec} if isinstance(spec, str) else dict(spec)
        if spec["name"] not in ("equal", "fixed"):
            raise ValueError(f"auxiliary towers need 'equal' or 'fixed' weights, got {spec['name']!r}")
        weights = spec.get("weights") or {t: 1.0 for t in data.task_names}
        fit_kw["weighting"] = {"name": "fixed", "weights": aux_weights(weights, config.aux.weight)}
    tracker = None
    if config.track is not None:
        tracker = config.track.tracker(data.tasks)
    hist = fit(model, train_data, seed=seed, monitor=tracker, **fit_kw)
    return served, data, _rows(served, model, data, hist, tracker)


def _built(config: RunConfig) -> tuple[MultiTaskData, torch.nn.Module]:
    """The run's data and its untrained model, drawn after seeding every generator with its seed."""
    seed_everything(int(config.seed))
    data = make_data(**config.data).to(config.device)
    return data, build_model(in_shape=data.input_shape, tasks=data.tasks, **config.model)


def _rows(
    served: torch.nn.Module,
    model: torch.nn.Module,
    data: MultiTaskData,
    hist: pd.DataFrame,
    tracker: AffinityTracker | None = None,
) -> pd.DataFrame:
    """A trained run's tidy rows (see :func:`trained`); a run whose loss became non-finite in a stack
    (``hist.attrs["diverged"]``) is flagged ``diverged`` like one whose loss exploded."""
    final = pd.concat([evaluate(served, data, s) for s in ("val", "test")], ignore_index=True)
    val_loss = final[(final.split == "val") & (final.metric == "loss")].set_index("task").value.to_dict()
    extra = [
        ("val", "all", "best_epoch", float(hist.attrs["best_epoch"])),
        ("val", "all", "diverged", float(exploded(val_loss, data) or bool(hist.attrs.get("diverged")))),
        ("train", "all", "parameters", float(count_parameters(model))),
        ("test", "all", "parameters", float(count_parameters(served))),
    ]
    final = pd.concat(
        [final, pd.DataFrame(extra, columns=["split", "task", "metric", "value"])], ignore_index=True
    )
    final["epoch"] = 0
    frames = [hist, final]
    if tracker is not None:
        z = tracker.table()
        frames.append(
            pd.DataFrame(
                {
                    "epoch": z.epoch,
                    "lookahead": z.lookahead,
                    "split": "train",
                    "task": z.target,
                    "metric": "transference",
                    "value": z.Z,
                    "source": z.source,
                    "step": z.step,
                    "cos": z.cos,
                    "step_norm": z.step_norm,
                    "Z_linear": z.Z_linear,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class SeedsConfig:
    """Several seeds of one configuration, trained side by side: ``runs[k]`` is seed ``k``'s run, and the
    runs differ in their seeds only (the run's and its data's)."""

    runs: tuple[RunConfig, ...]

    def __post_init__(self) -> None:
        _require(len(self.runs) >= 1, "SeedsConfig needs at least one run")
        shapes = {json.dumps(_unseeded(r.to_dict()), sort_keys=True, default=str) for r in self.runs}
        _require(len(shapes) == 1, "the runs of a SeedsConfig may differ in their seeds only")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able nested dicts (the sweep's cache key)."""
        return {"runs": [r.to_dict() for r in self.runs]}

    def stackable(self) -> bool:
        """Whether :func:`~mtlkit.stacked.fit_seeds` can train these runs as one stack: hard sharing with an
        MLP trunk and linear heads, no self-auxiliary towers, no tracking, early stopping (if any) on the summed
        validation loss, a weighting it stacks (not in :data:`~mtlkit.stacked.UNSUPPORTED`: every one, IT-MTL
        included)."""
        run = self.runs[0]
        weighting = run.fit.weighting if isinstance(run.fit.weighting, str) else run.fit.weighting["name"]
        return (
            run.model.get("architecture", "hard") == "hard"
            and run.model.get("trunk", "mlp") == "mlp"
            and not run.model.get("tower")
            and run.aux is None
            and run.track is None
            and not run.fit.patience_each
            and weighting not in UNSUPPORTED
        )


def side_by_side(configs: Mapping[tuple, RunConfig], seed_at: int) -> dict[tuple, SeedsConfig]:
    """``configs`` keyed by tuples whose ``seed_at``-th entry is the seed, grouped into one
    :class:`SeedsConfig` per key without it (first appearance first, the seeds in their order)."""
    grouped: dict[tuple, list[RunConfig]] = {}
    for key, config in configs.items():
        grouped.setdefault(key[:seed_at] + key[seed_at + 1 :], []).append(config)
    return {key: SeedsConfig(tuple(runs)) for key, runs in grouped.items()}


def _unseeded(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "seed": None, "data": {**d["data"], "seed": None}}


def train_and_evaluate_seeds(config: SeedsConfig) -> pd.DataFrame:
    """Every seed's run of ``config``, with a ``seed`` column: the rows :func:`train_and_evaluate` gives
    each. Side by side as one stack (:func:`~mtlkit.stacked.fit_seeds`, each seed as its own run would
    end, to float rounding) where :meth:`SeedsConfig.stackable`, else one after another."""
    if not config.stackable():
        return pd.concat([train_and_evaluate(r).assign(seed=r.seed) for r in config.runs], ignore_index=True)
    built = [_built(r) for r in config.runs]
    hists = fit_seeds(
        [m for _, m in built],
        [d for d, _ in built],
        seeds=[int(r.seed) for r in config.runs],
        **{k: v for k, v in asdict(config.runs[0].fit).items() if k != "patience_each"},
    )
    return pd.concat(
        [_rows(m, m, d, h).assign(seed=r.seed) for r, (d, m), h in zip(config.runs, built, hists)],
        ignore_index=True,
    )


def tracking_overhead(config: RunConfig, repeats: int = 1) -> tuple[float, float]:
    """Wall seconds of one :func:`~mtlkit.train.fit` of ``config`` with its tracking (``config.track``), and
    of those the seconds spent measuring (the tracking overhead is ``total / (total - measuring)``): the
    fastest of ``repeats``, on one torch thread (as a sweep's worker runs), after a one-epoch warm-up
    (first calls pay one-off costs)."""
    _require(config.track is not None, "tracking_overhead needs a config with track")

    def timed(epochs: int) -> tuple[float, float]:
        seed_everything(int(config.seed))
        model = build_model(in_shape=data.input_shape, tasks=data.tasks, **config.model)
        tracker = config.track.tracker(data.tasks)
        t0 = time.perf_counter()
        fit(model, data, seed=int(config.seed), monitor=tracker, **{**asdict(config.fit), "epochs": epochs})
        return time.perf_counter() - t0, tracker.seconds

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = make_data(**config.data)
        timed(1)
        return min(timed(config.fit.epochs) for _ in range(repeats))
    finally:
        torch.set_num_threads(threads)
