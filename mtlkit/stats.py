"""Intervals across seeds, and claims whose verdict is computed from the data.

A :class:`Claim` states a direction ("shared beats separate") and carries the per-seed effects that
test it. Its verdict is never typed in by hand:

* ``reproduced``   - the 95% interval of the effect lies entirely on the claimed side of the threshold;
* ``contradicted`` - it lies entirely on the other side;
* ``inconclusive`` - it contains the threshold (or there are too few seeds for an interval).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as _st

Verdict = Literal["reproduced", "contradicted", "inconclusive"]


def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of ``values`` (one value per seed).

    Returns ``(mean, low, high)``; with fewer than two values the interval is ``(nan, nan)``.

    Examples
    --------
    >>> m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    >>> round(m, 3), round(lo, 3), round(hi, 3)
    (2.0, -0.484, 4.484)
    """
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    half = float(_st.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


def summarize(df: pd.DataFrame, by: Sequence[str], value: str = "value", level: float = 0.95) -> pd.DataFrame:
    """Group a tidy frame by ``by`` and give ``mean``, ``low``, ``high`` and ``n`` of ``value``."""
    rows = []
    for key, g in df.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        m, lo, hi = mean_ci(g[value], level)
        rows.append({**dict(zip(by, key)), "mean": m, "low": lo, "high": hi, "n": len(g)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Claim:
    """A claim about an effect, with its estimate, interval and computed verdict.

    Build it with :meth:`Claim.test`; the fields are what ``claims.json`` holds.
    """

    id: str
    statement: str
    estimate: float
    low: float
    high: float
    n: int
    verdict: Verdict
    effect: str
    threshold: float = 0.0
    direction: Literal[">", "<"] = ">"
    detail: dict = field(default_factory=dict)

    @classmethod
    def test(
        cls,
        id: str,
        statement: str,
        samples: Iterable[float],
        *,
        effect: str,
        direction: Literal[">", "<"] = ">",
        threshold: float = 0.0,
        level: float = 0.95,
        detail: dict | None = None,
    ) -> Claim:
        """Test ``mean(samples) <direction> threshold`` with a ``level`` interval across seeds.

        Examples
        --------
        >>> Claim.test("C1", "sharing helps", [0.5, 0.7, 0.6], effect="acc gain").verdict
        'reproduced'
        >>> Claim.test("C2", "sharing hurts", [0.5, 0.7, 0.6], effect="acc gain", direction="<").verdict
        'contradicted'
        """
        samples = [float(s) for s in samples]
        est, lo, hi = mean_ci(samples, level)
        if direction not in (">", "<"):
            raise ValueError(f"direction must be '>' or '<', got {direction!r}")
        if math.isnan(lo):
            verdict: Verdict = "inconclusive"
        elif (lo > threshold) if direction == ">" else (hi < threshold):
            verdict = "reproduced"
        elif (hi < threshold) if direction == ">" else (lo > threshold):
            verdict = "contradicted"
        else:
            verdict = "inconclusive"
        return cls(
            id,
            statement,
            est,
            lo,
            hi,
            len(samples),
            verdict,
            effect,
            threshold,
            direction,
            dict(detail or {}),
        )

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


def claims_table(claims: Sequence[Claim]) -> pd.DataFrame:
    """The claims as a readable table: id, statement, effect, estimate [low, high], n, verdict."""
    return pd.DataFrame(
        [
            {
                "id": c.id,
                "claim": c.statement,
                "effect": c.effect,
                "estimate": round(c.estimate, 4),
                "95% interval": f"[{c.low:.4g}, {c.high:.4g}]",
                "test": f"{c.direction} {c.threshold:g}",
                "seeds": c.n,
                "verdict": c.verdict,
            }
            for c in claims
        ]
    )


def verdict_lines(claims: Sequence[Claim]) -> str:
    """The claims as Markdown bullets with their verdicts and numbers (for a notebook's findings)."""
    return "\n".join(
        f"- **{c.id} - {c.verdict}.** {c.statement}: {c.effect} = {c.estimate:.3g} "
        f"(95% interval [{c.low:.3g}, {c.high:.3g}], {c.n} seeds)"
        for c in claims
    )
