"""Declared study parameters and their validation: :class:`Param`, :class:`StudySpec`, :func:`validate`.

A study declares each parameter once (type, range, choices, per-mode sizes, or the parameter whose
value it follows). :func:`validate` resolves every value *before any compute* and raises
:class:`ParameterError` naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtlkit.checks import is_number
from mtlkit.results import REPO_DIR
from mtlkit.sweep import check_backend

MODES = ("smoke", "default", "full")


class ParameterError(ValueError):
    """A study parameter with a wrong name, type or value; the message says what is allowed."""


def shorten(value: Any, most: int = 80) -> str:
    """``repr(value)``, cut to about ``most`` characters (with its full length) when longer: a message
    stays one readable line."""
    text = repr(value)
    return text if len(text) <= most else f"{text[: most - 10]}...' ({len(str(value)):,} characters)"


def _number(v: float, kind: str) -> str:
    """A bound as written: integers in full (``2147483647``, not ``2.14748e+09``), other numbers short."""
    return str(int(v)) if kind == "int" else f"{v:g}"


@dataclass(frozen=True)
class Param:
    """A declared study parameter.

    ``kind`` is one of ``int``, ``float``, ``str``, ``bool``, ``list`` (a list of strings, also given
    as ``"a,b,c"``), ``floats`` (a list of numbers, also ``"0,0.5,1"``; ``low``/``high`` bound each). ``by_mode`` gives the value per mode when the notebook passes ``None``; ``choices``
    constrain a ``str`` or every item of a ``list``; ``low``/``high`` bound numbers (inclusive).
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    by_mode: Mapping[str, Any] | None = None
    nullable: bool = False
    follows: str | None = None  # a derived default: ``None`` means "the value of this other parameter"
    allowed_override: str | None = None  # how an item of a list parameter reports what is allowed
    runtime: bool = False  # where or how a study runs (device, workers, output), not what it computes
    pattern: str | None = None  # a ``str`` must match this regular expression in full

    def allowed(self, none: bool = True) -> str:
        """Human-readable description of the allowed values (``none=False``: without "or None", for a
        value given as text, such as a command line's, which cannot be None)."""
        if self.choices is not None:
            what = f"one of {list(self.choices)}"
            if self.kind == "list":
                what = f"a non-empty list (or comma-separated string) of {list(self.choices)}"
        elif self.kind in ("int", "float", "floats"):
            noun = {"int": "an integer", "float": "a number", "floats": "a non-empty list of numbers, each"}[
                self.kind
            ]
            lo = "-inf" if self.low is None else _number(self.low, self.kind)
            hi = "inf" if self.high is None else _number(self.high, self.kind)
            what = f"{noun} in [{lo}, {hi}]"
        elif self.kind == "bool":
            what = "True or False"
        elif self.kind == "list":
            what = "a non-empty list of strings"
        elif self.pattern is not None:
            what = f"a string matching {self.pattern!r}"
        else:
            what = "a string"
        return what + (" or None" if none and (self.nullable or self.by_mode or self.follows) else "")

    def default_for(self, mode: str, resolved: Mapping[str, Any] | None = None) -> Any:
        """The value used when the notebook leaves this parameter at ``None``: the mode's size, the value
        of the parameter it ``follows`` (from ``resolved``), or the default."""
        if self.by_mode:
            return self.by_mode[mode]
        if self.follows is not None and resolved is not None:
            return resolved[self.follows]
        return self.default


@dataclass(frozen=True)
class StudySpec:
    """A study: its name (= notebook file stem), title, paper, and declared parameters."""

    name: str
    title: str
    paper: str
    params: tuple[Param, ...]
    figure: str = ""
    # cross-parameter rules, checked before any compute: (holds?, message), the message a format string
    # of the resolved parameters or a function of them
    checks: tuple[tuple[Callable[[dict], bool], str | Callable[[dict], str]], ...] = ()
    # the smallest effect that matters for each claim, and why: {claim id or its prefix ("C3" for C3.pcgrad):
    # (delta, reason)}, declared before any run (mtlkit.stats.Claim, docs/protocol.md)
    deltas: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    # the headline claims (ids or prefixes, as in ``deltas``): what the study asks above all, and what its
    # default seed count is chosen for by a power analysis (docs/protocol.md)
    headline: tuple[str, ...] = ()

    def param(self, name: str) -> Param:
        """The declared parameter ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        known = [p.name for p in self.params]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ParameterError(
            f"study {self.name!r} has no parameter {name!r}{hint}; known parameters: {known}"
        )

    def delta(self, claim: str) -> tuple[float, str]:
        """The declared ``(delta, reason)`` of ``claim``: its own entry, else its prefix's (``C3`` for
        ``C3.pcgrad``); a claim without one is an error (every claim declares the effect that matters)."""
        for key in (claim, claim.split(".")[0]):
            if key in self.deltas:
                return self.deltas[key]
        raise KeyError(f"study {self.name!r} declares no smallest effect (delta) for claim {claim!r}")

    def is_headline(self, claim: str) -> bool:
        """Whether ``claim`` (or its prefix, ``C3`` for ``C3.pcgrad``) is one of the study's headline claims."""
        return claim in self.headline or claim.split(".")[0] in self.headline

    @property
    def notebook(self) -> Path:
        """Path of the study's notebook in the repository."""
        return REPO_DIR / "notebooks" / f"{self.name}.ipynb"


