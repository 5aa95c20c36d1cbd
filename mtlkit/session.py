"""A running study: resolved parameters, seeds, device, output folder; what it writes and its manifest.

:class:`Study` is what a notebook's ``study = start(...)`` returns (:func:`mtlkit.study.start`). It runs
sweeps (:meth:`Study.run`), saves figures, collects tidy metrics and claims, and :meth:`Study.finish`
writes ``metrics.csv``, ``claims.json`` and ``manifest.json`` atomically.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib.metadata as md
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mtlkit import results as _results
from mtlkit.host import host_info
from mtlkit.params import ParameterError, StudySpec, shorten, validate
from mtlkit.results import expand_user
from mtlkit.stats import POWER, Claim, claims_markdown, power_table
from mtlkit.sweep import run_sweep
from mtlkit.tables import DIVERGED_FACTOR, TIDY, diverged_runs, markdown_table

HEADLESS_ENV = "MTLKIT_HEADLESS"
OUT_ENV = "MTLKIT_OUT"
"""Set by ``mtlkit run`` for the kernel it starts: the study's folder when ``out`` is not given."""
STAGING_ENV = "MTLKIT_STAGING"
"""Set by ``mtlkit run``: where the kernel writes meanwhile; ``mtlkit run`` moves it to the study's folder
in one atomic rename when the whole notebook has run."""


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
    home: Path | None = None  # where the outputs end up, when ``out_dir`` is a staging folder
    started: float = field(default_factory=time.time)
    metrics: list[pd.DataFrame] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    runs_checked: int = 0  # training runs whose loss curve was checked for divergence
    runs_diverged: int = 0

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
        """Where finished sweep runs are cached (``None`` when ``cache=False``): beside the study's folder,
        in ``.cache/<study>/``, so that a run that failed or was killed resumes from them."""
        return self.out_dir.parent / ".cache" / self.name if self.p.cache else None

    def run(
        self,
        fn: Callable[[Any], pd.DataFrame],
        configs: Mapping[tuple, Any],
        keys: Sequence[str] = ("method", "seed"),
        desc: str = "runs",
    ) -> pd.DataFrame:
        """Run ``fn`` on every config (a :class:`~mtlkit.runs.RunConfig` or a JSON-able dict) through
        :func:`mtlkit.sweep.run_sweep` (the study's cache and ``n_jobs``) and return one tidy frame, each
        run's rows tagged with its key columns."""
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
        result = pd.concat(
            [f.assign(**dict(zip(keys, k))) for k, f in zip(configs, frames)], ignore_index=True
        )
        self._check_divergence(result, desc)
        return result

    def _check_divergence(self, rows: pd.DataFrame, desc: str) -> None:
        """Count the sweep's training runs whose loss ended far above its start; say so at once."""
        if not set(TIDY) <= set(rows.columns):
            return
        runs = diverged_runs(rows)
        bad = runs[runs.diverged]
        self.runs_checked += len(runs)
        self.runs_diverged += len(bad)
        if len(bad):
            ids = [c for c in bad.columns if c not in ("first", "last", "diverged")]
            shown = "; ".join(", ".join(f"{k}={r[k]}" for k in ids) for _, r in bad.head(5).iterrows())
            print(
                f"⚠ {desc}: {len(bad)} of {len(runs)} training runs diverged (summed loss at the last epoch "
                f"above {DIVERGED_FACTOR:g}x the first): {shown}{' ...' if len(bad) > 5 else ''}"
            )

    def savefig(self, fig: Any, name: str) -> None:
        """Write ``fig`` to ``figures/<name>.png`` (atomically) and remember it for the manifest."""
        path = _results.save_figure(self.out_dir / "figures" / f"{name}.png", fig)
        self.figures.append(path.name)

    def add_metrics(self, df: pd.DataFrame) -> None:
        """Add tidy rows to ``metrics.csv`` (columns are unioned across calls)."""
        self.metrics.append(df)

    def judged(self, claims: Sequence[Claim]) -> list[Claim]:
        """``claims``, each marked not converged when any training run of this study diverged."""
        if not self.runs_diverged:
            return list(claims)
        note = f"{self.runs_diverged} of {self.runs_checked}"
        return [
            dataclasses.replace(c, converged=False, detail={**c.detail, "diverged runs": note})
            for c in claims
        ]

    def add_claims(self, *claims: Claim) -> list[Claim]:
        """Record computed claims, each tested with the smallest effect its study declares for it
        (:meth:`~mtlkit.params.StudySpec.delta`), and return them as recorded: what the notebook shows
        (once, with :meth:`findings_markdown`) and words its findings from."""
        decided = self.judged(
            [
                dataclasses.replace(
                    c.with_delta(*self.spec.delta(c.id)), headline=self.spec.is_headline(c.id)
                )
                for c in claims
            ]
        )
        self.claims.extend(decided)
        return decided

    def changed(self) -> dict[str, Any]:
        """The parameters this run sets away from its mode's declared defaults (runtime settings such as
        ``device``, ``n_jobs`` or ``out`` excluded: they do not change what is computed)."""
        defaults = validate(self.spec, {"mode": self.mode})
        return {
            p.name: self.p[p.name]
            for p in self.spec.params
            if not p.runtime and p.name != "mode" and self.p[p.name] != defaults[p.name]
        }

    def caveat(self) -> str:
        """What a reader must know before reading this run's verdicts: empty for the committed kind of run
        (default mode, declared parameters), else which mode or parameters make it different."""
        parts = []
        if self.mode == "smoke":
            parts.append(
                "**Smoke mode: sizes too small to be evidence**; these verdicts only show that the code runs."
            )
        elif self.mode == "full":
            parts.append("**Full mode (paper scale).**")
        if self.runs_diverged:
            parts.append(
                f"**{self.runs_diverged} of {self.runs_checked} training runs diverged**: verdicts computed "
                "from them are not trustworthy (every claim is marked not converged)."
            )
        changed = self.changed()
        if changed:
            shown = ", ".join(f"{k}={v!r}" for k, v in changed.items())
            parts.append(f"**Custom parameters** ({shown}): not the committed run.")
        if changed or self.mode != "default":
            parts.append(
                f"The committed default-mode run is in `results/{self.name}/`; the Discussion's prose describes "
                "that run, and the tables and figures here are this run's own."
            )
        return " ".join(parts)

    def findings_markdown(self, claims: Sequence[Claim]) -> str:
        """The claims table (in full, once per notebook), under :meth:`caveat` when there is one."""
        caveat = self.caveat()
        judged = self.judged(claims)
        power = (
            f"**Power of this design** ({POWER:.0%}; `docs/protocol.md`): each claim's per-seed SD in this run, the "
            "smallest distance from its threshold these seeds detect, and the seeds that would detect its δ. The "
            "default seed count is chosen for the headline claims; one that needs more than the study's time "
            "budget allows says so in the protocol."
        )
        return (f"> ⚠ {caveat}\n\n" if caveat else "") + "\n\n".join(
            [claims_markdown(judged), power, markdown_table(power_table(judged), index=False)]
        )

    def finish(self) -> None:
        """Write ``metrics.csv``, ``claims.json`` and ``manifest.json`` (last: it lists the SHA-256 of
        every other file the study wrote, so a reader can check that a folder is complete and intact)."""
        metrics = pd.concat(self.metrics, ignore_index=True) if self.metrics else pd.DataFrame()
        _results.write_csv(self.out_dir / "metrics.csv", metrics)
        _results.write_json(
            self.out_dir / "claims.json", {"study": self.name, "claims": [c.to_dict() for c in self.claims]}
        )
        outputs = {
            f.relative_to(self.out_dir).as_posix(): _results.file_sha256(f)
            for f in sorted(self.out_dir.rglob("*"))
            if f.is_file() and f.suffix != ".ipynb" and f.name != "manifest.json"
        }
        _results.write_json(self.out_dir / "manifest.json", {**self.manifest(), "outputs": outputs})

    def manifest(self) -> dict:
        """What produced these results: parameters, seeds, versions, device, time, commit, source hashes."""
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
            "params": {**self.p, "out": relative(self.home or self.out_dir)},
            "seeds": self.seeds,
            "device": str(self.device),
            "host": host_info(),
            "platform": platform.platform(),
            "versions": versions,
            "wall_seconds": round(time.time() - self.started, 2),
            "git": _git_state(),
            "notebook_hash": _results.notebook_hash(nb) if nb.exists() else None,
            "mtlkit_hash": _results.mtlkit_hash(),
            "figures": sorted(set(self.figures)),
        }


def relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (manifests stay machine-independent)."""
    try:
        return path.resolve().relative_to(_results.REPO_DIR).as_posix()
    except ValueError:
        return str(path)


def _git_state() -> dict | None:
    """The repository's commit and whether the tree was dirty, when git is available."""

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


def writable_folder(path: str | os.PathLike, what: str, create: bool = True) -> Path:
    """``path`` as a folder this process can write (made if missing), or :class:`ParameterError` naming
    ``what`` (``"--out"``, ``"parameter 'out'"``), before anything runs. ``create=False`` (``--dry-run``)
    makes nothing: the nearest existing folder on the way must take a file, and each missing name be short
    enough, so that the real run's check would pass."""
    if not os.fspath(path):
        raise ParameterError(f"{what} = '' is an empty path: give a folder")
    shown = shorten(os.fspath(path))
    try:
        folder = expand_user(path)
    except ValueError as e:
        raise ParameterError(f"{what} = {shown}: {e}") from None
    try:
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            place = "" if probe == folder else f" ({probe} is one)"
            raise ParameterError(f"{what} = {shown} is a file, not a folder{place}")
        if create:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder
        elif any(len(os.fsencode(part)) > os.pathconf(probe, "PC_NAME_MAX") for part in folder.parts):
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise ParameterError(f"{what} = {shown} is not a writable folder: {e.strerror or e}") from None
    return folder


def committed_dir(name: str, mode: str) -> Path:
    """Where ``mtlkit run`` writes without ``--out``: ``results/<study>`` (default mode, committed) or
    ``results/<mode>/<study>`` (other modes, kept out of git)."""
    base = _results.REPO_DIR / "results"
    return base / name if mode == "default" else base / mode / name


def output_dir(name: str, mode: str, out: str | None = None) -> Path:
    """Where a study writes: ``out`` if given; else ``$MTLKIT_OUT``, which only ``mtlkit run`` (and so
    ``make study``) sets, to :func:`committed_dir`; else the scratch folder ``results/lab/<mode>/<study>``,
    which git ignores. A notebook run by hand in Lab, or by plain papermill, never overwrites the
    committed results."""
    chosen = out or os.environ.get(OUT_ENV)
    if chosen:
        return expand_user(chosen).resolve()
    return _results.REPO_DIR / "results" / "lab" / mode / name
