"""What makes the site read like a publication; site/build.py stages its pages through these functions.

- the landing page (:func:`landing_page`): what mtlkit is, then one row per study with its headline finding, its
  verdict counts (from ``claims.json`` and ``replication.json``, counted here) and its main figure;
- the README's long sections become their own pages (:func:`guide_pages`);
- study pages (:func:`study_notebook`): papermill's injected cell removed, code folded away (``hide-input``), cells
  that only format prose reduced to their output (``remove-input``), the claims table rebuilt from ``claims.json`` and
  ``replication.json`` (verdict badges, replication verdict, fragile mark, δ, one rounding per row, intervals clipped
  to the statistic's ``support``), and a header with the verdict counts, downloads and Colab/Binder links;
- every page (:func:`readable`): internal "issue N" references reworded, named repository files linked.

Only staged copies are changed; the committed notebooks, README and docs are read, never written.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import runpy
from collections import Counter
from pathlib import Path

from mtlkit import replication

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(__file__).resolve().parent
_CONF = runpy.run_path(str(SITE / "conf.py"))
REPOSITORY, BRANCH = _CONF["REPOSITORY"].rstrip("/"), _CONF["BRANCH"]
VERDICTS = ("reproduced", "contradicted", "absent", "inconclusive")
DOWNLOADS = (
    "claims.json",
    "replication.json",
    "metrics.csv",
    "ground_truth.csv",
    "affinity.csv",
    "timing.csv",
)

# The README's sections after "What it is for" and "Studies", by page: (file stem, title, heading prefixes).
# A section no prefix matches goes to the first page, so a new README section is never lost.
GUIDE = (
    (
        "running",
        "Running the studies",
        ("Re-running", "Modes", "Where results land", "Reading the studies", "Layout", "Installing"),
    ),  # fmt: skip
    (
        "reliability",
        "Same numbers, claims and replication",
        ("The same numbers", "Reading a claims", "Replication"),
    ),
    ("speed", "Speed", ("Speed",)),
    ("scaling", "Scaling up", ("Scaling",)),
)

# ---- every page ---------------------------------------------------------------------------------------------------

ISSUES = (  # internal issue numbers mean nothing to a reader: the sentence keeps its sense without them
    (r"\bafter issue \d+'s changes\b", "after the changes described below"),
    (r"\bWhat issue \d+ changed\b", "What those changes were"),
    (r"\b(?:before|until) issue \d+\b", "in earlier versions"),
    (r"\b(?:Before|Until) issue \d+\b", "In earlier versions"),
    (r"\b(?:after|since) issue \d+\b", "in the current version"),
    (r"\bin issue \d+\b", "in an earlier version"),
    (r"\bissue \d+ asks for\b", "a planned change asks for"),
    (r"\b[Ii]ssues? #?\d+\b", "an earlier version"),
)
CODE_PATH = re.compile(
    r"(?<![\[\w`])`((?:[\w.-]+/)+(?:[\w.-]+\.(?:py|md|csv|json|ipynb|lock|yml|toml|png|txt))?)`(?![\]`])"
)


def deissue(text: str) -> str:
    for pattern, words in ISSUES:
        text = re.sub(pattern, words, text)
    return text


def site_path(path: str, here: str) -> str | None:
    """Where the site has the repository file ``path`` (a page or a download), else None."""
    m = re.fullmatch(r"(?:notebooks|results/[\w-]+)/(\d\d_\w+)\.ipynb", path)
    if m and (ROOT / "results" / m.group(1) / f"{m.group(1)}.ipynb").is_file():
        return f"results/{m.group(1)}/{m.group(1)}.ipynb"
    if re.fullmatch(r"docs/\w+\.md", path) and (ROOT / path).is_file():
        return path
    if (
        re.fullmatch(r"results/\d\d_\w+/[\w.]+", path)
        and Path(path).name in DOWNLOADS
        and (ROOT / path).is_file()
    ):
        return path
    return None


def link_target(path: str, here: str) -> str | None:
    """The link for a code-formatted repository path on the page in folder ``here`` (None: not a repository path)."""
    if not (ROOT / path).exists() and (ROOT / here / path).exists() and here:
        path = f"{here}/{path}"
    if not (ROOT / path).exists() or path.startswith((".", "/")):
        return None
    inside = site_path(path.rstrip("/"), here)
    if inside:
        return os.path.relpath(inside, here or ".")
    return f"{REPOSITORY}/{'tree' if (ROOT / path).is_dir() else 'blob'}/{BRANCH}/{path.rstrip('/')}"


def readable(markdown: str, here: str) -> str:
    """``markdown`` (a page, a notebook's Markdown cell or output) with "issue N" reworded and every code-formatted
    repository path (``mtlkit/weighting.py``) linked: to its page or download on the site, else to the repository.
    Fenced code blocks are left alone."""
    out, fenced = [], False
    for line in markdown.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced:
            line = deissue(line)
            line = CODE_PATH.sub(
                lambda m: f"[`{m.group(1)}`]({t})" if (t := link_target(m.group(1), here)) else m.group(0),
                line,
            )
        out.append(line)
    return "\n".join(out)


# ---- verdicts --------------------------------------------------------------------------------------------------------


def verdicts(folder: Path) -> tuple[list[dict], dict[str, dict], dict | None]:
    """A study's claims, its replication rows by claim id (empty when stale or missing) and the replication."""
    claims = json.loads((folder / "claims.json").read_text(encoding="utf-8"))["claims"]
    data, _ = replication.load(folder)
    rows = {r["id"]: r for r in data["claims"]} if data else {}
    return claims, rows, data


def counts(folder: Path) -> dict[str, int]:
    """Verdict counts of a study's claims, with ``fragile``: claims its replication gave another verdict."""
    claims, rows, _ = verdicts(folder)
    n = Counter(c["verdict"] for c in claims)
    return {**{v: n[v] for v in VERDICTS}, "fragile": sum(bool(r["fragile"]) for r in rows.values())}


def badge(verdict: str, text: str | None = None) -> str:
    return f'<span class="verdict verdict-{verdict}">{html.escape(text or verdict)}</span>'


def count_badges(n: dict[str, int]) -> str:
    shown = [badge(v, f"{n[v]} {v}") for v in VERDICTS if n[v]]
    if n["fragile"]:
        shown.append(f'<span class="verdict verdict-fragile">{n["fragile"]} fragile</span>')
    return " ".join(shown)


def clip(low: float, high: float, support) -> tuple[float, float]:
    """The interval within the statistic's range (``support``: [min, max], None for unbounded)."""
    lo, hi = support if support else (None, None)
    return (max(low, lo) if lo is not None else low), (min(high, hi) if hi is not None else high)


def number(x: float, decimals: int) -> str:
    return f"{x:+.{decimals}f}".replace("-", "\u2212")


def interval(c: dict) -> str:
    """Estimate and interval, one rounding per row: three significant digits of the interval's width."""
    low, high = clip(c["low"], c["high"], c.get("support"))
    width = abs(high - low) or abs(c["estimate"]) or 1.0
    d = max(0, min(6, 2 - math.floor(math.log10(width))))
    level = f"{c.get('level', 0.95):.0%}"
    return f"{number(c['estimate'], d)}<br><small>{level} [{number(low, d)}, {number(high, d)}]</small>"


def claims_html(folder: Path) -> str:
    """The claims table of a study page, from ``claims.json`` and ``replication.json``."""
    claims, rows, data = verdicts(folder)
    seeds = f"seeds {min(data['seeds'])}–{max(data['seeds'])}" if data else ""
    head = ["id", "claim", "estimate", "test", "δ", "seeds", "verdict", "replication", "fragile"]
    out = [
        '<table class="claims" id="claims">',
        "<thead><tr>",
        *(f"<th>{h}</th>" for h in head),
        "</tr></thead>",
    ]
    for c in claims:
        note = ""
        if c["verdict"] == "inconclusive" and c.get("seeds_needed"):
            note = f"<br><small>about {c['seeds_needed']} seeds would decide</small>"
        if c.get("converged") is False:
            note += "<br><small>not converged</small>"
        r = rows.get(c["id"])
        if r and r["replication"]:
            rep = badge(r["replication"]["verdict"]) + f"<br><small>{seeds}</small>"
        else:
            rep = '<span class="muted">—</span>'
        fragile = (
            '<span class="fragile" title="the replication gave another verdict">⚠ fragile</span>'
            if r and r["fragile"]
            else ""
        )
        paper = (
            f"<details><summary>the paper</summary>{html.escape(c['paper'])}</details>"
            if c.get("paper")
            else ""
        )
        cells = [
            f"<code>{html.escape(c['id'])}</code>",
            f"{html.escape(c['statement'])}<br><small>{html.escape(c['effect'])}</small>{paper}",
            interval(c),
            f"{html.escape(c['direction'])} {c['threshold']:g}",
            f'<span title="{html.escape(c.get("delta_why", ""))}">{c["delta"]:g}</span>'
            if c.get("delta") is not None
            else "—",
            str(c["n"]),
            badge(c["verdict"]) + note,
            rep,
            fragile,
        ]
        out += ["<tr>", *(f"<td>{x}</td>" for x in cells), "</tr>"]
    out.append("</table>")
    return "\n".join(out)


# ---- study pages -----------------------------------------------------------------------------------------------------


def colab(name: str) -> str:
    return f"https://colab.research.google.com/github/{REPOSITORY.split('github.com/')[-1]}/blob/{BRANCH}/notebooks/{name}.ipynb"


def binder(name: str) -> str:
    return f"https://mybinder.org/v2/gh/{REPOSITORY.split('github.com/')[-1]}/{BRANCH}?labpath=notebooks%2F{name}.ipynb"


def header(name: str, folder: Path) -> str:
    """The Markdown cell under a study's title: its verdicts, downloads, and where to run it."""
    files = [f for f in DOWNLOADS if (folder / f).is_file()]
    down = " · ".join(
        [f"{{download}}`executed notebook <{name}.ipynb>`", *(f"{{download}}`{f} <{f}>`" for f in files)]
    )
    return "\n".join([
        f'<p class="study-verdicts"><b>Verdicts:</b> {count_badges(counts(folder))} · <a href="#claims">claims table</a></p>',
        "",
        f"**Downloads:** {down}  ",
        f"**Run it:** [open in Colab]({colab(name)}) · [open in Binder]({binder(name)}) · "
        f"[source notebook]({REPOSITORY}/blob/{BRANCH}/notebooks/{name}.ipynb)",
    ])  # fmt: skip


def is_claims_table(markdown: str) -> bool:
    return any(x.startswith("| id |") and " | verdict | " in x for x in markdown.split("\n"))


def text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def study_notebook(notebook: str, folder: Path, name: str) -> str:
    """The executed notebook as the site shows it (see the module's docstring)."""
    nb = json.loads(notebook)
    here = f"results/{name}"
    cells = [c for c in nb["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for c in cells:
        if c["cell_type"] == "markdown":
            c["source"] = readable(text(c["source"]), here)
            continue
        if c["cell_type"] != "code":
            continue
        outputs = c.get("outputs", [])
        prose = bool(outputs) and all("text/markdown" in o.get("data", {}) for o in outputs)
        tags = c.setdefault("metadata", {}).setdefault("tags", [])
        tags.append("remove-input" if prose else "hide-input")
        for o in outputs:
            md = o.get("data", {}).get("text/markdown")
            if md is None:
                continue
            if is_claims_table(text(md)) and (folder / "claims.json").is_file():
                o["data"] = {"text/html": claims_html(folder)}
            else:
                o["data"]["text/markdown"] = readable(text(md), here)
    cells.insert(
        1, {"cell_type": "markdown", "id": "site-header", "metadata": {}, "source": header(name, folder)}
    )
    nb["cells"] = cells
    return json.dumps(nb, indent=1, ensure_ascii=False)


# ---- the landing page and the guide pages ------------------------------------------------------------------------------


def sections(readme: str) -> list[tuple[str, str]]:
    """The README's second-level sections: (heading, body), the opening (before the first) as ("", body)."""
    parts = re.split(r"^## (.+)$", readme, flags=re.M)
    return [("", parts[0])] + list(zip(parts[1::2], parts[2::2]))


def source_links(markdown: str) -> str:
    """Links to a study's source notebook point at its executed page; the site's own address at its landing page."""
    markdown = re.sub(r"\]\(notebooks/([\w-]+)\.ipynb\)", r"](results/\1/\1.ipynb)", markdown)
    return markdown.replace("](build/site/index.html)", "](index.md)")


def guide_pages(readme: str) -> dict[str, str]:
    """The README's engineering sections as pages (stem -> Markdown), by :data:`GUIDE`."""
    pages = {stem: [f"# {title}", ""] for stem, title, _ in GUIDE}
    for heading, body in sections(readme)[1:]:
        if heading.startswith(("What it is for", "Studies")):
            continue
        stem = next((s for s, _, prefixes in GUIDE if heading.startswith(prefixes)), GUIDE[0][0])
        pages[stem] += [f"## {heading}", body.strip("\n"), ""]
    return {stem: readable(source_links("\n".join(lines)), "") for stem, lines in pages.items()}


def title(name: str) -> str:
    nb = json.loads((ROOT / "results" / name / f"{name}.ipynb").read_text(encoding="utf-8"))
    first = text(nb["cells"][0]["source"]).split("\n")[0]
    return first.lstrip("# ").strip()


def headline(name: str, claims: list[dict]) -> dict:
    """The study's first headline claim (its StudySpec's ``headline``), else its first claim."""
    from mtlkit.studies import STUDIES

    spec = STUDIES.get(name)
    return next((c for c in claims if spec and spec.is_headline(c["id"])), claims[0])


def main_figure(name: str, readme: str) -> str:
    """The figure the README's studies table shows for the study, else its first figure."""
    m = re.search(rf"\(results/{name}/figures/(\w+)\.png\)", readme)
    return m.group(1) if m else sorted((ROOT / "results" / name / "figures").glob("*.png"))[0].stem


def short_name(name: str, readme: str) -> str:
    """The study's short name, as the README's studies table links it (``Task grouping``), else its title."""
    m = re.search(rf"\|\s*{name[:2]}\s*\|\s*\[([^\]]+)\]\(notebooks/{name}\.ipynb\)", readme)
    return m.group(1) if m else title(name)


def landing_page(readme: str, names: list[str], toc: list[str]) -> str:
    """index.md: what mtlkit is, one row per study, then the (hidden) table of contents."""
    opening = sections(readme)
    name, _, subtitle = opening[0][1].strip().split("\n")[0].removeprefix("# ").partition(" — ")
    purpose = next(body for h, body in opening if h.startswith("What it is for")).strip().split("\n\n")[0]
    purpose = " ".join(re.split(r"(?<=\.)\s+", purpose.replace("\n", " "))[:2])
    studies = next((body for h, body in opening if h.startswith("Studies")), "")
    after_table = "\n".join(x for x in studies.strip().split("\n") if not x.startswith("|")).strip()
    rows = ["| # | study | headline claim | verdicts | main figure |", "|---|---|---|---|---|"]
    for n in names:
        folder = ROOT / "results" / n
        claims, _, _ = verdicts(folder)
        h = headline(n, claims)
        fig = main_figure(n, readme)
        rows.append(
            f"| {n[:2]} | [{short_name(n, readme)}](results/{n}/{n}.ipynb) "
            f"| {h['statement'].replace('|', '/')} → {badge(h['verdict'])} "
            f"| {count_badges(counts(folder))} | ![{fig}](results/{n}/figures/{fig}.png) |"
        )
    intro = [
        f"# {name}",
        "",
        f"**{subtitle[:1].upper()}{subtitle[1:]}.** {purpose}" if subtitle else purpose,
        "",
    ]
    intro += ['<div class="studies">', "", *rows, "", "</div>", ""]
    intro += [
        "Verdicts count each study's claims in its committed run; *fragile*: a replication on new seeds gave "
        "another verdict. Click a study to read it, a figure to see it full size.",
        "",
        after_table,
        "",
    ]
    return readable(source_links("\n".join(intro + toc)), "")