def _coerce(p: Param, value: Any) -> Any:
    """Convert ``value`` to the parameter's type, or raise :class:`ParameterError`."""
    bad = ParameterError(
        f"parameter {p.name!r} = {value!r} ({type(value).__name__}) is not allowed: "
        f"expected {p.allowed_override or p.allowed(none=not isinstance(value, str))}"
    )
    if p.kind == "int":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise bad from None
        raise bad
    if p.kind == "float":
        if is_number(value):  # numpy scalars too; never a bool
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise bad from None
        else:
            raise bad
        if not math.isfinite(number):  # NaN passes every range check; infinities are not sizes
            raise bad
        return number
    if p.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise bad
    if p.kind == "str":
        if isinstance(value, (str, os.PathLike)) and (
            p.pattern is None or re.fullmatch(p.pattern, str(value))
        ):
            return str(value)
        raise bad
    if p.kind == "floats":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise bad
        return [_coerce(Param(p.name, "float", allowed_override=p.allowed()), v) for v in items]
    if p.kind == "list":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            return list(value)
        raise bad
    raise TypeError(f"unknown parameter kind {p.kind!r}")


def validate(spec: StudySpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``given`` against ``spec`` and return every parameter's resolved value.

    The mode is ``given["mode"]``, else ``$MTLKIT_MODE``, else ``"default"``; a ``None`` size takes the
    mode's value. Raises :class:`ParameterError` for an unknown name, a wrong type, a value out of range,
    an unknown choice, or a duplicated list item.
    """
    for name in given:
        spec.param(name)  # raises for unknown names
    from_env = given.get("mode") is None and bool(os.environ.get("MTLKIT_MODE"))
    mode = given["mode"] if given.get("mode") is not None else os.environ.get("MTLKIT_MODE") or "default"
    mode = _coerce(spec.param("mode"), mode)
    if mode not in MODES:
        where = " (from the environment variable MTLKIT_MODE)" if from_env else ""
        raise ParameterError(
            f"parameter 'mode' = {mode!r}{where} is not allowed: expected one of {list(MODES)}"
        )
    resolved: dict[str, Any] = {}
    for p in spec.params:
        value = given.get(p.name)
        if p.name == "mode":
            value = mode
        if value is None:
            value = p.default_for(mode, resolved)
            if value is None:
                if not p.nullable:
                    raise ParameterError(f"parameter {p.name!r} is required: expected {p.allowed()}")
                resolved[p.name] = None
                continue
        value = _coerce(p, value)
        if p.kind in ("int", "float", "floats"):
            items = value if p.kind == "floats" else [value]
            if any((p.low is not None and v < p.low) or (p.high is not None and v > p.high) for v in items):
                raise ParameterError(
                    f"parameter {p.name!r} = {value!r} is out of range: expected {p.allowed()}"
                )
        if p.choices is not None:
            items = value if p.kind == "list" else [value]
            unknown = [v for v in items if v not in p.choices]
            if unknown:
                raise ParameterError(
                    f"parameter {p.name!r}: unknown value(s) {unknown}; known: {list(p.choices)}"
                )
        if p.kind in ("list", "floats") and len(set(value)) != len(value):
            twice = sorted({v for v in value if value.count(v) > 1}, key=value.index)
            raise ParameterError(
                f"parameter {p.name!r} = {value!r} repeats {', '.join(map(repr, twice))}: give each item once"
            )
        resolved[p.name] = value
    for holds, message in spec.checks:
        if not holds(resolved):
            raise ParameterError(message(resolved) if callable(message) else message.format(**resolved))
    if "backend" in resolved:
        try:
            check_backend(resolved["backend"])
        except ValueError as e:
            raise ParameterError(f"parameter 'backend' = {resolved['backend']!r}: {e}") from None
    return resolved
