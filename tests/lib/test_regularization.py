"""Module 08 references and kernels against independent oracles (Keras regularizers, Dropout,
MaxNorm, tf.GradientTape, numeric gradients) and against each other (MC dropout loop vs kernel)."""
import numpy as np
import pytest
import tensorflow as tf

from deeptrain import checks, reference
from deeptrain.kernels import regularization as kreg


# --- l1 / l2 --------------------------------------------------------------------------------

@pytest.mark.parametrize("l1,l2", [(0.01, 0.0), (0.0, 0.01), (0.003, 0.02), (0.0, 0.0)])
def test_l1_l2_penalty_matches_keras_l1l2_float64(l1, l2):
    # rtol 1e-7: Keras rounds the factors l1, l2 to float32 (relative error <= 6e-8).
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(7, 5)), rng.normal(size=(5,)), rng.normal(size=(3, 3, 2, 4))]
    expected = sum(float(tf.keras.regularizers.L1L2(l1=l1, l2=l2)(tf.constant(w))) for w in weights)
    checks.assert_close(reference.l1_l2_penalty(weights, l1, l2), expected, rtol=1e-7, atol=1e-300)
    checks.assert_close(reference.l1_l2_penalty(weights[0], l1, l2),
                        float(tf.keras.regularizers.L1L2(l1=l1, l2=l2)(tf.constant(weights[0]))), rtol=1e-7,
                        atol=1e-300)


def test_l1_l2_penalty_matches_a_keras_layer_regularization_loss():
    # The loss Keras adds to a model: model.losses holds one term per regularized kernel.
    tf.keras.utils.set_random_seed(1)
    reg = tf.keras.regularizers.L1L2(l1=0.001, l2=0.01)
    model = tf.keras.Sequential([tf.keras.Input((6,)), tf.keras.layers.Dense(4, kernel_regularizer=reg),
                                 tf.keras.layers.Dense(2, kernel_regularizer=reg)])
    model(np.zeros((1, 6), np.float32))
    kernels = [layer.kernel.numpy() for layer in model.layers]
    checks.assert_close(reference.l1_l2_penalty(kernels, 0.001, 0.01), float(tf.add_n(model.losses)), rtol=1e-5)


def test_l1_l2_grad_matches_gradient_tape_on_keras_regularizer_including_zeros():
    w = np.array([[-1.5, 0.0, 2.0], [0.0, 0.3, -1e-9]])
    reg = tf.keras.regularizers.L1L2(l1=0.05, l2=0.2)
    v = tf.Variable(w)
    with tf.GradientTape() as tape:
        loss = reg(v)
    # rtol 1e-7: Keras rounds the factors to float32 (see test above)
    checks.assert_close(reference.l1_l2_grad(w, 0.05, 0.2), tape.gradient(loss, v).numpy(), rtol=1e-7, atol=1e-300)
    assert np.all(reference.l1_l2_grad(w, 0.05, 0.2)[w == 0] == 0), "subgradient at w = 0 must be 0"


def test_l1_l2_grad_matches_numeric_gradient_away_from_zero():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(4, 3))
    w[np.abs(w) < 0.05] = 0.5          # |w| is not differentiable at 0: keep the step clear of it
    numeric = checks.numeric_gradient(lambda v: reference.l1_l2_penalty(v, 0.01, 0.1), w, eps=1e-6)
    checks.assert_gradient_matches(reference.l1_l2_grad(w, 0.01, 0.1), numeric, tol=1e-7)


def test_l1_l2_grad_keeps_the_structure_of_its_input():
    ws = [np.ones((2, 3)), np.ones(4)]
    out = reference.l1_l2_grad(ws, 0.1, 0.1)
    assert isinstance(out, list) and [g.shape for g in out] == [(2, 3), (4,)]
    assert isinstance(reference.l1_l2_grad(np.ones((2, 2)), 0.1, 0.1), np.ndarray)


# --- dropout --------------------------------------------------------------------------------

def test_dropout_forward_draw_is_the_documented_one():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    keep = np.random.default_rng(7).random(x.shape) >= 0.25
    checks.assert_close(reference.dropout_forward(x, 0.25, True, seed=7), np.where(keep, x / 0.75, 0), rtol=1e-15)


