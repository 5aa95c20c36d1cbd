"""Build the static site: stage its sources into build/site-src/, then run Sphinx into build/site/.

    python site/build.py [OUT]      # OUT defaults to build/site; `make site` runs this
    python site/build.py --student  # without solutions, into build/site-student; `make site STUDENT=1`

Nothing is executed: the pages are README.md (the landing page), docs/*.md and the committed executed notebooks
results/<study>/<study>.ipynb with their figures. Sources are staged, never edited in place; links in the README that
point at a study's source notebook are pointed at its executed page, and claims tables mark the verdicts their
study's replication calls fragile. Warnings fail the build (a broken cross-reference
or image is a warning).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # mtlkit from this checkout, installed or not

from mtlkit import replication  # noqa: E402

SITE = Path(__file__).resolve().parent
WORK = ROOT / "build"  # holds site-src/ (the staged sources) and site-doctrees/ (Sphinx's cache)


def studies() -> list[str]:
    """Every study with a committed executed notebook, e.g. ``03_task_grouping``."""
    return sorted(p.parent.name for p in ROOT.glob("results/*/*.ipynb") if p.stem == p.parent.name)


def landing_page(readme: str, names: list[str], docs: list[str]) -> str:
    """The README with source-notebook links sent to the executed pages, and the site's table of contents."""
    readme = re.sub(r"\]\(notebooks/([\w-]+)\.ipynb\)", r"](results/\1/\1.ipynb)", readme)
    readme = readme.replace("](build/site/index.html)", "](index.md)")  # the site itself
    toc = ["", "```{toctree}", ":caption: Studies", ":maxdepth: 1", ""]
    toc += [f"results/{n}/{n}" for n in names]
    toc += ["```", "", "```{toctree}", ":caption: Docs", ":maxdepth: 1", ""]
    toc += [f"docs/{d}" for d in docs] + ["```", ""]
    # the table of contents goes right after the opening section (before the first second-level heading)
    head, sep, rest = readme.partition("\n## ")
    return head.rstrip() + "\n" + "\n".join(toc) + sep + rest


def mark_fragile(notebook: str, folder: Path) -> str:
    """The executed notebook's text with every claims table's verdict marked where the study's replication
    (``replication.json``, when it matches ``claims.json``) gave another verdict on the next block of seeds:
    ``absent · **fragile** (seeds 8–15: inconclusive)``. The notebook ran before its replication, so the site
    is where the two meet."""
    data, _ = replication.load(folder)
    if data is None:
        return notebook
    seeds = f"{min(data['seeds'])}–{max(data['seeds'])}"
    fragile = {
        r["id"]: r["replication"]["verdict"] for r in data["claims"] if r["fragile"] and r["replication"]
    }
    nb = json.loads(notebook)
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            md = out.get("data", {}).get("text/markdown")
            if md is None:
                continue
            lines = ("".join(md) if isinstance(md, list) else md).split("\n")
            header = next((x for x in lines if x.startswith("| id |") and " | verdict | " in x), None)
            if header is None:
                continue
            col = header.split(" | ").index("verdict")
            for k, line in enumerate(lines):
                cells = line.split(" | ")
                if len(cells) > col and cells[0].removeprefix("| ") in fragile:
                    cells[col] += f" · **fragile** (seeds {seeds}: {fragile[cells[0].removeprefix('| ')]})"
                    lines[k] = " | ".join(cells)
            out["data"]["text/markdown"] = "\n".join(lines)
    return json.dumps(nb, indent=1, ensure_ascii=False)


def stage(dest: Path) -> None:
    """Copy the site's sources into ``dest`` (emptied first): index.md, docs/, results/<study>/."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "docs").mkdir(parents=True)
    names = studies()
    docs = sorted(p.stem for p in (ROOT / "docs").glob("*.md"))
    for d in docs:
        shutil.copy2(ROOT / "docs" / f"{d}.md", dest / "docs" / f"{d}.md")
    for n in names:
        src, dst = ROOT / "results" / n, dest / "results" / n
        dst.mkdir(parents=True)
        text = (src / f"{n}.ipynb").read_text(encoding="utf-8")
        (dst / f"{n}.ipynb").write_text(mark_fragile(text, src), encoding="utf-8")
        for f in [src / "claims.json", *sorted(src.glob("figures/*.png"))]:
            (dst / f.relative_to(src)).parent.mkdir(exist_ok=True)
            shutil.copy2(f, dst / f.relative_to(src))
    (dest / "index.md").write_text(landing_page((ROOT / "README.md").read_text(), names, docs))


def without_solutions(notebook: str) -> str:
    """The executed notebook's text as a student sees it (``make site STUDENT=1``): the cells and sources of
    :func:`mtlkit.grading.student_copy` (what ``make student`` writes: solution cells dropped, an answer cell
    left as ``answer = ...``), with the run's outputs kept on every other code cell. Check cells lose their
    output too: it names the right answer."""
    from mtlkit.grading import ANSWER, CHECK, student_copy

    executed = json.loads(notebook)
    outputs = {c.get("id"): c for c in executed["cells"]}
    nb = student_copy(executed)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and not {ANSWER, CHECK} & set(cell["metadata"].get("tags", [])):
            cell["outputs"] = outputs[cell["id"]].get("outputs", [])
            cell["execution_count"] = outputs[cell["id"]].get("execution_count")
    return json.dumps(nb, indent=1, ensure_ascii=False)


def strip_solutions(dest: Path) -> None:
    """Rewrite every staged study notebook under ``dest`` without its solutions (:func:`without_solutions`)."""
    for path in sorted(dest.glob("results/*/*.ipynb")):
        path.write_text(without_solutions(path.read_text(encoding="utf-8")), encoding="utf-8")


def build(out: Path, work: Path = WORK, student: bool = False) -> float:
    """Stage the sources into ``work`` and build the site into ``out``; returns the wall seconds.
    ``student``: the study pages without their solutions (:func:`strip_solutions`).

    Any Sphinx warning (a broken cross-reference, a missing image) fails the build."""
    from sphinx.cmd.build import build_main

    t0 = time.perf_counter()
    stage(work / "site-src")
    if student:
        strip_solutions(work / "site-src")
    args = ["-q", "-W", "--keep-going", "-b", "html", "-c", str(SITE), "-d", str(work / "site-doctrees")]
    rc = build_main([*args, str(work / "site-src"), str(out)])
    if rc:
        raise RuntimeError(f"sphinx-build failed (exit {rc}): see the warnings above")
    return time.perf_counter() - t0


if __name__ == "__main__":
    student = (
        "--student" in sys.argv[1:]
    )  # make site STUDENT=1: build/site-student, staged apart from build/site
    args = [a for a in sys.argv[1:] if a != "--student"]
    out = Path(args[0]) if args else ROOT / "build" / ("site-student" if student else "site")
    try:
        seconds = build(out.resolve(), WORK / "site-student-work" if student else WORK, student=student)
    except RuntimeError as e:
        sys.exit(str(e))
    print(f"site built in {seconds:.1f} s: {out / 'index.html'}")
