"""deeptrain.checks: messages students can act on, and the delegation guard."""
import numpy as np
import pytest

from deeptrain import checks


def test_assert_close_names_shape_mismatch():
    with pytest.raises(AssertionError, match=r"expected shape \(3,\).*got shape \(2,\)"):
        checks.assert_close(np.zeros(2), np.zeros(3), name="x")


def test_assert_close_reports_first_differing_value():
    with pytest.raises(AssertionError, match=r"1 of 3 values differ.*index \(1,\): expected 2, got 2.5"):
        checks.assert_close([1.0, 2.5, 3.0], [1.0, 2.0, 3.0])


def test_assert_close_explains_none_and_nan():
    with pytest.raises(AssertionError, match="returned None"):
        checks.assert_close(None, [1.0])
    with pytest.raises(AssertionError, match="NaN at index"):
        checks.assert_close([np.nan], [1.0])


def test_assert_close_passes_within_tolerance():
    checks.assert_close([1.0 + 1e-9], [1.0], rtol=1e-7)


def test_numeric_gradient_matches_an_analytic_gradient():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    g = checks.numeric_gradient(lambda w: np.sum(w**3), x)
    checks.assert_gradient_matches(3 * x**2, g, tol=1e-8)


def test_gradient_check_fails_on_a_wrong_gradient():
    x = np.array([0.3, -1.2])
    with pytest.raises(AssertionError, match="relative error"):
        checks.assert_gradient_matches(2 * x**2, checks.numeric_gradient(lambda w: np.sum(w**3), x))
