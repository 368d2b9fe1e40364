"""Module 03 references and kernels against independent oracles: Keras/TensorFlow
activations, tf.GradientTape, central differences, and models built so that the answer is
known by construction."""
import inspect
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import erf

from deeptrain import checks, reference
from deeptrain.kernels import activations as kact

RNG_Z = np.random.default_rng(303).normal(0.0, 4.0, size=500)
# Edge cases: 0, both sides of 0, the tails, and |z| = 1e4.
EDGES = np.array([-1e4, -800.0, -40.0, -5.0, -1.0, -1e-10, -0.0, 0.0, 1e-10, 1.0, 5.0, 40.0, 800.0, 1e4])
Z = np.concatenate([RNG_Z, EDGES])


def _keras(fn, z, **kw):
    return np.asarray(fn(tf.constant(z, tf.float64), **kw))


# --- values vs Keras / TensorFlow (float64) ---------------------------------------------

@pytest.mark.parametrize("alpha", [0.01, 0.2, 0.3, 1.0])
def test_leaky_relu_matches_keras_activation(alpha):
    # tf.nn.leaky_relu takes alpha as a float32 attribute (0.2 -> 0.200000003), so Keras is
    # only float32-exact in alpha: relative error ~3e-8, under the course's 1e-7.
    expected = _keras(keras.activations.leaky_relu, Z, negative_slope=alpha)
    checks.assert_close(reference.leaky_relu(Z, alpha), expected, rtol=1e-7, atol=0)


def test_leaky_relu_with_alpha_below_one_is_the_seeds_max_form():
    for alpha in (0.01, 0.2, 0.7):
        checks.assert_close(reference.leaky_relu(Z, alpha), np.maximum(alpha * Z, Z), rtol=0, atol=0)


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu_matches_keras_activation(alpha):
    expected = _keras(keras.activations.elu, Z, alpha=alpha)
    # TensorFlow computes exp(z) - 1, which loses relative precision for |z| < 1e-8; expm1 does not.
    checks.assert_close(reference.elu(Z, alpha), expected, rtol=1e-12, atol=1e-15)


def test_elu_keeps_relative_precision_near_zero():
    checks.assert_close(reference.elu(-1e-10, 1.0), np.expm1(-1e-10), rtol=1e-15)
    checks.assert_close(reference.elu(-1e-10, 1.0), -1e-10 + 5e-21, rtol=1e-12)


def test_selu_matches_keras_activation():
    checks.assert_close(reference.selu(Z), _keras(keras.activations.selu, Z), rtol=1e-12, atol=1e-15)


def test_selu_constants_are_tensorflows():
    # selu(1) = scale; selu(-inf) = -scale * alpha (tf.nn.selu, float64)
    scale = float(tf.nn.selu(tf.constant(1.0, tf.float64)))
    floor = float(tf.nn.selu(tf.constant(-1e4, tf.float64)))
    checks.assert_close(reference.SELU_SCALE, scale, rtol=1e-15)
    checks.assert_close(reference.SELU_ALPHA, -floor / scale, rtol=1e-15)
    # and Keras' docstring values, rounded to 8 decimals
    assert round(reference.SELU_ALPHA, 8) == 1.67326324 and round(reference.SELU_SCALE, 8) == 1.05070099


def test_gelu_matches_keras_exact_form():
    # tf.nn.gelu rounds 1/sqrt(2) to float32 (relative 1.7e-8) even for float64 inputs; the
    # relative error this makes in erfc(x) grows like 2 x^2 * 1.7e-8: below 2e-6 for |z| <= 8.
    z = Z[np.abs(Z) <= 8]
    expected = _keras(keras.activations.gelu, z, approximate=False)
    checks.assert_close(reference.gelu(z), expected, rtol=2e-6, atol=1e-300)


def test_gelu_matches_tensorflow_erfc_in_float64():
    z = tf.constant(Z, tf.float64)
    expected = (0.5 * z * tf.math.erfc(-z / tf.constant(np.sqrt(2.0), tf.float64))).numpy()
    checks.assert_close(reference.gelu(Z), expected, rtol=1e-12, atol=1e-300)


def test_gelu_equals_the_erf_formula_where_it_does_not_cancel():
    z = np.linspace(-5, 10, 301)
    checks.assert_close(reference.gelu(z), 0.5 * z * (1 + erf(z / np.sqrt(2))), rtol=1e-9, atol=1e-15)


