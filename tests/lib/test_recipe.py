"""Module 10 references (deeptrain.reference.recipe) against Keras 3, the independent oracle:
CosineDecay with warmup, CategoricalCrossentropy(label_smoothing=...), an optimizer's use_ema
average and gradient_accumulation_steps. Keras computes in float32 (schedules, losses) unless
floatx is float64 (the optimizer tests), hence the tolerances.
"""
import contextlib

import keras
import numpy as np
import pytest

from deeptrain import checks, reference

STEPS = np.concatenate([np.arange(0, 40), np.linspace(40, 3000, 50).round()])


def keras_schedule(schedule, steps=STEPS):
    return np.array([float(schedule(int(s))) for s in steps])


@contextlib.contextmanager
def floatx64():
    old = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(old)


@pytest.mark.parametrize("lr0,decay,alpha,target,warmup", [
    (0.0, 1000, 0.0, 0.1, 100), (1e-3, 2000, 0.1, 0.05, 500), (0.02, 300, 0.0, 0.2, 7),
    (0.1, 800, 0.05, None, 0), (0.1, 500, 0.0, 0.3, 0)])
def test_warmup_cosine_matches_keras_cosine_decay(lr0, decay, alpha, target, warmup):
    expected = keras_schedule(keras.optimizers.schedules.CosineDecay(
        lr0, decay, alpha=alpha, warmup_target=target, warmup_steps=warmup))
    got = reference.warmup_cosine(STEPS, lr0, decay, alpha=alpha, warmup_target=target, warmup_steps=warmup)
    checks.assert_close(got, expected, rtol=1e-5, atol=1e-8)


def test_warmup_cosine_shape_and_scalar():
    assert isinstance(reference.warmup_cosine(5, 0.0, 100, warmup_target=0.1, warmup_steps=10), float)
    assert reference.warmup_cosine(np.zeros((2, 3)), 0.0, 100, warmup_target=0.1, warmup_steps=10).shape == (2, 3)
    # the end of the warmup is the peak, the end of the decay alpha * peak, forever after
    checks.assert_close(reference.warmup_cosine([10, 110, 5000], 0.0, 100, alpha=0.1, warmup_target=0.1,
                                                warmup_steps=10), [0.1, 0.01, 0.01], rtol=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 1.0])
def test_smoothed_cross_entropy_matches_keras_categorical_crossentropy(eps):
    rng = np.random.default_rng(3)
    logits, y = rng.normal(0, 3, (32, 10)), rng.integers(0, 10, 32)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps)
    expected = float(loss(np.eye(10)[y].astype("float32"), logits.astype("float32")))
    checks.assert_close(reference.smoothed_cross_entropy(logits, y, eps), expected, rtol=1e-5)


def test_smooth_labels_are_what_keras_smooths_one_hot_targets_into():
    """Keras' rule, read from its categorical_crossentropy: y * (1 - eps) + eps / n_classes; the loss of
    the smoothed targets with eps=0 equals the loss of the raw targets with eps."""
    rng = np.random.default_rng(4)
    logits, y = rng.normal(0, 2, (16, 5)), rng.integers(0, 5, 16)
    targets = reference.smooth_labels(y, 5, 0.2)
    checks.assert_close(targets.sum(axis=1), np.ones(16), rtol=1e-12)
    plain = keras.losses.CategoricalCrossentropy(from_logits=True)
    smoothed = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)
    checks.assert_close(float(plain(targets.astype("float32"), logits.astype("float32"))),
                        float(smoothed(np.eye(5)[y].astype("float32"), logits.astype("float32"))), rtol=1e-6)


def test_smoothed_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [-800.0, 900.0, 5.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):   # underflow to 0 is harmless
        loss = reference.smoothed_cross_entropy(logits, np.array([0, 1]), 0.1)
    expected = np.mean([0.1 / 3 * (2000 + 1000), 0.1 / 3 * (1700 + 895)])   # the log-probabilities, exactly
    checks.assert_close(loss, expected, rtol=1e-9)


def test_smoothed_cross_entropy_gradient_is_softmax_minus_targets():
    """Numeric gradient (central differences) against (softmax - smoothed targets) / n."""
    rng = np.random.default_rng(5)
    logits, y, eps = rng.normal(size=(4, 6)), rng.integers(0, 6, 4), 0.15
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    analytic = (p - reference.smooth_labels(y, 6, eps)) / 4
    numeric = np.zeros_like(logits)
    for i in np.ndindex(logits.shape):
        d = np.zeros_like(logits)
        d[i] = 1e-6
        numeric[i] = (reference.smoothed_cross_entropy(logits + d, y, eps)
                      - reference.smoothed_cross_entropy(logits - d, y, eps)) / 2e-6
    checks.assert_close(numeric, analytic, rtol=1e-6, atol=1e-9)


