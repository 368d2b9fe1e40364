"""Module 05 references and kernels against independent oracles: tf.clip_by_value,
tf.clip_by_norm, tf.clip_by_global_norm, tf.linalg.global_norm and the Keras optimizers'
clipvalue / clipnorm / global_clipnorm arguments."""
import numpy as np
import pytest
import tensorflow as tf

from deeptrain import checks, reference
from deeptrain.kernels import clipping as kclip


def _random_grads(seed, scale=3.0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, scale, size=s) for s in [(4, 3), (3,), (2, 2, 5), ()]]


# --- the seeds' example -----------------------------------------------------------------

def test_seed_example_clip_by_value_gives_0_9_and_1():
    (out,) = reference.clip_by_value([np.array([0.9, 100.0])], 1.0)
    np.testing.assert_array_equal(out, [0.9, 1.0])


def test_seed_example_clip_by_norm_gives_0_00899964_and_0_9999595():
    # The seed notes print the second component as 0.999595: a dropped 9. The exact value is
    # 100 / sqrt(0.9**2 + 100**2) = 0.99995950..., which tf.clip_by_norm confirms below.
    out = reference.clip_by_norm(np.array([0.9, 100.0]), 1.0)
    checks.assert_close(out, [0.00899964, 0.9999595], rtol=1e-6)
    checks.assert_close(out, tf.clip_by_norm(tf.constant([0.9, 100.0], tf.float64), 1.0).numpy(), rtol=1e-12)


def test_seed_example_value_clipping_turns_the_direction_norm_clipping_keeps_it():
    g = np.array([0.9, 100.0])
    angle = lambda a, b: np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))
    assert angle(g, reference.clip_by_value([g], 1.0)[0]) > 40      # about 41.5 degrees
    assert angle(g, reference.clip_by_norm(g, 1.0)) < 1e-6


