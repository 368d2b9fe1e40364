"""Module 08: regularization."""
import numpy as np

from deeptrain import reference as ref

from . import WHOLE


def penalty_single_array_only(weights, l1=0.0, l2=0.0):
    w = np.asarray(weights[0] if isinstance(weights, (list, tuple)) else weights, np.float64)
    return float(l1 * np.abs(w).sum() + l2 * (w ** 2).sum())


def penalty_half_l2(weights, l1=0.0, l2=0.0):
    ws = weights if isinstance(weights, (list, tuple)) else [weights]
    return float(sum(l1 * np.abs(w).sum() + 0.5 * l2 * (np.asarray(w) ** 2).sum() for w in ws))


def penalty_numpy_scalar(weights, l1=0.0, l2=0.0):
    return np.float64(ref.l1_l2_penalty(weights, l1, l2)) * np.ones(1)


def grad_sign_plus_one(weights, l1=0.0, l2=0.0):
    if isinstance(weights, (list, tuple)):
        return [grad_sign_plus_one(w, l1, l2) for w in weights]
    w = np.asarray(weights, np.float64)
    return l1 * np.where(w >= 0, 1.0, -1.0) + 2 * l2 * w


def grad_concatenated(weights, l1=0.0, l2=0.0):
    if isinstance(weights, (list, tuple)):
        return np.concatenate([np.ravel(ref.l1_l2_grad(w, l1, l2)) for w in weights])
    return ref.l1_l2_grad(weights, l1, l2)


def dropout_not_inverted(x, rate, training=True, seed=None):
    x = np.asarray(x, np.float64)
    if not training:
        return x
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return np.where(keep, x, 0.0)


def dropout_in_place(x, rate, training=True, seed=None):
    if not training:
        return np.asarray(x, np.float64)
    out = ref.dropout_forward(x, rate, training, seed)
    x[...] = out
    return x


def dropout_rate_one_nan(x, rate, training=True, seed=None):
    x = np.asarray(x, np.float64)
    if not training:
        return x.copy()
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(keep, x / (1 - rate), 0.0) * (np.ones_like(x) if rate < 1 else np.nan)


def dropout_training_ignored(x, rate, training=True, seed=None):
    return ref.dropout_forward(x, rate, True, seed)


def max_norm_no_keepdims(W, max_value, axis=0):
    W = np.asarray(W, np.float64)
    n = np.sqrt(np.sum(W ** 2, axis=axis))
    return W * np.minimum(n, max_value) / (1e-7 + n)      # broadcasts only when the norm runs over axis 0


def max_norm_rows(W, max_value, axis=0):
    W = np.asarray(W, np.float64)
    n = np.sqrt(np.sum(W ** 2, axis=-1, keepdims=True))
    return W * np.minimum(n, max_value) / (1e-7 + n)


