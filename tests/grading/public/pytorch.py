"""PyTorch's optimizers, as torch.optim documents and implements them (single-tensor path):
https://github.com/pytorch/pytorch/blob/main/torch/optim/adagrad.py and
https://pytorch.org/docs/stable/generated/torch.optim.Adagrad.html

- Adagrad(lr, initial_accumulator_value, eps): state_sum += g^2; std = sqrt(state_sum) + eps;
  param -= lr * g / std. Known fault for our contract (Keras): epsilon OUTSIDE the square root.
- AdamW(lr, weight_decay): param *= 1 - lr * weight_decay, then the Adam step with the bias corrections
  applied to m and to sqrt(v) separately: step = lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
  Known fault: epsilon added to sqrt of the corrected v (the decay itself is Keras' decoupled one).
"""
import numpy as np


def adagrad(theta, grad, state, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    p, g = np.array(theta, np.float64), np.array(grad, np.float64)
    state_sum = np.full_like(p, initial_accumulator_value) if state is None else state["sum"]
    state_sum = state_sum + g * g
    return p - learning_rate * g / (np.sqrt(state_sum) + epsilon), {"sum": state_sum}


def adamw(theta, grad, state, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    p, g = np.array(theta, np.float64), np.array(grad, np.float64)
    p = p * (1 - learning_rate * weight_decay)
    t = 1 if state is None else state["step"] + 1
    m = (np.zeros_like(p) if state is None else state["exp_avg"]) * beta_1 + (1 - beta_1) * g
    v = (np.zeros_like(p) if state is None else state["exp_avg_sq"]) * beta_2 + (1 - beta_2) * g * g
    denom = np.sqrt(v) / np.sqrt(1 - beta_2 ** t) + epsilon
    return p - learning_rate / (1 - beta_1 ** t) * m / denom, {"exp_avg": m, "exp_avg_sq": v, "step": t}


PUBLIC = [
    ("07.adagrad_rmsprop", "adagrad_step", adagrad, "epsilon_inside", "INSIDE the square root"),
    ("07.adam_adamw", "adamw_step", adamw, "epsilon_uncorrected", "UNcorrected s"),
]
