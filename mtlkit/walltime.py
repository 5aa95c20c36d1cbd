"""Where a study's wall time goes: the phases of an executed notebook, from the start and end times papermill
records for the notebook and for every cell.

A code cell tagged with a phase's name counts as that phase. Otherwise it counts as ``training`` when it runs
a sweep (``study.run(``), as ``imports`` when it imports and
starts the study (``start(``), as ``plotting`` when it draws (``savefig(``, ``_figure(``, ``show_examples(``),
and as ``analysis`` otherwise; markdown cells take no time. ``kernel start`` is the time from papermill's start
to the first cell; ``writing`` is the rest of papermill's duration (it saves the notebook after every cell). A cell that
trains and then plots counts whole as training: the split is by cell, which is what a reader can act on.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from mtlkit.tables import markdown_table

PHASES = ("kernel start", "imports", "training", "analysis", "plotting", "writing")
"""The phases, in the order a run goes through them."""

_MARKERS = (
    ("training", "study.run("),
    ("imports", "start("),
    ("plotting", "savefig("),
    ("plotting", "_figure("),
)


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def cell_phase(source: str) -> str:
    """The phase of a code cell from its source (see the module docstring).

    Examples
    --------
    >>> cell_phase("runs = study.run(train, configs)\\nstudy.savefig(fig, 'x')")
    'training'
    >>> cell_phase("study.savefig(landscape_figure(final), 'main')")
    'plotting'
    >>> cell_phase("final = tables.final(runs)")
    'analysis'
    """
    for phase, marker in (*_MARKERS, ("plotting", "show_examples(")):
        if marker in source:
            return phase
    return "analysis"


def phases(notebook: str | Path) -> dict[str, float]:
    """Seconds spent in each of :data:`PHASES` by an executed notebook (papermill's metadata), plus
    ``total``, papermill's own duration. Raises ``ValueError`` for a notebook papermill did not execute."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    meta = nb.get("metadata", {}).get("papermill", {})
    cells = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and c["metadata"].get("papermill", {}).get("end_time")
    ]
    if not meta.get("start_time") or not meta.get("end_time") or not cells:
        raise ValueError(f"{notebook} has no papermill timings: run it with `mtlkit run`")
    out = dict.fromkeys(PHASES, 0.0)
    for c in cells:
        tagged = [t for t in c["metadata"].get("tags", []) if t in PHASES]
        phase = tagged[0] if tagged else cell_phase("".join(c["source"]))
        out[phase] += float(c["metadata"]["papermill"]["duration"] or 0.0)
    first = cells[0]["metadata"]["papermill"]["start_time"]
    out["kernel start"] = (_time(first) - _time(meta["start_time"])).total_seconds()
    out["writing"] = float(meta["duration"]) - sum(out.values())
    out["total"] = float(meta["duration"])
    return out


def time_table(root: str | Path) -> str:
    """Where each study's time went, as a Markdown table (seconds per phase, one row per executed notebook
    ``<root>/<study>/<study>.ipynb``); empty when there is none."""
    times = {
        nb.parent.name: phases(nb) for nb in sorted(Path(root).glob("*/*.ipynb")) if nb.stem == nb.parent.name
    }
    return markdown_table(pd.DataFrame(times).T.round(1)) if times else ""
