"""Explorer of modules 01-03: depth x initialization x activation in a deep dense stack.

What it computes (pure NumPy, float64, no TensorFlow; neither ``deeptrain.reference``,
which is not in the student bundle, nor ``deeptrain.kernels``, which would import TensorFlow):
a plain MLP of ``depth`` hidden layers ``Dense(width, activation)`` without biases and a
linear ``Dense(10)`` output, its kernels drawn from N(0, sigma^2) with sigma from the chosen
rule (table 11-1 of A. Geron, *Hands-On Machine Learning*, ch. 11), fed a batch of
standard-normal inputs and trained on nothing: the softmax cross-entropy against random
labels only serves to send a gradient down. For each hidden layer it reports

- the variance of the layer's outputs (over every input and unit, ``np.var``), the quantity
  the notebooks plot (its square root, the standard deviation, is kept as "std"),
- the input-dependent part of it: per unit, the variance over the inputs, averaged over
  the units (module 01 shows why the two differ: a saturated or collapsed layer can keep a
  large total spread while every input gives the same output),
- the L2 norm of the loss gradient with respect to the layer's kernel (backpropagation by
  hand, checked against ``tf.GradientTape`` in tests/lib/test_explore_variance.py).

One explorer, ``explorer(name)``, serves the three notebooks with the defaults of their story
(``DEFAULTS``): 01 starts from sigmoid + N(0, 1), 02 from ReLU + Glorot, 03 from ReLU + He.
"""
import numpy as np
from matplotlib.figure import Figure

from . import explorer as _explorer
from . import register

__all__ = ["INIT_RULES", "ACTIVATIONS", "INIT_LABELS", "ACTIVATION_LABELS", "DEFAULTS",
           "weight_std", "stack_weights", "forward_backward", "depth_profile", "draw", "controls",
           "explorer"]

# Weight standard deviation of each rule, sigma^2 = scale / fan (the course's kinds, as in
# module 02's init_std); "normal" is the pre-2010 N(0, 1).
INIT_RULES = {           # kind: (scale, fan mode)
    "normal": None,
    "glorot": (1.0, "fan_avg"),
    "he": (2.0, "fan_in"),
    "lecun": (1.0, "fan_in"),
}
INIT_LABELS = {"normal": "N(0, 1)", "glorot": "Glorot / Xavier", "he": "He", "lecun": "LeCun"}

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LEAKY_ALPHA = 0.2        # Keras' default negative slope, as module 03's leaky_relu


def _sigmoid(z):
    e = np.exp(-np.abs(z))                        # never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_grad(z, a):
    return a * (1.0 - a)


def _elu(z, alpha=1.0):
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def _elu_grad(z, alpha=1.0):
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


def _gelu(z):
    from scipy.special import erf
    return 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))


def _gelu_grad(z):
    from scipy.special import erf
    return 0.5 * (1.0 + erf(z / np.sqrt(2.0))) + z * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)


# name: (f(z), f'(z) given z and a = f(z)); the course's names (module 03), Keras' defaults.
ACTIVATIONS = {
    "sigmoid": (_sigmoid, _sigmoid_grad),
    "tanh": (np.tanh, lambda z, a: 1.0 - a**2),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0).astype(z.dtype)),
    "leaky_relu": (lambda z: np.where(z > 0, z, LEAKY_ALPHA * z),
                   lambda z, a: np.where(z > 0, 1.0, LEAKY_ALPHA)),
    "elu": (_elu, lambda z, a: _elu_grad(z)),
    "selu": (lambda z: SELU_SCALE * _elu(z, SELU_ALPHA),
             lambda z, a: SELU_SCALE * _elu_grad(z, SELU_ALPHA)),
    "gelu": (_gelu, lambda z, a: _gelu_grad(z)),
}
ACTIVATION_LABELS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU",
                     "leaky_relu": f"leaky ReLU (alpha {LEAKY_ALPHA})", "elu": "ELU",
                     "selu": "SELU", "gelu": "GELU"}

N_CLASSES = 10

# The setting each notebook's explorer opens with: the story that notebook tells.
DEFAULTS = {
    "01_depth": dict(depth=10, init="normal", activation="sigmoid", width=100),
    "02_init": dict(depth=30, init="glorot", activation="relu", width=100),
    "03_activation": dict(depth=30, init="he", activation="relu", width=100),
}
_FOLDERS = {"01_depth": "01_unstable_gradients", "02_init": "02_initialization",
            "03_activation": "03_activations"}
