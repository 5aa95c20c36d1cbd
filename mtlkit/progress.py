"""Progress while a study runs.

- In a notebook: ``tqdm.auto`` bars (a widget in JupyterLab when ipywidgets is installed, text otherwise),
  without the warning it prints in a kernel that has no ipywidgets.
- Under ``mtlkit run`` (and so ``make study``), whose kernel runs headless: each sweep reports its runs done
  of the total to a small JSON file named by ``$MTLKIT_PROGRESS`` (:func:`report`), and the command shows it
  (:class:`ProgressLine`, on stderr): one updating line on a terminal, a line at about every 10% elsewhere
  (CI, a log file), with the time elapsed and an estimate of the rest.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import TextIO

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from tqdm.auto import tqdm, trange

__all__ = ["PROGRESS_ENV", "ProgressLine", "clock", "report", "tqdm", "trange"]

PROGRESS_ENV = "MTLKIT_PROGRESS"
"""Set by ``mtlkit run`` for the kernel it starts: the file its sweeps report their progress to."""


def report(desc: str, done: int, total: int, computed: int, started: float, damaged: int = 0) -> None:
    """Write a sweep's progress to ``$MTLKIT_PROGRESS`` (nothing when it is unset): ``done`` of ``total``
    runs, of which ``computed`` were computed (not read from the cache) since ``started`` (epoch seconds),
    ``damaged`` of them because their cache entry was damaged.
    The file is replaced atomically, so a reader never sees half of it; a failure to write is ignored
    (progress must never fail a run)."""
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    state = {"desc": desc, "done": done, "total": total, "computed": computed, "started": started}
    if damaged:
        state["damaged"] = damaged
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        Path(tmp).write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def clock(seconds: float) -> str:
    """``75.3`` -> ``"1:15"``; ``3725`` -> ``"1:02:05"``."""
    s = max(0, int(round(seconds)))
    h, m = divmod(s, 3600)
    return f"{h}:{m // 60:02d}:{m % 60:02d}" if h else f"{m // 60}:{m % 60:02d}"


def describe(name: str, state: dict, now: float) -> str:
    """One line of progress for study ``name`` from a :func:`report` state."""
    done, total, computed = state["done"], state["total"], state["computed"]
    elapsed = now - state["started"]
    line = f"{name}: {state['desc']} {done}/{total} ({done / max(total, 1):.0%}), {clock(elapsed)} elapsed"
    if computed and done < total:
        line += f", about {clock(elapsed / computed * (total - done))} left"
    if damaged := state.get("damaged", 0):
        line += f"; {damaged} damaged cache entr{'y' if damaged == 1 else 'ies'} recomputed"
    return line


class ProgressLine:
    """Shows the progress a study's kernel reports to ``path`` while the study runs (a background thread
    polls the file every ``every`` seconds): on a terminal one line rewritten in place, elsewhere a line
    each time a sweep passes another tenth of its runs. Use as a context manager around the run."""

    def __init__(self, name: str, path: Path, stream: TextIO | None = None, every: float = 0.5) -> None:
        self.name, self.path, self.every = name, path, every
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.shown: tuple[str, int] | None = None  # (sweep, tenth) last printed as a line
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._width = 0

    def __enter__(self) -> ProgressLine:
        self.path.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self.path.unlink(missing_ok=True)

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            self.show(time.time())

    def show(self, now: float) -> None:
        """Read the reported state and show it (nothing when there is none yet, or it cannot be read)."""
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            line = describe(self.name, state, now)
        except (OSError, ValueError, KeyError, TypeError):
            return
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = max(self._width, len(line))
        else:
            tenth = math.floor(10 * state["done"] / max(state["total"], 1))
            if self.shown == (state["desc"], tenth):
                return
            self.shown = (state["desc"], tenth)
            self.stream.write(line + "\n")
        self.stream.flush()