# --- references vs TensorFlow -------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("c", [0.1, 1.0, 5.0])
def test_clip_by_value_matches_tf_clip_by_value(seed, c):
    grads = _random_grads(seed)
    expected = [tf.clip_by_value(tf.constant(g), -c, c).numpy() for g in grads]
    for got, exp in zip(reference.clip_by_value(grads, c), expected):
        checks.assert_close(got, exp, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("c", [0.1, 1.0, 50.0])
def test_clip_by_norm_matches_tf_clip_by_norm(seed, c):
    for g in _random_grads(seed):
        checks.assert_close(reference.clip_by_norm(g, c), tf.clip_by_norm(tf.constant(g), c).numpy(), rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("c", [0.1, 1.0, 50.0])
def test_clip_by_global_norm_matches_tf_clip_by_global_norm(seed, c):
    grads = _random_grads(seed)
    expected, expected_norm = tf.clip_by_global_norm([tf.constant(g) for g in grads], c)
    got, norm = reference.clip_by_global_norm(grads, c)
    checks.assert_close(norm, expected_norm.numpy(), rtol=1e-12)
    for a, e in zip(got, expected):
        checks.assert_close(a, e.numpy(), rtol=1e-12)


def test_global_norm_matches_tf_linalg_global_norm():
    grads = _random_grads(7)
    checks.assert_close(reference.global_norm(grads),
                        tf.linalg.global_norm([tf.constant(g) for g in grads]).numpy(), rtol=1e-12)


def test_zero_gradients_stay_zero_with_norm_zero():
    zeros = [np.zeros((3, 2)), np.zeros(4)]
    np.testing.assert_array_equal(reference.clip_by_norm(zeros[0], 1.0), zeros[0])
    clipped, norm = reference.clip_by_global_norm(zeros, 1.0)
    tf_clipped, tf_norm = tf.clip_by_global_norm([tf.constant(z) for z in zeros], 1.0)
    assert norm == 0.0 == float(tf_norm)
    for a, e in zip(clipped, tf_clipped):
        np.testing.assert_array_equal(a, e.numpy())


def test_norm_exactly_at_the_threshold_is_left_unchanged():
    g = np.array([3.0, 4.0])                              # norm 5
    checks.assert_close(reference.clip_by_norm(g, 5.0), g, rtol=1e-15)
    checks.assert_close(reference.clip_by_norm(g, 5.0), tf.clip_by_norm(tf.constant(g), 5.0).numpy(), rtol=1e-15)
    clipped, norm = reference.clip_by_global_norm([np.array([3.0]), np.array([4.0])], 5.0)
    assert norm == 5.0
    checks.assert_close(np.concatenate(clipped), g, rtol=1e-15)
    np.testing.assert_array_equal(reference.clip_by_value([g], 4.0)[0], g)


def test_global_norm_clipping_with_a_non_finite_gradient_gives_nan_as_tf():
    grads = [np.array([1.0, np.inf]), np.array([2.0])]
    clipped, norm = reference.clip_by_global_norm(grads, 1.0)
    tf_clipped, tf_norm = tf.clip_by_global_norm([tf.constant(g) for g in grads], 1.0)
    assert np.isinf(norm) and np.isinf(tf_norm.numpy())
    for a, e in zip(clipped, tf_clipped):
        assert np.isnan(a).all() and np.isnan(e.numpy()).all()


def test_none_gradients_pass_through_as_tf():
    grads = [np.array([3.0]), None, np.array([4.0])]
    clipped, norm = reference.clip_by_global_norm(grads, 1.0)
    tf_clipped, tf_norm = tf.clip_by_global_norm([tf.constant([3.0]), None, tf.constant([4.0])], 1.0)
    assert clipped[1] is None and tf_clipped[1] is None
    checks.assert_close(norm, float(tf_norm), rtol=1e-7)
    assert reference.clip_by_value(grads, 1.0)[1] is None


# --- kernels vs references --------------------------------------------------------------------

@pytest.mark.parametrize("dtype,rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_kernels_equal_references(dtype, rtol):
    grads = [g.astype(dtype) for g in _random_grads(3)]
    for got, exp in zip(kclip.clip_by_value(grads, 0.5), reference.clip_by_value(grads, 0.5)):
        checks.assert_close(got.numpy(), exp, rtol=rtol)
    for g in grads:
        checks.assert_close(kclip.clip_by_norm(g, 0.7).numpy(), reference.clip_by_norm(g, 0.7), rtol=rtol)
    got, norm = kclip.clip_by_global_norm(grads, 2.0)
    exp, exp_norm = reference.clip_by_global_norm(grads, 2.0)
    checks.assert_close(float(norm), exp_norm, rtol=rtol)
    for a, e in zip(got, exp):
        checks.assert_close(a.numpy(), e, rtol=rtol, atol=1e-7 if dtype == np.float32 else 0)


def test_kernel_clip_by_global_norm_non_finite_gives_nan_as_tf():
    clipped, norm = kclip.clip_by_global_norm([tf.constant([np.nan, 1.0]), tf.constant([2.0])], 1.0)
    assert np.isnan(float(norm)) and all(np.isnan(c.numpy()).all() for c in clipped)


def test_kernel_clip_by_norm_has_a_finite_gradient_at_zero_as_tf():
    x = tf.Variable(tf.zeros(3))
    with tf.GradientTape(persistent=True) as tape:
        ours = tf.reduce_sum(kclip.clip_by_norm(x, 1.0))
        theirs = tf.reduce_sum(tf.clip_by_norm(x, 1.0))
    checks.assert_close(tape.gradient(ours, x).numpy(), tape.gradient(theirs, x).numpy(), rtol=1e-7)


# --- train_step_with_clipping vs Keras' own clipping ------------------------------------------

def _model(seed=0):
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([tf.keras.Input((5,)), tf.keras.layers.Dense(8, activation="relu"),
                                tf.keras.layers.Dense(3)])


def _batch():
    rng = np.random.default_rng(4)
    return rng.normal(size=(16, 5)).astype(np.float32), (30 * rng.normal(size=(16, 3))).astype(np.float32)


@pytest.mark.parametrize("make_opt", [lambda **kw: tf.keras.optimizers.SGD(learning_rate=0.01, **kw),
                                      lambda **kw: tf.keras.optimizers.Adam(learning_rate=0.01, **kw)],
                         ids=["SGD", "Adam"])
@pytest.mark.parametrize("clipnorm", [0.5, 1e6])
def test_train_step_with_clipping_matches_keras_global_clipnorm(make_opt, clipnorm):
    X, y = _batch()
    loss = tf.keras.losses.MeanSquaredError()
    ours, keras_model = _model(), _model()
    opt_ours, opt_keras = make_opt(), make_opt(global_clipnorm=clipnorm)
    for _ in range(3):                                   # three steps: optimizer state matters too
        with tf.GradientTape() as tape:
            l = loss(y, keras_model(X, training=True))
        grads = tape.gradient(l, keras_model.trainable_variables)
        expected_norm = float(tf.linalg.global_norm(grads))
        opt_keras.apply_gradients(zip(grads, keras_model.trainable_variables))
        norm = kclip.train_step_with_clipping(ours, opt_ours, loss, X, y, clipnorm)
        assert isinstance(norm, float)
        checks.assert_close(norm, expected_norm, rtol=1e-5)
        for a, b in zip(ours.get_weights(), keras_model.get_weights()):
            checks.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert expected_norm > 0.5                          # the 0.5 threshold really clipped


def test_train_step_with_clipping_matches_tf_clip_by_global_norm_step():
    X, y = _batch()
    loss = tf.keras.losses.MeanSquaredError()
    ours, theirs = _model(1), _model(1)
    with tf.GradientTape() as tape:
        l = loss(y, theirs(X, training=True))
    grads = tape.gradient(l, theirs.trainable_variables)
    clipped, G = tf.clip_by_global_norm(grads, 2.0)
    tf.keras.optimizers.SGD(0.1).apply_gradients(zip(clipped, theirs.trainable_variables))
    norm = kclip.train_step_with_clipping(ours, tf.keras.optimizers.SGD(0.1), loss, X, y, 2.0)
    checks.assert_close(norm, float(G), rtol=1e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        checks.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_keras_clipnorm_clips_each_variable_separately():
    """What the notebook teaches about Keras 3: clipnorm is per variable, global_clipnorm is global."""
    X, y = _batch()
    loss = tf.keras.losses.MeanSquaredError()
    m = _model(2)
    with tf.GradientTape() as tape:
        l = loss(y, m(X, training=True))
    grads = tape.gradient(l, m.trainable_variables)
    w0 = [w.copy() for w in m.get_weights()]
    tf.keras.optimizers.SGD(1.0, clipnorm=0.5).apply_gradients(zip(grads, m.trainable_variables))
    for before, after, g in zip(w0, m.get_weights(), grads):
        checks.assert_close(before - after, reference.clip_by_norm(g.numpy(), 0.5), rtol=1e-5, atol=1e-6)
