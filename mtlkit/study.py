"""The study runtime: :func:`start` turns a notebook's parameters into a running
:class:`~mtlkit.session.Study`, checking every value *before any compute*.

A notebook's ``parameters`` cell holds plain values (``None`` = "the mode's size", or "follow the
parameter this one derives from"); its next cell calls ``study = start("03_task_grouping", globals())``.
:func:`start` reads the declared parameters from that namespace, refuses a name that papermill (or the
parameters cell) sets but the study does not declare, naming the closest declared one, and raises
:class:`~mtlkit.params.ParameterError` naming the parameter, the value and what is allowed. The CLI
calls the same :func:`~mtlkit.params.validate` before it even starts a kernel.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mtlkit import plotting
from mtlkit.host import use_portable_kernels
from mtlkit.params import MODES, StudySpec, validate
from mtlkit.seeding import seed_everything
from mtlkit.session import STAGING_ENV, Params, Study, output_dir, pick_device, relative, writable_folder
from mtlkit.studies import get_study

PARAMETERS_HEADER = "# Parameters"
"""The first line of papermill's injected cell, and the start of every notebook's ``parameters`` cell."""


def assigned_parameters(namespace: Mapping[str, Any]) -> list[str]:
    """The names assigned by the latest parameters cells an IPython kernel ran (``namespace["In"]``
    holds their sources): papermill's injected cell and the notebook's own ``parameters`` cell."""
    cells = [c for c in namespace.get("In", []) if isinstance(c, str) and c.startswith(PARAMETERS_HEADER)]
    injected = [c for c in cells if c.splitlines()[0].strip() == PARAMETERS_HEADER]
    own = [c for c in cells if c.splitlines()[0].strip() != PARAMETERS_HEADER]
    names: list[str] = []
    for source in injected[-1:] + own[-1:]:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.append(node.id)
    return names


def start(name: str, namespace: Mapping[str, Any] | None = None, **given: Any) -> Study:
    """Validate the parameters of study ``name``, seed, pick the device, make the output folder; fix this
    process to one torch thread and the AVX2 kernels (:mod:`mtlkit.host`), so that what the notebook
    computes itself is the same on any worker layout.

    ``namespace`` is the notebook's ``globals()``: every declared parameter is read from it, and a name
    its parameters cells assign that the study does not declare is refused. Keyword arguments override.

    Examples
    --------
    >>> study = start("00_landscape", {"mode": "smoke", "epochs": -1})
    Traceback (most recent call last):
    ...
    mtlkit.params.ParameterError: parameter 'epochs' = -1 is out of range: expected an integer in [1, 10000] or None
    >>> study = start("00_landscape", {"In": ["# Parameters\\nepoch = 3\\n"], "epoch": 3})
    Traceback (most recent call last):
    ...
    mtlkit.params.ParameterError: study '00_landscape' has no parameter 'epoch' (did you mean 'epochs'?); known parameters: ...
    """
    spec = get_study(name)
    values: dict[str, Any] = {}
    if namespace is not None:
        for n in assigned_parameters(namespace):
            spec.param(n)  # raises for a name the study does not declare
        values = {p.name: namespace[p.name] for p in spec.params if p.name in namespace}
    values.update(given)
    p = Params(validate(spec, values))
    use_portable_kernels()  # before any arithmetic: the kernels' code path is fixed at first use
    torch.set_num_threads(1)  # the kernel's own computations too: a sum over 2 threads rounds otherwise
    device = pick_device(p.device)
    seed_everything(p.seed)
    home = output_dir(spec.name, p.mode, p.out)
    staging = os.environ.get(STAGING_ENV) if p.out is None else None
    out_dir = Path(staging) if staging else home
    writable_folder(out_dir, "parameter 'out'")
    plotting.set_theme()
    pd.set_option("display.max_colwidth", None)  # tables in the notebook show every cell in full
    study = Study(spec, p, device, out_dir, home)
    print(
        f"{spec.title} | mode={p.mode} seeds={study.seeds} device={device} -> {relative(home)}",
        file=sys.stdout,
    )
    if study.caveat():
        print("⚠ " + study.caveat().replace("**", "").replace("`", ""), file=sys.stdout)
    return study


def sizes_table(spec: StudySpec) -> pd.DataFrame:
    """The parameters that scale with the mode, one column per mode (for notebooks and `mtlkit list`);
    a list is shown by its length (the notebook prints the chosen items)."""

    def show(v: Any) -> Any:
        return f"{len(v)} items" if isinstance(v, list | tuple) else v

    return pd.DataFrame(
        [{"parameter": p.name, **{m: show(p.by_mode[m]) for m in MODES}} for p in spec.params if p.by_mode]
    )


def deltas_table(spec: StudySpec) -> pd.DataFrame:
    """The smallest effect that matters for each of the study's claims (or claim families), and why, and
    which are the study's headline claims: what a notebook shows in its protocol, before any result."""
    rows = [
        {"claims": k, "headline": "yes" if spec.is_headline(k) else "", "δ": v[0], "why": v[1]}
        for k, v in spec.deltas.items()
    ]
    return pd.DataFrame(rows).set_index("claims")


def describe(spec: StudySpec) -> list[Sequence[str]]:
    """Rows ``(name, kind, default, allowed, help)`` for every parameter of ``spec``."""
    rows = []
    for p in spec.params:
        default = ", ".join(f"{m}={p.by_mode[m]}" for m in MODES) if p.by_mode else repr(p.default)
        if p.follows is not None:
            default = f"None (= {p.follows})"
        rows.append((p.name, p.kind, default, p.allowed(), p.help))
    return rows
