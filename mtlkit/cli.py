"""``mtlkit``: list the studies, run them through papermill, print their claims.

    mtlkit list
    mtlkit run 00 --mode smoke -p seeds 2 -p tasks left,right --out /tmp/runs
    mtlkit run all                      # every study, default mode, into results/
    mtlkit report                       # every claims table under results/
    mtlkit replicate all                # each study again on disjoint seeds -> <study>/replication.json
    mtlkit student                      # student notebooks, without solutions, into build/student/
    mtlkit select losses.csv --budget 2.5 --method hoa   # networks chosen from your own loss table

Parameters are validated (same path as the notebook's ``start``) before a kernel starts, so a bad
``-p`` fails in about a second with the parameter's name and what is allowed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from mtlkit import replication, replication_readme
from mtlkit.data.standley import TableError
from mtlkit.grading import write_student_notebooks
from mtlkit.params import MODES, ParameterError, StudySpec
from mtlkit.results import REPO_DIR
from mtlkit.runner import run_study, study_folder
from mtlkit.search_budget import MAX_SECONDS
from mtlkit.studies import STUDIES, get_study
from mtlkit.studies.common import COMMON
from mtlkit.study import describe
from mtlkit.table_checks import METHODS, TableWarning
from mtlkit.tables import markdown_table
from mtlkit.user_tables import select_from_file
from mtlkit.walltime import time_table


def _studies(name: str) -> list[StudySpec]:
    return list(STUDIES.values()) if name == "all" else [get_study(name)]


class _Parser(argparse.ArgumentParser):
    """argparse, its errors one line (``mtlkit: error: ...``, exit status 2); the usage only on ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"mtlkit: error: {message}; `{self.prog} --help` shows the usage\n")


