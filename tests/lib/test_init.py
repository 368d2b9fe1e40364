"""Module 02 references (init_std, init_limit, variance_scaling) and kernel (he_avg_dense)
against independent oracles: the seeds' table 11-1, closed-form statistics, and Keras'
own initializers (VarianceScaling and its Glorot/He/LeCun subclasses).

Statistical margins: a sample variance of N draws has relative standard error sqrt(2/N)
for a normal and sqrt(0.8/N) for a uniform; with N >= 60,000 that is <= 0.6 %, so the
3 % margins below are more than 5 standard errors wide. All draws are seeded.
"""
import math

import numpy as np
import pytest
import tensorflow as tf

from deeptrain import checks, reference
from deeptrain.kernels import init as kinit

KERAS_UNIFORM = {"glorot": tf.keras.initializers.GlorotUniform, "he": tf.keras.initializers.HeUniform,
                 "lecun": tf.keras.initializers.LecunUniform}
KERAS_NORMAL = {"glorot": tf.keras.initializers.GlorotNormal, "he": tf.keras.initializers.HeNormal,
                "lecun": tf.keras.initializers.LecunNormal}
SHAPES = [(300, 200), (784, 100), (3, 3, 64, 32)]
MARGIN = 0.03


def _keras_sample(initializer, shape):
    return np.asarray(initializer(shape=shape, dtype="float64"))


# --- table 11-1 -----------------------------------------------------------------------

@pytest.mark.parametrize("fan_in,fan_out", [(1, 1), (784, 300), (300, 100), (100, 10), (5, 2000)])
def test_init_std_squared_is_the_variance_of_table_11_1(fan_in, fan_out):
    fan_avg = (fan_in + fan_out) / 2                     # the seeds' table 11-1, written out
    expected = {"glorot": 1 / fan_avg, "he": 2 / fan_in, "lecun": 1 / fan_in}
    for kind, variance in expected.items():
        checks.assert_close(reference.init_std(kind, fan_in, fan_out) ** 2, variance, rtol=1e-12, name=kind)


@pytest.mark.parametrize("fan_in,fan_out", [(784, 300), (10, 1000)])
def test_init_limit_is_sqrt_3_sigma2_as_in_equation_11_1(fan_in, fan_out):
    # equation 11-1: r = sqrt(3 / fan_avg) for Glorot; in general r = sqrt(3 sigma^2),
    # and U(-r, r) has variance r^2 / 3 = sigma^2.
    checks.assert_close(reference.init_limit("glorot", fan_in, fan_out), math.sqrt(3 / ((fan_in + fan_out) / 2)),
                        rtol=1e-12)
    for kind in ("glorot", "he", "lecun"):
        checks.assert_close(reference.init_limit(kind, fan_in, fan_out) ** 2 / 3,
                            reference.init_std(kind, fan_in, fan_out) ** 2, rtol=1e-12, name=kind)


@pytest.mark.parametrize("bad", [("xavier", 10, 10), ("Glorot ", 10, 10), ("he", 0, 10), ("he", 10, -1),
                                 ("lecun", 3.0, 0.0), ("glorot", True, 5)])
def test_init_std_and_limit_reject_unknown_kind_and_nonpositive_fans(bad):
    for fn in (reference.init_std, reference.init_limit):
        with pytest.raises(ValueError):
            fn(*bad)


# --- against Keras' named initializers ---------------------------------------------------

@pytest.mark.parametrize("kind", ["glorot", "he", "lecun"])
@pytest.mark.parametrize("shape", SHAPES)
def test_init_limit_matches_keras_uniform_initializer_bounds_and_variance(kind, shape):
    fan_in, fan_out = reference.compute_fans(shape)
    r = reference.init_limit(kind, fan_in, fan_out)
    w = _keras_sample(KERAS_UNIFORM[kind](seed=3), shape)
    # the largest of >= 60,000 uniform draws lies within 1e-3 of the limit (probability of
    # missing: (1 - 1e-3)^60000 < 1e-26)
    assert np.abs(w).max() <= r * (1 + 1e-12), f"Keras {kind}_uniform exceeds r = {r}"
    assert np.abs(w).max() >= r * (1 - 1e-3), f"Keras {kind}_uniform max {np.abs(w).max()} well below r = {r}"
    checks.assert_close(w.var(), r**2 / 3, rtol=MARGIN, name=f"Keras {kind}_uniform sample variance")


@pytest.mark.parametrize("kind", ["glorot", "he", "lecun"])
@pytest.mark.parametrize("shape", SHAPES)
def test_init_std_matches_keras_truncated_normal_initializer_sample_std(kind, shape):
    std = reference.init_std(kind, *reference.compute_fans(shape))
    w = _keras_sample(KERAS_NORMAL[kind](seed=4), shape)
    checks.assert_close(w.std(), std, rtol=MARGIN, name=f"Keras {kind}_normal sample std")


@pytest.mark.parametrize("kind", ["glorot", "he", "lecun"])
def test_keras_normal_initializers_truncate_at_two_stddev_over_0_8796(kind):
    # Keras' *Normal initializers draw TruncatedNormal(stddev = init_std / 0.8796...), cut at
    # two of those stddevs: no sample beyond 2 * init_std / 0.8796, and some close to it.
    std = reference.init_std(kind, 784, 300)
    cut = 2 * std / reference.KERAS_TRUNCATION_FACTOR
    w = _keras_sample(KERAS_NORMAL[kind](seed=5), (784, 300))
    assert np.abs(w).max() <= cut * (1 + 1e-6)
    assert np.abs(w).max() >= cut * 0.99
    assert np.abs(w).max() > 2.2 * std   # so the cut is not at 2 * init_std


