"""Module 07 optimizer references and kernels against the Keras 3 optimizers (the oracle).

Trajectories: 50 steps on a random ill-conditioned quadratic J(theta) = 1/2 theta' A theta - b' theta
(eigenvalues of A from 1 to 100), the gradient A theta - b recomputed at every point the
optimizer visits. Keras runs on float64 variables with floatx float64 (so that its learning-rate
variable is float64 too). Keras still rounds some hyperparameters through float32 (see CASES),
so exact-in-float32 hyperparameters give a 1e-9 match, Keras' defaults (0.9, 0.999) 1e-5.
Kernels (deeptrain.kernels.optimizers) are compared in the same way, and in float32 under fit.
"""
import contextlib
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from deeptrain import checks, reference

N_STEPS = 50


def quadratic(dim=6, cond=100.0, seed=0):
    """(A, b, theta0): a random symmetric A with eigenvalues log-spaced in [1, cond]."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    A = q @ np.diag(np.logspace(0, np.log10(cond), dim)) @ q.T
    return A, rng.normal(size=dim), rng.normal(size=dim) * 3


@contextlib.contextmanager
def floatx64():
    old = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(old)


def reference_trajectory(step, theta0, grad_fn, n_steps=N_STEPS, **hparams):
    theta, state, path = np.array(theta0, dtype=np.float64), None, []
    for _ in range(n_steps):
        theta, state = step(theta, grad_fn(theta), state, **hparams)
        path.append(theta)
    return np.array(path)


def keras_trajectory(optimizer, theta0, grad_fn, n_steps=N_STEPS):
    """Points visited by a Keras optimizer on a float64 variable, gradients from grad_fn."""
    var = keras.Variable(np.array(theta0, dtype=np.float64), dtype="float64")
    path = []
    for _ in range(n_steps):
        g = grad_fn(var.numpy())
        optimizer.apply([tf.constant(g, tf.float64)], [var])
        path.append(var.numpy().copy())
    return np.array(path)


# name -> (reference step, Keras constructor, hyperparameters for both, Keras-only extra arguments).
# Hyperparameters are exact binary fractions: Keras casts some Python floats to the variable's
# dtype through float32 (ops.cast(0.9, "float64") is 0.89999997615...), which would blur a
# float64 comparison at the 1e-7 level; with values exact in float32 the match is to 1e-9.
CASES = {
    "momentum": (reference.momentum_step, keras.optimizers.SGD, dict(learning_rate=2**-8, momentum=0.875), {}),
    "nesterov": (reference.nesterov_step, keras.optimizers.SGD, dict(learning_rate=2**-8, momentum=0.875),
                 dict(nesterov=True)),
    "adagrad": (reference.adagrad_step, keras.optimizers.Adagrad,
                dict(learning_rate=0.5, initial_accumulator_value=0.0625, epsilon=2**-20), {}),
    "rmsprop": (reference.rmsprop_step, keras.optimizers.RMSprop,
                dict(learning_rate=2**-6, rho=0.75, epsilon=2**-20), {}),
    "adam": (reference.adam_step, keras.optimizers.Adam,
             dict(learning_rate=0.046875, beta_1=0.8125, beta_2=0.984375, epsilon=2**-20), {}),
    "adamax": (reference.adamax_step, keras.optimizers.Adamax,
               dict(learning_rate=0.09375, beta_1=0.8125, beta_2=0.984375, epsilon=2**-20), {}),
    "nadam": (reference.nadam_step, keras.optimizers.Nadam,
              dict(learning_rate=0.046875, beta_1=0.8125, beta_2=0.984375, epsilon=2**-20), {}),
    "adamw": (reference.adamw_step, keras.optimizers.AdamW,
              dict(learning_rate=0.046875, weight_decay=0.125, beta_1=0.8125, beta_2=0.984375, epsilon=2**-20), {}),
}
# Nadam: Keras casts its schedule constant 0.96 through float32 in update_step (but not in the
# u_product update), whatever the hyperparameters: about 1e-6 relative after 50 steps. (With
# that same mixture the reference matches Keras to 1e-14; checked by hand.)
TRAJECTORY_RTOL = dict.fromkeys(CASES, 1e-9) | {"nadam": 1e-5}


@pytest.mark.parametrize("name", list(CASES), ids=[f"{n}_step" for n in CASES])
def test_step_matches_keras_trajectory(name):
    step, keras_cls, hp, extra = CASES[name]
    A, b, theta0 = quadratic(seed=1)
    grad_fn = lambda th: A @ th - b   # noqa: E731
    with floatx64():
        expected = keras_trajectory(keras_cls(**hp, **extra), theta0, grad_fn)
    got = reference_trajectory(step, theta0, grad_fn, **hp)
    assert np.abs(got[-1] - got[0]).max() > 0.1, "the trajectory must move for the comparison to mean anything"
    checks.assert_close(got, expected, rtol=TRAJECTORY_RTOL[name], atol=1e-12, name=f"{name}_step trajectory vs keras")


@pytest.mark.parametrize("name", list(CASES), ids=[f"{n}_step" for n in CASES])
def test_step_defaults_are_the_keras_defaults(name):
    step, keras_cls, _, _ = CASES[name]
    ours = {k: p.default for k, p in inspect.signature(step).parameters.items()
            if p.default is not inspect.Parameter.empty}
    theirs = inspect.signature(keras_cls).parameters
    for k, default in ours.items():
        assert k in theirs, f"{name}_step has hyperparameter {k!r}, which Keras' {keras_cls.__name__} does not"
        assert theirs[k].default == default, (f"{name}_step: default {k}={default!r}, Keras "
                                              f"{keras_cls.__name__} has {theirs[k].default!r}")


@pytest.mark.parametrize("name", list(CASES), ids=[f"{n}_step" for n in CASES])
def test_step_with_default_hyperparameters_matches_keras_on_a_matrix(name):
    step, keras_cls, _, extra = CASES[name]
    rng = np.random.default_rng(2)
    target = rng.normal(size=(3, 4))
    scale = np.linspace(0.1, 10, 12).reshape(3, 4)          # per-coordinate curvature 0.1 ... 10
    grad_fn = lambda th: scale * (th - target)              # noqa: E731
    theta0 = rng.normal(size=(3, 4))
    kwargs = {"momentum": 0.9} if name in ("momentum", "nesterov") else {}   # SGD's default is momentum 0
    with floatx64():
        expected = keras_trajectory(keras_cls(**kwargs, **extra), theta0, grad_fn, n_steps=20)
    got = reference_trajectory(step, theta0, grad_fn, n_steps=20, **kwargs)
    # Defaults such as 0.9 and 0.999 are not exact in float32, and Keras casts them through float32:
    # 1e-5 relative is the honest tolerance here (the brief's float32 figure).
    checks.assert_close(got, expected, rtol=1e-5, atol=1e-12, name=f"{name}_step (Keras defaults) on a 3x4 matrix")


@pytest.mark.parametrize("name", list(CASES), ids=[f"{n}_step" for n in CASES])
def test_step_leaves_its_inputs_unchanged(name):
    step = CASES[name][0]
    theta, grad = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.1, -0.3])
    _, state = step(theta, grad, None)
    frozen = {k: np.array(v, copy=True) for k, v in state.items()}
    theta_copy, grad_copy = theta.copy(), grad.copy()
    step(theta, grad, state)
    np.testing.assert_array_equal(theta, theta_copy)
    np.testing.assert_array_equal(grad, grad_copy)
    for k, v in frozen.items():
        np.testing.assert_array_equal(state[k], v, err_msg=f"{name}_step modified state[{k!r}] in place")


def test_nesterov_step_is_equation_11_5_in_the_lookahead_variable():
    # Equation 11-5 (gradient at theta + beta m) as the seeds write it; Keras' form tracks
    # phi = theta + beta m with the gradient at phi. Both start at the same point with m = 0.
    A, b, theta0 = quadratic(seed=3)
    lr, beta = 0.004, 0.9
    theta, m = theta0.copy(), np.zeros_like(theta0)
    phi, state = theta0.copy(), None
    for _ in range(N_STEPS):
        m = beta * m - lr * (A @ (theta + beta * m) - b)
        theta = theta + m
        phi, state = reference.nesterov_step(phi, A @ phi - b, state, learning_rate=lr, momentum=beta)
        checks.assert_close(phi, theta + beta * m, rtol=1e-10, atol=1e-12, name="phi vs theta + beta m")


def test_adam_step_with_zero_epsilon_is_equation_11_8():
    A, b, theta0 = quadratic(seed=4)
    lr, b1, b2 = 0.05, 0.9, 0.999
    theta, m, s = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    ours, state = theta0.copy(), None
    for t in range(1, N_STEPS + 1):
        g = A @ theta - b
        m = b1 * m - (1 - b1) * g                 # the seeds' sign convention
        s = b2 * s + (1 - b2) * g * g
        m_hat, s_hat = m / (1 - b1**t), s / (1 - b2**t)
        theta = theta + lr * m_hat / np.sqrt(s_hat)
        ours, state = reference.adam_step(ours, A @ ours - b, state, learning_rate=lr, epsilon=0.0)
    checks.assert_close(ours, theta, rtol=1e-9, name="adam_step(epsilon=0) vs equation 11-8")


def test_adam_step_first_step_has_length_learning_rate_per_coordinate():
    # With m and s bias-corrected, the first step is lr * g / |g| = lr * sign(g) (|g| >> epsilon;
    # Keras' epsilon acts like epsilon / sqrt(1 - beta_2) = 3e-6 on the first step).
    g = np.array([0.1, -5.0, 200.0])
    theta, _ = reference.adam_step(np.zeros(3), g, None, learning_rate=0.01)
    checks.assert_close(theta, -0.01 * np.sign(g), rtol=1e-4)


def test_adamw_step_without_weight_decay_is_adam_step():
    A, b, theta0 = quadratic(seed=5)
    grad_fn = lambda th: A @ th - b   # noqa: E731
    checks.assert_close(reference_trajectory(reference.adamw_step, theta0, grad_fn, weight_decay=0.0),
                        reference_trajectory(reference.adam_step, theta0, grad_fn), rtol=1e-12)


def test_adagrad_step_size_shrinks_as_the_accumulator_grows():
    # The seeds' point: with a constant gradient AdaGrad's steps shrink like 1 / sqrt(t).
    theta, state, steps = np.zeros(1), None, []
    for _ in range(400):
        new, state = reference.adagrad_step(theta, np.ones(1), state, learning_rate=1.0,
                                            initial_accumulator_value=0.0)
        steps.append(float(theta[0] - new[0]))
        theta = new
    checks.assert_close(steps[99] / steps[399], 2.0, rtol=1e-2, name="step 100 / step 400 (sqrt(4) = 2)")


# --- kernels: Keras Optimizer subclasses ---------------------------------------------------

KERNEL_CASES = {
    "momentum": ("Momentum", {}), "nesterov": ("Nesterov", {}), "adagrad": ("AdaGrad", {}),
    "rmsprop": ("RMSProp", {}), "adam": ("Adam", {}), "adamax": ("AdaMax", {}), "nadam": ("Nadam", {}),
    "adamw": ("AdamW", {}),
}


def _kernel_module():
    return pytest.importorskip("deeptrain.kernels.optimizers")


@pytest.mark.parametrize("name", list(CASES), ids=[f"{n}_step" for n in CASES])
def test_kernel_optimizer_matches_keras_and_reference_trajectory(name):
    kopt = _kernel_module()
    step, keras_cls, hp, extra = CASES[name]
    A, b, theta0 = quadratic(seed=6)
    grad_fn = lambda th: A @ th - b   # noqa: E731
    with floatx64():
        ours = keras_trajectory(getattr(kopt, KERNEL_CASES[name][0])(**hp), theta0, grad_fn)
        theirs = keras_trajectory(keras_cls(**hp, **extra), theta0, grad_fn)
    checks.assert_close(ours, theirs, rtol=TRAJECTORY_RTOL[name], atol=1e-12,
                        name=f"kernels.optimizers.{KERNEL_CASES[name][0]} vs keras")
    checks.assert_close(ours, reference_trajectory(step, theta0, grad_fn, **hp), rtol=1e-9, atol=1e-12,
                        name=f"kernels.optimizers.{KERNEL_CASES[name][0]} vs reference")


@pytest.mark.parametrize("name", list(CASES), ids=[f"{n}_step" for n in CASES])
def test_kernel_optimizer_matches_keras_under_xla_in_float32(name):
    # The kernels run inside compiled train functions: 30 steps in a tf.function(jit_compile=True),
    # float32, against the Keras built-in run eagerly.
    kopt = _kernel_module()
    _, keras_cls, hp, extra = CASES[name]
    A, b, theta0 = (x.astype(np.float32) for x in quadratic(seed=8))
    var = keras.Variable(theta0)
    optimizer = getattr(kopt, KERNEL_CASES[name][0])(**hp)

    @tf.function(jit_compile=True)
    def step():
        optimizer.apply([tf.linalg.matvec(A, var.value) - b], [var])
        return var.value

    ours = np.array([step().numpy() for _ in range(30)])
    theirs = keras_trajectory(keras_cls(**hp, **extra), theta0, lambda th: A @ th - b, n_steps=30)
    checks.assert_close(ours, theirs, rtol=1e-5, atol=1e-6, name=f"{KERNEL_CASES[name][0]} under XLA vs keras (float32)")


def test_kernel_optimizer_trains_a_model_in_fit_like_keras():
    # End to end: compile + fit, Nadam (the kernel with extra scalar slots); XLA is covered above.
    kopt = _kernel_module()
    rng = np.random.default_rng(7)
    X = rng.normal(size=(256, 8)).astype(np.float32)
    y = rng.integers(0, 3, 256)

    def trained(optimizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(X, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        return model.get_weights()

    for w_ours, w_theirs in zip(trained(kopt.Nadam(learning_rate=0.01)), trained(keras.optimizers.Nadam(learning_rate=0.01))):
        checks.assert_close(w_ours, w_theirs, rtol=1e-5, atol=1e-6, name="Nadam: weights after fit")


def test_kernel_optimizers_share_keras_defaults():
    kopt = _kernel_module()
    for name, (step, keras_cls, _, _) in CASES.items():
        cls = getattr(kopt, KERNEL_CASES[name][0])
        ours = inspect.signature(cls).parameters
        for k, p in inspect.signature(step).parameters.items():
            if p.default is not inspect.Parameter.empty:
                assert ours[k].default == p.default, f"{cls.__name__}: {k}={ours[k].default!r}, reference {p.default!r}"


def test_kernel_optimizer_survives_get_config_round_trip():
    kopt = _kernel_module()
    opt = kopt.Nadam(learning_rate=0.02, beta_1=0.8)
    clone = kopt.Nadam.from_config(opt.get_config())
    assert clone.get_config()["beta_1"] == 0.8
    assert float(clone.learning_rate) == pytest.approx(0.02)
