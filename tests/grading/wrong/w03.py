"""Module 03: activations."""
import numpy as np
from math import erf

from deeptrain import reference as ref

from . import WHOLE


def leaky_max(z, alpha=0.2):                      # right for alpha <= 1: max(alpha z, z)
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(alpha * z, z)


def leaky_fixed_alpha(z, alpha=0.2):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, 0.2 * z)


def leaky_float32(z, alpha=0.2):
    z = np.asarray(z)
    return np.where(z > 0, z, alpha * z).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def leaky_grad_zero_at_zero(z, alpha=0.2):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, 1.0, np.where(z < 0, alpha, 1.0))


def leaky_grad_float32(z, alpha=0.2):
    z = np.asarray(z)
    return np.where(z > 0, 1.0, alpha).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def elu_exp_everywhere(z, alpha=1.0):              # exp(z) of z = 800 overflows (np.where evaluates both)
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, alpha * (np.exp(z) - 1))


def elu_minimum_exp(z, alpha=1.0):                 # no overflow, but exp(z) - 1 loses digits near 0
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, alpha * (np.exp(np.minimum(z, 0)) - 1))


def elu_grad_exp_everywhere(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, 1.0, alpha * np.exp(z))


def elu_grad_one_at_zero(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z >= 0, 1.0, alpha * np.exp(np.minimum(z, 0)))


def selu_swapped_constants(z):
    return ref.SELU_ALPHA * ref.elu(z, ref.SELU_SCALE) if hasattr(ref, "SELU_ALPHA") else 1.6732632423543772 * ref.elu(
        z, 1.0507009873554805)


def selu_float32(z):
    z = np.asarray(z)
    return ref.selu(z).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def gelu_tanh(z):
    z = np.asarray(z, dtype=np.float64)
    return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3)))


def gelu_math_erf(z):                              # right: math.erf elementwise
    z = np.asarray(z, dtype=np.float64)
    return z / 2 * (1 + np.vectorize(erf)(z / np.sqrt(2)))


def gelu_float32(z):
    z = np.asarray(z)
    return ref.gelu(z).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def swish_ignores_beta(z, beta=1.0):
    return ref.swish(z, 1.0)


def swish_float32(z, beta=1.0):
    z = np.asarray(z)
    return ref.swish(z, beta).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def mish_softplus_wrong(z):                        # softplus as log(exp(z)) = z
    z = np.asarray(z, dtype=np.float64)
    return z * np.tanh(z)


def mish_float32(z):
    z = np.asarray(z)
    return ref.mish(z).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def _dead(fn):
    def impl(model, X):
        return fn(model, X)
    impl.__name__ = fn.__name__
    return impl


def dead_counts_output(model, X):
    """Counts the output layer's units too."""
    a, dead, total = np.asarray(X, np.float64), 0, 0
    for layer in model.layers:
        if type(layer).__name__ != "Dense":
            continue
        w = layer.get_weights()
        z = a @ w[0] + (w[1] if len(w) > 1 else 0)
        act = layer.get_config()["activation"]
        a = np.maximum(z, 0) if act == "relu" else ref.activations._apply(act, z)
        if act == "relu":
            dead += int((z <= 0).all(axis=0).sum())
            total += z.shape[1]
    return dead / total


def dead_any_row(model, X):
    """A unit counts as dead when it is 0 on ANY row."""
    dense = [l for l in model.layers if type(l).__name__ == "Dense"]
    a, dead, total = np.asarray(X, np.float64), 0, 0
    for layer in dense:
        w = layer.get_weights()
        z = a @ w[0] + (w[1] if len(w) > 1 else 0)
        act = layer.get_config()["activation"]
        a = ref.activations._apply(act, z)
        if act == "relu" and layer is not dense[-1]:
            dead += int((z <= 0).any(axis=0).sum())
            total += z.shape[1]
    return dead / total


def dead_all_hidden(model, X):
    """Counts every hidden Dense layer, sigmoid ones too (units that are exactly 0 never are)."""
    dense = [l for l in model.layers if type(l).__name__ == "Dense"]
    a, dead, total = np.asarray(X, np.float64), 0, 0
    for layer in dense:
        w = layer.get_weights()
        z = a @ w[0] + (w[1] if len(w) > 1 else 0)
        act = layer.get_config()["activation"]
        a = ref.activations._apply(act, z)
        if layer is not dense[-1]:
            dead += int((a == 0).all(axis=0).sum())
            total += z.shape[1]
    return dead / total


def dead_as_array(model, X):
    return np.asarray(ref.dead_relu_fraction(model, X))      # a 0-d array, not a float


def leaky_grad_relu(z, alpha=0.2):
    return (np.asarray(z, dtype=np.float64) > 0).astype(np.float64)


def elu_alpha_one(z, alpha=1.0):
    return ref.elu(z, 1.0)


