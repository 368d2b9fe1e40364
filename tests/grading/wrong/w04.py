"""Module 04: batch normalization."""
import numpy as np

from deeptrain import reference as ref


def unbiased_forward(x, gamma, beta, eps=1e-3):
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    var = x.var(axis=0, ddof=1) if len(x) > 1 else np.zeros(x.shape[1])
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, {"x_hat": x_hat, "inv_std": inv_std, "gamma": np.asarray(gamma, np.float64)}


def eps_outside_forward(x, gamma, beta, eps=1e-3):
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    inv_std = 1 / (x.std(axis=0) + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, {"x_hat": x_hat, "inv_std": inv_std, "gamma": np.asarray(gamma, np.float64)}


def float32_forward(x, gamma, beta, eps=1e-3):
    x = np.asarray(x)
    mean = x.mean(axis=0)
    inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - mean) * inv_std
    return (gamma * x_hat + beta).astype(x.dtype), {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma}


def centred_cache_forward(x, gamma, beta, eps=1e-3):
    """cache["x_hat"] holds x - mean, not the normalized x."""
    out, cache = ref.batchnorm_forward(x, gamma, beta, eps)
    x = np.asarray(x, np.float64)
    return out, {"x_hat": x - x.mean(axis=0), "inv_std": cache["inv_std"], "gamma": cache["gamma"]}


def backward_without_mean_path(dout, cache):
    dout = np.asarray(dout, np.float64)
    dbeta = dout.sum(axis=0)
    dgamma = (dout * cache["x_hat"]).sum(axis=0)
    return cache["gamma"] * cache["inv_std"] * dout, dgamma, dbeta


def backward_mean_dgamma(dout, cache):
    dx, dgamma, dbeta = ref.batchnorm_backward(dout, cache)
    return dx, dgamma / len(dout), dbeta


def swapped_momentum(moving_mean, moving_var, batch_mean, batch_var, momentum):
    f = lambda a: np.asarray(a, np.float64)        # noqa: E731
    return f(batch_mean) * momentum + f(moving_mean) * (1 - momentum), f(batch_var) * momentum + f(moving_var) * (1 - momentum)


def in_place_moving(moving_mean, moving_var, batch_mean, batch_var, momentum):
    moving_mean *= momentum
    moving_mean += (1 - momentum) * np.asarray(batch_mean)
    moving_var *= momentum
    moving_var += (1 - momentum) * np.asarray(batch_var)
    return moving_mean, moving_var


def fold_mutating_b(W, b, gamma, beta, moving_mean, moving_var, eps=1e-3):
    """The issue's example: subtracts the mean from b in place."""
    s = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(moving_var, np.float64) + eps)
    if b is None:
        b = np.zeros(np.shape(W)[1])
    else:
        b -= moving_mean
        return np.asarray(W, np.float64) * s, b * s + beta
    return np.asarray(W, np.float64) * s, (b - moving_mean) * s + beta


def fold_needs_bias(W, b, gamma, beta, moving_mean, moving_var, eps=1e-3):
    s = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(moving_var, np.float64) + eps)
    return np.asarray(W, np.float64) * s, (b - moving_mean) * s + beta          # TypeError for b=None


def forward_with_var_helper(x, gamma, beta, eps=1e-3):      # right, written differently
    x = np.array(x, dtype=np.float64)
    centred = x - x.sum(axis=0) / len(x)
    var = np.einsum("ij,ij->j", centred, centred) / len(x)
    inv_std = (var + eps) ** -0.5
    x_hat = centred * inv_std
    return x_hat * gamma + beta, {"x_hat": x_hat, "inv_std": inv_std, "gamma": np.array(gamma, np.float64)}


def backward_mean_dbeta(dout, cache):
    dx, dgamma, dbeta = ref.batchnorm_backward(dout, cache)
    return dx, dgamma, np.asarray(dout).mean(axis=0)


def moving_keeps_float32(moving_mean, moving_var, batch_mean, batch_var, momentum):
    return (moving_mean * momentum + batch_mean * (1 - momentum), moving_var * momentum + batch_var * (1 - momentum))