def max_norm_zero_nan(W, max_value, axis=0):
    W = np.asarray(W, np.float64)
    n = np.sqrt(np.sum(W ** 2, axis=axis, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return W * np.minimum(n, max_value) / n


def grad_without_factor_two(weights, l1=0.0, l2=0.0):
    if isinstance(weights, (list, tuple)):
        return [grad_without_factor_two(w, l1, l2) for w in weights]
    w = np.asarray(weights, np.float64)
    return l1 * np.sign(w) + l2 * w


def dropout_keeps_float32(x, rate, training=True, seed=None):
    x = np.asarray(x)
    if not training or rate == 0:
        return x.copy()
    if rate >= 1:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return np.where(keep, x / x.dtype.type(1 - rate), x.dtype.type(0))


def max_norm_keeps_float32(W, max_value, axis=0):
    n = np.sqrt(np.sum(W * W, axis=axis, keepdims=True))
    return W * np.minimum(n, max_value) / (n.dtype.type(1e-7) + n)


WRONG = [
    ("08.l1_l2", "l1_l2_penalty", penalty_single_array_only, {"lists"}, "every array"),
    ("08.l1_l2", "l1_l2_penalty", penalty_half_l2, {"half"}, "factor 1/2"),
    ("08.l1_l2", "l1_l2_penalty", penalty_numpy_scalar, {"float"}, "Python float"),
    ("08.l1_l2", "l1_l2_grad", grad_sign_plus_one, {"zeros"}, "w = 0"),
    ("08.l1_l2", "l1_l2_grad", grad_concatenated, {"lists"}, "list of arrays"),
    ("08.dropout_forward", "dropout_forward", dropout_not_inverted, {"values"}, "inverted dropout"),
    ("08.l1_l2", "l1_l2_grad", grad_without_factor_two, {"factor_two"}, "2 * l2"),
    ("08.dropout_forward", "dropout_forward", dropout_keeps_float32, {"float64"}, "float64"),
    ("08.max_norm", "max_norm", max_norm_keeps_float32, {"float64"}, "float64"),
    ("08.dropout_forward", "dropout_forward", dropout_in_place, {"unchanged"}, "unchanged"),
    ("08.dropout_forward", "dropout_forward", dropout_rate_one_nan, {"edges"}, "rate 1"),
    ("08.dropout_forward", "dropout_forward", dropout_training_ignored, {"not_training"}, "training is False"),
    ("08.max_norm", "max_norm", max_norm_no_keepdims, {"axis"}, "keepdims"),
    ("08.max_norm", "max_norm", max_norm_rows, {"per_unit"}, "one norm per unit"),
    ("08.max_norm", "max_norm", max_norm_zero_nan, {"zero"}, "1e-7"),
]
RIGHT = []


def mc_no_training(model, X, n_samples=100):
    p = np.stack([np.asarray(model(X), np.float64) for _ in range(n_samples)])
    return p.mean(axis=0), p.std(axis=0)


def mc_ddof1(model, X, n_samples=100):
    p = np.stack([np.asarray(model(X, training=True), np.float64) for _ in range(n_samples)])
    return p.mean(axis=0), p.std(axis=0, ddof=1) if n_samples > 1 else p.std(axis=0)


def mc_default_10(model, X, n_samples=10):
    return ref.mc_dropout_predict(model, X, n_samples)


def mc_float32(model, X, n_samples=100):
    p = np.stack([np.asarray(model(X, training=True)) for _ in range(n_samples)])
    return p.mean(axis=0, dtype=np.float64).astype(np.float32), p.astype(np.float64).std(axis=0).astype(np.float32)


WRONG += [
    ("08.mc_dropout_predict", "mc_dropout_predict", mc_no_training, {"training"}, "training=True"),
    ("08.mc_dropout_predict", "mc_dropout_predict", mc_ddof1, {"std"}, "ddof=0"),
    ("08.mc_dropout_predict", "mc_dropout_predict", mc_default_10, {"default"}, "defaults to 100"),
    ("08.mc_dropout_predict", "mc_dropout_predict", mc_float32, {"float64"}, "float64"),
]


# --- one fault each (issue 19) ---------------------------------------------------------------------------

def penalty_without_abs(weights, l1=0.0, l2=0.0):
    ws = weights if isinstance(weights, (list, tuple)) else [weights]
    return float(sum(l1 * np.sum(w) + l2 * np.sum(np.square(w)) for w in ws))       # sum w, not sum |w|


def grad_l1_times_w(weights, l1=0.0, l2=0.0):
    if isinstance(weights, (list, tuple)):
        return [grad_l1_times_w(w, l1, l2) for w in weights]
    w = np.asarray(weights, np.float64)
    return l1 * w + 2 * l2 * w                      # l1 * w: the l1 term's gradient is l1 * sign(w)


def max_norm_clips_entries(W, max_value, axis=0):
    return np.clip(np.asarray(W, np.float64), -max_value, max_value)     # clips values, not the norm


def mc_mean_of_first_pass(model, X, n_samples=100):
    p = np.stack([np.asarray(model(X, training=True), np.float64) for _ in range(n_samples)])
    return p[0].copy(), p.std(axis=0)


WRONG += [
    ("08.l1_l2", "l1_l2_penalty", penalty_without_abs, WHOLE, "l1 * sum |w|"),
    ("08.l1_l2", "l1_l2_grad", grad_l1_times_w, WHOLE, "l1 * sign(w)"),
    ("08.max_norm", "max_norm", max_norm_clips_entries, WHOLE, "min(norm, max_value)"),
    ("08.mc_dropout_predict", "mc_dropout_predict", mc_mean_of_first_pass, {"mean"}, "mean over n_samples"),
]
