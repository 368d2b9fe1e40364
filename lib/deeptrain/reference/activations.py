"""Nonsaturating activation functions (module 03): NumPy references.

Everything here is float64 NumPy; nothing imports TensorFlow. Formulas and defaults are
those of Keras 3 (``keras.activations``), so that Keras can serve as an oracle:

=================  =====================================  ======================================
reference          formula                                Keras / TensorFlow equivalent
=================  =====================================  ======================================
leaky_relu(z, a)   z if z > 0 else a z                    keras.activations.leaky_relu(z, negative_slope=a)
elu(z, a)          z if z > 0 else a (e^z - 1)            keras.activations.elu(z, alpha=a)
selu(z)            scale * elu(z, alpha)  (fixed consts)  keras.activations.selu(z)
gelu(z)            z Phi(z) = z/2 (1 + erf(z / sqrt 2))   keras.activations.gelu(z, approximate=False)
swish(z, b)        z sigmoid(b z)                         tf.nn.silu(z, beta=b); b = 1: keras.activations.silu
mish(z)            z tanh(softplus(z))                    keras.activations.mish(z)
=================  =====================================  ======================================

Every function takes an array of any shape (or a scalar), returns a float64 array of the
same shape, and neither overflows nor warns for |z| up to 1e4 (``np.exp`` is only ever
taken of a non-positive number).

Convention at the kink z = 0 (where ReLU-like functions have no derivative): z = 0 takes
the *negative* branch, as TensorFlow's gradients of the Keras activations do:
``leaky_relu_grad(0, a) = a`` and ``elu_grad(0, a) = a``.
"""
import numpy as np
from scipy.special import erfc

from .gradients import sigmoid as _sigmoid

__all__ = ["leaky_relu", "leaky_relu_grad", "elu", "elu_grad", "selu", "SELU_ALPHA", "SELU_SCALE",
           "gelu", "swish", "mish", "dead_relu_fraction"]

# Klambauer et al. (2017), "Self-Normalizing Neural Networks": the two constants for which
# N(0, 1) pre-activations give SELU outputs of mean 0 and variance 1. Same values as
# tf.nn.selu (Keras' docstring rounds them to 1.67326324 and 1.05070098).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _as_float64(z):
    return np.asarray(z, dtype=np.float64)


def leaky_relu(z, alpha=0.2):
    """Leaky ReLU: LeakyReLU_alpha(z) = max(alpha z, z) (for 0 <= alpha <= 1), elementwise.

    Computed as ``z if z > 0 else alpha * z``, which is TensorFlow's formula and equals
    max(alpha z, z) whenever alpha <= 1. z: any shape; returns float64 of the same shape.

    alpha defaults to 0.2, the default of ``keras.activations.leaky_relu`` (whose argument is
    called ``negative_slope``) and the textbook's example; the ``keras.layers.LeakyReLU`` layer
    defaults to 0.3, and the seeds call 0.01 "typical".
    """
    z = _as_float64(z)
    return np.where(z > 0, z, alpha * z)


def leaky_relu_grad(z, alpha=0.2):
    """d leaky_relu(z, alpha) / dz, elementwise: 1 where z > 0, alpha where z <= 0.

    At z = 0 (the kink) this returns alpha, the value ``tf.GradientTape`` gives for
    ``keras.activations.leaky_relu``. Returns float64 of z's shape.
    """
    z = _as_float64(z)
    return np.where(z > 0, 1.0, alpha)


def elu(z, alpha=1.0):
    """Exponential linear unit: ELU_alpha(z) = z if z > 0 else alpha (exp(z) - 1), elementwise.

    Seeds' equation: alpha (exp(z) - 1) for z < 0, z for z >= 0 (both branches give 0 at 0).
    alpha: the value ELU approaches for z -> -inf is -alpha; default 1.0 as in
    ``keras.activations.elu``. ``np.expm1`` keeps full relative precision near 0, and exp is
    only taken of min(z, 0), so z = 1e4 does not overflow. Returns float64 of z's shape.
    """
    z = _as_float64(z)
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def elu_grad(z, alpha=1.0):
    """d elu(z, alpha) / dz, elementwise: 1 where z > 0, alpha exp(z) where z <= 0.

    At z = 0 this returns alpha (the left derivative), the value ``tf.GradientTape`` gives
    for ``keras.activations.elu(z, alpha)``; with alpha = 1 both sides agree and ELU is C^1.
    Returns float64 of z's shape.
    """
    z = _as_float64(z)
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


