"""Regularization (module 08): NumPy references.

l1/l2 penalties and their (sub)gradient, inverted dropout, Monte Carlo dropout, the max-norm
projection, and the default-configuration tables of A. Geron's chapter 11 (3rd edition, and
the 2nd edition's as the course notes give them). Float64 NumPy; nothing here imports
TensorFlow (``mc_dropout_predict`` only *calls* the Keras model it is given).
"""
import copy

import numpy as np

__all__ = ["l1_l2_penalty", "l1_l2_grad", "dropout_forward", "mc_dropout_predict", "max_norm",
           "default_config", "DEFAULT_CONFIGS", "DEFAULT_CONFIGS_2ND_EDITION",
           "MAX_NORM_EPSILON"]

# Keras' fuzz factor (keras.config.epsilon()), added to the norms in MaxNorm.
MAX_NORM_EPSILON = 1e-7


def _as_list(weights):
    """(list of float64 arrays, True if the input was a single array)."""
    if isinstance(weights, (list, tuple)):
        return [np.asarray(w, dtype=np.float64) for w in weights], False
    return [np.asarray(weights, dtype=np.float64)], True


def l1_l2_penalty(weights, l1=0.0, l2=0.0):
    """The l1/l2 regularization loss, as ``keras.regularizers.L1L2(l1, l2)`` computes it.

        penalty = l1 * sum_i |w_i| + l2 * sum_i w_i**2

    over every entry of every array (the seeds' l1 and l2 regularization; note there is
    no factor 1/2 in front of the l2 term, as in Keras). Keras turns l1 and l2 into float32
    constants before multiplying (even for float64 weights), so on float64 weights it agrees
    with this float64 computation to about 6e-8 relative, not to the last bit.

    weights: one array of any shape, or a list/tuple of arrays (e.g. the kernels of all
        layers; the penalty is then the sum over the arrays).
    l1, l2: non-negative floats. Returns a Python float.

    >>> l1_l2_penalty(np.array([[1.0, -2.0]]), l1=0.1, l2=0.01)   # 0.1 * 3 + 0.01 * 5
    0.35
    """
    arrays, _ = _as_list(weights)
    return float(sum(l1 * np.abs(w).sum() + l2 * np.square(w).sum() for w in arrays))


def l1_l2_grad(weights, l1=0.0, l2=0.0):
    """Gradient of :func:`l1_l2_penalty` with respect to the weights.

        d penalty / d w = l1 * sign(w) + 2 * l2 * w

    with the subgradient 0 for the l1 term at w = 0 (``np.sign(0) == 0``), which is what
    ``tf.GradientTape`` returns for the Keras regularizer (TensorFlow's gradient of |x| is
    sign(x)).

    weights: one array, or a list/tuple of arrays. Returns the same structure: one float64
    array of the same shape, or a list of float64 arrays of the same shapes.
    """
    arrays, single = _as_list(weights)
    grads = [l1 * np.sign(w) + 2.0 * l2 * w for w in arrays]
    return grads[0] if single else grads


def dropout_forward(x, rate, training=True, seed=None):
    """Inverted dropout, as ``keras.layers.Dropout(rate)`` does it.

    Training: each entry is kept with probability 1 - rate and then divided by 1 - rate
    (so that E[output] = x), or set to 0. The random draw is fixed:

        keep = np.random.default_rng(seed).random(x.shape) >= rate
        out  = np.where(keep, x / (1 - rate), 0.0)

    rate = 1 drops everything (returns zeros, like Keras); rate = 0 returns x.
    Inference (training=False): returns x unchanged (as float64), whatever the rate.

    x: array of any shape. rate: float in [0, 1]. seed: int or None.
    Returns float64 of x's shape.
    """
    x = np.asarray(x, dtype=np.float64)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if not training or rate == 0.0:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return np.where(keep, x / (1.0 - rate), 0.0)


def mc_dropout_predict(model, X, n_samples=100):
    """Monte Carlo dropout: mean and standard deviation of n_samples stochastic predictions.

    The seeds' loop: ``probas = np.stack([model(X, training=True) for _ in range(n_samples)])``,
    then the mean and the (population, ddof=0) standard deviation over the samples axis.
    With ``training=True`` every Dropout layer draws a new mask at each call (other layers
    that behave differently in training, such as BatchNormalization, would too: MC dropout
    is meant for models without them, or see the kernel version).

    model: a Keras model whose output is (n, n_classes) probabilities. X: inputs (n, ...).
    Returns (mean_proba, std_proba), float64 arrays of shape (n, n_classes).
    """
    probas = np.stack([np.asarray(model(X, training=True), dtype=np.float64) for _ in range(n_samples)])
    return probas.mean(axis=0), probas.std(axis=0)


