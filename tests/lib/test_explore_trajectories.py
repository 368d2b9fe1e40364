"""Module 07's trajectory explorer (deeptrain.explore.trajectories) against independent oracles.

Oracles: the closed form of gradient descent on a quadratic, (I - lr A)^t theta_0; Keras'
built-in optimizers (keras.optimizers.SGD, Adagrad, RMSprop, Adam, Adamax, Nadam) stepping a
float64 variable with the same exact gradients; central finite differences for the surfaces'
gradients.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from deeptrain.explore import REGISTRY, trajectories as T

# optimizer name -> Keras built-in with the same rule, given (learning_rate, beta).
KERAS = {
    "SGD": lambda lr, b: keras.optimizers.SGD(lr),
    "momentum": lambda lr, b: keras.optimizers.SGD(lr, momentum=b),
    "Nesterov": lambda lr, b: keras.optimizers.SGD(lr, momentum=b, nesterov=True),
    "AdaGrad": lambda lr, b: keras.optimizers.Adagrad(lr),
    "RMSProp": lambda lr, b: keras.optimizers.RMSprop(lr, rho=b),
    "Adam": lambda lr, b: keras.optimizers.Adam(lr, beta_1=b),
    "AdaMax": lambda lr, b: keras.optimizers.Adamax(lr, beta_1=b),
    "Nadam": lambda lr, b: keras.optimizers.Nadam(lr, beta_1=b),
}
# Learning rates that keep every rule on the bowl and on Rosenbrock (no divergence in 60 steps), and
# a beta, all exact in float32: Keras rounds some hyperparameters through float32, our kernels do not,
# and with such values the two agree to rounding error instead of ~1e-5.
LR = {"SGD": 2.0**-10, "momentum": 2.0**-10, "Nesterov": 2.0**-10, "AdaGrad": 0.25, "RMSProp": 2.0**-6,
      "Adam": 2.0**-5, "AdaMax": 2.0**-5, "Nadam": 2.0**-5}
BETA = 0.875


def keras_path(optimizer, grad_fn, theta0, n_steps):
    var = keras.Variable(np.array(theta0, dtype=np.float64), dtype="float64")
    path = [var.numpy().copy()]
    for _ in range(n_steps):
        optimizer.apply([tf.constant(grad_fn(var.numpy()), tf.float64)], [var])
        path.append(var.numpy().copy())
    return np.array(path)


def test_every_optimizer_of_the_explorer_has_a_keras_oracle():
    assert set(KERAS) == set(T.OPTIMIZERS) == set(LR)


@pytest.mark.parametrize("surface", ["elongated bowl", "tilted bowl", "Rosenbrock", "saddle"])
def test_gradient_descent_follows_the_closed_form_on_quadratics_and_fd_elsewhere(surface):
    """Plain GD: on a quadratic, theta_t = (I - lr A)^t theta_0 exactly; elsewhere, every step
    equals theta - lr * (central finite-difference gradient)."""
    # Powers of 2: exact in float32, so Keras' float32 learning-rate variable keeps them.
    lr, n = (2.0**-11 if surface == "Rosenbrock" else 2.0**-8), 40
    path, losses, diverged = T.trajectory(surface, "SGD", learning_rate=lr, n_steps=n)
    assert not diverged and path.shape == (n + 1, 2)
    s = T.SURFACES[surface]
    theta0 = np.array(s.start)
    if surface in ("elongated bowl", "tilted bowl"):
        A = {"elongated bowl": np.diag([1.0, 100.0])}.get(surface)
        if A is None:                       # the same eigenvalues along the diagonals
            q = np.array([[1.0, -1.0], [1.0, 1.0]]) / np.sqrt(2)
            A = q @ np.diag([1.0, 100.0]) @ q.T
        expected = np.array([np.linalg.matrix_power(np.eye(2) - lr * A, t) @ theta0 for t in range(n + 1)])
        np.testing.assert_allclose(path, expected, rtol=1e-10, atol=1e-12)
    else:
        h = 1e-6
        for t in range(n):
            fd = np.array([(s.loss(path[t] + h * e) - s.loss(path[t] - h * e)) / (2 * h) for e in np.eye(2)])
            np.testing.assert_allclose(path[t + 1], path[t] - lr * fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(losses, s.loss(path) - s.minimum, rtol=1e-12)


@pytest.mark.parametrize("surface", ["elongated bowl", "Rosenbrock"])
@pytest.mark.parametrize("name", list(KERAS))
def test_trajectory_matches_keras_builtin_optimizer(name, surface):
    beta, n = BETA, 60
    path, _, diverged = T.trajectory(surface, name, learning_rate=LR[name], beta=beta, n_steps=n)
    s = T.SURFACES[surface]
    expected = keras_path(KERAS[name](LR[name], beta), s.grad, s.start, n)
    assert not diverged
    # Keras' beta_2 = 0.999 and epsilon go through float32 (ours stay float64): 1e-5 of the path's size.
    np.testing.assert_allclose(path, expected, rtol=1e-5, atol=1e-5 * np.abs(s.start).max())


def test_exponential_schedule_matches_keras_exponential_decay():
    n, lr = 50, 0.01
    path, _, _ = T.trajectory("elongated bowl", "momentum", learning_rate=lr, beta=0.9, n_steps=n,
                              schedule="exponential")
    decay = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=n, decay_rate=0.1)
    s = T.SURFACES["elongated bowl"]
    expected = keras_path(keras.optimizers.SGD(decay, momentum=0.9), s.grad, s.start, n)
    np.testing.assert_allclose(path, expected, rtol=1e-5, atol=1e-5 * np.abs(s.start).max())


def test_one_cycle_schedule_gives_gd_with_the_one_cycle_rates():
    """Oracle: GD on the bowl by hand with lr_t from 1cycle's four points (np.interp)."""
    n, max_lr = 100, 0.015
    path, _, _ = T.trajectory("elongated bowl", "SGD", learning_rate=max_lr, n_steps=n, schedule="1cycle")
    half = 0.9 * n / 2
    rates = np.interp(np.arange(n), [0, half, 2 * half, n], [max_lr / 10, max_lr, max_lr / 10, max_lr / 1e4])
    theta, expected = np.array(T.SURFACES["elongated bowl"].start), []
    for lr in rates:
        expected.append(theta)
        theta = theta - lr * np.array([1.0, 100.0]) * theta
    expected.append(theta)
    # The schedule is computed in float32: 1e-5 of the path's size.
    np.testing.assert_allclose(path, np.array(expected), rtol=1e-5, atol=1e-5 * np.abs(expected[0]).max())


