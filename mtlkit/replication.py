"""Replication on disjoint seeds: is a verdict robust, or did its seeds get lucky?

``mtlkit replicate 03`` re-runs a finished study at its own parameters on the next block of seeds of the same
size (seeds 0..4 -> 5..9: seed base = the original's base + its number of seeds), through the same
``mtlkit run`` machinery into a temporary folder, and writes ``<study>/replication.json`` beside the
original's outputs (which stay byte-identical): the replication's seeds and parameters, the mtlkit hash, the
SHA-256 of the ``claims.json`` it was compared with, and per claim both verdicts, estimates and intervals, and
``fragile`` (the verdicts differ). A ``replication.json`` whose recorded hash no longer matches
``claims.json`` is stale: reported as such and ignored. The executed notebook's claims table then gains the replication column
(:func:`annotate_notebook`), so that a reader of the notebook sees which verdicts are fragile.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlkit.params import StudySpec, validate
from mtlkit.results import atomic_write_text, file_sha256, mtlkit_hash, read_json, write_json
from mtlkit.session import committed_dir
from mtlkit.stats import Claim, claims_table
from mtlkit.tables import markdown_table

FILE = "replication.json"

Runner = Callable[[StudySpec, "str | None", dict, "str | None"], Path]
"""How a study is run: :func:`mtlkit.runner.run_study` (passed in, so that this module imports nothing above it)."""


@dataclass(frozen=True)
class Plan:
    """One study's replication, checked before any compute: where the original is, its claims (and the
    SHA-256 of the bytes they were read from), its seeds, and the parameters of the replication run."""

    spec: StudySpec
    folder: Path
    mode: str
    claims: list[Claim]
    claims_sha256: str
    seeds: list[int]
    params: dict[str, Any]


def plan(spec: StudySpec, mode: str | None, out: str | None) -> Plan:
    """Check that ``spec`` has finished results to compare with (``<out>/<study>/``, else where ``mtlkit run``
    writes in ``mode``) and work out the replication's parameters: the original's, with ``seed`` moved past
    the original's seeds. Raises :class:`RuntimeError` (one line) when there is nothing to compare with."""
    if out is None:
        folder = committed_dir(spec.name, validate(spec, {"mode": mode} if mode else {})["mode"])
    else:
        folder = Path(out).expanduser().resolve() / spec.name
    if not (folder / "manifest.json").is_file() or not (folder / "claims.json").is_file():
        raise RuntimeError(
            f"{spec.name} has no finished results in {folder} (manifest.json and claims.json) to replicate; "
            f"run `mtlkit run {spec.name}{f' --mode {mode}' if mode else ''}"
            f"{f' --out {out}' if out else ''}` first"
        )
    manifest = _document(folder / "manifest.json", {"mode": str, "params": dict, "seeds": list})
    if mode is not None and manifest["mode"] != mode:
        raise RuntimeError(f"--mode {mode}, but {folder} holds a {manifest['mode']}-mode run of {spec.name}")
    raw = (folder / "claims.json").read_bytes()
    claims = read_claims(folder / "claims.json")
    params, seeds = manifest["params"], list(manifest["seeds"])
    if not seeds or not all(type(s) is int for s in seeds) or type(params.get("seed")) is not int:
        raise RuntimeError(
            f"{folder}/manifest.json is damaged (its seeds are not integers); re-run the study"
        )
    defaults = validate(spec, {"mode": manifest["mode"]})
    given = {}
    for p in spec.params:
        if p.runtime or p.name == "mode":
            continue
        if p.name not in params:
            raise RuntimeError(
                f"{folder}/manifest.json lacks parameter {p.name!r} (written by older code); "
                f"re-run `mtlkit run {spec.name}` first"
            )
        if json.dumps(params[p.name]) != json.dumps(defaults[p.name]):
            given[p.name] = params[p.name]
    given["seed"] = params["seed"] + len(seeds)  # a study without `seeds` has one seed: the next one
    validate(spec, {**given, "mode": manifest["mode"]})  # e.g. a seed base past its allowed range
    return Plan(spec, folder, manifest["mode"], claims, _sha256(raw), seeds, given)


