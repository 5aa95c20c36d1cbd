"""What counts as a number, and one message for a number out of range: shared by the study parameters
(:mod:`mtlkit.params`), ``mtlkit select``'s budget and time limit, and the Python API's step sizes
(:class:`mtlkit.tracking.Transference`), so that ``np.float32(0.1)`` is a number everywhere and
``"0.1"``, ``True`` and ``inf`` are refused the same way everywhere."""

from __future__ import annotations

import math
import numbers

import numpy as np


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number: an ``int`` or ``float`` or a numpy scalar of one
    (``np.int64(2)``, ``np.float32(0.1)``); not a ``bool`` (``True`` is no step size), a string or a
    tensor."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def number_in(
    value: object,
    name: str,
    low: float,
    high: float,
    *,
    open_low: bool = False,
    expected: str | None = None,
    error: type[Exception] | None = None,
) -> float:
    """``value`` as a float, if it is a number (:func:`is_number`) in ``[low, high]`` (``(low, high]``
    with ``open_low``); else one line naming ``name``, the value and ``expected`` (by default the
    interval): a :class:`TypeError` for a value that is no number (text is refused, not read: the
    message says to drop the quotes), a :class:`ValueError` for one out of range, NaN included, or
    ``error`` for both when given."""
    span = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if math.isinf(high) else ']'}"
    what = expected or f"a number in {span}"
    if not is_number(value):
        hint = ""
        if isinstance(value, str):
            try:
                float(value)
                hint = f" (give the number {value.strip()}, not the text {value!r})"
            except ValueError:
                pass
        raise (error or TypeError)(f"{name} = {value!r} is a {type(value).__name__}; expected {what}{hint}")
    number = float(value)
    if not (low < number if open_low else low <= number) or not number <= high:
        raise (error or ValueError)(f"{name} = {value!r} is out of range: expected {what}")
    return number
