"""Module 01 references and kernel against independent oracles (TensorFlow, numeric gradients)."""
import numpy as np
import pytest
import tensorflow as tf

from deeptrain import checks, reference
from deeptrain.kernels import gradients as kgrad


def test_sigmoid_matches_tensorflow_float64():
    z = np.linspace(-700, 700, 2001)
    checks.assert_close(reference.sigmoid(z), tf.math.sigmoid(tf.constant(z)).numpy(), rtol=1e-12, atol=1e-300)


def test_sigmoid_never_overflows_or_warns_up_to_1e4():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = reference.sigmoid(np.array([-1e4, -1e3, 1e3, 1e4]))
        d = reference.sigmoid_derivative(np.array([-1e4, 1e4]))
    np.testing.assert_array_equal(s, [0, 0, 1, 1])
    np.testing.assert_array_equal(d, [0, 0])


def test_sigmoid_derivative_matches_numeric_gradient():
    z = np.linspace(-6, 6, 61)
    numeric = np.array([checks.numeric_gradient(lambda v: reference.sigmoid(v).sum(), np.array([zi]), eps=1e-5)[0]
                        for zi in z])
    checks.assert_gradient_matches(reference.sigmoid_derivative(z), numeric, tol=1e-7)


def test_sigmoid_derivative_keeps_relative_precision_in_the_tail():
    # sigma'(40) = e^-40 / (1 + e^-40)^2; s * (1 - s) would give 0
    checks.assert_close(reference.sigmoid_derivative(40.0), np.exp(-40.0), rtol=1e-12)


def test_forward_variances_linear_stack_multiplies_variance_by_fan_in_var_w():
    v = reference.forward_variances(6, 200, 0.5, "linear", n_samples=2000, seed=0)
    ratios = v[1:] / v[:-1]
    np.testing.assert_allclose(ratios, 200 * 0.25, rtol=0.15)  # statistical margin: 15 %


def test_forward_variances_draw_order_is_the_documented_one():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 8))
    W1 = rng.standard_normal((8, 8)) * 0.7
    W2 = rng.standard_normal((8, 8)) * 0.7
    expected = [np.var(np.tanh(X @ W1)), np.var(np.tanh(np.tanh(X @ W1) @ W2))]
    checks.assert_close(reference.forward_variances(2, 8, 0.7, "tanh", n_samples=40, seed=5), expected, rtol=1e-12)


def _mlp(layers, n_in, dtype="float32", seed=0):
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([tf.keras.Input((n_in,), dtype=dtype)] +
                               [tf.keras.layers.Dense(u, activation=a, dtype=dtype) for u, a in layers])


@pytest.mark.parametrize("layers,loss,y_kind", [
    ([(5, "sigmoid"), (4, "tanh"), (3, "softmax")], tf.keras.losses.SparseCategoricalCrossentropy(), "class"),
    ([(5, "relu"), (3, "linear")], tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), "class"),
    ([(6, "relu"), (1, "sigmoid")], tf.keras.losses.BinaryCrossentropy(), "binary"),
    ([(4, "tanh"), (2, "linear")], tf.keras.losses.MeanSquaredError(), "real"),
])
def test_layer_gradient_norms_reference_matches_tensorflow_autodiff(layers, loss, y_kind):
    model = _mlp(layers, 7)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 7)).astype(np.float32)
    y = {"class": rng.integers(0, 3, 12), "binary": rng.integers(0, 2, (12, 1)).astype(np.float32),
         "real": rng.normal(size=(12, 2)).astype(np.float32)}[y_kind]
    checks.assert_close(reference.layer_gradient_norms(model, X, y, loss),
                        kgrad.layer_gradient_norms(model, X, y, loss), rtol=1e-5, atol=1e-8)


def test_layer_gradient_norms_kernel_matches_finite_differences_float64():
    model = _mlp([(4, "sigmoid"), (2, "linear")], 3, dtype="float64")
    X = np.random.default_rng(0).normal(size=(5, 3))
    y = np.random.default_rng(1).normal(size=(5, 2))
    loss = tf.keras.losses.MeanSquaredError(dtype="float64")
    expected = []
    for layer in model.layers:
        W0 = layer.kernel.numpy().copy()

        def f(W):
            layer.kernel.assign(W)
            return float(loss(y, model(X)))
        expected.append(np.linalg.norm(checks.numeric_gradient(f, W0)))
        layer.kernel.assign(W0)
    checks.assert_close(kgrad.layer_gradient_norms(model, X, y, loss), expected, rtol=1e-7)
    checks.assert_close(reference.layer_gradient_norms(model, X, y, loss), expected, rtol=1e-7)


def test_layer_gradient_norms_kernel_skips_layers_without_kernel():
    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3), tf.keras.layers.BatchNormalization(),
                                 tf.keras.layers.Dropout(0.1), tf.keras.layers.Dense(2)])
    out = kgrad.layer_gradient_norms(model, np.ones((4, 4), np.float32), np.ones((4, 2), np.float32),
                                     tf.keras.losses.MeanSquaredError())
    assert out.shape == (2,)
