"""Module 04 references and kernels against independent oracles: Keras' BatchNormalization
layer (float64), TensorFlow autodiff through it, and numeric gradients."""
import numpy as np
import pytest
import tensorflow as tf

from deeptrain import checks, reference
from deeptrain.kernels import batchnorm as kbn

L = tf.keras.layers


def _keras_bn(n, gamma, beta, moving_mean=None, moving_var=None, momentum=0.99, dtype="float64", **kwargs):
    layer = L.BatchNormalization(epsilon=1e-3, momentum=momentum, dtype=dtype, **kwargs)
    layer.build((None, n))
    weights = []
    if layer.scale:
        weights.append(gamma)
    if layer.center:
        weights.append(beta)
    weights += [np.zeros(n) if moving_mean is None else moving_mean, np.ones(n) if moving_var is None else moving_var]
    layer.set_weights(weights)
    return layer


def _inputs(seed, m, n):
    rng = np.random.default_rng(seed)
    return (rng.normal(1.5, 3.0, size=(m, n)), rng.uniform(0.5, 2.0, n), rng.normal(0, 1, n),
            rng.normal(0, 1, size=(m, n)))


# --- batchnorm_forward ---------------------------------------------------------------------

@pytest.mark.parametrize("seed,m,n", [(0, 8, 3), (1, 32, 10), (2, 2, 1), (3, 256, 5)])
def test_batchnorm_forward_matches_keras_layer_training_mode_float64(seed, m, n):
    x, gamma, beta, _ = _inputs(seed, m, n)
    layer = _keras_bn(n, gamma, beta)
    expected = layer(x, training=True).numpy()
    out, _ = reference.batchnorm_forward(x, gamma, beta)
    checks.assert_close(out, expected, rtol=1e-10, atol=1e-12)


def test_batchnorm_forward_follows_equation_11_3_on_a_hand_example():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0], [7.0, 20.0]])
    # step 1: mu = [4, 20]; step 2 (divide by m = 4): var = [5, 150]
    out, cache = reference.batchnorm_forward(x, np.array([2.0, 1.0]), np.array([0.5, -1.0]), eps=0.0)
    checks.assert_close(cache["mean"], [4.0, 20.0], rtol=1e-15)
    checks.assert_close(cache["var"], [5.0, 150.0], rtol=1e-15)
    x_hat = np.array([[-3, -10], [-1, -10], [1, 20], [3, 0]]) / np.sqrt([5.0, 150.0])
    checks.assert_close(cache["x_hat"], x_hat, rtol=1e-14)
    checks.assert_close(out, x_hat * [2.0, 1.0] + [0.5, -1.0], rtol=1e-14)


def test_batchnorm_forward_output_is_standardized_when_gamma_one_beta_zero():
    x, _, _, _ = _inputs(4, 500, 6)
    out, cache = reference.batchnorm_forward(x, np.ones(6), np.zeros(6))
    checks.assert_close(out.mean(axis=0), np.zeros(6), atol=1e-12)
    # epsilon shrinks the variance a little: var(x_hat) = var / (var + eps)
    checks.assert_close(out.var(axis=0), cache["var"] / (cache["var"] + 1e-3), rtol=1e-12)


# --- batchnorm_backward --------------------------------------------------------------------

@pytest.mark.parametrize("seed,m,n", [(0, 6, 4), (7, 10, 3), (11, 5, 2)])
def test_batchnorm_backward_matches_numeric_gradient(seed, m, n):
    x, gamma, beta, dout = _inputs(seed, m, n)
    _, cache = reference.batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = reference.batchnorm_backward(dout, cache)

    def loss(x_, g_, b_):
        return np.sum(reference.batchnorm_forward(x_, g_, b_)[0] * dout)
    checks.assert_gradient_matches(dx, checks.numeric_gradient(lambda v: loss(v, gamma, beta), x, eps=1e-5),
                                   tol=1e-7, name="dx")
    checks.assert_gradient_matches(dgamma, checks.numeric_gradient(lambda v: loss(x, v, beta), gamma, eps=1e-5),
                                   tol=1e-7, name="dgamma")
    checks.assert_gradient_matches(dbeta, checks.numeric_gradient(lambda v: loss(x, gamma, v), beta, eps=1e-5),
                                   tol=1e-7, name="dbeta")