_TITLES = {
    "01_depth": "Signal and gradient through a deep stack: depth, initialization, activation",
    "02_init": "Which initialization keeps the signal? (try each rule with each activation)",
    "03_activation": "Which activation keeps the signal? (pair each with its initialization)",
}


def weight_std(init, fan_in, fan_out):
    """sigma of the N(0, sigma^2) kernel of a (fan_in, fan_out) layer under rule ``init``.

    init: "normal" (sigma = 1), "glorot" (sigma^2 = 2 / (fan_in + fan_out)), "he" (2 / fan_in)
    or "lecun" (1 / fan_in). Returns a float.
    """
    if init not in INIT_RULES:
        raise ValueError(f"init must be one of {list(INIT_RULES)}, got {init!r}")
    if INIT_RULES[init] is None:
        return 1.0
    scale, mode = INIT_RULES[init]
    fan = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2.0
    return float(np.sqrt(scale / fan))


def stack_weights(depth, width, init, seed=0, n_in=None, n_out=N_CLASSES):
    """Kernels of the stack: depth hidden (fan_in, width) matrices, then (width, n_out).

    n_in: input features (default width). Drawn from ``np.random.default_rng(seed)``, one
    standard-normal matrix per layer in order, scaled by weight_std(init, ...). Returns a list
    of depth + 1 float64 arrays.
    """
    n_in = width if n_in is None else n_in
    rng = np.random.default_rng(seed)
    shapes = [(n_in, width)] + [(width, width)] * (depth - 1) + [(width, n_out)]
    return [rng.standard_normal(shape) * weight_std(init, *shape) for shape in shapes]


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def forward_backward(X, weights, activation, labels):
    """Forward and backward pass of the stack (hidden layers use ``activation``, the last is linear).

    X: (n, n_in). weights: list from stack_weights (last one the output layer).
    labels: int array (n,) in [0, n_out). Loss: mean softmax cross-entropy.
    Returns (outputs, grads): outputs[l] is hidden layer l's output (n, width), l = 0..depth-1;
    grads[l] is d loss / d weights[l], same shape as weights[l], for every layer (output included).
    """
    f, f_grad = ACTIVATIONS[activation]
    a, pre, outputs = X, [], []
    for W in weights[:-1]:
        z = a @ W
        a = f(z)
        pre.append(z)
        outputs.append(a)
    logits = a @ weights[-1]
    n = X.shape[0]
    delta = _softmax(logits)                               # d loss / d logits
    delta[np.arange(n), labels] -= 1.0
    delta /= n
    grads = [None] * len(weights)
    grads[-1] = outputs[-1].T @ delta
    grad_a = delta @ weights[-1].T
    for layer in range(len(weights) - 2, -1, -1):
        grad_z = grad_a * f_grad(pre[layer], outputs[layer])
        below = X if layer == 0 else outputs[layer - 1]
        grads[layer] = below.T @ grad_z
        grad_a = grad_z @ weights[layer].T
    return outputs, grads


def depth_profile(depth, init, activation, width=100, n_samples=256, seed=0):
    """Per hidden layer (input to output): output variance (and std), its input-dependent part, gradient norm.

    The stack of stack_weights(depth, width, init, seed) on X ~ N(0, 1) of shape
    (n_samples, width) and random labels, both drawn from ``np.random.default_rng(seed + 1)``.
    Returns a dict of float64 arrays of shape (depth,): "var" (np.var of the layer's outputs),
    "input_var" (the mean over units of each unit's variance over the inputs), "std" and
    "input_std" (their square roots),
    "grad_norm" (L2 norm of d loss / d kernel of the layer).
    """
    if depth < 1 or width < 1 or n_samples < 2:
        raise ValueError("depth and width must be >= 1 and n_samples >= 2")
    weights = stack_weights(depth, width, init, seed)
    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((n_samples, width))
    labels = rng.integers(0, N_CLASSES, n_samples)
    with np.errstate(over="ignore", invalid="ignore"):   # N(0,1) + ReLU at depth 60 reaches 1e60
        outputs, grads = forward_backward(X, weights, activation, labels)
        var = np.array([a.var() for a in outputs])
        input_var = np.array([a.var(axis=0).mean() for a in outputs])
        return {
            "var": var, "input_var": input_var,
            "std": np.sqrt(var), "input_std": np.sqrt(input_var),
            "grad_norm": np.array([np.linalg.norm(g) for g in grads[:-1]]),
        }