class _Once(argparse.Action):
    """An option given at most once: ``--mode smoke --mode full`` is refused, as a repeated ``-p`` is."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        seen = namespace.__dict__.setdefault("_once", {})
        if self.dest in seen:
            raise argparse.ArgumentError(
                self,
                f"given twice ({option_string} {seen[self.dest]!r}, {option_string} {values!r}): give it once",
            )
        seen[self.dest] = values
        setattr(namespace, self.dest, values)


def _folder(text: str) -> str:
    """An ``--out`` or ``--results`` value: not empty."""
    if not text:
        raise argparse.ArgumentTypeError("'' is an empty path: give a folder")
    return text


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = _Parser(prog="mtlkit", description="Reproducible multi-task learning studies.")
    sub = ap.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="the studies and their parameters")
    ls.add_argument("study", nargs="?", default=None, help="a study (00, 00_landscape) or 'all'")
    r = sub.add_parser("run", help="execute study notebooks with papermill")
    r.add_argument("study", help="study name or number (00, 00_landscape) or 'all'")
    r.add_argument(
        "--mode",
        action=_Once,
        choices=MODES,
        default=None,
        help="smoke | default | full (default: $MTLKIT_MODE or default)",
    )
    r.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME VALUE",
        help="set a parameter: -p NAME VALUE or -p NAME=VALUE (once per name; lists as a,b,c; "
        "negative numbers as they are: -p lr -1)",
    )
    r.add_argument(
        "--out", action=_Once, type=_folder, default=None, help="write <OUT>/<study>/ instead of results/"
    )
    r.add_argument(
        "--dry-run", action="store_true", help="check the parameters and print them resolved; run nothing"
    )
    rep = sub.add_parser(
        "report", help="print every claims table under a results folder, and where each study's time went"
    )
    rep.add_argument(
        "--results",
        action=_Once,
        type=_folder,
        default=None,
        help="results folder (default: the repository's results/)",
    )
    rep.add_argument("--readme", action="store_true", help="rewrite README.md's replication table instead")
    rpl = sub.add_parser("replicate", help="re-run finished studies on disjoint seeds; both verdicts")
    rpl.add_argument("study", help="study name or number (00, 00_landscape) or 'all'")
    rpl.add_argument(
        "--mode", action=_Once, choices=MODES, default=None, help="the mode of the run to replicate"
    )
    rpl.add_argument(
        "--out",
        action=_Once,
        type=_folder,
        default=None,
        help="the results folder holding <study>/ (default: results/)",
    )
    stu = sub.add_parser("student", help="write the notebooks without their solutions, for students")
    stu.add_argument("study", nargs="*", default=["all"], help="study names or numbers (default: all)")
    stu.add_argument(
        "--out",
        action=_Once,
        type=_folder,
        default=None,
        help="folder to write (default: the repository's build/student/)",
    )
    sel = sub.add_parser("select", help="choose networks from your own loss table (docs/select.md)")
    sel.add_argument("table", help="CSV, a row per network and task: network, task, val, test, cost[, early]")
    sel.add_argument(
        "--budget", action=_Once, required=True, help="inference cost allowed (a full-size network costs 1)"
    )
    sel.add_argument(
        "--method", action=_Once, default="optimal", help=f"{' | '.join(METHODS)} (default: optimal)"
    )
    sel.add_argument(
        "--max-seconds",
        action=_Once,
        default=str(MAX_SECONDS),
        help=f"stop the exact search after this long, and refuse at once one that could not finish "
        f"(default: {MAX_SECONDS:g}; inf: no limit)",
    )
    return ap.parse_args(_join_params(list(sys.argv[1:] if argv is None else argv)))


def _join_params(argv: list[str]) -> list[str]:
    """``-p NAME VALUE`` -> ``--param=NAME=VALUE`` (and ``--budget X`` -> ``--budget=X``), so that a value
    starting with ``-`` (``-1``, ``-inf``, ``-0.5,0.5``) is read as a value, not taken for an option."""
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        if token in ("--budget", "--max-seconds") and i + 1 < len(argv):  # `--budget -inf`: a value
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        if token in ("-p", "--param") and i + 1 == len(argv):
            raise ParameterError(f"{token} is the last word: write -p NAME VALUE or -p NAME=VALUE")
        if token in ("-p", "--param") and i + 1 < len(argv):
            name = argv[i + 1]
            if "=" in name or i + 2 >= len(argv):
                out.append(f"--param={name}")
                i += 2
            else:
                out.append(f"--param={name}={argv[i + 2]}")
                i += 3
        else:
            out.append(token)
            i += 1
    return out


def _given(args: argparse.Namespace) -> dict[str, str]:
    """The ``-p`` parameters as a dict; a name given twice, ``-p out`` (use ``--out``) and a ``-p mode``
    that contradicts ``--mode`` are refused."""
    given: dict[str, str] = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            raise ParameterError(f"-p {name!r} has no value: write -p NAME VALUE or -p NAME=VALUE")
        if name in given:
            raise ParameterError(
                f"parameter {name!r} is given twice (-p {name} {given[name]}, -p {name} {value})"
            )
        given[name] = value
    if "out" in given:
        raise ParameterError(
            "parameter 'out' is set on the command line with --out DIR (writes DIR/<study>/)"
        )
    if "mode" in given and args.mode is not None and given["mode"] != args.mode:
        raise ParameterError(f"parameter 'mode' = {given['mode']!r} contradicts --mode {args.mode}")
    return given


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mtlkit`` command: errors are one line on stderr (exit status 2), never a
    traceback."""
    try:
        args = _parse(argv)
        if args.command == "list":
            _list(args.study)
        elif args.command == "report":
            _report(args.results, args.readme)
        elif args.command == "replicate":
            for path in replication.replicate(_studies(args.study), args.mode, args.out, run_study):
                print(path)
        elif args.command == "student":
            notebooks = list(dict.fromkeys(s.notebook for name in args.study for s in _studies(name)))
            for path in write_student_notebooks(notebooks, Path(args.out or REPO_DIR / "build" / "student")):
                print(path)
        elif args.command == "select":
            _select(args)
        else:
            specs = _studies(args.study)
            params = _given(args)
            resolved = {  # every study checked before any runs; --dry-run checks the same, making nothing
                spec.name: study_folder(spec, args.mode, params, args.out, create=not args.dry_run)[0]
                for spec in specs
            }
            if args.dry_run:
                for name, values in resolved.items():
                    print(f"{name}: {json.dumps(values, default=str)}")
                return 0
            for spec in specs:
                t0 = time.time()
                path = run_study(spec, args.mode, params, args.out)
                print(f"{spec.name}: {time.time() - t0:.1f} s -> {path.parent}")
    except BrokenPipeError:  # `mtlkit list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("mtlkit: interrupted; results already written are untouched", file=sys.stderr)
        return 130
    except (ParameterError, TableError, RuntimeError, OSError) as e:
        print(f"mtlkit: error: {e}", file=sys.stderr)
        return 2
    return 0