def test_batchnorm_backward_matches_gradient_tape_through_keras_layer():
    x, gamma, beta, dout = _inputs(3, 16, 5)
    layer = _keras_bn(5, gamma, beta)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt, training=True) * dout)
    gx, gg, gb = tape.gradient(loss, [xt, layer.gamma, layer.beta])
    _, cache = reference.batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = reference.batchnorm_backward(dout, cache)
    checks.assert_close(dx, gx.numpy(), rtol=1e-9, atol=1e-12)
    checks.assert_close(dgamma, gg.numpy(), rtol=1e-9, atol=1e-12)
    checks.assert_close(dbeta, gb.numpy(), rtol=1e-9, atol=1e-12)


def test_batchnorm_backward_dx_sums_to_zero_per_feature():
    # x_hat does not change when a constant is added to a column, so neither does the loss.
    x, gamma, beta, dout = _inputs(5, 9, 4)
    dx, _, _ = reference.batchnorm_backward(dout, reference.batchnorm_forward(x, gamma, beta)[1])
    checks.assert_close(dx.sum(axis=0), np.zeros(4), atol=1e-12)


# --- moving statistics and inference ------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.9, 0.99, 0.0])
def test_update_moving_stats_matches_keras_moving_statistics_after_one_training_call(momentum):
    x, gamma, beta, _ = _inputs(6, 12, 4)
    rng = np.random.default_rng(60)
    mm, mv = rng.normal(size=4), rng.uniform(0.5, 2, 4)
    layer = _keras_bn(4, gamma, beta, mm, mv, momentum=momentum)
    layer(x, training=True)
    new_mean, new_var = reference.update_moving_stats(mm, mv, x.mean(axis=0), x.var(axis=0), momentum)
    checks.assert_close(new_mean, layer.moving_mean.numpy(), rtol=1e-12, atol=1e-15)
    checks.assert_close(new_var, layer.moving_variance.numpy(), rtol=1e-12)


def test_keras_moving_variance_uses_biased_batch_variance():
    x, gamma, beta, _ = _inputs(8, 5, 3)           # a small batch: m / (m - 1) = 1.25
    layer = _keras_bn(3, gamma, beta, momentum=0.0)  # momentum 0: moving variance = batch variance
    layer(x, training=True)
    checks.assert_close(layer.moving_variance.numpy(), x.var(axis=0, ddof=0), rtol=1e-12)
    assert not np.allclose(layer.moving_variance.numpy(), x.var(axis=0, ddof=1), rtol=1e-3)


def test_update_moving_stats_converges_to_the_true_statistics():
    rng = np.random.default_rng(9)
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(2000):   # batches of 64 from N(2, 3^2): 1 - 1/64 of sigma^2 in expectation (biased)
        batch = rng.normal(2.0, 3.0, size=(64, 3))
        mean, var = reference.update_moving_stats(mean, var, batch.mean(0), batch.var(0), 0.99)
    np.testing.assert_allclose(mean, 2.0, atol=0.15)          # margin: ~4 standard errors
    np.testing.assert_allclose(var, 9.0 * 63 / 64, rtol=0.1)


def test_batchnorm_inference_matches_keras_layer_inference_mode():
    x, gamma, beta, _ = _inputs(12, 7, 5)
    rng = np.random.default_rng(120)
    mm, mv = rng.normal(size=5), rng.uniform(0.1, 3, 5)
    layer = _keras_bn(5, gamma, beta, mm, mv)
    checks.assert_close(reference.batchnorm_inference(x, gamma, beta, mm, mv), layer(x, training=False).numpy(),
                        rtol=1e-10, atol=1e-12)


# --- folding --------------------------------------------------------------------------------

@pytest.mark.parametrize("use_bias", [True, False])
def test_fold_batchnorm_dense_predicts_like_dense_then_keras_bn(use_bias):
    rng = np.random.default_rng(13)
    model = tf.keras.Sequential([tf.keras.Input((6,)), L.Dense(4, use_bias=use_bias), L.BatchNormalization()])
    dense, bn = model.layers
    dense.set_weights([rng.normal(size=(6, 4))] + ([rng.normal(size=4)] if use_bias else []))
    g, b, mm, mv = rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.1, 3, 4)
    bn.set_weights([g, b, mm, mv])
    W_f, b_f = reference.fold_batchnorm(dense.kernel.numpy(), dense.bias.numpy() if use_bias else None, g, b, mm, mv)
    folded = tf.keras.Sequential([tf.keras.Input((6,)), L.Dense(4)])
    folded.layers[0].set_weights([W_f, b_f])
    X = rng.normal(size=(20, 6)).astype(np.float32)
    checks.assert_close(folded(X).numpy(), model(X, training=False).numpy(), rtol=1e-5, atol=1e-5)


