"""One validation path for every study: declared parameters, modes, seeding, device, output folder.

A notebook's parameters cell holds plain values (``None`` = "the mode's size"); its next cell calls
:func:`start`, which checks every value *before any compute* and raises :class:`ParameterError` naming
the parameter, the value and what is allowed. The CLI calls the same :func:`validate` before it even
starts a kernel, so a bad ``-p`` fails in a second either way.
"""

from __future__ import annotations

import os
import platform
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mtlkit import results as _results
from mtlkit.stats import Claim, claims_table

MODES = ("smoke", "default", "full")


class ParameterError(ValueError):
    """A study parameter with a wrong name, type or value; the message says what is allowed."""


@dataclass(frozen=True)
class Param:
    """A declared study parameter.

    ``kind`` is one of ``int``, ``float``, ``str``, ``bool``, ``list`` (a list of strings, also given
    as ``"a,b,c"``), ``floats`` (a list of numbers, also ``"0,0.5,1"``; ``low``/``high`` bound each). ``by_mode`` gives the value per mode when the notebook passes ``None``; ``choices``
    constrain a ``str`` or every item of a ``list``; ``low``/``high`` bound numbers (inclusive).
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    by_mode: Mapping[str, Any] | None = None
    nullable: bool = False
    allowed_override: str | None = None  # how an item of a list parameter reports what is allowed

    def allowed(self) -> str:
        """Human-readable description of the allowed values."""
        if self.choices is not None:
            what = f"one of {list(self.choices)}"
            if self.kind == "list":
                what = f"a non-empty list (or comma-separated string) of {list(self.choices)}"
        elif self.kind in ("int", "float", "floats"):
            noun = {"int": "an integer", "float": "a number", "floats": "a non-empty list of numbers, each"}[
                self.kind
            ]
            lo = "-inf" if self.low is None else f"{self.low:g}"
            hi = "inf" if self.high is None else f"{self.high:g}"
            what = f"{noun} in [{lo}, {hi}]"
        elif self.kind == "bool":
            what = "True or False"
        elif self.kind == "list":
            what = "a non-empty list of strings"
        else:
            what = "a string"
        return what + (" or None" if self.nullable or self.by_mode else "")

    def default_for(self, mode: str) -> Any:
        """The value used when the notebook leaves this parameter at ``None``."""
        return self.by_mode[mode] if self.by_mode else self.default


@dataclass(frozen=True)
class StudySpec:
    """A study: its name (= notebook file stem), title, paper, and declared parameters."""

    name: str
    title: str
    paper: str
    params: tuple[Param, ...]
    figure: str = ""
    checks: tuple[tuple[Callable[[dict], bool], str], ...] = ()  # cross-parameter rules: (holds?, message)

    def param(self, name: str) -> Param:
        """The declared parameter ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError(
            f"study {self.name!r} has no parameter {name!r}; known parameters: {[p.name for p in self.params]}"
        )

    @property
    def notebook(self) -> Path:
        """Path of the study's notebook in the repository."""
        return _results.REPO_DIR / "notebooks" / f"{self.name}.ipynb"


# Parameters every study has; a study adds its own after these.
COMMON: tuple[Param, ...] = (
    Param(
        "mode",
        "str",
        None,
        "run size: smoke (tests, <30 s), default (results/), full (paper scale)",
        choices=MODES,
        nullable=True,
    ),
    Param("seed", "int", 0, "base seed; seed i of the study is seed + i", low=0, high=2**31 - 1),
    Param("device", "str", "auto", "auto = CUDA when present, else CPU", choices=("auto", "cpu", "cuda")),
    Param("n_jobs", "int", 0, "parallel worker processes for a sweep (0 = one per core)", low=0, high=512),
    Param(
        "backend",
        "str",
        "loky",
        "where a sweep's runs execute: loky (local processes), dask (a cluster), ray",
        choices=("loky", "dask", "ray"),
    ),
    Param("scheduler", "str", "", "Dask scheduler address (tcp://host:8786); empty = a local Dask cluster"),
    Param(
        "out",
        "str",
        None,
        "output folder (None = results/<study>, or results/<mode>/<study> outside default mode)",
        nullable=True,
    ),
    Param("cache", "bool", True, "reuse finished runs from the on-disk cache (resume a sweep)"),
)


def _coerce(p: Param, value: Any) -> Any:
    """Convert ``value`` to the parameter's type, or raise :class:`ParameterError`."""
    bad = ParameterError(
        f"parameter {p.name!r} = {value!r} ({type(value).__name__}) is not allowed: "
        f"expected {p.allowed_override or p.allowed()}"
    )
    if p.kind == "int":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise bad from None
        raise bad
    if p.kind == "float":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float, np.integer, np.floating)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise bad from None
        raise bad
    if p.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise bad
    if p.kind == "str":
        if isinstance(value, (str, os.PathLike)):
            return str(value)
        raise bad
    if p.kind == "floats":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise bad
        return [_coerce(Param(p.name, "float", allowed_override=p.allowed()), v) for v in items]
    if p.kind == "list":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            return list(value)
        raise bad
    raise TypeError(f"unknown parameter kind {p.kind!r}")


