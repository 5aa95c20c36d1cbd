"""Build the static site: stage its sources into build/site-src/, then run Sphinx into build/site/.

    python site/build.py [OUT]      # OUT defaults to build/site; `make site` runs this
    python site/build.py --student  # without solutions, into build/site-student; `make site STUDENT=1`

Nothing is executed: the pages are a landing page (one row per study, its verdicts counted from the committed
results), the README's longer sections as pages, docs/*.md and the committed executed notebooks
results/<study>/<study>.ipynb with their figures and downloads. Sources are staged, never edited in place; how the
staged copies differ from them is site/reading.py's business. Warnings fail the build (a broken cross-reference
or image is a warning).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # mtlkit from this checkout, installed or not
sys.path.insert(0, str(SITE))  # reading.py: what the reader's pages are made of

import reading  # noqa: E402

WORK = ROOT / "build"  # holds site-src/ (the staged sources) and site-doctrees/ (Sphinx's cache)


def studies() -> list[str]:
    """Every study with a committed executed notebook, e.g. ``03_task_grouping``."""
    return sorted(p.parent.name for p in ROOT.glob("results/*/*.ipynb") if p.stem == p.parent.name)


def toc(names: list[str], docs: list[str], guide: list[str]) -> list[str]:
    """The site's table of contents (hidden on the landing page; furo shows it in the sidebar)."""
    lines = ["```{toctree}", ":caption: Studies", ":maxdepth: 1", ":hidden:", ""]
    lines += [f"results/{n}/{n}" for n in names]
    lines += ["```", "", "```{toctree}", ":caption: Guide", ":maxdepth: 1", ":hidden:", ""]
    lines += guide + ["```", "", "```{toctree}", ":caption: Docs", ":maxdepth: 1", ":hidden:", ""]
    lines += [f"docs/{d}" for d in docs] + ["```", ""]
    return lines


def stage(dest: Path) -> None:
    """Copy the site's sources into ``dest`` (emptied first): index.md, docs/, results/<study>/."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "docs").mkdir(parents=True)
    names = studies()
    docs = sorted(p.stem for p in (ROOT / "docs").glob("*.md"))
    for d in docs:
        text = (ROOT / "docs" / f"{d}.md").read_text(encoding="utf-8")
        (dest / "docs" / f"{d}.md").write_text(reading.readable(text, "docs"), encoding="utf-8")
    for n in names:
        src, dst = ROOT / "results" / n, dest / "results" / n
        dst.mkdir(parents=True)
        text = (src / f"{n}.ipynb").read_text(encoding="utf-8")
        (dst / f"{n}.ipynb").write_text(reading.study_notebook(text, src, n), encoding="utf-8")
        downloads = [src / f for f in reading.DOWNLOADS if (src / f).is_file()]
        for f in [*downloads, *sorted(src.glob("figures/*.png"))]:
            (dst / f.relative_to(src)).parent.mkdir(exist_ok=True)
            shutil.copy2(f, dst / f.relative_to(src))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    guide = reading.guide_pages(readme)
    for stem, text in guide.items():
        (dest / f"{stem}.md").write_text(text, encoding="utf-8")
    (dest / "index.md").write_text(reading.landing_page(readme, names, toc(names, docs, list(guide))))


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
