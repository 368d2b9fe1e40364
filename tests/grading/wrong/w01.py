"""Module 01: sigmoid, sigmoid_derivative, forward_variances."""
import numpy as np

from deeptrain import reference as ref

from . import WHOLE


def naive_sigmoid(z):                       # overflows (warns) for z << 0, values still right
    z = np.asarray(z, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-z))


def float32_sigmoid(z):                     # keeps the input's dtype
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def tanh_sigmoid_wrong(z):                  # a wrong identity: tanh(z) / 2 + 1/2 (should be tanh(z / 2))
    return np.tanh(np.asarray(z, dtype=np.float64)) / 2 + 0.5


def cancelling_derivative(z):               # s * (1 - s): 0 for z > 37 (class 3 of the issue)
    s = ref.sigmoid(z)
    return s * (1 - s)


def derivative_without_square(z):           # sigma(z) * (1 - z)?? a typical slip
    z = np.asarray(z, dtype=np.float64)
    return ref.sigmoid(z) * (1 - ref.sigmoid(z)) ** 2


def var_per_unit(n_layers, fan_in, weight_std, activation="sigmoid", n_samples=1000, seed=0):
    """Mean of the per-unit variances: equal for the population, not for a sample."""
    act = ref.ACTIVATIONS[activation] if isinstance(activation, str) else activation
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_samples, fan_in))
    out = []
    for _ in range(n_layers):
        a = act(a @ (rng.standard_normal((fan_in, fan_in)) * weight_std))
        out.append(np.var(a, axis=0, ddof=1).mean())
    return np.array(out)


def names_only(n_layers, fan_in, weight_std, activation="sigmoid", n_samples=1000, seed=0):
    """Right for names, fails for a callable activation."""
    return ref.forward_variances(n_layers, fan_in, weight_std, str(activation) if not isinstance(activation, str)
                                 else activation, n_samples, seed)


def own_sigmoid_by_sign(z):                 # right, written differently
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def own_derivative_by_exp(z):               # right: exp(-|z|) / (1 + exp(-|z|))^2
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return e / (1.0 + e) ** 2


def overflowing_derivative(z):             # exp(-z) / (1 + exp(-z))^2: inf / inf for z << 0
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-z) / (1 + np.exp(-z)) ** 2


def derivative_keeps_float32(z):
    z = np.asarray(z)
    return ref.sigmoid_derivative(z).astype(z.dtype if z.dtype.kind == "f" else np.float64)


WRONG = [
    ("01.sigmoid", "sigmoid", naive_sigmoid, {"overflow"}, "exp of non-positive"),
    ("01.sigmoid", "sigmoid", float32_sigmoid, {"dtype"}, "float64"),
    ("01.sigmoid", "sigmoid", tanh_sigmoid_wrong, WHOLE, "1 / (1 + exp(-z))"),
    ("01.sigmoid", "sigmoid_derivative", cancelling_derivative, {"tails"}, "both tails"),
    ("01.sigmoid", "sigmoid_derivative", derivative_without_square, WHOLE, "sigma(z) * (1 - sigma(z))"),
    ("01.sigmoid", "sigmoid_derivative", overflowing_derivative, {"overflow"}, "overflowed"),
    ("01.sigmoid", "sigmoid_derivative", derivative_keeps_float32, {"dtype"}, "float64"),
    ("01.forward_variances", "forward_variances", var_per_unit, WHOLE, "np.var over every"),
    ("01.forward_variances", "forward_variances", names_only, {"callable"}, "callable"),
]
RIGHT = [("01.sigmoid", "sigmoid", own_sigmoid_by_sign), ("01.sigmoid", "sigmoid_derivative", own_derivative_by_exp)]


def keras_norms(model, X, y, loss_fn, training=True):
    """A right layer_gradient_norms on the Keras model the kernel builds (the tests run it with Keras)."""
    import deeptrain
    tf = deeptrain.import_tensorflow()
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(X, training=training))
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    return np.array([float(tf.norm(g)) for g in tape.gradient(loss, kernels)], dtype=np.float64)


def _norms(fn):
    def impl(model, X, y, loss_fn):
        return fn(keras_norms(model, X, y, loss_fn), model)
    impl.__name__ = fn.__name__
    return impl


def norms_without_training(model, X, y, loss_fn):         # model(X): dropout stays off
    return keras_norms(model, X, y, loss_fn, training=False)


def output_to_input(norms, model):          # the order reversed
    return norms[::-1].copy()


def squared_norms(norms, model):            # the squared norm
    return norms ** 2


def norms_as_list(norms, model):            # a list of Python floats, not an array
    return [float(n) for n in norms]


WRONG += [
    ("01.layer_gradient_norms", "layer_gradient_norms", _norms(output_to_input), WHOLE, "input to output"),
    ("01.layer_gradient_norms", "layer_gradient_norms", _norms(squared_norms), WHOLE, "L2 norm"),
    ("01.layer_gradient_norms", "layer_gradient_norms", _norms(norms_as_list), {"float64"}, "float64"),
    ("01.layer_gradient_norms", "layer_gradient_norms", norms_without_training, {"training"}, "training=True"),
]
