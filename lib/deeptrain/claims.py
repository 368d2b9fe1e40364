"""``dt.claim``: a notebook's quantitative sentence, printed with its numbers and asserted.

Every comparative or quantitative sentence in a notebook is backed by the cell that shows
it; that cell ends with ``dt.claim(...)`` so that nbval fails the day the sentence stops
being true. The margin belongs in the condition, and the numbers in the keyword arguments,
so the reader sees what was measured in this run::

    dt.claim("ReLU + He ends at least 20 points above sigmoid + Glorot",
             acc["relu_he"] - acc["sigmoid_glorot"] >= 0.20,
             relu_he=acc["relu_he"], sigmoid_glorot=acc["sigmoid_glorot"])
"""
import numbers


class ClaimError(AssertionError):
    """A sentence of the notebook that this run's numbers do not support."""


def _fmt(value):
    if isinstance(value, numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    return repr(value)


def claim(statement, holds, **measured):
    """Print ``statement`` with the measured numbers; raise ``ClaimError`` if ``holds`` is false.

    statement: the sentence as the notebook's text says it.
    holds: the condition, margin included (a bool or a NumPy bool).
    measured: the numbers behind it, printed as ``name=value``.
    Returns None; prints one line, ``claim holds: ...``.
    """
    numbers_text = ", ".join(f"{k}={_fmt(v)}" for k, v in measured.items())
    line = f"{statement}" + (f" ({numbers_text})" if numbers_text else "")
    if not bool(holds):
        raise ClaimError(f"claim does not hold in this run: {line}")
    print(f"claim holds: {line}")