def selu(z):
    """Scaled ELU: selu(z) = lambda * (z if z > 0 else alpha (exp(z) - 1)), elementwise.

    Seeds' equation with the constants of Klambauer et al. (2017):
    alpha = SELU_ALPHA = 1.6732632423543772..., lambda = SELU_SCALE = 1.0507009873554804...
    (``keras.activations.selu`` and ``tf.nn.selu`` use the same). Returns float64 of z's shape.
    """
    return SELU_SCALE * elu(z, SELU_ALPHA)


def gelu(z):
    """Gaussian error linear unit, exact form: gelu(z) = z Phi(z) = z/2 (1 + erf(z / sqrt(2))).

    Phi is the standard normal CDF. Computed as z/2 * erfc(-z / sqrt(2)), the same number
    without the cancellation of 1 + erf(.) for z << 0 (TensorFlow does the same); equal to
    ``keras.activations.gelu(z, approximate=False)`` (Keras' default), not to the tanh
    approximation. Returns float64 of z's shape.
    """
    z = _as_float64(z)
    return 0.5 * z * erfc(-z / np.sqrt(2.0))


def swish(z, beta=1.0):
    """Swish: swish(z) = z * sigmoid(beta z), elementwise.

    beta = 1 (the default, as in ``tf.nn.silu``) is SiLU, ``keras.activations.silu``;
    beta -> inf tends to ReLU, beta = 0 gives z / 2. Uses the overflow-free sigmoid of
    module 01. Returns float64 of z's shape.
    """
    z = _as_float64(z)
    return z * _sigmoid(beta * z)


def _softplus(z):
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow, full precision in both tails."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def mish(z):
    """Mish: mish(z) = z * tanh(softplus(z)), softplus(z) = log(1 + e^z), elementwise.

    softplus is computed as max(z, 0) + log1p(exp(-|z|)) (never overflows, keeps relative
    precision for z << 0). Equal to ``keras.activations.mish``. Returns float64 of z's shape.
    """
    z = _as_float64(z)
    return z * np.tanh(_softplus(z))


# --- dead_relu_fraction: a NumPy forward pass through a Keras-like Sequential model ---

_FORWARD = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "silu": swish,
    "swish": swish,
    "mish": mish,
    "leaky_relu": leaky_relu,
    "softplus": _softplus,
}

# Layers that are the identity at inference time.
_IDENTITY_LAYERS = {"InputLayer", "Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise",
                    "SpatialDropout1D", "ActivityRegularization"}


def _activation_name(layer):
    act = layer.get_config().get("activation", "linear")
    if isinstance(act, dict):  # serialised object form
        act = act.get("config", {}).get("name", act.get("class_name", "linear"))
    return str(act).lower()


def _apply(name, z):
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name not in _FORWARD:
        raise ValueError(f"reference dead_relu_fraction does not support activation {name!r}")
    return _FORWARD[name](z)


def dead_relu_fraction(model, X):
    """Share of hidden ReLU units that output 0 on every row of X.

    model: a Keras Sequential model made of Dense, Flatten, Activation and dropout/noise
        layers (the latter are the identity at inference). Only ``layer.get_weights()``,
        ``layer.get_config()`` and the class name are used, so this runs without TensorFlow.
    X: inputs of shape (n, ...) with n >= 1.
    Hidden ReLU units: the units of every Dense layer whose activation is "relu", except the
        output layer (the model's last Dense layer). A unit is dead on X when its output
        relu(z) is 0, that is z <= 0, for all n rows.
    Returns a Python float in [0, 1]: dead units / hidden ReLU units. Raises ValueError when
    the model has no hidden ReLU unit.
    """
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    if not dense:
        raise ValueError("the model has no Dense layer")
    output_layer = dense[-1]
    a = np.asarray(X, dtype=np.float64)
    dead, total = 0, 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Dense":
            weights = layer.get_weights()
            W = np.asarray(weights[0], dtype=np.float64)
            b = np.asarray(weights[1], dtype=np.float64) if len(weights) > 1 else 0.0
            name = _activation_name(layer)
            z = a @ W + b
            a = _apply(name, z)
            if name == "relu" and layer is not output_layer:
                # relu(z) == 0 exactly when z <= 0 (a NaN output is not 0: not dead)
                dead += int(np.sum((z <= 0).reshape(-1, z.shape[-1]).all(axis=0)))
                total += z.shape[-1]
        elif kind == "Flatten":
            a = a.reshape(len(a), -1)
        elif kind == "Activation":
            a = _apply(_activation_name(layer), a)
        elif kind in _IDENTITY_LAYERS:
            continue
        else:
            raise ValueError(f"reference dead_relu_fraction does not support {kind} layers")
    if total == 0:
        raise ValueError("the model has no hidden Dense layer with a relu activation")
    return dead / total
