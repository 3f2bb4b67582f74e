"""Type predicates shared by the estimators' parameter checks."""

import math
import numbers


def is_int(value):
    """An integer, and not a bool (``True`` is an ``Integral`` in Python)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """A finite real number, and not a bool."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
