"""Module 07's schedule explorer (deeptrain.explore.schedules) against the equations of section 7
and against Keras' own schedules (InverseTimeDecay, ExponentialDecay, PiecewiseConstantDecay)."""
import keras
import numpy as np
import pytest

from deeptrain.explore import REGISTRY, schedules as S

PARAMS = dict(learning_rate=0.05, total_steps=2000, s=250, c=1.0, factor=0.3, div_factor=20.0, anneal_fraction=0.2)
STEPS = np.arange(PARAMS["total_steps"], dtype=np.float64)


def keras_curve(schedule):
    return np.array([float(schedule(int(t))) for t in STEPS])


def test_power_schedule_is_the_equation_and_keras_inverse_time_decay():
    curve = S.schedule_curve("power", **PARAMS)
    np.testing.assert_allclose(curve, 0.05 / (1 + STEPS / 250), rtol=1e-6)
    np.testing.assert_allclose(curve, keras_curve(keras.optimizers.schedules.InverseTimeDecay(0.05, 250, 1.0)),
                               rtol=1e-6)
    c2 = S.schedule_curve("power", **{**PARAMS, "c": 2.5})
    np.testing.assert_allclose(c2, 0.05 / (1 + STEPS / 250) ** 2.5, rtol=1e-5)


def test_exponential_schedule_is_the_equation_and_keras_exponential_decay():
    curve = S.schedule_curve("exponential", **PARAMS)
    np.testing.assert_allclose(curve, 0.05 * 0.1 ** (STEPS / 250), rtol=1e-5)
    np.testing.assert_allclose(curve, keras_curve(keras.optimizers.schedules.ExponentialDecay(0.05, 250, 0.1)),
                               rtol=1e-5)


def test_piecewise_schedule_drops_by_factor_at_s_and_2s_as_keras_does():
    curve = S.schedule_curve("piecewise", **PARAMS)
    values = [0.05, 0.05 * 0.3, 0.05 * 0.09]
    expected = np.where(STEPS <= 250, values[0], np.where(STEPS <= 500, values[1], values[2]))
    np.testing.assert_allclose(curve, expected, rtol=1e-6)
    keras_pw = keras.optimizers.schedules.PiecewiseConstantDecay([250, 500], values)
    np.testing.assert_allclose(curve, keras_curve(keras_pw), rtol=1e-6)


def test_one_cycle_goes_through_its_four_points():
    curve = S.schedule_curve("1cycle", **PARAMS)
    half = (1 - 0.2) * 2000 / 2
    expected = np.interp(STEPS, [0, half, 2 * half, 2000], [0.05 / 20, 0.05, 0.05 / 20, 0.05 / 20 / 1000])
    np.testing.assert_allclose(curve, expected, rtol=1e-5)
    assert curve.argmax() == int(half) and curve.max() == pytest.approx(0.05, rel=1e-6)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        S.schedule_curve("cosine")


@pytest.mark.parametrize("kind", S.KINDS)
def test_draw_highlights_the_chosen_schedule_with_its_own_curve(kind):
    fig = S.draw(kind, **PARAMS)
    ax = fig.axes[0]
    coloured = [line for line in ax.get_lines() if line.get_linewidth() == 2]
    assert len(coloured) == 1 and coloured[0].get_label() == kind
    np.testing.assert_allclose(coloured[0].get_ydata(), S.schedule_curve(kind, **PARAMS))
    assert len(ax.get_lines()) == len(S.KINDS)


def test_registered_with_controls_for_every_argument():
    module_folder, draw, controls = REGISTRY["07_schedules"]
    assert module_folder == "07_optimizers" and draw is S.draw
    assert set(controls()) == set(PARAMS) | {"kind"}
