"""Weight initialization (module 02): Glorot, He and LeCun, as NumPy references.

Table 11-1 of the seeds gives the variance sigma^2 of the weights for each rule:

    =========  ===============================  ==============
    rule       activation functions             sigma^2
    =========  ===============================  ==============
    Glorot     none, tanh, logistic, softmax    1 / fan_avg
    He         ReLU and its variants            2 / fan_in
    LeCun      SELU                             1 / fan_in
    =========  ===============================  ==============

with fan_avg = (fan_in + fan_out) / 2. A normal initialization draws N(0, sigma^2); a
uniform one draws U(-r, r) with r = sqrt(3 sigma^2) (equation 11-1), which has the same
variance r^2 / 3 = sigma^2.

Everything here is float64 NumPy; nothing imports TensorFlow.
"""
import math
import numbers

import numpy as np

__all__ = ["INIT_RULES", "init_variance", "init_std", "init_limit", "compute_fans",
           "variance_scaling", "KERAS_TRUNCATION_FACTOR"]

# kind -> (scale, mode): sigma^2 = scale / fan(mode). The same pairs as Keras'
# GlorotNormal/Uniform (1, fan_avg), HeNormal/Uniform (2, fan_in), LecunNormal/Uniform (1, fan_in).
INIT_RULES = {
    "glorot": (1.0, "fan_avg"),
    "he": (2.0, "fan_in"),
    "lecun": (1.0, "fan_in"),
}

# Keras' "normal" initializers (glorot_normal, he_normal, lecun_normal, and VarianceScaling
# with distribution="truncated_normal" or "normal") draw from a normal truncated at two
# standard deviations. Truncation shrinks the standard deviation by this factor (the std of
# N(0, 1) restricted to [-2, 2]), so Keras passes stddev = sqrt(sigma^2) / 0.8796... to its
# truncated normal, and the samples end up with standard deviation sqrt(sigma^2).
KERAS_TRUNCATION_FACTOR = 0.87962566103423978


def _check_fan(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number of units, got {value!r}")
    return float(value)


def _fan(mode, fan_in, fan_out):
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    if mode == "fan_avg":
        return (fan_in + fan_out) / 2.0
    raise ValueError(f"mode must be one of 'fan_in', 'fan_out', 'fan_avg', got {mode!r}")


def init_variance(kind, fan_in, fan_out):
    """sigma^2 of table 11-1: 1/fan_avg (glorot), 2/fan_in (he), 1/fan_in (lecun).

    kind: "glorot", "he" or "lecun". fan_in, fan_out: positive numbers of input and output
    units of the layer (both are checked, even where the rule uses one only).
    Returns a Python float. ValueError for another kind or a fan that is not positive.
    """
    if kind not in INIT_RULES:
        raise ValueError(f"unknown initialization kind {kind!r}: use one of {', '.join(INIT_RULES)}")
    fan_in, fan_out = _check_fan("fan_in", fan_in), _check_fan("fan_out", fan_out)
    scale, mode = INIT_RULES[kind]
    return scale / _fan(mode, fan_in, fan_out)


def init_std(kind, fan_in, fan_out):
    """Standard deviation sigma of the normal initialization N(0, sigma^2) (table 11-1).

    kind: "glorot", "he" or "lecun"; fan_in, fan_out: positive numbers. Returns a float.
    This is the standard deviation the weights have. Keras' glorot_normal, he_normal and
    lecun_normal reach it with a normal truncated at two standard deviations whose stddev
    parameter is init_std / 0.87962566103423978 (KERAS_TRUNCATION_FACTOR); their samples'
    standard deviation is init_std.

    >>> init_std("he", 100, 10)     # sqrt(2 / 100)
    0.1414213562373095
    """
    return math.sqrt(init_variance(kind, fan_in, fan_out))


def init_limit(kind, fan_in, fan_out):
    """Limit r of the uniform initialization U(-r, r): r = sqrt(3 sigma^2) (equation 11-1).

    U(-r, r) has variance r^2 / 3 = sigma^2, the variance of table 11-1. Keras'
    glorot_uniform, he_uniform and lecun_uniform use this r. Returns a float.

    >>> init_limit("glorot", 300, 100)   # sqrt(3 / 200)
    0.1224744871391589
    """
    return math.sqrt(3.0 * init_variance(kind, fan_in, fan_out))


def compute_fans(shape):
    """(fan_in, fan_out) of a weight tensor, as Keras computes them.

    shape ()                -> (1, 1)
    shape (n,)              -> (n, n)
    shape (fan_in, fan_out) -> (fan_in, fan_out)                 (a Dense kernel)
    shape (k1, ..., c_in, c_out) -> (k1*...*c_in, k1*...*c_out)  (a convolution kernel:
                                    receptive field size times the channels)
    Returns two Python ints.
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = int(np.prod(shape[:-2]))
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def variance_scaling(shape, scale=1.0, mode="fan_in", distribution="normal", seed=None):
    """Random weights with variance scale / n, a NumPy version of Keras' VarianceScaling.

    shape: tuple of ints (the weight tensor's shape; fans from compute_fans(shape)).
    scale: positive float. mode: "fan_in", "fan_out" or "fan_avg"; n is that fan,
        floored at 1 as Keras does: n = max(1, fan).
    distribution:
        "normal" (alias "untruncated_normal"): N(0, scale / n), untruncated; this is Keras'
            distribution="untruncated_normal" (Keras' own "normal" means truncated_normal,
            which this function does not draw).
        "uniform": U(-limit, limit) with limit = sqrt(3 * scale / n).
    seed: None or an int; the draw, from rng = np.random.default_rng(seed), is exactly
        rng.normal(0.0, sqrt(scale / n), size=shape)      for "normal", or
        rng.uniform(-limit, limit, size=shape)            for "uniform".
    Returns a float64 array of the given shape.

    Table 11-1 in these terms: glorot = (scale 1, fan_avg), he = (2, fan_in),
    lecun = (1, fan_in); the textbook's he_avg_init is (2, fan_avg, uniform).
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    fan_in, fan_out = compute_fans(shape)
    n = max(1.0, _fan(mode, fan_in, fan_out))
    variance = scale / n
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in shape)
    if distribution in ("normal", "untruncated_normal"):
        return rng.normal(0.0, math.sqrt(variance), size=shape)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, size=shape)
    raise ValueError(f"distribution must be 'normal' (untruncated) or 'uniform', got {distribution!r}")
