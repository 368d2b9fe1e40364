"""Student-facing checks: clear failure messages and a numeric gradient check, for the
visible checks of the notebooks.

The hidden tests no longer run in the student's kernel: it only hands results over
(``deeptrain.harvest``) and the grader judges them in its own process (``autograder/verdicts``),
where delegation is found by reading the student's code. Nothing here decides a grade.

Nothing here imports ``deeptrain.reference`` (it is not in the student bundle) or TensorFlow.
"""

import numpy as np

__all__ = ["assert_close", "assert_shape", "numeric_gradient", "relative_error",
           "assert_gradient_matches"]


def _describe(x):
    a = np.asarray(x)
    return f"shape {a.shape}, dtype {a.dtype}"


def assert_shape(actual, shape, name="result"):
    """Fail with a message naming the expected and returned shapes."""
    got = np.shape(actual)
    if tuple(got) != tuple(shape):
        raise AssertionError(f"{name}: expected shape {tuple(shape)}, got {tuple(got)}")


def assert_close(actual, expected, rtol=1e-7, atol=0.0, name="result"):
    """Like ``np.testing.assert_allclose``, with a message a student can act on.

    Says what was expected and what came back: shapes, dtypes, how many entries differ,
    and the first differing entry with both values.
    """
    if actual is None:
        raise AssertionError(f"{name}: your function returned None (did you forget `return`?)")
    try:
        a = np.asarray(actual, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{name}: expected an array of numbers, got {type(actual).__name__}") from None
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{name}: expected {_describe(expected)}, got {_describe(actual)}")
    if np.isnan(a).any() and not np.isnan(e).any():
        first = tuple(int(i) for i in np.argwhere(np.isnan(a))[0])
        raise AssertionError(f"{name}: got NaN at index {first} (expected {e[first]:.10g}); "
                             "look for an overflow or a division by zero")
    bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at index {first}" if a.ndim else ""
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {a.size} values differ (rtol={rtol:g}, atol={atol:g}); "
            f"first{where}: expected {e[first]:.10g}, got {a[first]:.10g}")


def numeric_gradient(f, x, eps=1e-6):
    """Central-difference gradient of a scalar function f at x (float64 array of any shape).

    Returns an array of x's shape: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for each i.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        f_plus = float(f(x))
        flat[i] = old - eps
        f_minus = float(f(x))
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """max |a - b| / max(|a| + |b|, tiny): the gradient-check measure (CS231n style)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)))


def assert_gradient_matches(analytic, numeric, tol=1e-7, name="gradient"):
    """Fail unless the analytic and numeric gradients agree to a relative error below tol."""
    assert_shape(analytic, np.shape(numeric), name)
    err = relative_error(analytic, numeric)
    if err > tol:
        raise AssertionError(f"{name}: relative error {err:.2e} against the numeric gradient "
                             f"(must be below {tol:.0e})")