def _select(args: argparse.Namespace) -> None:
    """``mtlkit select``: the chosen networks as a Markdown table (numbers to 6 significant digits, so
    that none prints as 0 unless it is); warnings (a task only one network serves) and a long search's
    progress on stderr, one line each."""

    def say(line: str) -> None:
        print(f"mtlkit select: {line}", file=sys.stderr, flush=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TableWarning)
        chosen = select_from_file(args.table, args.budget, args.method, args.max_seconds, say)
    for message in dict.fromkeys(str(w.message).replace("\n", " ") for w in caught):
        print(f"mtlkit: warning: {message}", file=sys.stderr)
    cells = chosen.map(lambda v: "" if v is None or v != v else f"{v:.6g}" if isinstance(v, float) else v)
    print(markdown_table(cells, index=False))


def _shared() -> set[str]:
    return {p.name for p in COMMON}


def _param_lines(spec: StudySpec, names: set[str]) -> list[str]:
    rows = [r for r in describe(spec) if r[0] in names]
    width = max(len(r[0]) for r in rows)
    pad = " " * (width + 11)  # under "default:"
    lines = []
    for name, kind, value, allowed, help_ in rows:
        lines += [
            f"  {name:<{width}}  {kind:<6} default: {value}",
            f"{pad}allowed: {allowed}",
            f"{pad}{help_}",
        ]
    return lines


def _list(name: str | None) -> None:
    """``mtlkit list``: the studies and the shared parameters; ``mtlkit list 00``: one study's own
    parameters; ``mtlkit list all``: every study's, the shared ones printed once."""
    specs = list(STUDIES.values())
    blocks = []
    if name is None:
        blocks.append(
            ["Studies (`mtlkit list 00` shows a study's own parameters, `mtlkit list all` every study's):"]
            + [f"  {spec.name:<18} {spec.title}" for spec in specs]
        )
    if name in (None, "all"):
        blocks.append(["Shared parameters (every study has them):", *_param_lines(specs[0], _shared())])
    for spec in specs if name == "all" else [] if name is None else [get_study(name)]:
        block = [f"{spec.name}: {spec.title}", f"  paper: {spec.paper}", "  its own parameters:"]
        block += _param_lines(spec, {p.name for p in spec.params} - _shared())
        if name != "all":
            block += [
                "",
                f"  and the shared ones: {', '.join(sorted(_shared()))} (`mtlkit list` describes them)",
            ]
        blocks.append(block)
    print("\n\n".join("\n".join(block) for block in blocks))


def _report(results: str | None, readme: bool = False) -> None:
    root = Path(results) if results else REPO_DIR / "results"
    if readme:
        changed = replication_readme.update_readme(REPO_DIR / "README.md", root)
        print(f"README.md's replication table {'updated' if changed else 'already up to date'}")
        return
    files = sorted(root.glob("*/claims.json"))
    if not files:
        raise FileNotFoundError(f"no */claims.json under {root}; run `make study` first")
    for f in files:  # in full: no column is truncated; a `replication` column where replicated
        print(f"== {f.parent.name}\n{replication.report_markdown(f.parent)}\n")
    if table := time_table(root):
        print(f"== where the time goes (seconds, from each executed notebook)\n{table}\n")


if __name__ == "__main__":
    raise SystemExit(main())