def _document(path: Path, fields: dict[str, type]) -> dict:
    """The JSON object in ``path`` with each of ``fields`` of its type, else :class:`RuntimeError` (one line
    naming the file: a damaged file never reaches the user as a traceback)."""
    try:
        data = read_json(path)
    except (OSError, ValueError, RecursionError) as e:
        raise RuntimeError(
            f"{path} is damaged ({e.__class__.__name__}; not JSON); re-run the study"
        ) from None
    if not isinstance(data, dict):
        raise RuntimeError(
            f"{path} is damaged (a {type(data).__name__}, not a JSON object); re-run the study"
        )
    wrong = [k for k, kind in fields.items() if not isinstance(data.get(k), kind)]
    if wrong:
        raise RuntimeError(f"{path} is damaged (no valid {', '.join(map(repr, wrong))}); re-run the study")
    return data


def read_claims(path: str | Path) -> list[Claim]:
    """The claims of a ``claims.json``, else :class:`RuntimeError` naming the file (one line)."""
    path = Path(path)
    items = _document(path, {"claims": list})["claims"]
    try:
        return [Claim.from_dict(d) for d in items]
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise RuntimeError(
            f"{path} is damaged (a claim that is not one: {str(e)[:120]}); re-run the study"
        ) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_sha256(notebook: str | Path) -> str:
    """SHA-256 of a notebook's code cells, in order: what it computes, its prose left out."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return _sha256(json.dumps(code).encode())


def carry_over(previous: bytes, folder: str | Path, notebook: str | Path) -> bool:
    """After ``mtlkit run`` replaced a study's folder: put back its previous ``replication.json`` (the bytes
    ``previous``) when it still applies - the new ``claims.json`` is byte for byte the one it was compared
    with, and the mtlkit code and the notebook's code cells (``notebook``) are the ones it ran with, so
    only prose changed - and show it in the notebook (:func:`annotate_notebook`). True when kept."""
    folder = Path(folder)
    try:
        data = json.loads(previous)
        keep = (
            data["claims_sha256"] == file_sha256(folder / "claims.json")
            and data["mtlkit_hash"] == mtlkit_hash()
            and data.get("notebook_code_sha256") == code_sha256(notebook)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if keep:
        atomic_write_text(folder / FILE, previous.decode("utf-8"))
        annotate_notebook(folder)
    return keep


def _side(c: Claim | None) -> dict | None:
    if c is None:
        return None
    return {
        "verdict": c.verdict,
        "estimate": c.estimate,
        "low": c.low,
        "high": c.high,
        "n": c.n,
        "converged": c.converged,
    }


def compare(original: Sequence[Claim], replication: Sequence[Claim]) -> list[dict]:
    """Per claim id (the original's order, then any the replication alone has): both sides and
    ``fragile`` = their verdicts differ (a claim one side lacks is fragile)."""
    ours, theirs = {c.id: c for c in original}, {c.id: c for c in replication}
    rows = []
    for cid in [*ours, *(k for k in theirs if k not in ours)]:
        a, b = ours.get(cid), theirs.get(cid)
        rows.append(
            {
                "id": cid,
                "statement": (a or b).statement,
                "original": _side(a),
                "replication": _side(b),
                "fragile": (a.verdict if a else None) != (b.verdict if b else None),
            }
        )
    return rows


def record(p: Plan, replica: Path) -> Path:
    """Write ``<study>/replication.json`` (atomically) from the finished replication run in ``replica``,
    if the original's ``claims.json`` is still the file the plan read."""
    manifest = read_json(replica / "manifest.json")
    if set(manifest["seeds"]) & set(p.seeds) or len(manifest["seeds"]) != len(p.seeds):
        raise RuntimeError(
            f"{p.spec.name}: replication seeds {manifest['seeds']} are not {len(p.seeds)} "
            f"seeds disjoint from the original's {p.seeds}"
        )
    if file_sha256(p.folder / "claims.json") != p.claims_sha256:
        raise RuntimeError(f"{p.folder}/claims.json changed while replicating; run `mtlkit replicate` again")
    claims = [Claim.from_dict(d) for d in read_json(replica / "claims.json")["claims"]]
    return write_json(
        p.folder / FILE,
        {
            "study": p.spec.name,
            "mode": p.mode,
            "original_seeds": p.seeds,
            "seeds": manifest["seeds"],
            "params": manifest["params"] | {"out": None},
            "mtlkit_hash": mtlkit_hash(),
            "notebook_code_sha256": code_sha256(p.spec.notebook),
            "claims_sha256": p.claims_sha256,
            "claims": compare(p.claims, claims),
        },
    )


def replicate(specs: Sequence[StudySpec], mode: str | None, out: str | None, run: Runner) -> list[Path]:
    """Replicate every study of ``specs`` (all checked first), in order, into one temporary folder, so
    that study 04's replication finds study 03's replication's ground truth beside it; each study's
    ``replication.json`` is written as soon as its run ends. Returns their paths. On failure the temporary
    folder is kept (the error names it)."""
    plans = [plan(spec, mode, out) for spec in specs]
    tmp = Path(tempfile.mkdtemp(prefix="mtlkit-replicate-"))
    written = []
    for p in plans:
        run(p.spec, p.mode, p.params, str(tmp))
        written.append(record(p, tmp / p.spec.name))
        annotate_notebook(p.folder)
    shutil.rmtree(tmp)
    return written


def load(folder: str | Path) -> tuple[dict | None, str]:
    """The study folder's ``replication.json`` when it was compared with the ``claims.json`` there now;
    else ``None`` and why (none; stale; unreadable)."""
    folder = Path(folder)
    if not (folder / FILE).is_file():
        return None, f"no {FILE} in {folder}"
    try:
        data = read_json(folder / FILE)
        recorded = data["claims_sha256"]
        current = file_sha256(folder / "claims.json")
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"{folder}/{FILE} is unreadable ({e.__class__.__name__}: {e}); ignored"
    if recorded != current:
        return None, f"{folder}/{FILE} is stale (it was compared with another claims.json); ignored"
    return data, ""


def _shown(row: dict) -> str:
    side = row["replication"]
    text = "missing" if side is None else side["verdict"]
    if side is not None and side["converged"] is False:
        text += " (not converged)"
    return f"fragile: {text}" if row["fragile"] else text


def report_markdown(folder: str | Path) -> str:
    """A study's claims table (as ``mtlkit report`` prints it), with a ``replication`` column - the verdict
    on the disjoint seeds, ``fragile: ...`` where it differs - when a matching ``replication.json`` exists;
    a stale one is named above the table."""
    folder = Path(folder)
    table = claims_table(read_claims(folder / "claims.json"))
    data, why = load(folder)
    if data is not None:
        shown = {r["id"]: _shown(r) for r in data["claims"]}
        table.insert(table.columns.get_loc("verdict") + 1, "replication", table["id"].map(shown).fillna(""))
    note = f"⚠ {why}\n" if data is None and (folder / FILE).is_file() else ""
    return note + markdown_table(table, index=False)


def _table_lines(lines: list[str]) -> tuple[int, int] | None:
    """Where the claims table is among markdown ``lines`` (start, end), if anywhere."""
    start = next((i for i, x in enumerate(lines) if x.startswith("| id |") and " | verdict | " in x), None)
    if start is None:
        return None
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return start, end


def annotate_notebook(folder: str | Path) -> bool:
    """Put the replication into the executed notebook ``<folder>/<study>.ipynb``: its claims table (the
    markdown output that holds it) is replaced by :func:`report_markdown`'s, which adds the verdict on the
    disjoint seeds and marks the fragile ones, under a line naming both seed blocks. Written atomically;
    False (nothing written) when there is no notebook, no claims table or no current replication."""
    folder = Path(folder)
    path, (data, _) = folder / f"{folder.name}.ipynb", load(folder)
    if data is None or not path.is_file():
        return False
    nb = json.loads(path.read_text(encoding="utf-8"))
    seeds = f"seeds {data['seeds'][0]}–{data['seeds'][-1]}" if data["seeds"] else "no seeds"
    note = [
        f"*Replication* (`mtlkit replicate`, {seeds}, disjoint from this run's): the column after the verdict; "
        "*fragile* where the two verdicts differ.",
        "",
    ]
    table = report_markdown(folder).split("\n")
    for output in (o for c in nb["cells"] for o in c.get("outputs", [])):
        md = output.get("data", {}).get("text/markdown")
        lines = ("".join(md) if isinstance(md, list) else md or "").split("\n")
        where = _table_lines(lines)
        if where is None:
            continue
        start, end = where
        if start >= 2 and lines[start - 2].startswith("*Replication*"):
            start -= 2  # annotated before: replace the note too
        text = "\n".join(lines[:start] + note + table + lines[end:])
        output["data"]["text/markdown"] = text.splitlines(keepends=True)
        atomic_write_text(path, json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False))
        return True
    return False
