"""Module 02: initialization."""
import numpy as np

from deeptrain import reference as ref


def std_glorot_sum(kind, fan_in, fan_out):          # glorot with fan_in + fan_out instead of the average
    if kind == "glorot" and fan_in > 0 and fan_out > 0:
        return float(np.sqrt(1.0 / (fan_in + fan_out)))
    return ref.init_std(kind, fan_in, fan_out)


def std_no_errors(kind, fan_in, fan_out):
    var = {"glorot": 2.0 / (fan_in + fan_out + 1e-12), "he": 2.0 / (fan_in or 1), "lecun": 1.0 / (fan_in or 1)}
    return float(np.sqrt(abs(var.get(kind, 1.0))))


def std_as_array(kind, fan_in, fan_out):
    return np.array([ref.init_std(kind, fan_in, fan_out)])


def limit_from_std(kind, fan_in, fan_out):           # r = sqrt(3) * sigma^2 instead of sqrt(3 sigma^2)
    return float(np.sqrt(3.0) * ref.init_std(kind, fan_in, fan_out) ** 2)


def vs_truncated_normal(shape, scale=1.0, mode="fan_in", distribution="normal", seed=None):
    if distribution == "normal":                      # clips at 2 std: the variance drops by about 12 %
        w = ref.variance_scaling(shape, scale, mode, distribution, seed)
        return np.clip(w, -2 * w.std(), 2 * w.std())
    return ref.variance_scaling(shape, scale, mode, distribution, seed)


def vs_keras_truncated(shape, scale=1.0, mode="fan_in", distribution="normal", seed=None):
    """Keras' "truncated_normal": the right variance, but no draw beyond 2 of its (enlarged) standard deviations."""
    if distribution != "normal":
        return ref.variance_scaling(shape, scale, mode, distribution, seed)
    std = np.sqrt(scale / max(1.0, _fan(shape, mode))) / 0.87962566103423978
    rng, out = np.random.default_rng(seed), np.empty(int(np.prod(shape)))
    filled = 0
    while filled < out.size:
        draw = rng.normal(0.0, std, out.size)
        draw = draw[np.abs(draw) <= 2 * std][: out.size - filled]
        out[filled:filled + draw.size] = draw
        filled += draw.size
    return out.reshape(shape)


def _fan(shape, mode):
    shape = tuple(shape)
    if len(shape) == 1:
        fan_in = fan_out = shape[0]
    else:
        field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * field, shape[-1] * field
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def vs_uniform_limit_wrong(shape, scale=1.0, mode="fan_in", distribution="normal", seed=None):
    if distribution == "uniform":                     # limit = sqrt(scale / n): a third of the variance
        return ref.variance_scaling(shape, scale, mode, distribution, seed) / np.sqrt(3.0)
    return ref.variance_scaling(shape, scale, mode, distribution, seed)


def vs_conv_fans_wrong(shape, scale=1.0, mode="fan_in", distribution="normal", seed=None):
    shape = tuple(shape)                              # ignores the receptive field of a conv kernel
    if len(shape) > 2:
        w = ref.variance_scaling((shape[-2], shape[-1]), scale, mode, distribution, seed)
        return np.random.default_rng(seed).choice(w.ravel(), size=shape)
    return ref.variance_scaling(shape, scale, mode, distribution, seed)


def vs_unseeded(shape, scale=1.0, mode="fan_in", distribution="normal", seed=None):
    return ref.variance_scaling(shape, scale, mode, distribution, None)


def vs_float32(shape, scale=1.0, mode="fan_in", distribution="normal", seed=None):
    return ref.variance_scaling(shape, scale, mode, distribution, seed).astype(np.float32)


def limit_unchecked(kind, fan_in, fan_out):
    var = {"glorot": 2.0 / (fan_in + fan_out), "he": 2.0 / fan_in, "lecun": 1.0 / fan_in}.get(kind, 1.0)
    return float(np.sqrt(3 * abs(var)))


def limit_as_array(kind, fan_in, fan_out):
    return np.asarray(ref.init_limit(kind, fan_in, fan_out))      # a 0-d array, not a float


WRONG = [
    ("02.init_std", "init_limit", limit_unchecked, {"errors"}, "ValueError"),
    ("02.init_std", "init_limit", limit_as_array, {"float"}, "Python float"),
    ("02.init_std", "init_std", std_glorot_sum, {"values"}, "fan_avg"),
    ("02.init_std", "init_std", std_no_errors, {"errors"}, "ValueError"),
    ("02.init_std", "init_std", std_as_array, {"float"}, "Python float"),
    ("02.init_std", "init_limit", limit_from_std, {"values"}, "sqrt(3 sigma^2)"),
    ("02.variance_scaling", "variance_scaling", vs_truncated_normal, {"normal"}, "N(0, scale / n)"),
    ("02.variance_scaling", "variance_scaling", vs_keras_truncated, {"untruncated"}, "untruncated"),
    ("02.variance_scaling", "variance_scaling", vs_uniform_limit_wrong, {"uniform"}, "sqrt(3 * scale / n)"),
    ("02.variance_scaling", "variance_scaling", vs_conv_fans_wrong, {"conv"}, "k1*...*c_in"),
    ("02.variance_scaling", "variance_scaling", vs_unseeded, {"seed"}, "same seed"),
    ("02.variance_scaling", "variance_scaling", vs_float32, {"float64"}, "float64"),
]
RIGHT = []


def _tf():
    import deeptrain
    return deeptrain.import_tensorflow()


def he_avg_glorot(units, activation=None):          # GlorotUniform: variance 1 / fan_avg
    tf = _tf()
    return tf.keras.layers.Dense(units, activation=activation, kernel_initializer=tf.keras.initializers.GlorotUniform())


def he_avg_normal(units, activation=None):          # the right variance, but a (truncated) normal
    tf = _tf()
    init = tf.keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="untruncated_normal")
    return tf.keras.layers.Dense(units, activation=activation, kernel_initializer=init)


def he_avg_ignores_activation(units, activation=None):
    tf = _tf()
    init = tf.keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform")
    return tf.keras.layers.Dense(units, activation="relu", kernel_initializer=init)


def he_avg_right(units, activation=None):            # right: the initializer by name and config
    tf = _tf()
    return tf.keras.layers.Dense(units, activation, kernel_initializer={
        "class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}})


WRONG += [
    ("02.he_avg_dense", "he_avg_dense", he_avg_glorot, {"statistics"}, "2 / fan_avg"),
    ("02.he_avg_dense", "he_avg_dense", he_avg_normal, {"statistics"}, "uniform"),
    ("02.he_avg_dense", "he_avg_dense", he_avg_ignores_activation, {"layer"}, "activation"),
]
RIGHT += [("02.he_avg_dense", "he_avg_dense", he_avg_right)]
