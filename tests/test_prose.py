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

ID = r"(?<![\w.])[CDE]\d+(?:\.[A-Za-z]+)*(?![\w])"
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
    if claim_id in verdicts:  # "C5.speed" is that claim, not also C5.speed.scaled
        return [claim_id]
    return [k for k in verdicts if k.startswith(claim_id + ".")]


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
        ("C5.multitasking.scaled is reproduced", [(["C5.multitasking.scaled"], False, "reproduced")]),
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


# --- numbers and seed ranges quoted in the Discussions, and fragile verdicts -------------------------------

NUMBER = r"[+−-]?\d+(?:\.\d+)?"
INTERVAL = re.compile(rf"(?P<est>{NUMBER})\s*%?\s*\[(?P<low>{NUMBER})\s*%?\s*,\s*(?P<high>{NUMBER})\s*%?\]")
SEED_RANGE = re.compile(r"\bseeds\s+(\d+)\s*[–-]\s*(\d+)")


def discussion(name: str) -> str:
    """The notebook's Discussion (its markdown from "## Discussion" up to "## Exercises"), plain text."""
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    text, on = [], False
    for c in nb["cells"]:
        source = "".join(c["source"])
        if c["cell_type"] == "markdown" and source.lstrip().startswith("## Discussion"):
            on = True
        if c["cell_type"] == "markdown" and source.lstrip().startswith("## Exercises"):
            break
        if on and c["cell_type"] == "markdown":
            text.append(plain(source))
    return " ".join(text)


def replication(name: str) -> dict:
    path = ROOT / "results" / name / "replication.json"
    return json.loads(path.read_text()) if path.exists() else {"claims": [], "seeds": []}


def quoted_intervals(text: str) -> list[tuple[str, tuple[float, float, float]]]:
    """Every ``estimate [low, high]`` quoted in ``text``, as (the words, the three numbers)."""
    num = lambda s: float(s.replace("−", "-"))  # noqa: E731 (float reads a leading "+")
    return [(m.group(0), (num(m["est"]), num(m["low"]), num(m["high"]))) for m in INTERVAL.finditer(text)]


def matches(quoted: str, value: float) -> bool:
    """Whether ``value`` printed at the precision of ``quoted`` (a number as written) gives ``quoted``."""
    decimals = len(quoted.split(".")[1]) if "." in quoted else 0
    return abs(round(value, decimals) - float(quoted.replace("−", "-"))) < 10**-decimals / 2 + 1e-12


def interval_sources(name: str) -> list[tuple[float, float, float]]:
    """Every (estimate, low, high) the committed run holds for the study: its claims, and their replication."""
    claims = json.loads((ROOT / "results" / name / "claims.json").read_text())["claims"]
    found = [(c["estimate"], c["low"], c["high"]) for c in claims]
    found += [
        (r["replication"]["estimate"], r["replication"]["low"], r["replication"]["high"])
        for r in replication(name)["claims"]
        if r.get("replication")
    ]
    return [f for f in found if None not in f]


def test_interval_pattern_reads_the_way_the_prose_writes():
    found = quoted_intervals("C1 is −0.24 [−0.92, 0.43], and C2.all −22.1% [−27.9, −16.3]; (see [1])")
    assert [n for _, n in found] == [(-0.24, -0.92, 0.43), (-22.1, -27.9, -16.3)]
    assert matches("−0.24", -0.2412) and not matches("−0.24", -0.2312) and matches("5", 4.6)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_intervals_quoted_in_the_discussion_are_the_committed_ones(name):
    stale = stale_intervals(discussion(name), interval_sources(name))
    assert not stale, (
        f"{name}: intervals in the Discussion that neither claims.json nor replication.json holds: {stale}"
    )


def stale_intervals(text: str, sources: list[tuple[float, float, float]]) -> list[str]:
    """Every ``estimate [low, high]`` quoted in ``text`` that no source gives at the precision it is written."""
    return [
        m.group(0)
        for m in INTERVAL.finditer(text)
        if not any(all(matches(m[k], v) for k, v in zip(("est", "low", "high"), s)) for s in sources)
    ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_seed_ranges_in_the_discussion_are_the_committed_ones(name):
    manifest = json.loads((ROOT / "results" / name / "manifest.json").read_text())
    blocks = [manifest["seeds"], replication(name)["seeds"]]
    allowed = {(b[0], b[-1]) for b in blocks if b}
    quoted = {(int(a), int(b)) for a, b in SEED_RANGE.findall(discussion(name))}
    assert quoted <= allowed, (
        f"{name}: seed ranges {sorted(quoted - allowed)} are neither the run's nor its replication's {sorted(allowed)}"
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_fragile_verdicts_are_never_stated_without_the_caveat(name):
    fragile = {r["id"] for r in replication(name)["claims"] if r.get("fragile")}
    bare = []
    for text in prose_cells(name):
        for m in MENTION.finditer(text):
            near = text[max(0, m.start() - 300) : m.end() + 300]
            for claim_id in re.findall(ID, m.group("ids")):
                hit = [k for k in fragile if k == claim_id or k.startswith(claim_id + ".")]
                if hit and "fragile" not in near:
                    bare.append(f"{m.group(0)!r} ({', '.join(hit)} fragile)")
    assert not bare, f"{name}: fragile verdicts stated without saying so: {bare}"


@pytest.mark.parametrize("doc", ["README.md", "docs/papers.md"])
def test_intervals_quoted_in_the_docs_are_committed_ones(doc):
    """The README and docs/papers.md quote estimates of the committed run: each ``estimate [low, high]``
    must be a claim's (or its replication's) in some study's results."""
    sources = [s for name in NOTEBOOKS for s in interval_sources(name)]
    stale = stale_intervals(plain((ROOT / doc).read_text(encoding="utf-8")), sources)
    assert not stale, f"{doc}: intervals that no committed claims.json or replication.json holds: {stale}"
