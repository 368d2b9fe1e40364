"""Optimizers (module 07): one update step of each rule, in NumPy, as Keras 3 computes it.

Every function has the signature ``step(theta, grad, state, **hparams) -> (theta, state)``:

- ``theta``, ``grad``: arrays of the same shape (any shape; scalars are fine), float64.
- ``state``: ``None`` on the first call, then the dict that the previous call returned
  (arrays, plus the step count ``t`` where the rule needs it). Inputs are never modified:
  each call returns a new ``theta`` and a new dict.
- Hyperparameters are keyword arguments with the names and defaults of the Keras 3
  optimizer of the same rule, and the arithmetic follows Keras' ``update_step`` (read in
  ``keras/src/optimizers/*.py``), so that a trajectory computed here matches the Keras
  optimizer's step for step (tests/lib/test_optimizers.py).

The seeds write the rules as equations 11-4 (momentum) to 11-8 (Adam); each docstring says
where Keras' form differs from the book's. The differences never change what the rule does,
only its bookkeeping (sign of the momentum vector, where epsilon sits).

Everything here is float64 NumPy; nothing imports TensorFlow.
"""
import numpy as np

__all__ = ["momentum_step", "nesterov_step", "adagrad_step", "rmsprop_step", "adam_step",
           "adamax_step", "nadam_step", "adamw_step", "OPTIMIZER_STEPS"]


def _as_float(theta, grad):
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    if theta.shape != grad.shape:
        raise ValueError(f"theta and grad must have the same shape, got {theta.shape} and {grad.shape}")
    return theta, grad


def momentum_step(theta, grad, state, learning_rate=0.01, momentum=0.0):
    """One momentum update (equation 11-4), as Keras ``SGD(momentum=...)`` computes it.

        m     <- momentum * m - learning_rate * grad
        theta <- theta + m

    The seeds' equation 11-4 exactly (their beta is Keras' ``momentum``). The defaults are
    Keras' SGD defaults: ``momentum=0.0`` makes this plain gradient descent (Keras then keeps
    no momentum vector, with the same result); 0.9 is the usual value.

    theta, grad: arrays of the same shape. state: None, then {"m": array like theta}.
    Returns (new_theta, {"m": m}).
    """
    theta, grad = _as_float(theta, grad)
    m = np.zeros_like(theta) if state is None else state["m"]
    m = momentum * m - learning_rate * grad
    return theta + m, {"m": m}


def nesterov_step(theta, grad, state, learning_rate=0.01, momentum=0.0):
    """One Nesterov accelerated gradient update (equation 11-5), as Keras
    ``SGD(momentum=..., nesterov=True)`` computes it.

        m     <- momentum * m - learning_rate * grad
        theta <- theta + momentum * m - learning_rate * grad

    Equation 11-5 takes the gradient at the look-ahead point theta + beta m, which would
    need a second gradient evaluation. Keras (like most libraries) rewrites the rule in the
    variable phi = theta + beta m, the look-ahead point itself: then the gradient passed in
    is the one at the stored variable, and the update becomes the line above.
    Same defaults as Keras' SGD (``momentum=0.0`` is plain gradient descent).

    theta, grad: arrays of the same shape. state: None, then {"m": array like theta}.
    Returns (new_theta, {"m": m}).
    """
    theta, grad = _as_float(theta, grad)
    m = np.zeros_like(theta) if state is None else state["m"]
    m = momentum * m - learning_rate * grad
    return theta + momentum * m - learning_rate * grad, {"m": m}