def test_dropout_forward_is_identity_at_inference_like_keras():
    x = np.random.default_rng(0).normal(size=(5, 6))
    np.testing.assert_array_equal(reference.dropout_forward(x, 0.5, training=False, seed=0), x)
    np.testing.assert_allclose(tf.keras.layers.Dropout(0.5)(x.astype(np.float32), training=False).numpy(),
                               x.astype(np.float32))


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_dropout_forward_statistics_match_keras_dropout(rate):
    x = np.random.default_rng(1).uniform(0.5, 1.5, size=(200, 500))   # 100,000 entries, none 0
    ours = reference.dropout_forward(x, rate, True, seed=2)
    keras_out = tf.keras.layers.Dropout(rate, seed=3)(x.astype(np.float32), training=True).numpy()
    # Fraction zeroed: binomial std sqrt(p(1-p)/n) <= 0.0016 for n = 1e5; margin 0.01 (> 6 std).
    for out in (ours, keras_out):
        assert abs(np.mean(out == 0) - rate) < 0.01
    # Kept entries are scaled by the same factor 1 / (1 - rate) in both.
    kept = ours != 0
    checks.assert_close(ours[kept] / x[kept], np.full(kept.sum(), 1 / (1 - rate)), rtol=1e-12)
    kept = keras_out != 0
    checks.assert_close(keras_out[kept] / x.astype(np.float32)[kept], np.full(kept.sum(), 1 / (1 - rate)), rtol=1e-6)
    # Expectation preserved: mean within 2 % of the input's mean (std of the estimate < 0.4 %).
    for out in (ours, keras_out):
        checks.assert_close(out.mean(), x.mean(), rtol=0.02)


def test_dropout_forward_edge_rates():
    x = np.ones((3, 3))
    np.testing.assert_array_equal(reference.dropout_forward(x, 0.0, True, seed=0), x)
    np.testing.assert_array_equal(reference.dropout_forward(x, 1.0, True, seed=0), np.zeros((3, 3)))
    with pytest.raises(ValueError):
        reference.dropout_forward(x, 1.5, True, seed=0)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_layer_fast_kernel_statistics_match_keras_dropout(rate):
    x = np.random.default_rng(1).uniform(0.5, 1.5, size=(200, 501)).astype(np.float32)   # odd size on purpose
    seed = tf.constant(3, tf.int64)
    ours = kreg.dropout_layer_fast(tf.constant(x), rate, seed, tf.constant(0, tf.int64)).numpy()
    keras_out = tf.keras.layers.Dropout(rate, seed=4)(x, training=True).numpy()
    # fraction zeroed within 0.01 of the rate and of Keras' (binomial std < 0.0016 on 100,200 entries)
    assert abs(np.mean(ours == 0) - rate) < 0.01 and abs(np.mean(keras_out == 0) - rate) < 0.01
    kept = ours != 0
    checks.assert_close(ours[kept] / x[kept], np.full(kept.sum(), 1 / (1 - rate)), rtol=1e-6)
    checks.assert_close(ours.mean(), x.mean(), rtol=0.02)          # expectation preserved
    # Repeatable for the same (seed, counter); another counter or seed gives an uncorrelated mask
    # (correlation of two independent masks: std 1/sqrt(100,200) = 0.003; margin 0.015).
    again = kreg.dropout_layer_fast(tf.constant(x), rate, seed, tf.constant(0, tf.int64)).numpy()
    np.testing.assert_array_equal(ours, again)
    for s, c in ((3, 1), (4, 0)):
        other = kreg.dropout_layer_fast(tf.constant(x), rate, tf.constant(s, tf.int64), tf.constant(c, tf.int64))
        corr = np.corrcoef((ours == 0).ravel(), (other.numpy() == 0).ravel())[0, 1]
        assert abs(corr) < 0.015, f"masks of (seed, counter) = (3, 0) and {(s, c)} correlate: {corr:.4f}"
    # neighbouring entries (the two halves of one 64-bit output) are not correlated either
    flat = (ours == 0).ravel()
    assert abs(np.corrcoef(flat[0:-1:2], flat[1::2])[0, 1]) < 0.015