def max_norm(W, max_value, axis=0):
    """Max-norm projection of each unit's incoming weights, as ``keras.constraints.MaxNorm``.

    For a Dense kernel W of shape (fan_in, units) and axis=0, column j holds the weights
    w_j coming into unit j; it is rescaled so that ||w_j||_2 <= r = max_value:

        w_j <- w_j * clip(||w_j||, 0, r) / (epsilon + ||w_j||),   epsilon = 1e-7

    Keras adds epsilon = 1e-7 (keras.config.epsilon()) to the norm, so a column already
    inside the ball is also multiplied by ||w|| / (1e-7 + ||w||), i.e. shrunk by a relative
    1e-7 / ||w||; we do the same so that Keras is an exact oracle. An all-zero column stays 0.

    W: array of any shape. axis: int or tuple of ints, the axes the norm runs over (all but
    the units axis: (0, 1, 2) for a Conv2D kernel). Returns float64 of W's shape.
    """
    W = np.asarray(W, dtype=np.float64)
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    norms = np.sqrt(np.sum(np.square(W), axis=axis, keepdims=True))
    desired = np.clip(norms, 0.0, max_value)
    return W * (desired / (MAX_NORM_EPSILON + norms))


# --- the practical guidelines (A. Geron, Hands-On Machine Learning, 3rd edition, ch. 11) ----

# Tables 11-3 and 11-4 of the 3rd edition (2022).
DEFAULT_CONFIGS = {
    "default": {
        "kernel_initializer": "He initialization",
        "activation": "ReLU if shallow; Swish if deep",
        "normalization": "None if shallow; batch normalization if deep",
        "regularization": "Early stopping; weight decay if needed",
        "optimizer": "Nesterov accelerated gradients, or AdamW",
        "learning_rate_schedule": "Performance scheduling or 1cycle",
    },
    "self_normalizing": {
        "kernel_initializer": "LeCun initialization",
        "activation": "SELU",
        "normalization": "None (self-normalization)",
        "regularization": "Alpha dropout if needed",
        "optimizer": "Nesterov accelerated gradients",
        "learning_rate_schedule": "Performance scheduling or 1cycle",
    },
}

# The two tables as the course notes give them (from the 2nd edition, 2019), which module 08
# prints beside the 3rd edition's to show what changed: ELU gave way to ReLU/Swish, momentum/RMSProp/Nadam to NAG or AdamW, l2 to weight decay.
DEFAULT_CONFIGS_2ND_EDITION = {
    "default": {
        "kernel_initializer": "He initialization",
        "activation": "ELU",
        "normalization": "None if shallow; batch normalization if deep",
        "regularization": "Early stopping (+ l2 regularization if needed)",
        "optimizer": "Momentum optimization (or RMSProp or Nadam)",
        "learning_rate_schedule": "1cycle",
    },
    "self_normalizing": {
        "kernel_initializer": "LeCun initialization",
        "activation": "SELU",
        "normalization": "None (self-normalization)",
        "regularization": "Early stopping (alpha dropout if needed)",
        "optimizer": "Nadam",
        "learning_rate_schedule": "Performance scheduling",
    },
}


def default_config(kind="default"):
    """The recommended default configuration of a deep network (3rd edition's tables 11-3, 11-4).

    kind: "default" (the general table: He init, ReLU if shallow / Swish if deep, BN if deep,
        early stopping and weight decay if needed, Nesterov accelerated gradients or AdamW,
        performance scheduling or 1cycle) or "self_normalizing" (for a plain stack of dense
        layers with standardized inputs: LeCun init, SELU, no normalization, alpha dropout if
        needed, Nesterov accelerated gradients, performance scheduling or 1cycle).
    Returns a new dict with the keys kernel_initializer, activation, normalization,
    regularization, optimizer, learning_rate_schedule (a copy: editing it changes nothing here).
    Raises ValueError naming the known kinds for anything else.
    """
    if kind not in DEFAULT_CONFIGS:
        raise ValueError(f"unknown kind {kind!r}: choose one of {', '.join(map(repr, DEFAULT_CONFIGS))}")
    return copy.deepcopy(DEFAULT_CONFIGS[kind])