def test_divergence_stops_the_path_and_is_reported():
    """GD on the bowl diverges above lr = 2 / 100: |1 - 100 lr| > 1 along theta_2."""
    path, losses, diverged = T.trajectory("elongated bowl", "SGD", learning_rate=0.03, n_steps=300)
    assert diverged and len(path) < 301 and np.all(np.isfinite(path)) and np.abs(path).max() <= 1e3
    path, _, diverged = T.trajectory("elongated bowl", "SGD", learning_rate=0.019, n_steps=300)
    assert not diverged and len(path) == 301


@pytest.mark.parametrize("surface", list(T.SURFACES))
def test_surface_gradient_matches_finite_differences_and_vanishes_at_the_minima(surface):
    s = T.SURFACES[surface]
    rng = np.random.default_rng(0)
    x0, x1, y0, y1 = s.box
    points = np.column_stack([rng.uniform(x0, x1, 20), rng.uniform(y0, y1, 20)])
    h = 1e-6
    fd = np.stack([(s.loss(points + h * e) - s.loss(points - h * e)) / (2 * h) for e in np.eye(2)], axis=-1)
    np.testing.assert_allclose(s.grad(points), fd, rtol=1e-6, atol=1e-5)
    for m in s.minimizers:
        np.testing.assert_allclose(s.grad(np.array(m)), 0.0, atol=1e-12)
        np.testing.assert_allclose(s.loss(np.array(m)), s.minimum, atol=1e-12)
    assert np.all(s.loss(points) >= s.minimum)


def test_unknown_names_and_step_counts_are_refused():
    with pytest.raises(ValueError):
        T.make_optimizer("Adadelta", 0.1)
    with pytest.raises(ValueError):
        T.make_schedule("cosine", 0.1, 10)
    with pytest.raises(ValueError):
        T.trajectory(n_steps=T.MAX_STEPS + 1)


def test_draw_plots_the_trajectory_and_is_registered():
    fig = T.draw("saddle", "Adam", 0.1, 0.9, 30, "constant")
    ax = fig.axes[0]
    path, losses, _ = T.trajectory("saddle", "Adam", 0.1, 0.9, 30)
    plotted = [line.get_xydata() for line in ax.get_lines() if len(line.get_xdata()) == len(path)]
    assert any(np.allclose(xy, path) for xy in plotted), "the path drawn is not the trajectory"
    assert "after 30 steps" in fig.axes[1].get_title()
    module_folder, draw, controls = REGISTRY["07_trajectories"]
    assert module_folder == "07_optimizers" and draw is T.draw
    defaults = {k: c.value for k, c in controls().items()}
    assert set(defaults) == {"surface", "optimizer", "learning_rate", "beta", "n_steps", "schedule"}