# --- max-norm -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,axis,max_value", [((20, 8), 0, 1.0), ((20, 8), 1, 0.5), ((3, 3, 4, 6), (0, 1, 2), 2.0),
                                                  ((10, 5), 0, 100.0)])
def test_max_norm_matches_keras_maxnorm_float64(shape, axis, max_value):
    W = np.random.default_rng(4).normal(size=shape)
    W[..., 0] = 0.0    # an all-zero unit must stay 0
    keras_axis = list(axis) if isinstance(axis, tuple) else axis
    expected = tf.keras.constraints.MaxNorm(max_value, axis=keras_axis)(tf.constant(W)).numpy()
    checks.assert_close(reference.max_norm(W, max_value, axis), expected, rtol=1e-12, atol=1e-300)


def test_max_norm_leaves_every_column_inside_the_ball():
    W = np.random.default_rng(5).normal(0, 3, size=(50, 10))
    norms = np.linalg.norm(reference.max_norm(W, 1.5, axis=0), axis=0)
    assert np.all(norms <= 1.5)
    big = np.linalg.norm(W, axis=0) > 1.5
    checks.assert_close(norms[big], np.full(big.sum(), 1.5), rtol=1e-6)   # rescaled onto the sphere (up to Keras' epsilon)


@pytest.mark.parametrize("axis,max_value", [(0, 1.0), (1, 0.3)])
def test_max_norm_constraint_kernel_equals_reference_and_keras(axis, max_value):
    W = np.random.default_rng(6).normal(size=(30, 12)).astype(np.float32)
    ours = kreg.MaxNorm(max_value, axis=axis)(tf.constant(W)).numpy()
    checks.assert_close(ours, reference.max_norm(W, max_value, axis), rtol=1e-5, atol=1e-7)
    checks.assert_close(ours, tf.keras.constraints.MaxNorm(max_value, axis=axis)(tf.constant(W)).numpy(),
                        rtol=1e-6, atol=1e-7)


def test_max_norm_constraint_kernel_works_in_a_layer_during_fit():
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((5,)),
                                 tf.keras.layers.Dense(8, kernel_constraint=kreg.MaxNorm(0.2)),
                                 tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.5), loss="mse")
    X = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    model.fit(X, X.sum(axis=1, keepdims=True) * 3, epochs=2, verbose=0)
    assert np.all(np.linalg.norm(model.layers[0].kernel.numpy(), axis=0) <= 0.2 + 1e-6)
    cfg = kreg.MaxNorm(0.2, axis=0).get_config()
    assert cfg == {"max_value": 0.2, "axis": 0}


# --- default configurations -----------------------------------------------------------------

def test_default_config_tables_hold_the_third_editions_entries():
    # A. Geron, Hands-On Machine Learning, 3rd edition, tables 11-3 and 11-4.
    d, s = reference.default_config("default"), reference.default_config("self_normalizing")
    assert set(d) == set(s) == {"kernel_initializer", "activation", "normalization", "regularization", "optimizer",
                                "learning_rate_schedule"}
    assert "He" in d["kernel_initializer"] and "ReLU" in d["activation"] and "Swish" in d["activation"]
    assert "ELU" not in d["activation"].replace("ReLU", "")
    assert "AdamW" in d["optimizer"] and "Nesterov" in d["optimizer"] and "weight decay" in d["regularization"]
    assert "1cycle" in d["learning_rate_schedule"] and "Performance" in d["learning_rate_schedule"]
    assert "LeCun" in s["kernel_initializer"] and s["activation"] == "SELU" and "Nesterov" in s["optimizer"]
    assert "lpha dropout" in s["regularization"]
    old = reference.DEFAULT_CONFIGS_2ND_EDITION["default"]
    assert set(old) == set(d) and old["activation"] == "ELU" and "Momentum" in old["optimizer"]
    d["activation"] = "changed"
    assert reference.default_config("default")["activation"] == "ReLU if shallow; Swish if deep", "must return a copy"


def test_default_config_unknown_kind_lists_the_kinds():
    with pytest.raises(ValueError, match="self_normalizing"):
        reference.default_config("fast")