def fold_without_eps(W, b, gamma, beta, moving_mean, moving_var, eps=1e-3):
    W = np.asarray(W, np.float64)
    b = np.zeros(W.shape[1]) if b is None else np.asarray(b, np.float64)
    s = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(moving_var, np.float64))
    return W * s, (b - moving_mean) * s + beta


def fold_keeps_float32(W, b, gamma, beta, moving_mean, moving_var, eps=1e-3):
    b = np.zeros(np.shape(W)[1], np.asarray(W).dtype) if b is None else b
    s = gamma / np.sqrt(moving_var + np.asarray(eps, np.asarray(W).dtype))
    return W * s, (b - moving_mean) * s + beta


WRONG = [
    ("04.batchnorm_forward", "batchnorm_forward", unbiased_forward, {"biased"}, "divide by m, not m - 1"),
    ("04.batchnorm_forward", "batchnorm_forward", eps_outside_forward, {"eps"}, "inside the square root"),
    ("04.batchnorm_forward", "batchnorm_forward", float32_forward, {"float64"}, "float64"),
    ("04.batchnorm_forward", "batchnorm_forward", centred_cache_forward, {"cache"}, "cache"),
    ("04.batchnorm_backward", "batchnorm_backward", backward_without_mean_path, {"dx"}, "paths through the batch mean"),
    ("04.batchnorm_backward", "batchnorm_backward", backward_mean_dgamma, {"dgamma"}, "dgamma"),
    ("04.batchnorm_backward", "batchnorm_backward", backward_mean_dbeta, {"dbeta"}, "sum of dout"),
    ("04.update_moving_stats", "update_moving_stats", moving_keeps_float32, {"float64"}, "float64"),
    ("04.fold_batchnorm", "fold_batchnorm", fold_without_eps, {"eps"}, "sqrt(moving_var + eps)"),
    ("04.fold_batchnorm", "fold_batchnorm", fold_keeps_float32, {"float64"}, "float64"),
    ("04.update_moving_stats", "update_moving_stats", swapped_momentum, {"direction"}, "OLD average"),
    ("04.update_moving_stats", "update_moving_stats", in_place_moving, {"unchanged"}, "left unchanged"),
    ("04.fold_batchnorm", "fold_batchnorm", fold_mutating_b, {"unchanged"}, "left unchanged"),
    ("04.fold_batchnorm", "fold_batchnorm", fold_needs_bias, {"no_bias"}, "b=None"),
]
RIGHT = [("04.batchnorm_forward", "batchnorm_forward", forward_with_var_helper)]


def forward_one_instance_unchanged(x, gamma, beta, eps=1e-3):
    """A batch of one is returned as it is ("nothing to normalize"): its output is beta."""
    out, cache = ref.batchnorm_forward(x, gamma, beta, eps)
    return (np.array(x, dtype=np.float64) if len(x) == 1 else out), cache


def moving_momentum_one_takes_batch(moving_mean, moving_var, batch_mean, batch_var, momentum):
    if momentum >= 1.0:                    # momentum 1 keeps the old averages, it does not take the batch's
        return np.array(batch_mean, np.float64), np.array(batch_var, np.float64)
    return ref.update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum)


def fold_bias_unscaled(W, b, gamma, beta, moving_mean, moving_var, eps=1e-3):
    W = np.asarray(W, np.float64)
    s = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(moving_var, np.float64) + eps)
    b = np.zeros(W.shape[1]) if b is None else np.asarray(b, np.float64)
    return W * s, b - np.asarray(moving_mean, np.float64) * s + beta        # b itself is not scaled by s


WRONG += [
    ("04.batchnorm_forward", "batchnorm_forward", forward_one_instance_unchanged, {"values"}, "out differs"),
    ("04.update_moving_stats", "update_moving_stats", moving_momentum_one_takes_batch, {"values"}, "new_mean"),
    ("04.fold_batchnorm", "fold_batchnorm", fold_bias_unscaled, {"values"}, "b_folded = (b - moving_mean) * s"),
]


def forward_pytorch_eps(x, gamma, beta, eps=1e-3):
    """eps fixed at PyTorch's default 1e-5, whatever is passed (the worked example passes eps=0)."""
    return ref.batchnorm_forward(x, gamma, beta, 1e-5)


WRONG += [("04.batchnorm_forward", "batchnorm_forward", forward_pytorch_eps, {"eps_given"}, "eps given")]
