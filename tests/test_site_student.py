"""`make site STUDENT=1`: the site without the exercises' solutions. Study pages keep the run's outputs, but no
cell tagged ``solution`` (its source or its output) and no check cell's verdict, which names the answer; an answer
cell reads ``answer = ...`` as in the notebooks `make student` writes."""

import html
import importlib.util
import json
import re
from pathlib import Path

import pytest

from mtlkit.grading import SOLUTION, STUB

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("site_build", ROOT / "site" / "build.py")
site_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site_build)
STUDIES = site_build.studies()


def text_of(page: Path) -> str:
    """The page's visible text: tags removed (highlighted code is one string again), entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def executed(study: str) -> dict:
    return json.loads((ROOT / "results" / study / f"{study}.ipynb").read_text(encoding="utf-8"))


def solution_lines(study: str) -> list[str]:
    """Lines of the worked solutions that appear nowhere else in the executed notebook."""
    cells = executed(study)["cells"]
    others = "\n".join(source(c) for c in cells if SOLUTION not in c["metadata"].get("tags", []))
    lines = [
        ln.strip()
        for c in cells
        if SOLUTION in c["metadata"].get("tags", [])
        for ln in source(c).splitlines()
        if len(ln.strip()) >= 25
    ]
    return [ln for ln in lines if ln not in others]


@pytest.fixture(scope="module", autouse=True)
def staged_pages() -> None:
    """Each study notebook as the reader's site stages it (site/reading.py), for which cells show code."""
    out = ROOT / "build" / "site-student-check"
    out.mkdir(parents=True, exist_ok=True)
    for study in STUDIES:
        src = ROOT / "results" / study
        text = (src / f"{study}.ipynb").read_text(encoding="utf-8")
        (out / f"{study}.ipynb").write_text(
            site_build.reading.study_notebook(text, src, study), encoding="utf-8"
        )


@pytest.fixture(scope="module")
def student_site(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("student-site")
    site_build.build(work / "html", work=work, student=True)
    return work / "html"


def test_every_study_has_solutions_to_strip():
    assert len(STUDIES) >= 6 and all(solution_lines(s) for s in STUDIES)


@pytest.mark.parametrize("study", STUDIES)
def test_student_pages_show_no_solution_and_no_check_verdict(student_site, study):
    text = text_of(student_site / "results" / study / f"{study}.html")
    shown = [ln for ln in solution_lines(study) if ln in text]
    assert not shown, f"solution lines on the student page: {shown[:3]}"
    assert STUB.split("#")[0].strip() in text  # answer = ...
    assert "right (this run:" not in text and not re.search(r"[✓✗] \d\d\.\d", text)


@pytest.mark.parametrize("study", STUDIES)
def test_student_pages_keep_the_runs_figures_and_code(student_site, study):
    page = student_site / "results" / study / f"{study}.html"
    text = text_of(page)
    nb = executed(study)
    staged = json.loads(
        (ROOT / "build" / "site-student-check" / f"{study}.ipynb").read_text(encoding="utf-8")
    )
    # cells the reader's page shows as code (folded, not reduced to their output: site/reading.py)
    shown = {c.get("id") for c in staged["cells"] if "remove-input" not in c["metadata"].get("tags", [])}
    kept = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and not c["metadata"].get("tags") and c.get("id") in shown
    ]
    assert all(source(c).strip().splitlines()[0] in text for c in kept if source(c).strip())
    figures = sum("image/png" in o.get("data", {}) for c in kept for o in c.get("outputs", []))
    assert figures and len(re.findall(r"<img ", page.read_text(encoding="utf-8"))) >= figures


def test_the_teacher_notebook_does_show_its_solutions():
    """The check above can fail: the executed notebooks the teacher's site shows hold the solutions."""
    study = STUDIES[0]
    text = "\n".join(source(c) for c in executed(study)["cells"])
    assert all(ln in text for ln in solution_lines(study))
    assert "right (this run:" in json.dumps(executed(study), ensure_ascii=False)


def test_make_site_student_builds_the_student_site():
    make = (ROOT / "Makefile").read_text()
    rule = re.search(r"^site:.*\n\t(.*)$", make, re.M).group(1)
    assert "$(if $(STUDENT)" in rule and "--student" in rule
