"""``dt.claim``: a notebook's quantitative sentence, checked against this run's numbers.

Every comparative or quantitative sentence in a notebook is backed by the cell that shows
it; that cell ends with ``dt.claim(...)``. The margin belongs in the condition, and the
numbers in the keyword arguments::

    dt.claim("ReLU + He ends at least 20 points above sigmoid + Glorot",
             acc["relu_he"] - acc["sigmoid_glorot"] >= 0.20,
             relu_he=acc["relu_he"], sigmoid_glorot=acc["sigmoid_glorot"])

Who sees what:

- a student: nothing when the claim holds (the figure above says it); when it does not hold on
  their machine (another TensorFlow build, a GPU), a short note under the cell with the measured
  numbers and what the text expected, and the notebook goes on;
- the tests (``make test``, CI: tests/conftest.py sets ``DEEPTRAIN_STRICT_CLAIMS=1``, which the
  notebooks' kernels inherit): a claim that does not hold raises ``ClaimError``, so the
  notebook's test fails the day the sentence stops being true.
"""
import numbers
import os

STRICT_ENV = "DEEPTRAIN_STRICT_CLAIMS"


class ClaimError(AssertionError):
    """A sentence of the notebook that this run's numbers do not support."""


def _fmt(value):
    if isinstance(value, numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    return repr(value)


def strict():
    """True when a claim that does not hold must raise (under the tests: ``DEEPTRAIN_STRICT_CLAIMS``)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() not in ("", "0", "false", "no")


class ClaimNote:
    """What a student sees when a claim does not hold: markdown in a notebook, text elsewhere."""

    def __init__(self, statement, measured):
        self.statement, self.measured = statement, measured

    def _numbers(self):
        return ", ".join(f"{k} = {_fmt(v)}" for k, v in self.measured.items())

    def __str__(self):
        measured = f" This run measured {self._numbers()}." if self.measured else ""
        return (f"Note: the text expects that {self.statement}, and it does not hold in this run.{measured} "
                "Such numbers can differ on another machine (another TensorFlow build, a GPU); "
                "the rest of the notebook is not affected.")

    __repr__ = __str__

    def _repr_markdown_(self):
        measured = f" This run measured {self._numbers()}." if self.measured else ""
        return (f"> **Note:** the text expects that *{self.statement}*, and it does not hold in this run."
                f"{measured} Such numbers can differ on another machine (another TensorFlow build, a GPU); "
                "the rest of the notebook is not affected.")


def claim(statement, holds, **measured):
    """Check a sentence of the notebook against this run's numbers.

    statement: the sentence as the notebook's text says it (the margin included).
    holds: the condition, margin included (a bool or a NumPy bool).
    measured: the numbers behind it, named as the reader knows them.
    Returns None. Silent when the claim holds. When it does not: under the tests
    (``DEEPTRAIN_STRICT_CLAIMS`` set) raises ``ClaimError``; otherwise shows a short note with the
    measured numbers and the expected statement, and returns (the notebook goes on).
    """
    if bool(holds):
        return None
    note = ClaimNote(statement, measured)
    if strict():
        numbers_text = ", ".join(f"{k}={_fmt(v)}" for k, v in measured.items())
        raise ClaimError(f"claim does not hold in this run: {statement}"
                         + (f" ({numbers_text})" if numbers_text else ""))
    try:
        from IPython import get_ipython
        from IPython.display import display
        if get_ipython() is not None:
            display(note)
            return None
    except ImportError:
        pass
    print(note)
    return None