def elu_float32(z, alpha=1.0):
    z = np.asarray(z)
    return ref.elu(z, alpha).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def _masked_elu(z, alpha):
    """The two branches mixed by multiplying with masks: exp(800) = inf, and inf * 0 = nan in the tail."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(all="ignore"):                    # the warnings silenced: the values still tell
        return z * (z > 0) + alpha * np.expm1(z) * (z <= 0)


def elu_masked(z, alpha=1.0):
    return _masked_elu(z, alpha)


def selu_masked(z):
    return 1.0507009873554805 * _masked_elu(z, 1.6732632423543772)


def elu_grad_masked(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(all="ignore"):
        return 1.0 * (z > 0) + alpha * np.exp(z) * (z <= 0)


def selu_exp_everywhere(z):
    z = np.asarray(z, dtype=np.float64)
    return 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(z))


WRONG = [
    ("03.leaky_relu", "leaky_relu_grad", leaky_grad_relu, WHOLE, "alpha"),
    ("03.elu_selu", "elu", elu_alpha_one, {"alpha"}, "alpha * (exp(z) - 1)"),
    ("03.elu_selu", "elu", elu_float32, {"float64"}, "float64"),
    ("03.elu_selu", "selu", selu_masked, {"overflow"}, "overflowed"),
    ("03.elu_selu", "elu", elu_masked, {"overflow"}, "overflowed"),
    ("03.elu_selu", "elu_grad", elu_grad_masked, {"overflow"}, "overflowed"),
    ("03.leaky_relu", "leaky_relu", leaky_fixed_alpha, {"alpha"}, "alpha given"),
    ("03.leaky_relu", "leaky_relu", leaky_float32, {"float64"}, "float64"),
    ("03.leaky_relu", "leaky_relu_grad", leaky_grad_zero_at_zero, {"at_zero"}, "z = 0"),
    ("03.leaky_relu", "leaky_relu_grad", leaky_grad_float32, {"float64"}, "float64"),
    ("03.elu_selu", "elu", elu_exp_everywhere, {"near_zero"}, "expm1"),
    ("03.elu_selu", "elu", elu_minimum_exp, {"near_zero"}, "expm1"),
    ("03.elu_selu", "elu_grad", elu_grad_one_at_zero, {"at_zero"}, "alpha at z = 0"),
    ("03.elu_selu", "selu", selu_swapped_constants, WHOLE, "SELU_SCALE"),
    ("03.elu_selu", "selu", selu_float32, {"float64"}, "float64"),
    ("03.gelu_swish_mish", "gelu", gelu_tanh, WHOLE, "erf"),
    ("03.gelu_swish_mish", "gelu", gelu_float32, {"float64"}, "float64"),
    ("03.gelu_swish_mish", "swish", swish_ignores_beta, {"beta"}, "beta"),
    ("03.gelu_swish_mish", "swish", swish_float32, {"float64"}, "float64"),
    ("03.gelu_swish_mish", "mish", mish_softplus_wrong, WHOLE, "softplus"),
    ("03.gelu_swish_mish", "mish", mish_float32, {"float64"}, "float64"),
    ("03.dead_relu_fraction", "dead_relu_fraction", dead_counts_output, {"output"}, "output layer"),
    ("03.dead_relu_fraction", "dead_relu_fraction", dead_any_row, WHOLE, "EVERY row"),
    ("03.dead_relu_fraction", "dead_relu_fraction", dead_all_hidden, {"relu_only"}, "relu count"),
    ("03.dead_relu_fraction", "dead_relu_fraction", dead_as_array, {"float"}, "Python float"),
]
# Right by value: np.where discards the branch whose exp overflowed (a silenced warning is no fault).
RIGHT = [("03.leaky_relu", "leaky_relu", leaky_max), ("03.gelu_swish_mish", "gelu", gelu_math_erf),
         ("03.elu_selu", "selu", selu_exp_everywhere), ("03.elu_selu", "elu_grad", elu_grad_exp_everywhere)]


# --- one fault each, seen only where the parameter keeps its default (issue 19: one fault, one deduction) ---

def leaky_layer_default(z, alpha=0.3):           # the default of keras.layers.LeakyReLU, not of the function
    return ref.leaky_relu(z, alpha)


def elu_default_half(z, alpha=0.5):
    return ref.elu(z, alpha)


def elu_grad_default_half(z, alpha=0.5):
    return ref.elu_grad(z, alpha)


def swish_gelu_beta(z, beta=1.702):              # sigmoid(1.702 z) approximates Phi(z): the GELU trick, not swish
    return ref.swish(z, beta)


def elu_grad_fixed_alpha(z, alpha=1.0):
    return ref.elu_grad(z, 1.0)


WRONG += [
    ("03.elu_selu", "elu_grad", elu_grad_fixed_alpha, {"alpha"}, "alpha given"),
    ("03.leaky_relu", "leaky_relu", leaky_layer_default, {"values"}, "alpha * z where z <= 0"),
    ("03.elu_selu", "elu", elu_default_half, {"values"}, "alpha * (exp(z) - 1)"),
    ("03.elu_selu", "elu_grad", elu_grad_default_half, {"values"}, "alpha * exp(z)"),
    ("03.gelu_swish_mish", "swish", swish_gelu_beta, {"values"}, "z * sigmoid(beta * z)"),
]


def swish_naive(z, beta=1.0):
    """z / (1 + exp(-beta z)), the overflow silenced: swish(-710) comes out -0 instead of about -3e-306."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(over="ignore"):
        return z / (1.0 + np.exp(-beta * z))


def mish_overflowing_softplus(z):
    """softplus as z + log(1 + exp(-z)) everywhere: exp(1e4) = inf for z = -1e4, and mish(-1e4) becomes -1e4."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return z * np.tanh(z + np.log1p(np.exp(-z)))


WRONG += [
    ("03.gelu_swish_mish", "swish", swish_naive, {"overflow"}, "swish overflowed"),
    ("03.gelu_swish_mish", "mish", mish_overflowing_softplus, {"overflow"}, "mish overflowed"),
]
