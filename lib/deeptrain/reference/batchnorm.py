"""Batch normalization (module 04): NumPy references.

Everything here is float64 NumPy; nothing imports TensorFlow. Conventions follow Keras 3's
``BatchNormalization`` layer so that it can serve as an oracle: ``epsilon=1e-3`` added to the
variance inside the square root, the *biased* batch variance (divide by m, equation 11-3)
both for normalizing and for the moving-variance update, and moving averages updated as
``moving <- moving * momentum + batch * (1 - momentum)``.
"""
import numpy as np

__all__ = ["batchnorm_forward", "batchnorm_backward", "batchnorm_inference", "update_moving_stats",
           "fold_batchnorm", "fold_batchnorm_into_next"]


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    """Batch normalization in training mode (equation 11-3), on a batch of feature vectors.

    x: (m, n) - m instances, n features. gamma, beta: (n,) scale and offset.
    Per feature j, over the m instances of the batch:
        mu_B      = (1/m) sum_i x_i                      (step 1)
        sigma_B^2 = (1/m) sum_i (x_i - mu_B)^2           (step 2, biased: divide by m)
        x_hat_i   = (x_i - mu_B) / sqrt(sigma_B^2 + eps) (step 3)
        z_i       = gamma * x_hat_i + beta               (step 4)
    Returns (out, cache): out is float64 (m, n); cache is a dict with
        "x_hat" (m, n), "inv_std" (n,) = 1 / sqrt(sigma_B^2 + eps), "gamma" (n,),
        "mean" (n,) = mu_B and "var" (n,) = sigma_B^2.
    batchnorm_backward needs only x_hat, inv_std and gamma.
    """
    x = np.asarray(x, dtype=np.float64)
    gamma = np.asarray(gamma, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (batch, features), got {x.shape}")
    mean = x.mean(axis=0)                              # step 1
    var = ((x - mean) ** 2).mean(axis=0)               # step 2
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std                       # step 3
    out = gamma * x_hat + beta                         # step 4
    cache = {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma, "mean": mean, "var": var}
    return out, cache


def batchnorm_backward(dout, cache):
    """Gradients of batch normalization in training mode, through the batch statistics.

    dout: (m, n) = dL/dz, the upstream gradient. cache: from batchnorm_forward (uses
    "x_hat", "inv_std", "gamma" only).
    Returns (dx, dgamma, dbeta), shapes (m, n), (n,), (n,):
        dbeta  = sum_i dout_i
        dgamma = sum_i dout_i * x_hat_i
        dx_i   = gamma * inv_std / m * (m * dout_i - dbeta - x_hat_i * dgamma)
    The last line is what remains of dL/dx once the paths through mu_B and sigma_B^2 are
    added up (each x_i moves every x_hat of its column).
    """
    dout = np.asarray(dout, dtype=np.float64)
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma * inv_std / m * (m * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    """Batch normalization at inference: the moving statistics replace the batch ones.

    x: (m, n) (any leading shape, features last). All vectors (n,). Returns float64 like x:
        gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta
    Each instance is transformed on its own: the output does not depend on the batch.
    """
    x = np.asarray(x, dtype=np.float64)
    return gamma * (x - moving_mean) / np.sqrt(np.asarray(moving_var, np.float64) + eps) + beta


def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum):
    """One update of the exponential moving averages a BN layer keeps for inference.

    v_hat <- v_hat * momentum + v * (1 - momentum), for the mean and for the variance.
    All arrays (n,); batch_var is the biased batch variance (divide by m), as Keras 3 uses.
    momentum in [0, 1): close to 1 (Keras' default 0.99) averages over about 1/(1 - momentum)
    batches. Returns (new_mean, new_var) as float64 arrays; the inputs are not modified.
    """
    moving_mean = np.asarray(moving_mean, dtype=np.float64)
    moving_var = np.asarray(moving_var, dtype=np.float64)
    new_mean = moving_mean * momentum + np.asarray(batch_mean, dtype=np.float64) * (1.0 - momentum)
    new_var = moving_var * momentum + np.asarray(batch_var, dtype=np.float64) * (1.0 - momentum)
    return new_mean, new_var


def fold_batchnorm(W, b, gamma, beta, moving_mean, moving_var, eps=1e-3):
    """Fold an inference-mode BN layer into the Dense layer just before it.

    The pair  z = x @ W + b,  out = gamma * (z - moving_mean) / sqrt(moving_var + eps) + beta
    equals one affine layer  out = x @ W_folded + b_folded  with, per unit j,
        s_j        = gamma_j / sqrt(moving_var_j + eps)
        W_folded   = W * s          (column j of W scaled by s_j)
        b_folded   = (b - moving_mean) * s + beta
    W: (fan_in, units). b: (units,) or None for a Dense with use_bias=False (b = 0).
    gamma, beta, moving_mean, moving_var: (units,). Returns (W_folded, b_folded), float64.
    Only valid when nothing nonlinear sits between the Dense and the BN (Dense activation linear).
    """
    W = np.asarray(W, dtype=np.float64)
    units = W.shape[1]
    b = np.zeros(units) if b is None else np.asarray(b, dtype=np.float64)
    s = np.asarray(gamma, dtype=np.float64) / np.sqrt(np.asarray(moving_var, np.float64) + eps)
    W_folded = W * s
    b_folded = (b - np.asarray(moving_mean, np.float64)) * s + np.asarray(beta, np.float64)
    return W_folded, b_folded


def fold_batchnorm_into_next(W, b, gamma, beta, moving_mean, moving_var, eps=1e-3):
    """Fold an inference-mode BN layer into the Dense layer just after it.

    BN(a) = a * s + t with s = gamma / sqrt(moving_var + eps), t = beta - moving_mean * s
    (vectors of the BN's n features); then Dense: BN(a) @ W + b = a @ (s[:, None] * W) + (t @ W + b).
    W: (n, units) of the next Dense; b: (units,) or None. BN vectors (n,).
    Returns (W_folded, b_folded), float64. Valid whatever came before the BN (e.g. an
    activation), since the BN's output goes straight into the Dense.
    """
    W = np.asarray(W, dtype=np.float64)
    b = np.zeros(W.shape[1]) if b is None else np.asarray(b, dtype=np.float64)
    s = np.asarray(gamma, dtype=np.float64) / np.sqrt(np.asarray(moving_var, np.float64) + eps)
    t = np.asarray(beta, np.float64) - np.asarray(moving_mean, np.float64) * s
    return s[:, None] * W, t @ W + b
