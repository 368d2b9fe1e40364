"""The explorer of modules 01-03 (deeptrain.explore.variance) against independent oracles.

Oracles: tf.GradientTape on the same weights with TensorFlow's own activations and loss
(gradients); central finite differences (gradients); table 11-1 and Keras' initializers
(weight scales); the mean-field recursion of the pre-activation variance, integrated by
Gauss-Hermite quadrature (forward statistics of a wide stack); closed forms for ReLU.
"""
import numpy as np
import pytest

import deeptrain as dt
from deeptrain.explore import variance as v


def _tf():
    return dt.import_tensorflow()


def _tf_activation(name):
    tf = _tf()
    return {
        "sigmoid": tf.sigmoid,
        "tanh": tf.tanh,
        "relu": tf.nn.relu,
        # (tf.nn.leaky_relu stores alpha as a float32 attribute, 0.2 -> 0.20000000298: max
        # gives the same function in full float64)
        "leaky_relu": lambda z: tf.maximum(z, 0.2 * z),
        "elu": tf.nn.elu,
        "selu": tf.nn.selu,
        "gelu": lambda z: tf.nn.gelu(z, approximate=False),
    }[name]


@pytest.mark.parametrize("activation", sorted(v.ACTIVATIONS))
def test_forward_backward_gradients_match_tf_gradient_tape(activation):
    tf = _tf()
    rng = np.random.default_rng(3)
    weights = v.stack_weights(depth=4, width=12, init="he", seed=1, n_in=7, n_out=5)
    X = rng.standard_normal((9, 7))
    labels = rng.integers(0, 5, 9)
    outputs, grads = v.forward_backward(X, weights, activation, labels)

    variables = [tf.Variable(w) for w in weights]           # float64
    f = _tf_activation(activation)
    with tf.GradientTape() as tape:
        a = tf.constant(X)
        hidden = []
        for W in variables[:-1]:
            a = f(a @ W)
            hidden.append(a)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, a @ variables[-1]))
    expected = tape.gradient(loss, variables)
    # TensorFlow's float64 erf is a rational approximation good to about 1e-9 (absolute),
    # scipy's to machine precision: for GELU the oracle itself is only that close.
    rtol, atol = (1e-5, 1e-9) if activation == "gelu" else (1e-7, 1e-12)
    for layer, (ours, theirs) in enumerate(zip(grads, expected)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"{activation}: gradient of layer {layer}")
    for layer, (ours, theirs) in enumerate(zip(outputs, hidden)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"{activation}: output of layer {layer}")


def test_forward_backward_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    weights = v.stack_weights(depth=3, width=6, init="glorot", seed=2, n_in=4, n_out=3)
    X, labels = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)

    def loss(ws):
        a = X
        for W in ws[:-1]:
            a = np.tanh(a @ W)
        logits = a @ ws[-1]
        logits = logits - logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -log_p[np.arange(len(labels)), labels].mean()

    _, grads = v.forward_backward(X, weights, "tanh", labels)
    h = 1e-6
    for layer in range(len(weights)):
        for index in [(0, 0), (1, 2), (weights[layer].shape[0] - 1, weights[layer].shape[1] - 1)]:
            plus = [w.copy() for w in weights]
            minus = [w.copy() for w in weights]
            plus[layer][index] += h
            minus[layer][index] -= h
            numeric = (loss(plus) - loss(minus)) / (2 * h)
            assert grads[layer][index] == pytest.approx(numeric, rel=1e-5, abs=1e-9), (layer, index)


def test_weight_std_follows_table_11_1():
    assert v.weight_std("normal", 100, 10) == 1.0
    assert v.weight_std("glorot", 100, 10) == pytest.approx(np.sqrt(2 / 110))
    assert v.weight_std("he", 100, 10) == pytest.approx(np.sqrt(2 / 100))
    assert v.weight_std("lecun", 100, 10) == pytest.approx(np.sqrt(1 / 100))
    with pytest.raises(ValueError, match="init must be one of"):
        v.weight_std("xavier", 100, 10)


@pytest.mark.parametrize("init,keras_name", [("glorot", "glorot_normal"), ("he", "he_normal"),
                                              ("lecun", "lecun_normal")])
def test_stack_weights_have_the_std_of_keras_initializers(init, keras_name):
    tf = _tf()
    shape = (300, 200)
    keras_w = tf.keras.initializers.get(keras_name)(shape, dtype="float64").numpy()
    ours = v.stack_weights(depth=1, width=200, init=init, seed=0, n_in=300)[0]
    assert ours.shape == shape
    # Both have std sigma; on 60,000 draws the sample std is within 1% of sigma (its own
    # relative standard error is about 0.3%).
    assert ours.std() == pytest.approx(keras_w.std(), rel=0.02)


