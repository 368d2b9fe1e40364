"""JAX's example optimizers: https://github.com/jax-ml/jax/blob/main/jax/example_libraries/optimizers.py

- momentum(step_size, mass): velocity = mass * velocity + g; x = x - step_size * velocity. With m = -lr *
  velocity this is Keras' SGD momentum: right for our contract.
- nesterov(step_size, mass): velocity = mass * velocity + g; x = x - step_size * (mass * velocity + g):
  Keras' Nesterov form, right.
- rmsprop(step_size, gamma=0.9, eps=1e-8): avg_sq_grad = avg_sq_grad * gamma + g**2 * (1 - gamma);
  x = x - step_size * g / sqrt(avg_sq_grad + eps): right (epsilon inside, starts at 0).
- adam(step_size, b1, b2, eps): mhat = m / (1 - b1**(i+1)), vhat = v / (1 - b2**(i+1)),
  x = x - step_size * mhat / (sqrt(vhat) + eps). Known fault: epsilon added to sqrt of the corrected v.
- adagrad(step_size, momentum=0.9): g_sq starts at 0, no epsilon (1 / sqrt(g_sq) where g_sq > 0), and a
  momentum on top. Known faults (here with momentum=0): the accumulator starts at 0, no epsilon.
"""
import numpy as np


def momentum(theta, grad, state, learning_rate=0.01, momentum=0.0):
    x, g = np.array(theta, np.float64), np.array(grad, np.float64)
    velocity = np.zeros_like(x) if state is None else state["velocity"]
    velocity = momentum * velocity + g
    return x - learning_rate * velocity, {"velocity": velocity}


def nesterov(theta, grad, state, learning_rate=0.01, momentum=0.0):
    x, g = np.array(theta, np.float64), np.array(grad, np.float64)
    velocity = np.zeros_like(x) if state is None else state["velocity"]
    velocity = momentum * velocity + g
    return x - learning_rate * (momentum * velocity + g), {"velocity": velocity}


def rmsprop(theta, grad, state, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    x, g = np.array(theta, np.float64), np.array(grad, np.float64)
    avg_sq_grad = np.zeros_like(x) if state is None else state["avg_sq_grad"]
    avg_sq_grad = avg_sq_grad * rho + g ** 2 * (1 - rho)
    return x - learning_rate * g / np.sqrt(avg_sq_grad + epsilon), {"avg_sq_grad": avg_sq_grad}


def adam(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    x, g = np.array(theta, np.float64), np.array(grad, np.float64)
    i = 0 if state is None else state["i"] + 1
    m = (1 - beta_1) * g + beta_1 * (np.zeros_like(x) if state is None else state["m"])
    v = (1 - beta_2) * g ** 2 + beta_2 * (np.zeros_like(x) if state is None else state["v"])
    mhat, vhat = m / (1 - beta_1 ** (i + 1)), v / (1 - beta_2 ** (i + 1))
    return x - learning_rate * mhat / (np.sqrt(vhat) + epsilon), {"m": m, "v": v, "i": i}


def adagrad(theta, grad, state, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    x, g = np.array(theta, np.float64), np.array(grad, np.float64)
    g_sq = (np.zeros_like(x) if state is None else state["g_sq"]) + g ** 2
    with np.errstate(divide="ignore"):
        inv = np.where(g_sq > 0, 1.0 / np.sqrt(g_sq), 0.0)
    return x - learning_rate * g * inv, {"g_sq": g_sq}


PUBLIC = [
    ("07.momentum_nesterov", "momentum_step", momentum, None, ""),
    ("07.momentum_nesterov", "nesterov_step", nesterov, None, ""),
    ("07.adagrad_rmsprop", "rmsprop_step", rmsprop, None, ""),
    ("07.adam_adamw", "adam_step", adam, "epsilon_uncorrected", "UNcorrected s"),
    ("07.adagrad_rmsprop", "adagrad_step", adagrad, "accumulator", "initial_accumulator_value"),
]