def adagrad_step(theta, grad, state, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    """One AdaGrad update (equation 11-6), as Keras ``Adagrad`` computes it.

        s     <- s + grad * grad                (s starts at initial_accumulator_value)
        theta <- theta - learning_rate * grad / sqrt(s + epsilon)

    Equation 11-6 starts s at 0; Keras starts it at ``initial_accumulator_value`` (0.1),
    which also caps the very first steps at about learning_rate * |g| / sqrt(0.1).

    theta, grad: arrays of the same shape. state: None, then {"s": array like theta}.
    Returns (new_theta, {"s": s}).
    """
    theta, grad = _as_float(theta, grad)
    s = np.full_like(theta, initial_accumulator_value) if state is None else state["s"]
    s = s + grad * grad
    return theta - learning_rate * grad / np.sqrt(s + epsilon), {"s": s}


def rmsprop_step(theta, grad, state, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    """One RMSProp update (equation 11-7), as Keras ``RMSprop`` computes it
    (``momentum=0``, ``centered=False``, its defaults).

        s     <- rho * s + (1 - rho) * grad * grad     (s starts at 0)
        theta <- theta - learning_rate * grad / sqrt(s + epsilon)

    The seeds' equation 11-7 exactly, with their decay rate beta named ``rho`` as in Keras.

    theta, grad: arrays of the same shape. state: None, then {"s": array like theta}.
    Returns (new_theta, {"s": s}).
    """
    theta, grad = _as_float(theta, grad)
    s = np.zeros_like(theta) if state is None else state["s"]
    s = rho * s + (1 - rho) * grad**2          # decaying average of squared gradients
    return theta - learning_rate * grad / np.sqrt(s + epsilon), {"s": s}


def adam_step(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """One Adam update (equation 11-8), as Keras ``Adam`` computes it (``amsgrad=False``).

        t     <- t + 1                                     (t counts from 1)
        m     <- beta_1 * m + (1 - beta_1) * grad          (decaying mean of gradients)
        s     <- beta_2 * s + (1 - beta_2) * grad * grad   (decaying mean of squares)
        theta <- theta - alpha_t * m / (sqrt(s) + epsilon),
        alpha_t = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)

    Differences with the seeds' equation 11-8: (1) the seeds keep m with a minus sign
    (m <- beta_1 m - (1 - beta_1) grad, then theta <- theta + ...); Keras keeps the plain
    average of gradients and subtracts. Same rule. (2) The seeds write the bias corrections
    m_hat = m / (1 - beta_1^t), s_hat = s / (1 - beta_2^t) and theta <- theta - eta m_hat /
    sqrt(s_hat + epsilon); Keras folds both corrections into the step size alpha_t and puts
    epsilon outside the square root of the *uncorrected* s. Written with the corrected
    moments, Keras' step is eta m_hat / (sqrt(s_hat) + epsilon / sqrt(1 - beta_2^t)):
    epsilon only matters when s is tiny, so the rules differ only there.

    theta, grad: arrays of the same shape.
    state: None, then {"m": array, "s": array, "t": int (steps taken so far)}.
    Returns (new_theta, {"m": m, "s": s, "t": t}).
    """
    theta, grad = _as_float(theta, grad)
    if state is None:
        m, s, t = np.zeros_like(theta), np.zeros_like(theta), 0
    else:
        m, s, t = state["m"], state["s"], state["t"]
    t = t + 1
    m = beta_1 * m + (1 - beta_1) * grad
    s = beta_2 * s + (1 - beta_2) * grad**2
    alpha = learning_rate * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)   # both bias corrections
    return theta - alpha * m / (np.sqrt(s) + epsilon), {"m": m, "s": s, "t": t}


def adamax_step(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """One AdaMax update (Kingma and Ba 2015, section 7.1), as Keras ``Adamax`` computes it.

        t     <- t + 1
        m     <- beta_1 * m + (1 - beta_1) * grad
        u     <- max(beta_2 * u, |grad|)          (decaying infinity norm; starts at 0)
        theta <- theta - learning_rate * m / ((1 - beta_1**t) * (u + epsilon))

    Adam with the l2 norm of past gradients (sqrt(s)) replaced by a decaying max norm u,
    which needs no bias correction. The seeds name AdaMax in table 11-2 without an
    equation. Keras adds epsilon to u (the paper has no epsilon).

    theta, grad: arrays of the same shape.
    state: None, then {"m": array, "u": array, "t": int}. Returns (new_theta, new_state).
    """
    theta, grad = _as_float(theta, grad)
    if state is None:
        m, u, t = np.zeros_like(theta), np.zeros_like(theta), 0
    else:
        m, u, t = state["m"], state["u"], state["t"]
    t = t + 1
    m = beta_1 * m + (1 - beta_1) * grad
    u = np.maximum(beta_2 * u, np.abs(grad))
    theta = theta - learning_rate * m / ((1 - beta_1**t) * (u + epsilon))
    return theta, {"m": m, "u": u, "t": t}


def nadam_step(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """One Nadam update (Adam plus the Nesterov trick; Dozat 2016), as Keras ``Nadam``
    computes it, with its momentum-cache schedule.

    The momentum coefficient itself follows a schedule, mu_t = beta_1 (1 - 0.5 * 0.96^t),
    rising from 0.48 beta_1 towards beta_1, and the bias correction of m uses the running
    product of the mu's instead of beta_1^t:

        t      <- t + 1
        mu_t   = beta_1 * (1 - 0.5 * 0.96**t),   mu_next = beta_1 * (1 - 0.5 * 0.96**(t + 1))
        P      <- P * mu_t                      (P, the "u_product", starts at 1)
        m      <- beta_1 * m + (1 - beta_1) * grad
        s      <- beta_2 * s + (1 - beta_2) * grad * grad
        m_hat  = mu_next * m / (1 - P * mu_next) + (1 - mu_t) * grad / (1 - P)
        s_hat  = s / (1 - beta_2**t)
        theta <- theta - learning_rate * m_hat / (sqrt(s_hat) + epsilon)

    The Nesterov look-ahead shows in m_hat: the momentum part uses next step's coefficient
    mu_next, the current gradient enters with weight (1 - mu_t). The seeds describe Nadam
    ("Adam plus Nesterov trick") without an equation. Unlike Keras' Adam, epsilon is added
    to the square root of the bias-corrected s_hat here.

    theta, grad: arrays of the same shape.
    state: None, then {"m": array, "s": array, "t": int, "u_product": float}.
    Returns (new_theta, new_state).
    """
    theta, grad = _as_float(theta, grad)
    if state is None:
        m, s, t, u_product = np.zeros_like(theta), np.zeros_like(theta), 0, 1.0
    else:
        m, s, t, u_product = state["m"], state["s"], state["t"], state["u_product"]
    t = t + 1
    mu_t = beta_1 * (1.0 - 0.5 * 0.96**t)
    mu_next = beta_1 * (1.0 - 0.5 * 0.96**(t + 1))
    u_product = u_product * mu_t
    m = beta_1 * m + (1 - beta_1) * grad
    s = beta_2 * s + (1 - beta_2) * grad**2
    m_hat = mu_next * m / (1 - u_product * mu_next) + (1 - mu_t) * grad / (1 - u_product)
    s_hat = s / (1 - beta_2**t)
    theta = theta - learning_rate * m_hat / (np.sqrt(s_hat) + epsilon)
    return theta, {"m": m, "s": s, "t": t, "u_product": u_product}


def adamw_step(theta, grad, state, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
               epsilon=1e-7):
    """One AdamW update (Loshchilov and Hutter 2019), as Keras ``AdamW`` computes it.

        theta <- theta - theta * weight_decay * learning_rate   (decoupled weight decay)
        then one adam_step(theta, grad, ...) with the same grad (computed before the decay).

    The decay shrinks the weights directly, outside Adam's adaptive scaling; adding an l2
    penalty to the loss instead would have its gradient divided by sqrt(s) like any other,
    so weights with large gradients would hardly be regularized. The seeds recommend AdamW
    over l2 regularization with Adam, without an equation.

    theta, grad: arrays of the same shape. state: as adam_step's.
    Returns (new_theta, new_state).
    """
    theta, grad = _as_float(theta, grad)
    theta = theta - theta * weight_decay * learning_rate
    return adam_step(theta, grad, state, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                     epsilon=epsilon)


OPTIMIZER_STEPS = {
    "momentum": momentum_step,
    "nesterov": nesterov_step,
    "adagrad": adagrad_step,
    "rmsprop": rmsprop_step,
    "adam": adam_step,
    "adamax": adamax_step,
    "nadam": nadam_step,
    "adamw": adamw_step,
}