def test_truncation_factor_is_std_of_standard_normal_truncated_to_two():
    # Var of N(0, 1) restricted to [-2, 2] = 1 - 2 * 2 phi(2) / (2 Phi(2) - 1)  (closed form)
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    checks.assert_close(math.sqrt(1 - 4 * phi2 / mass), reference.KERAS_TRUNCATION_FACTOR, rtol=1e-14)


# --- compute_fans and variance_scaling ---------------------------------------------------

@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (784, 100), (3, 3, 16, 32), (5, 16, 8), (2, 5, 5, 3, 8)])
def test_compute_fans_matches_keras(shape):
    from keras.src.initializers.random_initializers import compute_fans as keras_compute_fans
    assert reference.compute_fans(shape) == keras_compute_fans(shape)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["normal", "uniform"])
@pytest.mark.parametrize("shape,scale", [((400, 150), 1.0), ((3, 3, 32, 64), 2.0)])
def test_variance_scaling_variance_matches_keras_variance_scaling(mode, distribution, shape, scale):
    ours = reference.variance_scaling(shape, scale=scale, mode=mode, distribution=distribution, seed=0)
    keras_dist = "untruncated_normal" if distribution == "normal" else distribution
    theirs = _keras_sample(tf.keras.initializers.VarianceScaling(scale=scale, mode=mode, distribution=keras_dist,
                                                                 seed=1), shape)
    assert ours.shape == shape and ours.dtype == np.float64
    checks.assert_close(ours.var(), theirs.var(), rtol=2 * MARGIN, name="variance, ours vs Keras")
    fan_in, fan_out = reference.compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    checks.assert_close(ours.var(), scale / n, rtol=MARGIN, name="variance, ours vs scale / n")
    checks.assert_close(abs(ours.mean()), 0.0, atol=5 * math.sqrt(scale / n / ours.size), name="mean")
    if distribution == "uniform":
        limit = math.sqrt(3 * scale / n)
        assert np.abs(ours).max() <= limit and np.abs(theirs).max() <= limit * (1 + 1e-12)


def test_variance_scaling_normal_is_untruncated():
    # N(0, 1) puts 4.55 % of its mass beyond 2 sigma; a truncated normal puts none there.
    w = reference.variance_scaling((500, 200), scale=1.0, mode="fan_in", distribution="normal", seed=2)
    beyond = np.mean(np.abs(w) > 2 * math.sqrt(1 / 500))
    assert 0.040 < beyond < 0.051, beyond        # binomial sd of the fraction: 0.0009


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_variance_scaling_draw_is_the_documented_one(distribution):
    shape, scale = (6, 9), 2.0
    rng = np.random.default_rng(11)
    variance = scale / ((6 + 9) / 2)
    expected = (rng.normal(0.0, math.sqrt(variance), size=shape) if distribution == "normal"
                else rng.uniform(-math.sqrt(3 * variance), math.sqrt(3 * variance), size=shape))
    got = reference.variance_scaling(shape, scale, "fan_avg", distribution, seed=11)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(reference.variance_scaling(shape, scale, "fan_avg", distribution, seed=11), got)
    assert not np.array_equal(reference.variance_scaling(shape, scale, "fan_avg", distribution, seed=12), got)


def test_variance_scaling_scalar_and_vector_shapes_use_keras_fans():
    assert reference.variance_scaling((), seed=0).shape == ()
    v = reference.variance_scaling((40_000,), scale=3.0, mode="fan_out", distribution="uniform", seed=0)
    checks.assert_close(v.var(), 3.0 / 40_000, rtol=MARGIN)


@pytest.mark.parametrize("kwargs", [dict(scale=0.0), dict(scale=-1.0), dict(mode="fan_sum"),
                                    dict(distribution="truncated_normal"), dict(distribution="gaussian")])
def test_variance_scaling_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        reference.variance_scaling((3, 4), **kwargs)


# --- he_avg_dense (kernel) ----------------------------------------------------------------

def test_he_avg_dense_initializer_config_is_the_seeds_he_avg_init():
    layer = kinit.he_avg_dense(50, activation="sigmoid")
    assert isinstance(layer, tf.keras.layers.Dense) and layer.units == 50
    assert layer.activation is tf.keras.activations.sigmoid
    init = layer.kernel_initializer
    assert isinstance(init, tf.keras.initializers.VarianceScaling)
    cfg = init.get_config()   # the config Keras saves with the model, not only the attributes
    assert (cfg["scale"], cfg["mode"], cfg["distribution"]) == (2.0, "fan_avg", "uniform"), cfg
    assert type(init).__name__ == "VarianceScaling" and cfg["seed"] is None


def test_he_avg_dense_kernel_has_variance_2_over_fan_avg():
    tf.keras.utils.set_random_seed(0)
    layer = kinit.he_avg_dense(100, activation="relu")
    layer.build((None, 700))
    W = layer.kernel.numpy().astype(np.float64)
    fan_avg = (700 + 100) / 2
    checks.assert_close(W.var(), 2 / fan_avg, rtol=MARGIN, name="kernel variance")
    assert np.abs(W).max() <= math.sqrt(6 / fan_avg) * (1 + 1e-6)
    np.testing.assert_array_equal(layer.bias.numpy(), 0.0)
