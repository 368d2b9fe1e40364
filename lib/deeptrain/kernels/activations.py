"""Nonsaturating activation functions (module 03): TensorFlow kernels.

The same formulas, defaults and conventions as ``deeptrain.reference.activations`` (see its
docstring), as TensorFlow ops: each function takes a tensor or array of any shape, keeps a
float32 or float64 dtype (NumPy float64 stays float64, Python numbers become float32),
works eagerly and inside ``tf.function``, and can be passed to a layer as
``Dense(..., activation=mish)``. Numerically equal to the references (tests/lib).

These are plain TF ops, not faster than the Keras built-ins they mirror; they exist so that
demos can differentiate and train with the course's own definitions.
"""
import math

import tensorflow as tf

__all__ = ["leaky_relu", "leaky_relu_grad", "elu", "elu_grad", "selu", "gelu", "swish", "mish",
           "dead_relu_fraction", "SELU_ALPHA", "SELU_SCALE"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _float_tensor(z):
    z = tf.convert_to_tensor(z)
    if not z.dtype.is_floating:
        z = tf.cast(z, tf.float32)
    return z


def _const(x, dtype):
    """x in dtype. (tf.cast(0.2, tf.float64) would round 0.2 to float32 first.)"""
    if tf.is_tensor(x):
        return tf.cast(x, dtype)
    return tf.constant(x, dtype=dtype)


def leaky_relu(z, alpha=0.2):
    """z if z > 0 else alpha z (default alpha as keras.activations.leaky_relu's negative_slope)."""
    z = _float_tensor(z)
    return tf.where(z > 0, z, _const(alpha, z.dtype) * z)


def leaky_relu_grad(z, alpha=0.2):
    """1 where z > 0, alpha where z <= 0 (alpha at the kink, as tf.GradientTape gives)."""
    z = _float_tensor(z)
    return tf.where(z > 0, tf.ones_like(z), tf.fill(tf.shape(z), _const(alpha, z.dtype)))


def elu(z, alpha=1.0):
    """z if z > 0 else alpha (e^z - 1), with expm1 of min(z, 0): no overflow, no cancellation."""
    z = _float_tensor(z)
    return tf.where(z > 0, z, _const(alpha, z.dtype) * tf.math.expm1(tf.minimum(z, 0)))


def elu_grad(z, alpha=1.0):
    """1 where z > 0, alpha e^z where z <= 0 (alpha at the kink)."""
    z = _float_tensor(z)
    return tf.where(z > 0, tf.ones_like(z), _const(alpha, z.dtype) * tf.exp(tf.minimum(z, 0)))


def selu(z):
    """SELU_SCALE * elu(z, SELU_ALPHA) (Klambauer et al. 2017; tf.nn.selu's constants)."""
    z = _float_tensor(z)
    return _const(SELU_SCALE, z.dtype) * elu(z, SELU_ALPHA)


def gelu(z):
    """Exact GELU z Phi(z), written z/2 erfc(-z / sqrt 2) (keras.activations.gelu(approximate=False))."""
    z = _float_tensor(z)
    return 0.5 * z * tf.math.erfc(-z * _const(1.0 / math.sqrt(2.0), z.dtype))


def swish(z, beta=1.0):
    """z sigmoid(beta z); beta = 1 is SiLU (tf.sigmoid is overflow-free)."""
    z = _float_tensor(z)
    return z * tf.sigmoid(_const(beta, z.dtype) * z)


def mish(z):
    """z tanh(softplus(z)), with TensorFlow's overflow-free softplus.

    (tf.math.softplus rather than max(z, 0) + log1p(e^-|z|): equal values, but autodiff of
    the latter gives softplus'(0) = 1 instead of 1/2.)
    """
    z = _float_tensor(z)
    return z * tf.tanh(tf.math.softplus(z))


def _activation_name(layer):
    act = layer.get_config().get("activation", "linear")
    if isinstance(act, dict):
        act = act.get("config", {}).get("name", act.get("class_name", "linear"))
    return str(act).lower()


def dead_relu_fraction(model, X, batch_size=4096):
    """Share of hidden ReLU units that output 0 on every row of X (see the reference).

    model: a built Keras Sequential model. X: array or tensor of shape (n, ...).
    Hidden ReLU units: every Dense layer with activation "relu" except the model's last
    Dense layer. The layers run in inference mode (dropout off), X in batches of
    ``batch_size`` rows, keeping each unit's largest output. Returns a Python float in [0, 1].
    """
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    if not dense:
        raise ValueError("the model has no Dense layer")
    hidden = [layer for layer in dense[:-1] if _activation_name(layer) == "relu"]
    if not hidden:
        raise ValueError("the model has no hidden Dense layer with a relu activation")
    zero_so_far = {id(layer): None for layer in hidden}   # per unit: output 0 on every row seen
    n = int(X.shape[0])
    for start in range(0, n, batch_size):
        a = tf.convert_to_tensor(X[start:start + batch_size])
        for layer in model.layers:
            a = layer(a, training=False)
            if id(layer) in zero_so_far:
                zero = tf.reduce_all(tf.reshape(a, (-1, a.shape[-1])) <= 0, axis=0)   # NaN is not 0
                old = zero_so_far[id(layer)]
                zero_so_far[id(layer)] = zero if old is None else tf.logical_and(old, zero)
    dead = sum(int(tf.reduce_sum(tf.cast(z, tf.int32))) for z in zero_so_far.values())
    total = sum(int(z.shape[0]) for z in zero_so_far.values())
    return dead / total