def _mean_field_std(depth, init, activation, width, n_points=80):
    """Predicted std of each layer's outputs in an infinitely wide stack (Gauss-Hermite).

    Each pre-activation is a sum of many independent terms a_i w_i, hence ~ N(0, q) with
    q_{l+1} = width sigma_w^2 E[a_l^2]; the outputs then have variance E[f(z)^2] - E[f(z)]^2.
    """
    nodes, w = np.polynomial.hermite_e.hermegauss(n_points)
    w = w / w.sum()                                       # weights of E over z ~ N(0, 1)
    f = v.ACTIVATIONS[activation][0]
    sigma2 = v.weight_std(init, width, width) ** 2
    second_moment_in = 1.0                                # inputs ~ N(0, 1)
    stds = []
    for _ in range(depth):
        q = width * sigma2 * second_moment_in
        a = f(np.sqrt(q) * nodes)
        mean, second = (w * a).sum(), (w * a**2).sum()
        stds.append(np.sqrt(second - mean**2))
        second_moment_in = second
    return np.array(stds)


@pytest.mark.parametrize("init,activation", [("he", "relu"), ("glorot", "tanh"), ("normal", "sigmoid"),
                                             ("glorot", "sigmoid"), ("lecun", "selu"), ("he", "elu")])
def test_forward_std_of_a_wide_stack_matches_the_mean_field_recursion(init, activation):
    depth, width = 6, 400
    # A finite stack fluctuates around the recursion (ReLU's most: one draw of 400 units
    # strays by up to ~18% over seeds); the rms over 4 draws strayed at most 6% over 20 draws.
    std = np.sqrt(np.mean([v.depth_profile(depth, init, activation, width=width, n_samples=500,
                                           seed=seed)["std"] ** 2 for seed in range(4)], axis=0))
    expected = _mean_field_std(depth, init, activation, width)
    np.testing.assert_allclose(std, expected, rtol=0.12,
                               err_msg=f"{init} + {activation}: std per layer vs mean field")


def test_he_relu_first_layer_std_is_the_closed_form():
    # z ~ N(0, 2) under He with N(0, 1) inputs; ReLU(z) has variance q/2 - q/(2 pi) = 1 - 1/pi.
    profile = v.depth_profile(1, "he", "relu", width=400, n_samples=1000, seed=0)
    assert profile["std"][0] == pytest.approx(np.sqrt(1 - 1 / np.pi), rel=0.02)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_he_relu_keeps_the_signal_and_gradient_where_glorot_sigmoid_loses_them(seed):
    he = v.depth_profile(20, "he", "relu", width=200, seed=seed)
    # He + ReLU: the outputs' spread stays put (drift within a factor 2 over 20 layers).
    assert 0.5 < he["std"][-1] / he["std"][0] < 2.0, he["std"]
    assert 0.1 < he["grad_norm"][0] / he["grad_norm"][-1] < 10, he["grad_norm"]

    glorot = v.depth_profile(10, "glorot", "sigmoid", width=100, seed=seed)
    # sigma'(0) = 1/4 per layer and weights that keep the norm: 9 layers shrink it by > 1e4.
    assert glorot["grad_norm"][0] / glorot["grad_norm"][-1] < 1e-4, glorot["grad_norm"]
    # and the input-dependent part of the signal collapses (module 01, section 2)
    assert glorot["input_std"][-1] < 1e-4 * glorot["input_std"][0], glorot["input_std"]


def test_normal_init_saturates_the_sigmoid():
    profile = v.depth_profile(10, "normal", "sigmoid", width=100, seed=0)
    # Saturated units output ~0 or ~1: std near its ceiling 0.5 (Glorot's stays near 0.2).
    assert np.all(profile["std"][1:] > 0.4), profile["std"]
    assert np.all(v.depth_profile(10, "glorot", "sigmoid", width=100, seed=0)["std"] < 0.25)


def test_depth_profile_survives_overflowing_settings_without_warnings():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        profile = v.depth_profile(60, "normal", "relu", width=400, seed=0)
        fig = v.draw(60, "normal", "relu", width=400)
    assert profile["std"].shape == (60,)
    assert len(fig.axes) == 2


def test_depth_profile_is_repeatable_and_shaped():
    a = v.depth_profile(7, "lecun", "selu", width=50, seed=4)
    b = v.depth_profile(7, "lecun", "selu", width=50, seed=4)
    for key in ("std", "input_std", "grad_norm"):
        assert a[key].shape == (7,)
        np.testing.assert_array_equal(a[key], b[key])


def test_the_explorer_plots_the_variance_the_notebooks_plot():
    # Modules 01 and 02 plot np.var of each layer's outputs; the explorer's left panel shows the same.
    profile = v.depth_profile(6, "he", "relu", width=50)          # what draw() computes
    np.testing.assert_allclose(profile["var"], profile["std"] ** 2, rtol=1e-12)
    np.testing.assert_allclose(profile["input_var"], profile["input_std"] ** 2, rtol=1e-12)
    fig = v.draw(6, "he", "relu", width=50)
    left, right = fig.axes[:2]
    assert "variance" in left.get_ylabel() and "variance" in left.get_title()
    assert right.get_ylabel(), "the gradient panel needs a y-label"
    np.testing.assert_allclose(left.lines[0].get_ydata(), profile["var"], rtol=1e-12)
