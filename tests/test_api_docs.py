"""The API reference (docs/api.md): it builds with the site's Sphinx configuration, without a warning, and
documents each public entry point from its docstring."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PUBLIC = [
    "mtlkit.study.start",
    "mtlkit.selection.select",
    "mtlkit.tracking.Transference",
    "mtlkit.tracking.Transference.measure",
    "mtlkit.tracking.Transference.affinity",
    "mtlkit.weighting.make_weighting",
    "mtlkit.weighting.Weighting",
    "mtlkit.weighting.GradientWeighting",
    *(
        f"mtlkit.weighting.{w}"
        for w in ("Equal", "Fixed", "Uncertainty", "DWA", "GradNorm", "PCGrad", "MGDA", "ITMTL")
    ),
    "mtlkit.train.fit",
    "mtlkit.train.fit_many",
    "mtlkit.stats.Claim",
    "mtlkit.stats.Claim.test",
]


class Ids(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if dict(attrs).get("id"):
            self.ids.add(dict(attrs)["id"])


@pytest.fixture(scope="module")
def api_page(tmp_path_factory) -> str:
    """docs/api.md built alone with site/conf.py (-W: a warning fails); the pages it links to are stubs here
    (tests/test_site.py checks every link of the whole site)."""
    from sphinx.cmd.build import build_main

    work = tmp_path_factory.mktemp("api")
    (work / "src" / "docs").mkdir(parents=True)
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    (work / "src" / "docs" / "api.md").write_text(text, encoding="utf-8")
    linked = sorted(set(re.findall(r"\]\(([\w-]+)\.md\)", text)))
    for name in linked:
        (work / "src" / "docs" / f"{name}.md").write_text(f"# {name}\n")
    toc = ["# mtlkit", "", "```{toctree}", *(f"docs/{d}" for d in ["api", *linked]), "```", ""]
    (work / "src" / "index.md").write_text("\n".join(toc))
    args = ["-q", "-W", "--keep-going", "-b", "html", "-c", str(ROOT / "site"), "-d", str(work / "doctrees")]
    assert build_main([*args, str(work / "src"), str(work / "html")]) == 0, "Sphinx warned: see the output"
    return (work / "html" / "docs" / "api.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", PUBLIC)
def test_the_api_page_documents_each_public_object(api_page, name):
    assert name in Ids(api_page).ids, f"{name} has no entry on the API page"


def test_entries_come_from_the_docstrings_not_raw_markup(api_page):
    text = re.sub(r"<[^>]+>", " ", api_page)
    assert "Validate the parameters of study" in text  # start's docstring
    assert "Lookahead transference" in text  # Transference's
    assert ".. py:" not in text and ".. auto" not in text and ":func:" not in text, (
        "directives printed as text"
    )
