"""deeplearning.ai, "Improving Deep Neural Networks" (Coursera, course 2): the programming assignments
"Optimization methods" (week 2) and "Regularization" (week 1), as their published notebooks state them,
e.g. https://github.com/Kulbear/deep-learning-coursera/tree/master/Improving%20Deep%20Neural%20Networks%20Hyperparameter%20tuning%2C%20Regularization%20and%20Optimization

- update_parameters_with_momentum: v = beta * v + (1 - beta) * dW; W = W - learning_rate * v.
  Known fault for our contract (Keras' SGD momentum, equation 11-4): m is an average of the gradients, not a
  velocity (the step is (1 - beta) times too small at steady state).
- update_parameters_with_adam: bias-corrected v and s, W = W - lr * v_corrected / (sqrt(s_corrected) + epsilon).
  Known fault: epsilon added to sqrt of the corrected s (Kingma and Ba), not of the raw one (Keras).
- forward_propagation_with_dropout: D = rand(...) < keep_prob; A = A * D / keep_prob.
  Known fault for our contract: the mask is drawn as random < 1 - rate, not random >= rate (another mask).
"""
import numpy as np


def momentum(theta, grad, state, learning_rate=0.01, momentum=0.0):
    W, dW = np.array(theta, np.float64), np.array(grad, np.float64)
    v = np.zeros_like(W) if state is None else state["v"]
    v = momentum * v + (1 - momentum) * dW
    return W - learning_rate * v, {"v": v}


def adam(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    W, dW = np.array(theta, np.float64), np.array(grad, np.float64)
    t = 1 if state is None else state["t"] + 1
    v = (np.zeros_like(W) if state is None else state["v"]) * beta_1 + (1 - beta_1) * dW
    s = (np.zeros_like(W) if state is None else state["s"]) * beta_2 + (1 - beta_2) * dW ** 2
    v_c, s_c = v / (1 - beta_1 ** t), s / (1 - beta_2 ** t)
    return W - learning_rate * v_c / (np.sqrt(s_c) + epsilon), {"v": v, "s": s, "t": t}


def dropout(x, rate, training=True, seed=None):
    A = np.array(x, np.float64)
    if not training:
        return A
    keep_prob = 1 - rate
    D = np.random.default_rng(seed).random(A.shape) < keep_prob
    with np.errstate(all="ignore"):
        return np.nan_to_num(A * D / keep_prob)


PUBLIC = [
    ("07.momentum_nesterov", "momentum_step", momentum, "velocity", "not an average"),
    ("07.adam_adamw", "adam_step", adam, "epsilon_uncorrected", "UNcorrected s"),
    ("08.dropout_forward", "dropout_forward", dropout, "mask", "exactly as the docstring"),
]
