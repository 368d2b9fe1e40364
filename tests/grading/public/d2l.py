"""Dive into Deep Learning (d2l), the PyTorch versions of its from-scratch code.

- AdaGrad: https://github.com/d2l-ai/d2l-en/blob/master/chapter_optimization/adagrad.md
  (init_adagrad_states: s = 0; adagrad: eps = 1e-6 fixed, s += g^2, p -= lr * g / sqrt(s + eps)).
  Known faults for our contract: the accumulator starts at 0, not initial_accumulator_value; epsilon fixed.
- RMSProp: https://github.com/d2l-ai/d2l-en/blob/master/chapter_optimization/rmsprop.md
  (rmsprop: gamma from the hyper-parameters, eps = 1e-6 fixed inside the square root).
  Known fault: the epsilon argument is ignored (1e-6 hard-coded).
- Adam: https://github.com/d2l-ai/d2l-en/blob/master/chapter_optimization/adam.md
  (adam: beta1, beta2, eps = 0.9, 0.999, 1e-6 fixed; bias-corrected v and s; p -= lr * v_hat / (sqrt(s_hat) + eps)).
  Known faults: beta_1, beta_2 and epsilon ignored (constants), epsilon added to sqrt of the corrected s.
- Batch normalization: https://github.com/d2l-ai/d2l-en/blob/master/chapter_convolutional-modern/batch-norm.md
  (batch_norm: moving_mean = (1 - momentum) * moving_mean + momentum * mean, momentum=0.1: PyTorch's convention).
  Known fault for our contract (Keras' convention): the momentum weights the NEW batch statistics.
"""
import numpy as np


def adagrad(theta, grad, state, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    theta, grad = np.array(theta, np.float64), np.array(grad, np.float64)
    s = np.zeros_like(theta) if state is None else state["s"]          # their states start at zeros
    s = s + grad ** 2
    return theta - learning_rate * grad / np.sqrt(s + 1e-6), {"s": s}  # their own eps


def rmsprop(theta, grad, state, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    theta, grad = np.array(theta, np.float64), np.array(grad, np.float64)
    s = np.zeros_like(theta) if state is None else state["s"]
    s = rho * s + (1 - rho) * grad ** 2                                  # rho is their gamma
    return theta - learning_rate * grad / np.sqrt(s + 1e-6), {"s": s}


def adam(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    b1, b2, eps = 0.9, 0.999, 1e-6                                        # their constants, whatever is passed
    theta, grad = np.array(theta, np.float64), np.array(grad, np.float64)
    t = 1 if state is None else state["t"] + 1
    v = (np.zeros_like(theta) if state is None else state["v"]) * b1 + (1 - b1) * grad
    s = (np.zeros_like(theta) if state is None else state["s"]) * b2 + (1 - b2) * grad ** 2
    v_hat, s_hat = v / (1 - b1 ** t), s / (1 - b2 ** t)
    return theta - learning_rate * v_hat / (np.sqrt(s_hat) + eps), {"v": v, "s": s, "t": t}


def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum):
    f = lambda a: np.asarray(a, np.float64)        # noqa: E731
    return ((1 - momentum) * f(moving_mean) + momentum * f(batch_mean),
            (1 - momentum) * f(moving_var) + momentum * f(batch_var))


PUBLIC = [
    ("07.adagrad_rmsprop", "adagrad_step", adagrad, "accumulator", "initial_accumulator_value"),
    ("07.adagrad_rmsprop", "rmsprop_step", rmsprop, "epsilon_given", "epsilon given"),
    ("07.adam_adamw", "adam_step", adam, "arguments", "beta_1, beta_2 and epsilon given"),
    ("04.update_moving_stats", "update_moving_stats", update_moving_stats, "direction", "OLD average"),
]