def validate(spec: StudySpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``given`` against ``spec`` and return every parameter's resolved value.

    The mode is ``given["mode"]``, else ``$MTLKIT_MODE``, else ``"default"``; a ``None`` size takes the
    mode's value. Raises :class:`ParameterError` for an unknown name, a wrong type, a value out of range,
    an unknown choice, or a duplicated list item.
    """
    for name in given:
        spec.param(name)  # raises for unknown names
    mode = given.get("mode") or os.environ.get("MTLKIT_MODE") or "default"
    mode = _coerce(spec.param("mode"), mode)
    if mode not in MODES:
        raise ParameterError(f"parameter 'mode' = {mode!r} is not allowed: expected one of {list(MODES)}")
    resolved: dict[str, Any] = {}
    for p in spec.params:
        value = given.get(p.name)
        if p.name == "mode":
            value = mode
        if value is None:
            value = p.default_for(mode)
            if value is None:
                if not p.nullable:
                    raise ParameterError(f"parameter {p.name!r} is required: expected {p.allowed()}")
                resolved[p.name] = None
                continue
        value = _coerce(p, value)
        if p.kind in ("int", "float", "floats"):
            items = value if p.kind == "floats" else [value]
            if any((p.low is not None and v < p.low) or (p.high is not None and v > p.high) for v in items):
                raise ParameterError(
                    f"parameter {p.name!r} = {value!r} is out of range: expected {p.allowed()}"
                )
        if p.choices is not None:
            items = value if p.kind == "list" else [value]
            unknown = [v for v in items if v not in p.choices]
            if unknown:
                raise ParameterError(
                    f"parameter {p.name!r}: unknown value(s) {unknown}; known: {list(p.choices)}"
                )
            if p.kind == "list" and len(set(items)) != len(items):
                raise ParameterError(f"parameter {p.name!r} = {value!r} repeats an item")
        resolved[p.name] = value
    for holds, message in spec.checks:
        if not holds(resolved):
            raise ParameterError(message.format(**resolved))
    if "backend" in resolved:
        from mtlkit.sweep import check_backend

        try:
            check_backend(resolved["backend"])
        except ValueError as e:
            raise ParameterError(f"parameter 'backend' = {resolved['backend']!r}: {e}") from None
    return resolved


HEADLESS_ENV = "MTLKIT_HEADLESS"


def headless() -> bool:
    """True when a study runs unattended (``mtlkit run`` sets ``$MTLKIT_HEADLESS``): no progress bars,
    which would only clutter the executed notebook."""
    return os.environ.get(HEADLESS_ENV, "") not in ("", "0")


def pick_device(choice: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            "parameter 'device' = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'"
        )
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the legacy global state user code may rely on
    torch.manual_seed(seed)


class Params(dict):
    """The resolved parameters; read them as ``study.p.epochs`` or ``study.p["epochs"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class Study:
    """A running study: resolved parameters, seeds, device and output folder; collects what it writes."""

    spec: StudySpec
    p: Params
    device: torch.device
    out_dir: Path
    started: float = field(default_factory=time.time)
    metrics: list[pd.DataFrame] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def mode(self) -> str:
        return self.p.mode

    @property
    def seeds(self) -> list[int]:
        """The seeds of this run: ``seed, seed + 1, ..., seed + seeds - 1``."""
        return [self.p.seed + i for i in range(self.p.seeds)] if "seeds" in self.p else [self.p.seed]

    @property
    def cache_dir(self) -> Path | None:
        """Where finished sweep runs are cached (``None`` when ``cache=False``)."""
        return self.out_dir / ".cache" if self.p.cache else None

    def run(
        self,
        fn: Callable[[dict], pd.DataFrame],
        configs: Mapping[tuple, dict],
        keys: Sequence[str] = ("method", "seed"),
        desc: str = "runs",
    ) -> pd.DataFrame:
        """Run ``fn`` on every config through :func:`mtlkit.sweep.run_sweep` (the study's cache and
        ``n_jobs``) and return one tidy frame, each run's rows tagged with its key columns."""
        from mtlkit.sweep import run_sweep

        n_jobs = 1 if self.device.type == "cuda" else self.p.n_jobs
        frames = run_sweep(
            fn,
            list(configs.values()),
            cache_dir=self.cache_dir,
            n_jobs=n_jobs,
            backend=self.p.backend,
            scheduler=self.p.scheduler or None,
            desc=desc,
            progress=not headless(),
        )
        return pd.concat([f.assign(**dict(zip(keys, k))) for k, f in zip(configs, frames)], ignore_index=True)

    def savefig(self, fig: Any, name: str) -> Path:
        """Write ``fig`` to ``figures/<name>.png`` (atomically) and remember it for the manifest."""
        path = _results.save_figure(self.out_dir / "figures" / f"{name}.png", fig)
        self.figures.append(path.name)
        return path

    def add_metrics(self, df: pd.DataFrame) -> None:
        """Add tidy rows to ``metrics.csv`` (columns are unioned across calls)."""
        self.metrics.append(df)

    def add_claims(self, *claims: Claim) -> pd.DataFrame:
        """Record computed claims; returns the claims table to display."""
        self.claims.extend(claims)
        return claims_table(self.claims)

    def finish(self) -> pd.DataFrame:
        """Write ``metrics.csv``, ``claims.json`` and ``manifest.json``; return the claims table."""
        metrics = pd.concat(self.metrics, ignore_index=True) if self.metrics else pd.DataFrame()
        _results.write_csv(self.out_dir / "metrics.csv", metrics)
        _results.write_json(
            self.out_dir / "claims.json", {"study": self.name, "claims": [c.to_dict() for c in self.claims]}
        )
        _results.write_json(self.out_dir / "manifest.json", self.manifest())
        return claims_table(self.claims)

    def manifest(self) -> dict:
        """What produced these results: parameters, seeds, versions, device, time, commit, source hashes."""
        import importlib.metadata as md

        versions = {"python": platform.python_version()}
        for pkg in (
            "torch",
            "numpy",
            "pandas",
            "scikit-learn",
            "scipy",
            "matplotlib",
            "seaborn",
            "papermill",
        ):
            try:
                versions[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                versions[pkg] = None
        nb = self.spec.notebook
        return {
            "study": self.name,
            "title": self.spec.title,
            "paper": self.spec.paper,
            "mode": self.mode,
            "params": {**self.p, "out": _relative(self.out_dir)},
            "seeds": self.seeds,
            "device": str(self.device),
            "threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "versions": versions,
            "wall_seconds": round(time.time() - self.started, 2),
            "git": _git_state(),
            "notebook_hash": _results.notebook_hash(nb) if nb.exists() else None,
            "mtlkit_hash": _results.mtlkit_hash(),
            "figures": sorted(set(self.figures)),
        }


def _relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (manifests stay machine-independent)."""
    try:
        return path.resolve().relative_to(_results.REPO_DIR).as_posix()
    except ValueError:
        return str(path)


def _git_state() -> dict | None:
    """The repository's commit and whether the tree was dirty, when git is available."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=_results.REPO_DIR, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", "mtlkit", "notebooks")),
        }
    except (OSError, subprocess.SubprocessError):
        return None


def output_dir(name: str, mode: str, out: str | None = None) -> Path:
    """Where a study writes: ``out`` if given, else ``results/<study>`` (default mode) or
    ``results/<mode>/<study>`` (other modes, kept out of git)."""
    if out is not None:
        return Path(out).expanduser().resolve()
    base = _results.REPO_DIR / "results"
    return base / name if mode == "default" else base / mode / name


def start(name: str, **given: Any) -> Study:
    """Validate the parameters of study ``name``, seed, pick the device, make the output folder.

    Examples
    --------
    >>> study = start("00_landscape", mode="smoke", epochs=-1)
    Traceback (most recent call last):
    ...
    mtlkit.study.ParameterError: parameter 'epochs' = -1 is out of range: expected an integer in [1, 10000] or None
    """
    from mtlkit import plotting
    from mtlkit.catalog import get_study

    spec = get_study(name)
    p = Params(validate(spec, given))
    device = pick_device(p.device)
    seed_everything(p.seed)
    out_dir = output_dir(spec.name, p.mode, p.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    plotting.set_theme()
    study = Study(spec, p, device, out_dir)
    print(f"{spec.title} | mode={p.mode} seeds={study.seeds} device={device} -> {out_dir}", file=sys.stdout)
    return study


def sizes_table(spec: StudySpec) -> pd.DataFrame:
    """The parameters that scale with the mode, one column per mode (for notebooks and `mtlkit list`);
    a list is shown by its length (the notebook prints the chosen items)."""

    def show(v: Any) -> Any:
        return f"{len(v)} items" if isinstance(v, list | tuple) else v

    return pd.DataFrame(
        [{"parameter": p.name, **{m: show(p.by_mode[m]) for m in MODES}} for p in spec.params if p.by_mode]
    )


def describe(spec: StudySpec) -> list[Sequence[str]]:
    """Rows ``(name, kind, default, allowed, help)`` for every parameter of ``spec``."""
    rows = []
    for p in spec.params:
        default = ", ".join(f"{m}={p.by_mode[m]}" for m in MODES) if p.by_mode else repr(p.default)
        rows.append((p.name, p.kind, default, p.allowed(), p.help))
    return rows
