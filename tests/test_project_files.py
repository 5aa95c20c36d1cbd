"""The files a user of the project reads first: LICENSE (MIT, as pyproject declares), CITATION.cff (CFF 1.2),
CHANGELOG.md, Binder's configuration pinned to the lock, and the teaching docs covering every study."""

import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")
ROOT = Path(__file__).resolve().parents[1]


def test_license_is_mit_as_pyproject_declares():
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the mtlkit authors" in text


def test_citation_cff_has_the_required_keys_of_cff_1_2():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert {"message", "title", "authors"} <= set(cff)
    assert all(isinstance(a, dict) and ("name" in a or "family-names" in a) for a in cff["authors"])
    assert cff["license"] == "MIT"
    assert cff["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_changelog_sections_are_dated():
    dates = re.findall(r"^## (\d{4}-\d{2}-\d{2})$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert dates and dates == sorted(dates, reverse=True)


def test_binder_installs_the_lock_on_python_3_11():
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    lines = [
        ln.split("#")[0].strip() for ln in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    ]
    assert "-r ../requirements.lock" in lines and "-e ." in lines


def test_teaching_docs_cover_every_study():
    studies = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    teaching = (ROOT / "docs" / "teaching.md").read_text()
    assert f"{len(studies)} notebooks" in teaching or "six notebooks" in teaching
    header = next(ln for ln in teaching.splitlines() if ln.startswith("| | 00"))
    assert all(s[:2] in header for s in studies), header
    assert all(re.search(rf"^\| \d\. [^|]+ \| [^|]*\b{s[:2]}\b", teaching, re.M) for s in studies), (
        "a study has no session"
    )
