"""README's replication section: every replicated claim with both blocks' verdicts, the counts the project's
goals are stated in, the fragile claims, and each claim's power from both blocks pooled (rendered from
``results/<study>/replication.json``, which :mod:`mtlkit.replication` writes)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from scipy import stats as _st

from mtlkit.replication import FILE, load
from mtlkit.results import atomic_write_text, read_json
from mtlkit.stats import VERDICTS, detectable_effect, seeds_needed
from mtlkit.tables import markdown_table

BEGIN, END = "<!-- replication:begin -->", "<!-- replication:end -->"
"""The markers around README.md's replication table, which :func:`update_readme` rewrites."""


def _seeds(seeds: Sequence[int]) -> str:
    return f"{min(seeds)}–{max(seeds)}" if len(seeds) > 1 else str(seeds[0])


def replication_markdown(root: str | Path) -> str:
    """README's replication section: every replicated claim with both verdicts, then the fragile claims;
    rendered from ``<root>/*/replication.json`` (stale ones named and left out)."""
    rows, fragile, notes = [], [], []
    for folder in sorted(p.parent for p in Path(root).glob(f"*/{FILE}")):
        data, why = load(folder)
        if data is None:
            notes.append(f"- `{folder.name}`: stale, left out (re-run `mtlkit replicate {folder.name}`)")
            continue
        for r in data["claims"]:
            a, b = r["original"], r["replication"]
            rows.append(
                {
                    "study": folder.name,
                    "claim": r["id"],
                    "seeds": _seeds(data["original_seeds"]),
                    "verdict": a["verdict"] if a else "missing",
                    "replication seeds": _seeds(data["seeds"]),
                    "replication verdict": b["verdict"] if b else "missing",
                    "fragile": "**fragile**" if r["fragile"] else "",
                }
            )
            if r["fragile"]:
                fragile.append(f"- {folder.name} {r['id']}: {r['statement']}")
    if not rows:
        return "No replication has been run yet: `mtlkit replicate all` writes them." + "".join(
            f"\n{n}" for n in notes
        )
    table = pd.DataFrame(rows)
    counts = table.verdict.value_counts()
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    power = power_table(root)
    head = table.merge(power[power.headline == "yes"][["study", "claim"]], on=["study", "claim"])
    decided = int((head.verdict != "inconclusive").sum())
    parts = [
        f"{len(table)} claims: {summary} ({counts.get('inconclusive', 0) / len(table):.0%} inconclusive); "
        f"{len(fragile)} fragile ({len(fragile) / len(table):.0%}); {decided} of {len(head)} headline claims "
        f"decided, {int((head.verdict != 'inconclusive').mul(head.fragile == '').sum())} of them on both blocks.",
        markdown_table(table, index=False),
    ]
    parts.append("Fragile claims (the verdict changed on the disjoint seeds):")
    parts.append("\n".join(fragile) if fragile else "none.")
    parts.append(
        "Power (`docs/protocol.md`): the per-seed SD pooled over both blocks of seeds, the smallest effect "
        "(distance from the threshold) the committed seeds detect at 80% power, and the seeds that would "
        "detect the claim's δ:"
    )
    parts.append(markdown_table(power, index=False))
    return "\n\n".join(parts + (["\n".join(notes)] if notes else []))


def _sd(side: dict) -> float:
    """A block's per-seed SD, from its 95% interval and seed count."""
    n = side["n"]
    if n < 2 or side["low"] is None:
        return math.nan
    return (side["high"] - side["low"]) / 2 / _st.t.ppf(0.975, n - 1) * math.sqrt(n)


def power_table(root: str | Path) -> pd.DataFrame:
    """Per claim of every replicated study: whether it is a headline claim, δ, the seeds run, the per-seed
    SD pooled over the original and the replication blocks, the effect those seeds detect at 80% power, and
    the seeds that detect δ (flagged where that is more than the design runs)."""
    rows = []
    for folder in sorted(p.parent for p in Path(root).glob(f"*/{FILE}")):
        data, _ = load(folder)
        if data is None:
            continue
        claims = {c["id"]: c for c in read_json(folder / "claims.json")["claims"]}
        for r in data["claims"]:
            c = claims.get(r["id"], {})
            sds = [_sd(side) for side in (r["original"], r["replication"]) if side]
            sd = math.sqrt(sum(x * x for x in sds) / len(sds)) if sds else math.nan
            delta, n = c.get("delta"), len(data["original_seeds"])
            detect = detectable_effect(sd, n)
            rows.append(
                {
                    "study": folder.name,
                    "claim": r["id"],
                    "headline": "yes" if c.get("headline") else "",
                    "δ": "" if delta is None else f"{delta:g}",
                    "seeds": n,
                    "SD": f"{sd:.3g}",
                    "detectable at these seeds": "" if detect is None else f"{detect:.3g}",
                    "seeds for δ": "" if delta is None else _needed(seeds_needed(sd, delta), n),
                }
            )
    return pd.DataFrame(rows)


def _needed(need: int | None, n: int) -> str:
    """The seeds that detect δ, flagged when the committed design runs fewer."""
    return "" if need is None else f"{need} (more than run)" if need > n else str(need)


def update_readme(readme: str | Path, root: str | Path) -> bool:
    """Rewrite the part of ``readme`` between :data:`BEGIN` and :data:`END` with
    :func:`replication_markdown` of ``root``; True when the file changed."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise RuntimeError(f"{readme} has no {BEGIN} ... {END} markers for the replication table")
    new = pattern.sub(lambda _: f"{BEGIN}\n{replication_markdown(root)}\n{END}", text)
    if new != text:
        atomic_write_text(readme, new)
    return new != text


def readme_section(readme: str | Path) -> str:
    """The text between README's replication markers (what :func:`update_readme` last wrote)."""
    text = Path(readme).read_text(encoding="utf-8")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")
