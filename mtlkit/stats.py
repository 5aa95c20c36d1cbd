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

from mtlkit.tables import markdown_table

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


def one_sided_p(values: Iterable[float], direction: Literal[">", "<"]) -> float:
    """Student-t p-value of the one-sided test that the mean of ``values`` is ``direction`` 0.

    >>> round(one_sided_p([-1.0, -2.0, -1.5], "<"), 4)
    0.0175
    """
    x = np.asarray(list(values), dtype=float)
    if len(x) < 2 or x.std(ddof=1) == 0:
        return float("nan")
    t = x.mean() / (x.std(ddof=1) / math.sqrt(len(x)))
    return float(_st.t.sf(t if direction == ">" else -t, len(x) - 1))


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values (step-down, family-wise error control over the given tests).

    >>> holm({"a": 0.01, "b": 0.04, "c": 0.03})
    {'a': 0.03, 'b': 0.06, 'c': 0.06}
    """
    order = sorted(pvalues, key=lambda k: pvalues[k])
    out, running = {}, 0.0
    for i, k in enumerate(order):
        running = max(running, min(1.0, (len(order) - i) * pvalues[k]))
        out[k] = round(running, 12)
    return {k: out[k] for k in pvalues}


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

    Build it with :meth:`Claim.test`; the fields are what ``claims.json`` holds: the per-seed ``values``,
    the range the statistic can take by construction (``support``; ``None`` = unbounded), what the paper
    reported (``paper``), and the share of the claim's runs whose best epoch was the last one allowed
    (``at_last_epoch``; ``converged`` is whether that share is at most :data:`CONVERGED_SHARE`).
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
    paper: str = ""
    support: tuple[float | None, float | None] = (None, None)
    values: tuple[float, ...] = ()
    at_last_epoch: float | None = None
    converged: bool | None = None

    @classmethod
    def test(
        cls,
        id: str,
        statement: str,
        samples: Iterable[float],
        *,
        effect: str,
        paper: str,
        direction: Literal[">", "<"] = ">",
        threshold: float = 0.0,
        support: tuple[float | None, float | None] = (None, None),
        at_last_epoch: float | None = None,
        level: float = 0.95,
        detail: dict | None = None,
    ) -> Claim:
        """Test ``mean(samples) <direction> threshold`` with a ``level`` interval across seeds.

        ``paper`` says what the paper reported (value or direction, figure or table, arXiv id). A claim
        must be able to fail: a threshold at or beyond the end of ``support`` on the claimed side is refused.

        Examples
        --------
        >>> Claim.test("C1", "sharing helps", [0.5, 0.7, 0.6], effect="acc gain", paper="+1 point").verdict
        'reproduced'
        >>> Claim.test("C2", "sharing hurts", [0.5, 0.7, 0.6], effect="acc gain", paper="", direction="<").verdict
        'contradicted'
        >>> Claim.test("C3", "it varies", [0.1, 0.2], effect="a share", paper="", support=(0, 1))
        Traceback (most recent call last):
        ...
        ValueError: claim C3 can never be contradicted: 'a share' is at least 0 by construction, tested against > 0
        """
        samples = [float(s) for s in samples]
        if direction not in (">", "<"):
            raise ValueError(f"direction must be '>' or '<', got {direction!r}")
        lo_s, hi_s = support
        if (direction == ">" and lo_s is not None and threshold <= lo_s) or (
            direction == "<" and hi_s is not None and threshold >= hi_s
        ):
            bound = f"at least {lo_s:g}" if direction == ">" else f"at most {hi_s:g}"
            raise ValueError(
                f"claim {id} can never be contradicted: {effect!r} is {bound} by construction, "
                f"tested against {direction} {threshold:g}"
            )
        est, lo, hi = mean_ci(samples, level)
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
            paper,
            (lo_s, hi_s),
            tuple(samples),
            at_last_epoch,
            None if at_last_epoch is None else bool(at_last_epoch <= CONVERGED_SHARE),
        )

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Claim:
        """A claim read back from ``claims.json`` (``null`` numbers become NaN)."""
        nums = ("estimate", "low", "high")
        kw = {k: (float("nan") if k in nums and v is None else v) for k, v in d.items()}
        kw["support"] = tuple(kw.get("support", (None, None)))
        kw["values"] = tuple(kw.get("values", ()))
        return cls(**kw)


CONVERGED_SHARE = 0.10
"""A claim counts as converged when at most this share of its runs had their best epoch at the last one."""


def at_last_epoch(best_epochs: Iterable[float], cap: int) -> float:
    """The share of runs whose best (restored) epoch is the last one allowed, ``cap``.

    >>> at_last_epoch([3, 10, 10, 7], cap=10)
    0.5
    """
    values = [float(e) for e in best_epochs]
    return sum(v >= cap for v in values) / len(values) if values else float("nan")


def _verdict_text(c: Claim) -> str:
    text = c.verdict
    if c.converged is False:
        why = []
        if c.at_last_epoch is not None and c.at_last_epoch > CONVERGED_SHARE:
            why.append(f"{c.at_last_epoch:.0%} of runs at the epoch cap")
        if "diverged runs" in c.detail:
            why.append(f"{c.detail['diverged runs']} training runs diverged")
        text += f" (not converged: {'; '.join(why)})"
    return text


def claims_table(claims: Sequence[Claim]) -> pd.DataFrame:
    """The claims as a table: id, the full claim, effect, estimate [interval], test, seeds, verdict, and
    what the paper reported."""
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
                "verdict": _verdict_text(c),
                "paper": c.paper,
            }
            for c in claims
        ]
    )


def claims_markdown(claims: Sequence[Claim]) -> str:
    """The claims table as Markdown, nothing truncated (how a notebook shows its findings, once)."""
    return markdown_table(claims_table(claims), index=False)