def test_fold_batchnorm_into_next_predicts_like_keras_bn_then_dense():
    rng = np.random.default_rng(14)
    model = tf.keras.Sequential([tf.keras.Input((5,)), L.BatchNormalization(), L.Dense(3, activation="tanh")])
    bn, dense = model.layers
    g, b, mm, mv = rng.uniform(0.5, 2, 5), rng.normal(size=5), rng.normal(size=5), rng.uniform(0.1, 3, 5)
    bn.set_weights([g, b, mm, mv])
    W_f, b_f = reference.fold_batchnorm_into_next(dense.kernel.numpy(), dense.bias.numpy(), g, b, mm, mv)
    folded = tf.keras.Sequential([tf.keras.Input((5,)), L.Dense(3, activation="tanh")])
    folded.layers[0].set_weights([W_f, b_f])
    X = rng.normal(size=(20, 5)).astype(np.float32)
    checks.assert_close(folded(X).numpy(), model(X, training=False).numpy(), rtol=1e-5, atol=1e-6)


# --- kernels --------------------------------------------------------------------------------

def test_kernel_batchnorm_forward_equals_reference_float64():
    x, gamma, beta, _ = _inputs(15, 9, 4)
    out, mean, var = kbn.batchnorm_forward(tf.constant(x), gamma, beta)
    ref, cache = reference.batchnorm_forward(x, gamma, beta)
    checks.assert_close(out.numpy(), ref, rtol=1e-12, atol=1e-14)
    checks.assert_close(mean.numpy(), cache["mean"], rtol=1e-12, atol=1e-14)
    checks.assert_close(var.numpy(), cache["var"], rtol=1e-12)


def test_kernel_batchnorm_forward_equals_reference_float32():
    x, gamma, beta, _ = _inputs(16, 64, 8)
    out, _, _ = kbn.batchnorm_forward(x.astype(np.float32), gamma, beta)
    assert out.dtype == tf.float32
    checks.assert_close(out.numpy(), reference.batchnorm_forward(x, gamma, beta)[0], rtol=1e-5, atol=1e-5)


def test_kernel_batchnorm_forward_autodiff_equals_reference_backward():
    x, gamma, beta, dout = _inputs(17, 8, 3)
    xt, gt, bt = (tf.Variable(v) for v in (x, gamma, beta))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(kbn.batchnorm_forward(xt, gt, bt)[0] * dout)
    grads = tape.gradient(loss, [xt, gt, bt])
    expected = reference.batchnorm_backward(dout, reference.batchnorm_forward(x, gamma, beta)[1])
    for got, exp in zip(grads, expected):
        checks.assert_close(got.numpy(), exp, rtol=1e-10, atol=1e-12)


def test_kernel_update_moving_stats_equals_reference():
    rng = np.random.default_rng(18)
    args = [rng.normal(size=5), rng.uniform(0.5, 2, 5), rng.normal(size=5), rng.uniform(0.5, 2, 5)]
    got = kbn.update_moving_stats(*[tf.constant(a) for a in args], 0.95)
    for g, e in zip(got, reference.update_moving_stats(*args, 0.95)):
        checks.assert_close(g.numpy(), e, rtol=1e-14)


