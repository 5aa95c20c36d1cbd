"""``mtlkit``: list the studies, run them through papermill, print their claims.

    mtlkit list
    mtlkit run 00 --mode smoke -p seeds 2 -p tasks left,right --out /tmp/runs
    mtlkit run all                      # every study, default mode, into results/
    mtlkit report                       # every claims table under results/
    mtlkit student                      # student notebooks, without solutions, into build/student/

Parameters are validated (same path as the notebook's ``start``) before a kernel starts, so a bad
``-p`` fails in about a second with the parameter's name and what is allowed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import papermill as pm

from mtlkit.grading import write_student_notebooks
from mtlkit.params import MODES, ParameterError, StudySpec, validate
from mtlkit.results import REPO_DIR, atomic_write_text, read_json
from mtlkit.session import HEADLESS_ENV, output_dir
from mtlkit.stats import Claim, claims_table
from mtlkit.studies import STUDIES, get_study
from mtlkit.study import describe


def _studies(name: str) -> list[StudySpec]:
    return list(STUDIES.values()) if name == "all" else [get_study(name)]


def _strip_checkout_path(path: Path) -> None:
    """Write the repository's absolute path out of an executed notebook (papermill records its input
    and output paths): committed outputs name files relative to the repository."""
    text = path.read_text(encoding="utf-8")
    clean = text.replace(str(REPO_DIR) + "/", "").replace(str(REPO_DIR), ".")
    if clean != text:
        atomic_write_text(path, clean)


def run_study(spec: StudySpec, mode: str | None, params: dict[str, str], out: str | None = None) -> Path:
    """Validate, execute the notebook with papermill, and move the executed copy into the output folder."""
    given = dict(params)
    if mode is not None:
        given["mode"] = mode
    resolved = validate(spec, given)
    folder = output_dir(spec.name, resolved["mode"], None if out is None else str(Path(out) / spec.name))
    inject = {k: resolved[k] for k in given} | {"mode": resolved["mode"]}
    if out is not None:
        inject["out"] = str(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{spec.name}.ipynb"
    tmp = folder / f".{spec.name}.running.ipynb"
    os.environ[HEADLESS_ENV] = "1"  # the kernel inherits it: no progress bars in the executed copy
    try:
        pm.execute_notebook(
            str(spec.notebook),
            str(tmp),
            parameters=inject,
            cwd=str(spec.notebook.parent),
            progress_bar=False,
            kernel_name="python3",
        )
    except pm.PapermillExecutionError as e:
        failed = folder / f"{spec.name}.failed.ipynb"
        _strip_checkout_path(tmp)
        os.replace(tmp, failed)
        raise RuntimeError(
            f"{spec.name} failed in cell {e.exec_count}: {e.ename}: {e.evalue} (see {failed})"
        ) from None
    _strip_checkout_path(tmp)
    os.replace(tmp, final)  # atomic: the executed notebook appears whole or not at all
    (folder / f"{spec.name}.failed.ipynb").unlink(missing_ok=True)  # an earlier failure is now stale
    return final


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="mtlkit", description="Reproducible multi-task learning studies.")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the studies and their parameters")
    r = sub.add_parser("run", help="execute study notebooks with papermill")
    r.add_argument("study", help="study name or number (00, 00_landscape) or 'all'")
    r.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="smoke | default | full (default: $MTLKIT_MODE or default)",
    )
    r.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a parameter (repeatable); lists as a,b,c",
    )
    r.add_argument("--out", default=None, help="write <OUT>/<study>/ instead of results/")
    rep = sub.add_parser("report", help="print every claims table under a results folder")
    rep.add_argument("--results", default=None, help="results folder (default: the repository's results/)")
    stu = sub.add_parser("student", help="write the notebooks without their solutions, for students")
    stu.add_argument("study", nargs="*", default=["all"], help="study names or numbers (default: all)")
    stu.add_argument("--out", default=None, help="folder to write (default: the repository's build/student/)")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mtlkit`` command."""
    args = _parse(argv)
    try:
        if args.command == "list":
            _list()
        elif args.command == "report":
            _report(args.results)
        elif args.command == "student":
            _student(args.study, args.out)
        else:
            specs = _studies(args.study)
            params = dict(args.param)
            for spec in specs:  # validate every study before running any
                validate(spec, {**params, **({"mode": args.mode} if args.mode else {})})
            for spec in specs:
                t0 = time.time()
                path = run_study(spec, args.mode, params, args.out)
                print(f"{spec.name}: {time.time() - t0:.1f} s -> {path.parent}")
    except (ParameterError, RuntimeError, FileNotFoundError) as e:
        print(f"mtlkit: error: {e}", file=sys.stderr)
        return 2
    return 0


def _list() -> None:
    for spec in STUDIES.values():
        print(f"{spec.name}: {spec.title}\n  paper: {spec.paper}\n  parameters:")
        for name, kind, default, allowed, help_ in describe(spec):
            print(f"    {name:<12} {kind:<5} default: {default}\n{'':18}allowed: {allowed}\n{'':18}{help_}")
        print()


def _report(results: str | None) -> None:
    root = Path(results) if results else REPO_DIR / "results"
    files = sorted(root.glob("*/claims.json"))
    if not files:
        raise FileNotFoundError(f"no */claims.json under {root}; run `make study` first")
    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        for f in files:
            data = read_json(f)
            claims = [Claim.from_dict(d) for d in data["claims"]]
            print(f"== {data['study']}\n{claims_table(claims).to_string(index=False)}\n")


def _student(names: Sequence[str], out: str | None) -> None:
    specs = {s.name: s for name in names for s in _studies(name)}.values()
    folder = Path(out) if out else REPO_DIR / "build" / "student"
    for path in write_student_notebooks([s.notebook for s in specs], folder):
        print(path)


if __name__ == "__main__":
    raise SystemExit(main())
