"""The notebooks' prose names verdicts that the committed results still give.

The Discussion cells (and any markdown after the Protocol that states a result) are written about the committed
default-mode run in ``results/<study>/``. When a rerun changes a verdict, the prose goes stale; these tests catch every
place where a claim id stands next to a verdict word ("**C1 is inconclusive**", "C2.all is reproduced",
"(**C3 inconclusive** against both)", "C4.choice, C4.worse and C4.better are inconclusive") and compare it with
``claims.json``. A claim id without its suffix ("C3") stands for every claim under it (C3.equal, C3.pcgrad).

The Exercises section is not read: its questions are about runs at other settings by design.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
VERDICTS = ("reproduced", "inconclusive", "contradicted", "absent")

ID = r"(?<![\w.])[CDE]\d+(?:\.[A-Za-z]+)?(?![\w])"
IDS = rf"{ID}(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s+or\s+){ID})*"
MENTION = re.compile(
    rf"(?P<ids>{IDS})\)?\s+(?:claims?\s+)?(?:(?P<verb>is|are|was|were|stays|remain|remains)\s+)?(?P<neg>not\s+)?"
    rf"(?:(?:all|both|each|still)\s+)?(?P<verdict>{'|'.join(VERDICTS)})\b"
)


def plain(markdown: str) -> str:
    """Markdown text without emphasis and code marks, on one line."""
    return re.sub(r"\s+", " ", re.sub(r"[*`_]", "", markdown))


def prose_cells(name: str) -> list[str]:
    """The notebook's markdown cells, up to (not including) the Exercises section."""
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    cells = []
    for c in nb["cells"]:
        if c["cell_type"] != "markdown":
            continue
        text = "".join(c["source"])
        if text.lstrip().startswith("## Exercises"):
            break
        cells.append(plain(text))
    return cells


def mentions(text: str) -> list[tuple[list[str], bool, str, str]]:
    """(claim ids, negated, verdict, the matched words) for every claim id named next to a verdict word."""
    return [
        (re.findall(ID, m.group("ids")), bool(m.group("neg")), m.group("verdict"), m.group(0))
        for m in MENTION.finditer(text)
    ]


def committed_verdicts(name: str) -> dict[str, str]:
    claims = json.loads((ROOT / "results" / name / "claims.json").read_text())["claims"]
    return {c["id"]: c["verdict"] for c in claims}


def resolve(claim_id: str, verdicts: dict[str, str]) -> list[str]:
    """The committed claims a prose id stands for: itself, or every claim under it ("C3" -> C3.equal, C3.pcgrad)."""
    return [k for k in verdicts if k == claim_id or k.startswith(claim_id + ".")]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("**C1 is inconclusive**; within", [(["C1"], False, "inconclusive")]),
        ("network — **C2.all is reproduced**, of", [(["C2.all"], False, "reproduced")]),
        ("(**C3 inconclusive** against both)", [(["C3"], False, "inconclusive")]),
        ("C1 is reproduced at", [(["C1"], False, "reproduced")]),
        ("(**C2.regret inconclusive**)", [(["C2.regret"], False, "inconclusive")]),
        (
            "C4.choice, C4.worse and C4.better are inconclusive",
            [(["C4.choice", "C4.worse", "C4.better"], False, "inconclusive")],
        ),
        (
            "**C1.half** and **C1.full** are **inconclusive**",
            [(["C1.half", "C1.full"], False, "inconclusive")],
        ),
        ("the C3 claims are inconclusive", [(["C3"], False, "inconclusive")]),
        ("C2 is not reproduced", [(["C2"], True, "reproduced")]),
        ("(C2.HOA and C2.ESA are inconclusive)", [(["C2.HOA", "C2.ESA"], False, "inconclusive")]),
        (
            "the learning-speed side (C1, C3.speed) is reproduced too",
            [(["C1", "C3.speed"], False, "reproduced")],
        ),
        ("a contradicted C1; the C1 test at each step; C3.speed holds", []),
    ],
)
def test_the_pattern_finds_verdict_mentions(text, expected):
    assert [m[:3] for m in mentions(plain(text))] == expected


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_claim_id_in_prose_exists(name):
    verdicts = committed_verdicts(name)
    unknown = sorted(
        {i for text in prose_cells(name) for i in re.findall(ID, text) if not resolve(i, verdicts)}
    )
    assert not unknown, f"{name}: prose names claims that results/{name}/claims.json does not have: {unknown}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_verdicts_named_in_prose_match_the_committed_results(name):
    verdicts = committed_verdicts(name)
    stale = []
    for text in prose_cells(name):
        for ids, negated, verdict, words in mentions(text):
            for claim_id in ids:
                for k in resolve(claim_id, verdicts):
                    if (verdicts[k] == verdict) == negated:
                        stale.append(f"{words!r}: {k} is {verdicts[k]} in results/{name}/claims.json")
    assert not stale, f"{name}: stale verdicts in the prose:\n" + "\n".join(stale)