def test_gelu_is_not_the_tanh_approximation():
    approx = _keras(keras.activations.gelu, np.array([1.0, 2.0]), approximate=True)
    assert np.all(np.abs(reference.gelu(np.array([1.0, 2.0])) - approx) > 1e-5)


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0, 10.0])
def test_swish_matches_tf_nn_silu_with_beta(beta):
    checks.assert_close(reference.swish(Z, beta), _keras(tf.nn.silu, Z, beta=beta), rtol=1e-12, atol=1e-300)


def test_swish_with_default_beta_is_keras_silu():
    checks.assert_close(reference.swish(Z), _keras(keras.activations.silu, Z), rtol=1e-12, atol=1e-300)


def test_mish_matches_keras_activation():
    checks.assert_close(reference.mish(Z), _keras(keras.activations.mish, Z), rtol=1e-12, atol=1e-300)


def test_defaults_are_the_keras_defaults():
    def default(fn, arg):
        return inspect.signature(fn).parameters[arg].default
    assert default(reference.leaky_relu, "alpha") == default(keras.activations.leaky_relu, "negative_slope")
    assert default(reference.leaky_relu_grad, "alpha") == default(keras.activations.leaky_relu, "negative_slope")
    assert default(reference.elu, "alpha") == default(keras.activations.elu, "alpha")
    assert default(reference.elu_grad, "alpha") == default(keras.activations.elu, "alpha")
    assert default(reference.swish, "beta") == default(tf.nn.silu, "beta")


# --- stability ------------------------------------------------------------------------

ALL = [("leaky_relu", (0.2,)), ("elu", (1.0,)), ("selu", ()), ("gelu", ()), ("swish", (1.0,)),
       ("mish", ()), ("leaky_relu_grad", (0.2,)), ("elu_grad", (1.5,))]