# --- MC dropout -----------------------------------------------------------------------------

def _dropout_mlp(rate=0.2, seed=0, n_in=12, n_classes=4):
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([tf.keras.Input((n_in,)), tf.keras.layers.Dropout(rate),
                                tf.keras.layers.Dense(16, activation="relu"), tf.keras.layers.Dropout(rate),
                                tf.keras.layers.Dense(n_classes, activation="softmax")])


def test_mc_dropout_reference_is_the_seeds_loop():
    model = _dropout_mlp(rate=0.0)            # no randomness: every pass gives model.predict
    X = np.random.default_rng(0).normal(size=(30, 12)).astype(np.float32)
    mean, std = reference.mc_dropout_predict(model, X, 5)
    checks.assert_close(mean, model.predict(X, verbose=0), rtol=1e-5, atol=1e-7)
    checks.assert_close(std, np.zeros_like(mean), atol=1e-7)


def test_mc_dropout_kernel_matches_the_loop_statistically():
    model = _dropout_mlp(rate=0.3)
    X = np.random.default_rng(1).normal(size=(200, 12)).astype(np.float32)
    n = 400
    m_loop, s_loop = reference.mc_dropout_predict(model, X, n)
    m_fast, s_fast = kreg.mc_dropout_predict(model, X, n, seed=0)
    assert m_fast.shape == s_fast.shape == (200, 4) and m_fast.dtype == np.float64
    # Each mean is an average of n draws with std s: the two estimates differ by a N(0, 2 s^2 / n) error.
    # Margin: 5 standard errors (plus a float32 floor) on every entry.
    se = np.sqrt(2 * np.maximum(s_loop, s_fast) ** 2 / n)
    assert np.all(np.abs(m_fast - m_loop) <= 5 * se + 1e-5)
    # Stds: a sample std from n = 400 draws has a relative error of about 1/sqrt(2n) = 3.5 % (more for
    # skewed entries); the average over the 800 entries must agree within 3 %, and 95 % of the entries
    # within 15 % (about 3 standard errors of the ratio of two such estimates).
    checks.assert_close(s_fast.mean(), s_loop.mean(), rtol=0.03)
    active = s_loop > 1e-3
    rel = np.abs(s_fast[active] / s_loop[active] - 1)
    assert np.mean(rel < 0.15) >= 0.95, f"only {np.mean(rel < 0.15):.1%} of the stds agree within 15 %"


def test_mc_dropout_kernel_is_deterministic_with_a_seed_and_varies_without():
    model = _dropout_mlp(rate=0.5)
    X = np.random.default_rng(2).normal(size=(50, 12)).astype(np.float32)
    a = kreg.mc_dropout_predict(model, X, 20, seed=11)
    b = kreg.mc_dropout_predict(model, X, 20, seed=11)
    c = kreg.mc_dropout_predict(model, X, 20, seed=12)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_mc_dropout_kernel_without_dropout_equals_predict_with_zero_std():
    tf.keras.utils.set_random_seed(3)
    model = tf.keras.Sequential([tf.keras.Input((12,)), tf.keras.layers.Dense(16, activation="relu"),
                                 tf.keras.layers.Dense(4, activation="softmax")])
    X = np.random.default_rng(3).normal(size=(70, 12)).astype(np.float32)
    mean, std = kreg.mc_dropout_predict(model, X, 10, seed=0)
    checks.assert_close(mean, model.predict(X, verbose=0), rtol=1e-5, atol=1e-7)
    checks.assert_close(std, np.zeros_like(std), atol=1e-6)


def test_mc_dropout_kernel_chunks_give_the_statistics_of_one_batch():
    model = _dropout_mlp(rate=0.2)
    X = np.random.default_rng(4).normal(size=(101, 12)).astype(np.float32)   # not a multiple of the chunk
    mean, std = kreg.mc_dropout_predict(model, X, 300, seed=1, batch_size=32)
    m_ref, s_ref = reference.mc_dropout_predict(model, X, 300)
    assert mean.shape == (101, 4)
    se = np.sqrt(2 * np.maximum(std, s_ref) ** 2 / 300)
    assert np.all(np.abs(mean - m_ref) <= 5 * se + 1e-5)