def _positive(values):
    """Values a log axis can show: non-positive or non-finite ones become NaN (a gap)."""
    values = np.asarray(values, dtype=float).copy()
    values[~np.isfinite(values) | (values <= 0)] = np.nan
    return values


def _log_limits(values, decades=4.0):
    """y-limits of a log axis showing ``values`` over at least ``decades`` decades.

    An autoscaled log axis stretches a 2x wobble over the whole height, and a level curve
    would look as dramatic as a vanishing one; a fixed minimum span keeps the eye honest.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return 1e-2, 1e2
    lo, hi = np.log10(values.min()), np.log10(values.max())
    pad = max(0.0, decades - (hi - lo)) / 2 + 0.1
    return 10 ** (lo - pad), 10 ** (hi + pad)


def draw(depth, init, activation, width=100):
    """The explorer's figure: output variance (left) and kernel gradient norm (right) per layer, log scale."""
    profile = depth_profile(depth, init, activation, width)
    layers = np.arange(1, depth + 1)
    # Fixed margins rather than layout="constrained": its solver took about 40% of a redraw.
    fig = Figure(figsize=(9.0, 3.5))
    fig.subplots_adjust(left=0.08, right=0.985, bottom=0.14, top=0.84, wspace=0.25)
    left, right = fig.subplots(1, 2)
    left.plot(layers, _positive(profile["var"]), "o-", ms=3, label="variance of the outputs (np.var)")
    left.plot(layers, _positive(profile["input_var"]), "s--", ms=3,
              label="its input-dependent part")
    left.axhline(1.0, color="grey", lw=0.8, alpha=0.6)
    left.set_title("forward: variance of each layer's outputs", fontsize="medium")
    left.set_ylabel("variance")
    right.set_ylabel(r"$\|\partial L / \partial W\|_2$ of the layer's kernel")
    left.legend(fontsize="small", loc="best")
    right.plot(layers, _positive(profile["grad_norm"]), "o-", ms=3, color="C3")
    g = profile["grad_norm"]
    if np.all(np.isfinite(g)) and g[-1] > 0:
        ratio = g[0] / g[-1]
        right.set_title(f"backward: gradient norm (first / last: {ratio:.1e})", fontsize="medium")
    else:
        right.set_title("backward: gradient norm (overflow)", fontsize="medium")
    left.set_ylim(*_log_limits(np.concatenate([profile["var"], profile["input_var"], [1.0]]), decades=8.0))
    right.set_ylim(*_log_limits(g))
    for ax in (left, right):
        ax.set_yscale("log")
        ax.set_xlabel("hidden layer (input to output)")
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(f"{ACTIVATION_LABELS[activation]}, {INIT_LABELS[init]} init, "
                 f"{depth} layers of {width} units", fontsize="medium")
    return fig


def controls(depth=10, init="normal", activation="sigmoid", width=100):
    """Fresh controls {argument: widget} opening at the given setting."""
    import ipywidgets as widgets

    return {
        "depth": widgets.IntSlider(value=depth, min=2, max=60, step=1, description="depth"),
        "init": widgets.Dropdown(options=[(label, kind) for kind, label in INIT_LABELS.items()],
                                 value=init, description="init"),
        "activation": widgets.Dropdown(options=[(label, name) for name, label in ACTIVATION_LABELS.items()],
                                       value=activation, description="activation"),
        "width": widgets.Dropdown(options=[25, 50, 100, 200, 400], value=width, description="width"),
    }


def explorer(name="01_depth", **overrides):
    """The interactive explorer with the defaults of notebook ``name`` ("01_depth", "02_init",
    "03_activation"); keyword overrides change the opening setting. None while grading."""
    settings = {**DEFAULTS[name], **overrides}
    return _explorer(draw, controls(**settings), name=name, title=_TITLES[name])


for _name, _defaults in DEFAULTS.items():
    register(_name, _FOLDERS[_name], draw, lambda d=_defaults: controls(**d))
