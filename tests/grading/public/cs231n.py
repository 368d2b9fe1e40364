"""Stanford CS231n, assignment 2 (optim.py and layers.py), the solutions students write for it.

https://github.com/cs231n/cs231n.github.io (assignment2: cs231n/optim.py, cs231n/layers.py); the update
rules are written out in the assignment's docstrings and the course notes
(https://cs231n.github.io/neural-networks-3/#update).

- sgd_momentum: v = momentum * v - learning_rate * dw; next_w = w + v. Right for our contract.
- rmsprop: cache = decay_rate * cache + (1 - decay_rate) * dw**2; next_w = w - lr * dw / (sqrt(cache) + eps).
  Known fault for our contract (Keras): epsilon OUTSIDE the square root.
- adam: t += 1; m, v averages; mt = m / (1 - beta1**t); vt = v / (1 - beta2**t); next_w = w - lr * mt / (sqrt(vt) + eps).
  Known fault: epsilon added to sqrt of the bias-corrected v (Kingma and Ba), not of the raw one (Keras).
- batchnorm_forward (train): biased batch variance, eps inside the square root. Right for our contract.
- batchnorm_backward_alt: dx = (1 / N) * gamma * inv_std * (N * dout - sum(dout) - x_hat * sum(dout * x_hat)),
  from the cache (here: our cache's x_hat, inv_std, gamma). Right for our contract.
- dropout_forward (train): mask = (rand(*x.shape) < p) / p, p the probability of KEEPING a unit.
  Known fault for our contract: rate is the probability of dropping (keep = random >= rate).
"""
import numpy as np


def sgd_momentum(theta, grad, state, learning_rate=0.01, momentum=0.0):
    w, dw = np.array(theta, np.float64), np.array(grad, np.float64)
    v = np.zeros_like(w) if state is None else state["velocity"]
    v = momentum * v - learning_rate * dw
    return w + v, {"velocity": v}


def rmsprop(theta, grad, state, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    w, dw = np.array(theta, np.float64), np.array(grad, np.float64)
    cache = np.zeros_like(w) if state is None else state["cache"]
    cache = rho * cache + (1 - rho) * dw ** 2
    return w - learning_rate * dw / (np.sqrt(cache) + epsilon), {"cache": cache}


def adam(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    w, dw = np.array(theta, np.float64), np.array(grad, np.float64)
    t = (0 if state is None else state["t"]) + 1
    m = (np.zeros_like(w) if state is None else state["m"]) * beta_1 + (1 - beta_1) * dw
    v = (np.zeros_like(w) if state is None else state["v"]) * beta_2 + (1 - beta_2) * dw ** 2
    mt, vt = m / (1 - beta_1 ** t), v / (1 - beta_2 ** t)
    return w - learning_rate * mt / (np.sqrt(vt) + epsilon), {"m": m, "v": v, "t": t}


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    x = np.array(x, np.float64)
    mu, var = x.mean(axis=0), x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, {"x_hat": x_hat, "inv_std": 1 / np.sqrt(var + eps), "gamma": np.array(gamma, np.float64)}


def batchnorm_backward_alt(dout, cache):
    dout = np.array(dout, np.float64)
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    N = dout.shape[0]
    dbeta, dgamma = dout.sum(axis=0), (dout * x_hat).sum(axis=0)
    dx = (1.0 / N) * gamma * inv_std * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def dropout_forward(x, rate, training=True, seed=None):
    x = np.array(x, np.float64)
    if not training:
        return x
    p = rate                                      # their p: the probability of keeping a unit
    rng = np.random.default_rng(seed)             # our seeded draw in place of their np.random.rand
    with np.errstate(all="ignore"):
        mask = (rng.random(x.shape) < p) / p
        return np.nan_to_num(x * mask)


PUBLIC = [
    ("07.momentum_nesterov", "momentum_step", sgd_momentum, None, ""),
    ("07.adagrad_rmsprop", "rmsprop_step", rmsprop, "epsilon_inside", "INSIDE the square root"),
    ("07.adam_adamw", "adam_step", adam, "epsilon_uncorrected", "UNcorrected s"),
    ("04.batchnorm_forward", "batchnorm_forward", batchnorm_forward, None, ""),
    ("04.batchnorm_backward", "batchnorm_backward", batchnorm_backward_alt, None, ""),
    ("08.dropout_forward", "dropout_forward", dropout_forward, "rate_is_drop", "probability of DROPPING"),
]
