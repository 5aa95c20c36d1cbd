"""Intervals across seeds, and claims whose verdict is computed from the data.

A :class:`Claim` states a direction ("shared beats separate") and carries the per-seed effects that
test it, and the smallest effect that matters, ``delta``, declared with its reason before the run. Its
verdict is never typed in by hand (``docs/protocol.md`` states the rule once):

* ``reproduced``   - the 95% interval of the effect lies entirely on the claimed side of the threshold;
* ``contradicted`` - it lies entirely on the other side;
* ``absent``       - neither, and the 90% interval lies inside ``(threshold - delta, threshold + delta)``:
  two one-sided tests at 5% say the effect is smaller than anything that matters;
* ``inconclusive`` - anything else (or too few seeds for an interval); the claim then says how many
  seeds would detect ``delta`` at 80% power (:func:`seeds_needed`).
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

Verdict = Literal["reproduced", "contradicted", "absent", "inconclusive"]
VERDICTS: tuple[str, ...] = ("reproduced", "contradicted", "absent", "inconclusive")
POWER = 0.80
"""The power at which :func:`seeds_needed` sizes a design to detect ``delta``."""


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


def seeds_needed(sd: float, delta: float, level: float = 0.95, power: float = POWER) -> int | None:
    """The fewest seeds whose ``level`` interval excludes the threshold with probability ``power`` when the
    true effect is ``delta`` away from it, for a per-seed standard deviation ``sd`` (Student-t, iterated;
    ``None`` when ``sd`` or ``delta`` is not a positive number).

    >>> seeds_needed(sd=1.0, delta=1.0), seeds_needed(sd=0.5, delta=0.1)
    (10, 199)
    """
    if not (sd > 0 and delta > 0 and math.isfinite(sd) and math.isfinite(delta)):
        return None
    n = 2
    for _ in range(100):
        need = max(2, math.ceil((_t_sum(n, level, power) * sd / delta) ** 2))
        if need == n:
            break
        n = need
    return n


def detectable_effect(sd: float, n: int, level: float = 0.95, power: float = POWER) -> float | None:
    """The smallest distance from the threshold that ``n`` seeds detect with probability ``power`` (their
    ``level`` interval then excludes the threshold), for a per-seed standard deviation ``sd``.

    >>> round(detectable_effect(1.0, 10), 3)
    0.995
    """
    if n < 2 or not math.isfinite(sd):
        return None
    return float(_t_sum(n, level, power) * sd / math.sqrt(n))


def _t_sum(n: int, level: float, power: float) -> float:
    """Student-t quantiles of the interval's edge and of the power, ``n - 1`` degrees of freedom: a
    design's detectable distance from the threshold is this many standard errors."""
    return float(_st.t.ppf(0.5 + level / 2, n - 1) + _st.t.ppf(power, n - 1))


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
    (``at_last_epoch``; ``converged`` is whether that share is at most :data:`CONVERGED_SHARE`), and
    whether the study names it a ``headline`` claim (one its seed count is chosen for).
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
    delta: float | None = None
    delta_why: str = ""
    seeds_needed: int | None = None
    level: float = 0.95
    detectable: float | None = None
    headline: bool = False

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
        delta: float | None = None,
        delta_why: str = "",
    ) -> Claim:
        """Test ``mean(samples) <direction> threshold`` with a ``level`` interval across seeds.

        ``paper`` says what the paper reported (value or direction, figure or table, arXiv id). A claim
        must be able to fail: a threshold at or beyond the end of ``support`` on the claimed side is refused.
        ``delta`` is the smallest effect that matters (a distance from ``threshold``, in the effect's
        units) and ``delta_why`` says why; with it, an effect shown to lie within ``delta`` of the
        threshold is ``absent``, and an inconclusive claim records the seeds that would decide it.

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
        if delta is not None and not (math.isfinite(delta) and delta > 0 and delta_why.strip()):
            raise ValueError(f"claim {id}: delta must be a positive number with its reason, got {delta!r}")
        est, lo, hi = mean_ci(samples, level)
        lo90, hi90 = mean_ci(samples, 1 - 2 * (1 - level))[1:]  # two one-sided tests, each at 1 - level
        sd = float(np.std(samples, ddof=1)) if len(samples) > 1 else math.nan
        needed = None if delta is None else seeds_needed(sd, delta, level)
        if math.isnan(lo):
            verdict: Verdict = "inconclusive"
        elif (lo > threshold) if direction == ">" else (hi < threshold):
            verdict = "reproduced"
        elif (hi < threshold) if direction == ">" else (lo > threshold):
            verdict = "contradicted"
        elif delta is not None and threshold - delta < lo90 and hi90 < threshold + delta:
            verdict = "absent"
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
            delta,
            delta_why,
            needed,
            level,
            detectable_effect(sd, len(samples), level),
        )

    def with_delta(self, delta: float, delta_why: str) -> Claim:
        """The same claim, tested again on the same values with the smallest effect that matters."""
        return Claim.test(
            self.id,
            self.statement,
            self.values,
            effect=self.effect,
            paper=self.paper,
            direction=self.direction,
            threshold=self.threshold,
            support=self.support,
            at_last_epoch=self.at_last_epoch,
            level=self.level,
            detail=self.detail,
            delta=delta,
            delta_why=delta_why,
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
    if c.verdict == "inconclusive" and c.seeds_needed is not None:
        text += f" (about {c.seeds_needed} seeds would decide)"
    if c.converged is False:
        why = []
        if c.at_last_epoch is not None and c.at_last_epoch > CONVERGED_SHARE:
            why.append(f"{c.at_last_epoch:.0%} of runs at the epoch cap")
        if "diverged runs" in c.detail:
            why.append(f"{c.detail['diverged runs']} training runs diverged")
        text += f" (not converged: {'; '.join(why)})"
    return text


def claims_table(claims: Sequence[Claim]) -> pd.DataFrame:
    """The claims as a table: id, the full claim, effect, estimate, its interval (with its level), test,
    the smallest effect that matters (δ), seeds, verdict, and what the paper reported."""
    return pd.DataFrame(
        [
            {
                "id": c.id,
                "claim": c.statement,
                "effect": c.effect,
                "estimate": round(c.estimate, 4),
                "interval": f"{c.level:.1%}".replace(".0%", "%") + f" [{c.low:.4g}, {c.high:.4g}]",
                "test": f"{c.direction} {c.threshold:g}",
                "δ": "" if c.delta is None else f"{c.delta:g}",
                "seeds": c.n,
                "verdict": _verdict_text(c),
                "paper": c.paper,
            }
            for c in claims
        ]
    )


def power_table(claims: Sequence[Claim]) -> pd.DataFrame:
    """Each claim's power at the seeds it ran: the per-seed SD, the smallest distance from the threshold
    those seeds detect at :data:`POWER`, its δ and the seeds that would detect δ (what the study's seed
    count is chosen from, for its headline claims)."""
    rows = []
    for c in claims:
        sd = float(np.std(c.values, ddof=1)) if len(c.values) > 1 else math.nan
        need = seeds_needed(sd, c.delta, c.level) if c.delta is not None else None
        rows.append(
            {
                "id": c.id,
                "headline": "yes" if c.headline else "",
                "seeds": c.n,
                "per-seed SD": f"{sd:.3g}",
                "detectable at these seeds": "" if c.detectable is None else f"{c.detectable:.3g}",
                "δ": "" if c.delta is None else f"{c.delta:g}",
                "seeds for δ": "" if need is None else (f"{need} (more than run)" if need > c.n else need),
            }
        )
    return pd.DataFrame(rows)


def claims_markdown(claims: Sequence[Claim]) -> str:
    """The claims table as Markdown, nothing truncated (how a notebook shows its findings, once)."""
    return markdown_table(claims_table(claims), index=False)