def test_mc_dropout_kernel_leaves_the_model_weights_alone():
    model = _dropout_mlp(rate=0.2)
    before = [w.copy() for w in model.get_weights()]
    kreg.mc_dropout_predict(model, np.ones((8, 12), np.float32), 5, seed=0)
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_notebook_default_config_tables_equal_the_reference():
    # Students read default_config in the notebook (they have no deeptrain.reference): same tables.
    import json
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "solutions", "08_regularization",
                        "08_regularization.ipynb")
    cells = json.load(open(path, encoding="utf-8"))["cells"]
    source = next("".join(c["source"]) for c in cells
                  if c["cell_type"] == "code" and "DEFAULT_CONFIGS = {" in "".join(c["source"]))
    namespace = {}
    exec(source.split("\nprint(")[0], namespace)   # the definitions, without the printing
    for kind in ("default", "self_normalizing"):
        assert namespace["default_config"](kind) == reference.default_config(kind)
    assert namespace["DEFAULT_CONFIGS_2ND_EDITION"] == reference.DEFAULT_CONFIGS_2ND_EDITION
    with pytest.raises(ValueError, match="self_normalizing"):
        namespace["default_config"]("nope")


def test_mc_dropout_kernel_functional_model_falls_back_to_training_calls():
    tf.keras.utils.set_random_seed(5)
    inputs = tf.keras.Input((12,))
    h = tf.keras.layers.Dense(16, activation="relu")(tf.keras.layers.Dropout(0.3)(inputs))
    outputs = tf.keras.layers.Dense(4, activation="softmax")(tf.keras.layers.Dropout(0.3)(h))
    model = tf.keras.Model(inputs, outputs)
    X = np.random.default_rng(5).normal(size=(100, 12)).astype(np.float32)
    n = 300
    m_fast, s_fast = kreg.mc_dropout_predict(model, X, n)
    m_loop, s_loop = reference.mc_dropout_predict(model, X, n)
    se = np.sqrt(2 * np.maximum(s_loop, s_fast) ** 2 / n)
    assert np.all(np.abs(m_fast - m_loop) <= 5 * se + 1e-5)       # 5 standard errors, as above
    checks.assert_close(s_fast.mean(), s_loop.mean(), rtol=0.05)    # 400 entries, std error ~4 % each
    assert np.all(s_fast.sum(axis=1) > 0), "each pass must draw new masks"


# ---- MC dropout layers ------------------------------------------------------------------------------------

def test_mc_dropout_layer_samples_at_inference_and_keeps_batch_norm_in_inference_mode():
    from deeptrain.kernels.regularization import MCDropout
    tf.keras.utils.set_random_seed(0)
    bn = tf.keras.layers.BatchNormalization()
    model = tf.keras.Sequential([tf.keras.Input((2000,)), bn, MCDropout(0.3)])
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(8, 2000)).astype("float32")
    a, b = model(X).numpy(), model(X).numpy()          # no training flag: still stochastic
    assert not np.allclose(a, b)
    # BN in inference mode with fresh moving stats (mean 0, var 1) is x / sqrt(1 + eps): the kept entries
    # are exactly that, divided by the keep probability (Keras' oracle: BatchNormalization(training=False)).
    expected = bn(X, training=False).numpy() / 0.7
    kept = a != 0
    checks.assert_close(a[kept], expected[kept], rtol=1e-5)
    assert abs(1 - kept.mean() - 0.3) < 0.01          # 16,000 draws: 0.3 +- 0.004 (1 sd)


def test_mc_alpha_dropout_samples_at_inference_and_keeps_selu_statistics():
    from deeptrain.kernels.regularization import MCAlphaDropout
    tf.keras.utils.set_random_seed(0)
    layer = MCAlphaDropout(0.2)
    X = np.random.default_rng(1).normal(size=(200, 1000)).astype("float32")
    a, b = layer(X).numpy(), layer(X).numpy()
    assert not np.allclose(a, b)
    # AlphaDropout's affine correction keeps a standardized input standardized (Klambauer et al. 2017)
    assert abs(a.mean()) < 0.02 and abs(a.std() - 1.0) < 0.02
