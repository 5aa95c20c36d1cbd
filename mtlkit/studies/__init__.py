"""The studies, one module per notebook: each declares its parameters (``SPEC``), the runs it trains,
its analysis and its figures. :data:`STUDIES` maps a notebook's name to its module."""

from __future__ import annotations

from types import ModuleType

from mtlkit.params import ParameterError, StudySpec
from mtlkit.studies import grouping_methods, landscape, small_towers, task_grouping, tradeoff, transference

MODULES: dict[str, ModuleType] = {
    m.SPEC.name: m for m in (landscape, tradeoff, small_towers, task_grouping, transference, grouping_methods)
}
"""Each study's module by notebook name (``00_landscape`` -> :mod:`mtlkit.studies.landscape`)."""

STUDIES: dict[str, StudySpec] = {name: m.SPEC for name, m in MODULES.items()}
"""Each study's declared parameters by notebook name."""


def get_study(name: str) -> StudySpec:
    """A study by full name (``00_landscape``) or number prefix (``00``, ``0``)."""
    if name in STUDIES:
        return STUDIES[name]
    matches = [s for s in STUDIES if name.isdigit() and s.split("_")[0].lstrip("0") == name.lstrip("0")]
    if len(matches) == 1:
        return STUDIES[matches[0]]
    raise ParameterError(f"unknown study {name!r}; known studies: {list(STUDIES)}")