def _keras_sgd_run(grads, **optimizer_kwargs):
    """Apply the gradient lists `grads` one call at a time to float64 variables with Keras' SGD;
    returns the optimizer and the variables' values after every call."""
    with floatx64():
        variables = [keras.Variable(np.linspace(-1, 1, 6).reshape(2, 3)), keras.Variable(np.array([0.5, -0.25]))]
        optimizer = keras.optimizers.SGD(**optimizer_kwargs)
        after, averages = [], []
        for g in grads:
            optimizer.apply(g, variables)
            after.append([v.numpy().copy() for v in variables])
            if optimizer.use_ema:
                averages.append([a.numpy().copy() for a in optimizer._model_variables_moving_average])
    return after, averages


def _random_grads(n, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=(2, 3)), rng.normal(size=2)] for _ in range(n)]


@pytest.mark.parametrize("momentum", [0.99, 0.9, 0.5])
def test_ema_update_matches_keras_use_ema(momentum):
    grads = _random_grads(12)
    after, averages = _keras_sgd_run(grads, learning_rate=0.1, use_ema=True, ema_momentum=momentum)
    ema = None
    for weights, keras_average in zip(after, averages):
        ema = reference.ema_update(ema, weights, momentum)
        checks.assert_close(ema[0], keras_average[0], rtol=1e-6)
        checks.assert_close(ema[1], keras_average[1], rtol=1e-6)


def test_ema_first_update_copies_the_weights_and_leaves_inputs_alone():
    w = [np.ones((2, 2)), np.arange(3.0)]
    first = reference.ema_update(None, w, 0.99)
    first[0][0, 0] = 7.0
    assert w[0][0, 0] == 1.0
    second = reference.ema_update(first, [np.zeros((2, 2)), np.zeros(3)], 0.9)
    assert first[0][0, 0] == 7.0 and second[0][0, 0] == pytest.approx(6.3)


@pytest.mark.parametrize("k,n", [(2, 8), (4, 10), (3, 3)])
def test_accumulate_gradients_gives_keras_gradient_accumulation_updates(k, n):
    """SGD at learning rate 1: each update moves the variables by minus the applied gradient, and the
    variables do not move between updates."""
    grads = _random_grads(n, seed=k)
    after, _ = _keras_sgd_run(grads, learning_rate=1.0, gradient_accumulation_steps=k)
    updates = reference.accumulate_gradients(grads, k)
    assert len(updates) == n // k
    start = [np.linspace(-1, 1, 6).reshape(2, 3), np.array([0.5, -0.25])]
    expected = [w.copy() for w in start]
    for i in range(n):
        if (i + 1) % k == 0:
            expected = [w - g for w, g in zip(expected, updates[(i + 1) // k - 1])]
        checks.assert_close(after[i][0], expected[0], rtol=1e-9, atol=1e-12)
        checks.assert_close(after[i][1], expected[1], rtol=1e-9, atol=1e-12)


def test_mean_of_micro_batch_gradients_is_the_big_batch_gradient():
    """Why accumulation works: a mean loss over equal micro-batches has the mean of their gradients
    (the oracle: TensorFlow's gradient of the whole batch)."""
    import tensorflow as tf
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(64, 5)), rng.integers(0, 3, 64)
    W = tf.Variable(rng.normal(size=(5, 3)))

    def grad(Xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, Xb @ W))
        return [tape.gradient(loss, W).numpy()]
    micro = [grad(X[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    checks.assert_close(reference.accumulate_gradients(micro, 4)[0][0], grad(X, y)[0], rtol=1e-10)


def test_module_10_judged_cases_stay_in_the_documented_domain():
    """The grader's inputs (autograder/cases/m10.py) respect the docstrings: steps >= 0, 0 <= eps <= 1,
    labels in [0, n_classes), k >= 1, equal shapes within a gradient sequence."""
    from autograder.cases import m10
    for _, args, kw in m10._warmup_cases():
        assert np.min(args[0]) >= 0 and args[2] > 0 and 0 <= kw.get("alpha", 0) <= 1 and kw.get("warmup_steps", 0) >= 0
    for _, (y, n, eps), _ in m10._smooth_cases():
        assert 0 <= eps <= 1 and 0 <= np.min(y) and np.max(y) < n
    for _, (logits, y), kw in m10._ce_cases():
        assert np.all(np.isfinite(logits)) and 0 <= kw["eps"] <= 1 and np.max(y) < logits.shape[1]
    for _, (micro, k), _ in m10._acc_cases():
        assert k >= 1 and all([g.shape for g in m] == [g.shape for g in micro[0]] for m in micro)