@pytest.mark.parametrize("name,args", ALL)
def test_reference_never_overflows_or_warns_up_to_1e4(name, args):
    z = np.array([-1e4, -1e3, -745.0, -710.0, 0.0, 710.0, 1e3, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = getattr(reference, name)(z, *args)
    assert out.dtype == np.float64 and out.shape == z.shape and np.all(np.isfinite(out))


@pytest.mark.parametrize("name,args", ALL)
def test_reference_keeps_shape_and_accepts_scalars(name, args):
    fn = getattr(reference, name)
    assert fn(np.zeros((3, 4, 2)), *args).shape == (3, 4, 2)
    assert np.shape(fn(1.5, *args)) == ()


# --- derivatives vs central differences and tf.GradientTape ----------------------------

Z_AWAY = np.concatenate([np.linspace(-8, -1e-3, 200), np.linspace(1e-3, 8, 200)])


def _numeric(f, z, eps=1e-6):
    return np.array([checks.numeric_gradient(lambda v: f(v).sum(), np.array([zi]), eps=eps)[0] for zi in z])


@pytest.mark.parametrize("alpha", [0.01, 0.2, 0.5])
def test_leaky_relu_grad_matches_numeric_gradient(alpha):
    numeric = _numeric(lambda v: reference.leaky_relu(v, alpha), Z_AWAY)
    checks.assert_gradient_matches(reference.leaky_relu_grad(Z_AWAY, alpha), numeric, tol=1e-7)


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu_grad_matches_numeric_gradient(alpha):
    numeric = _numeric(lambda v: reference.elu(v, alpha), Z_AWAY)
    checks.assert_gradient_matches(reference.elu_grad(Z_AWAY, alpha), numeric, tol=1e-7)


def _tape_grad(fn, z, **kw):
    z = tf.constant(z, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = fn(z, **kw)
    return tape.gradient(y, z).numpy()


@pytest.mark.parametrize("alpha", [0.01, 0.2, 0.3])
def test_leaky_relu_grad_matches_gradient_tape_including_zero(alpha):
    z = np.concatenate([RNG_Z, [0.0, -0.0]])
    expected = _tape_grad(keras.activations.leaky_relu, z, negative_slope=alpha)
    checks.assert_close(reference.leaky_relu_grad(z, alpha), expected, rtol=1e-7)  # alpha in float32
    assert reference.leaky_relu_grad(0.0, alpha) == alpha


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu_grad_matches_gradient_tape_including_zero(alpha):
    z = np.concatenate([RNG_Z, [0.0, -0.0]])
    # TensorFlow's ELU gradient is (elu(z) + 1) * alpha with elu(z) = e^z - 1: the + 1 cancels
    # for z << 0, so it is only absolutely accurate there (1e-16).
    expected = _tape_grad(keras.activations.elu, z, alpha=alpha)
    checks.assert_close(reference.elu_grad(z, alpha), expected, rtol=1e-12, atol=1e-15)
    assert reference.elu_grad(0.0, alpha) == alpha


# --- kernels vs reference and Keras ----------------------------------------------------

VALUES = [("leaky_relu", {"alpha": 0.1}), ("elu", {"alpha": 0.7}), ("selu", {}), ("gelu", {}),
          ("swish", {"beta": 1.5}), ("mish", {}), ("leaky_relu_grad", {"alpha": 0.1}), ("elu_grad", {"alpha": 0.7})]


@pytest.mark.parametrize("name,kw", VALUES)
def test_kernel_matches_reference_float64(name, kw):
    out = getattr(kact, name)(Z, **kw)
    assert out.dtype == tf.float64
    checks.assert_close(out.numpy(), getattr(reference, name)(Z, **kw), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name,kw", VALUES)
def test_kernel_matches_reference_float32(name, kw):
    z32 = Z[np.abs(Z) < 50].astype(np.float32)
    out = getattr(kact, name)(z32, **kw)
    assert out.dtype == tf.float32
    checks.assert_close(out.numpy(), getattr(reference, name)(z32.astype(np.float64), **kw), rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("name,keras_fn,kw", [
    ("leaky_relu", lambda z: keras.activations.leaky_relu(z, negative_slope=0.2), {}),
    ("elu", keras.activations.elu, {}), ("selu", keras.activations.selu, {}),
    ("gelu", lambda z: keras.activations.gelu(z, approximate=False), {}),
    ("swish", keras.activations.silu, {}), ("mish", keras.activations.mish, {})])
def test_kernel_matches_keras_float32(name, keras_fn, kw):
    z = tf.constant(Z[np.abs(Z) < 50], tf.float32)
    # atol: Keras' float32 elu/selu compute exp(z) - 1, which is 0 for |z| < 6e-8 (we use expm1)
    checks.assert_close(getattr(kact, name)(z).numpy(), keras_fn(z).numpy(), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("name,grad,kw", [("leaky_relu", "leaky_relu_grad", {"alpha": 0.2}),
                                          ("elu", "elu_grad", {"alpha": 0.5})])
def test_kernel_grad_equals_autodiff_of_kernel(name, grad, kw):
    z = np.concatenate([RNG_Z, [0.0]])
    checks.assert_close(getattr(kact, grad)(z, **kw).numpy(), _tape_grad(getattr(kact, name), z, **kw), rtol=1e-12)


def test_kernel_mish_gradient_at_zero_is_softplus_of_zero():
    # mish'(0) = tanh(softplus(0)) = tanh(log 2) = 0.6
    checks.assert_close(_tape_grad(kact.mish, np.array([0.0])), [0.6], rtol=1e-12)


def test_kernel_activation_works_inside_a_dense_layer():
    tf.keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    ours = keras.layers.Dense(5, activation=kact.mish)
    builtin = keras.layers.Dense(5, activation="mish")
    ours.build((None, 3)); builtin.build((None, 3))
    builtin.set_weights(ours.get_weights())
    checks.assert_close(ours(x).numpy(), builtin(x).numpy(), rtol=1e-5, atol=1e-7)


# --- SELU self-normalization (statistical, Klambauer et al. 2017) ----------------------

def test_selu_stack_with_lecun_normal_keeps_mean_0_and_std_1_over_50_layers():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2000, 200))
    for _ in range(50):
        a = reference.selu(a @ (rng.standard_normal((200, 200)) / np.sqrt(200)))
    # margins: 0.15 on the mean, 15 % on the std
    assert abs(a.mean()) < 0.15 and abs(a.std() - 1) < 0.15, (a.mean(), a.std())


# --- dead_relu_fraction ----------------------------------------------------------------

def _stack(specs, input_shape, dropout=None, seed=0):
    tf.keras.utils.set_random_seed(seed)
    layers = [keras.Input(input_shape)]
    if len(input_shape) > 1:
        layers.append(keras.layers.Flatten())
    for units, act in specs:
        layers.append(keras.layers.Dense(units, activation=act))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    return keras.Sequential(layers)


def _set_biases(model, biases_per_dense, weight_scale=0.01, seed=0):
    rng = np.random.default_rng(seed)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer, b in zip(dense, biases_per_dense):
        W, _ = layer.get_weights()
        layer.set_weights([(rng.uniform(-1, 1, W.shape) * weight_scale).astype(np.float32),
                           np.asarray(b, np.float32)])


@pytest.mark.parametrize("impl", ["reference", "kernel"])
def test_dead_relu_fraction_counts_units_dead_by_construction(impl):
    # Inputs in [0, 1], weights in [-0.01, 0.01]: |W x| <= 0.08, so a bias of -1 kills a
    # unit and +1 keeps it alive on every row. 3 of 8 and 1 of 4 dead: 4 / 12.
    model = _stack([(8, "relu"), (4, "relu"), (2, "softmax")], (8,))
    _set_biases(model, [[-1, 1, 1, -1, 1, 1, -1, 1], [1, -1, 1, 1], [0, 0]])
    X = np.random.default_rng(1).uniform(size=(50, 8)).astype(np.float32)
    fn = reference.dead_relu_fraction if impl == "reference" else kact.dead_relu_fraction
    assert fn(model, X) == pytest.approx(4 / 12, abs=1e-15)


@pytest.mark.parametrize("impl", ["reference", "kernel"])
def test_dead_relu_fraction_skips_output_and_non_relu_layers(impl):
    # The tanh layer's units (biased -1) and the relu output layer (all biased -1) do not count.
    model = _stack([(6, "relu"), (5, "tanh"), (4, "relu"), (3, "relu")], (6,), dropout=0.5)
    _set_biases(model, [[-1, 1, 1, 1, 1, 1], [-1] * 5, [1, 1, -1, -1], [-1, -1, -1]])
    X = np.random.default_rng(2).uniform(size=(30, 6)).astype(np.float32)
    fn = reference.dead_relu_fraction if impl == "reference" else kact.dead_relu_fraction
    assert fn(model, X) == pytest.approx(3 / 10, abs=1e-15)


@pytest.mark.parametrize("impl", ["reference", "kernel"])
def test_dead_relu_fraction_needs_a_unit_dead_on_every_row(impl):
    # One unit: z = x0 - 0.5 is <= 0 on the first rows only, so it is alive.
    model = _stack([(1, "relu"), (1, None)], (1,))
    model.layers[0].set_weights([np.array([[1.0]], np.float32), np.array([-0.5], np.float32)])
    fn = reference.dead_relu_fraction if impl == "reference" else kact.dead_relu_fraction
    assert fn(model, np.array([[0.0], [0.2], [0.9]], np.float32)) == 0.0
    assert fn(model, np.array([[0.0], [0.2], [0.4]], np.float32)) == 1.0


def test_dead_relu_fraction_reference_matches_kernel_on_random_images():
    model = _stack([(64, "relu"), (32, "relu"), (32, "elu"), (16, "relu"), (10, "softmax")], (28, 28),
                   dropout=0.2, seed=3)
    rng = np.random.default_rng(3)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer in dense[:-1]:   # biases from N(-0.5, 0.5): some units die, others do not
        W, b = layer.get_weights()
        layer.set_weights([W, rng.normal(-0.5, 0.5, b.shape).astype(np.float32)])
    X = rng.uniform(size=(200, 28, 28)).astype(np.float32)
    expected = kact.dead_relu_fraction(model, X)
    assert 0 < expected < 1
    assert reference.dead_relu_fraction(model, X) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("impl", ["reference", "kernel"])
def test_dead_relu_fraction_does_not_count_nan_outputs_as_dead(impl):
    # A diverged unit outputs NaN, which is not 0: of 3 units, one NaN, one dead, one alive.
    model = _stack([(3, "relu"), (1, None)], (2,))
    model.layers[0].set_weights([np.zeros((2, 3), np.float32), np.array([np.nan, -1.0, 1.0], np.float32)])
    fn = reference.dead_relu_fraction if impl == "reference" else kact.dead_relu_fraction
    assert fn(model, np.ones((4, 2), np.float32)) == pytest.approx(1 / 3, abs=1e-15)


def test_dead_relu_fraction_kernel_batches_give_the_full_result():
    model = _stack([(32, "relu"), (16, "relu"), (3, "softmax")], (5,), seed=4)
    X = np.random.default_rng(4).normal(size=(101, 5)).astype(np.float32)
    assert kact.dead_relu_fraction(model, X, batch_size=7) == kact.dead_relu_fraction(model, X)


def test_dead_relu_fraction_rejects_a_model_without_hidden_relu():
    model = _stack([(4, "tanh"), (2, "softmax")], (3,))
    with pytest.raises(ValueError):
        reference.dead_relu_fraction(model, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError):
        kact.dead_relu_fraction(model, np.zeros((2, 3), np.float32))