def _randomize_bn(model, seed):
    """Give every BN layer non-trivial gamma, beta and moving statistics (as after training)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape[0]
            w = ([rng.uniform(0.5, 2, n)] if layer.scale else []) + ([rng.normal(0, 1, n)] if layer.center else [])
            layer.set_weights(w + [rng.normal(0, 1, n), rng.uniform(0.2, 3, n)])
    return model


def _bn_before_activation():   # the seeds' second model: Dense(use_bias=False) -> BN -> Activation
    return _randomize_bn(tf.keras.Sequential([
        tf.keras.Input((28, 28)), L.Flatten(),
        L.Dense(300, kernel_initializer="he_normal", use_bias=False), L.BatchNormalization(), L.Activation("relu"),
        L.Dense(100, kernel_initializer="he_normal", use_bias=False), L.BatchNormalization(), L.Activation("relu"),
        L.Dense(10, activation="softmax")]), 1)


def _bn_after_activation():    # the seeds' first model: BN on the input and after each activation
    return _randomize_bn(tf.keras.Sequential([
        tf.keras.Input((28, 28)), L.Flatten(), L.BatchNormalization(),
        L.Dense(300, activation="relu", kernel_initializer="he_normal"), L.BatchNormalization(),
        L.Dense(100, activation="relu", kernel_initializer="he_normal"), L.BatchNormalization(),
        L.Dense(10, activation="softmax")]), 2)


def _images(n=64, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 28, 28)).astype(np.float32)


@pytest.mark.parametrize("build", [_bn_before_activation, _bn_after_activation])
def test_fold_batchnorm_model_predicts_like_the_original(build):
    model = build()
    folded = kbn.fold_batchnorm_model(model)
    X = _images()
    checks.assert_close(folded(X, training=False).numpy(), model(X, training=False).numpy(), rtol=1e-5, atol=1e-5)
    assert not any(isinstance(layer, L.BatchNormalization) for layer in folded.layers)
    assert len(folded.layers) < len(model.layers)


def test_fold_batchnorm_model_merges_the_activation_after_a_folded_dense():
    model = _bn_before_activation()
    folded = kbn.fold_batchnorm_model(model)
    assert [type(layer).__name__ for layer in folded.layers] == ["Flatten", "Dense", "Dense", "Dense"]
    assert [layer.get_config()["activation"] for layer in folded.layers[1:]] == ["relu", "relu", "softmax"]
    kept = kbn.fold_batchnorm_model(model, merge_activations=False)
    assert [type(layer).__name__ for layer in kept.layers].count("Activation") == 2
    X = _images(16, 1)
    checks.assert_close(kept(X).numpy(), model(X, training=False).numpy(), rtol=1e-5, atol=1e-5)


def test_fold_batchnorm_model_leaves_the_original_untouched():
    model = _bn_before_activation()
    X = _images(16, 2)
    before_weights = [w.copy() for w in model.get_weights()]
    before_pred = model(X, training=False).numpy()
    folded = kbn.fold_batchnorm_model(model)
    for layer in folded.layers:               # wreck the copy: the original must not notice
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    assert len(model.layers) == 8
    assert all(np.array_equal(a, b) for a, b in zip(before_weights, model.get_weights()))
    np.testing.assert_array_equal(model(X, training=False).numpy(), before_pred)
    original_vars = {id(v) for v in model.weights}
    assert not any(id(v) in original_vars for v in folded.weights)


def test_fold_batchnorm_model_keeps_a_bn_it_cannot_fold_and_says_why():
    model = _randomize_bn(tf.keras.Sequential([
        tf.keras.Input((8,)), L.Dense(6, activation="relu"), L.BatchNormalization(), L.Dropout(0.3),
        L.Dense(3), L.BatchNormalization(center=False, scale=False)]), 3)
    folded = kbn.fold_batchnorm_model(model)
    assert [type(layer).__name__ for layer in folded.layers] == ["Dense", "BatchNormalization", "Dropout", "Dense"]
    plan = kbn.folding_plan(model)
    assert len(plan) == 2 and "left in place" in plan[0] and "relu" in plan[0] and "folded" in plan[1]
    X = np.random.default_rng(3).normal(size=(10, 8)).astype(np.float32)
    checks.assert_close(folded(X).numpy(), model(X, training=False).numpy(), rtol=1e-5, atol=1e-5)


def test_fold_batchnorm_model_rejects_non_sequential_models():
    inp = tf.keras.Input((4,))
    model = tf.keras.Model(inp, L.BatchNormalization()(L.Dense(3)(inp)))
    with pytest.raises(TypeError, match="Sequential"):
        kbn.fold_batchnorm_model(model)


def test_latency_comparison_sees_a_function_that_does_twice_the_work():
    import time as _time

    def work(n):
        def run():
            t0 = _time.process_time()
            while _time.process_time() - t0 < n * 2e-4:   # busy CPU work: counts in both clocks
                pass
        return run

    result = kbn.latency_comparison(work(1), work(2), calls=5, min_rounds=5, max_rounds=20, target_spread=0.2)
    # CPU time is what this process spent: x2 whatever the load. Wall time also counts the
    # waits for a core that other processes hold, so on a busy machine it is only >1 here.
    assert 1.6 < result["cpu_speedup"] < 2.5, result
    assert result["speedup"] > 1.0, result
    assert 5 <= result["rounds"] <= 20 and result["spread"] >= 0
