"""Module 07: optimizer steps, schedules, suggest_learning_rate."""
import numpy as np

from deeptrain import reference as ref

from . import WHOLE


def momentum_in_place_state(theta, grad, state, learning_rate=0.01, momentum=0.0):
    """Updates state["m"] in place (the issue's class 3): right values, broken rule."""
    theta = np.asarray(theta, np.float64)
    if state is None:
        state = {"m": np.zeros_like(theta)}
    state["m"] *= momentum
    state["m"] -= learning_rate * np.asarray(grad)
    return theta + state["m"], state


def momentum_in_place_theta(theta, grad, state, learning_rate=0.01, momentum=0.0):
    new, state = ref.momentum_step(theta, grad, state, learning_rate=learning_rate, momentum=momentum)
    theta[...] = new
    return theta, state


def momentum_ignores_state(theta, grad, state, learning_rate=0.01, momentum=0.0):
    return ref.momentum_step(theta, grad, None, learning_rate=learning_rate, momentum=momentum)


def nesterov_old_m(theta, grad, state, learning_rate=0.01, momentum=0.0):
    theta = np.asarray(theta, np.float64)
    m_old = np.zeros_like(theta) if state is None else state["m"]
    m = momentum * m_old - learning_rate * grad
    return theta + momentum * m_old - learning_rate * grad, {"m": m}


def adagrad_starts_at_zero(theta, grad, state, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    return ref.adagrad_step(theta, grad, state if state is not None else {"s": np.zeros_like(np.asarray(theta, float))},
                            learning_rate=learning_rate, initial_accumulator_value=0.0, epsilon=epsilon)


def rmsprop_eps_outside(theta, grad, state, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    theta, grad = np.asarray(theta, np.float64), np.asarray(grad, np.float64)
    s = np.zeros_like(theta) if state is None else state["s"]
    s = rho * s + (1 - rho) * grad ** 2
    return theta - learning_rate * grad / (np.sqrt(s) + epsilon), {"s": s}


def adam_no_bias_correction(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    theta, grad = np.asarray(theta, np.float64), np.asarray(grad, np.float64)
    m = np.zeros_like(theta) if state is None else state["m"]
    v = np.zeros_like(theta) if state is None else state["v"]
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad ** 2
    return theta - learning_rate * m / (np.sqrt(v) + epsilon), {"m": m, "v": v}


def adam_eps_inside(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """epsilon inside the square root (the issue's "expected 0.9000006325, got 0.90000002")."""
    theta, grad = np.asarray(theta, np.float64), np.asarray(grad, np.float64)
    t = 1 if state is None else state["t"] + 1
    m = (0 if state is None else beta_1 * state["m"]) + (1 - beta_1) * grad
    v = (0 if state is None else beta_2 * state["v"]) + (1 - beta_2) * grad ** 2
    lr = learning_rate * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return theta - lr * m / np.sqrt(v + epsilon), {"m": m, "v": v, "t": t}


def adamw_l2_in_gradient(theta, grad, state, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                         epsilon=1e-7):
    theta = np.asarray(theta, np.float64)
    return ref.adam_step(theta, np.asarray(grad) + weight_decay * theta, state, learning_rate=learning_rate,
                         beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)


def adam_mutating_state(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    new, new_state = ref.adam_step(theta, grad, state, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                                   epsilon=epsilon)
    if state is not None:
        state.update(new_state)
        return new, state
    return new, new_state


def piecewise_right_closed(step, boundaries, values):
    idx = np.searchsorted(np.asarray(boundaries, float), np.asarray(step, float), side="right")
    return np.asarray(values, float)[idx]


def piecewise_int(step, boundaries, values):
    return np.asarray(ref.piecewise_constant(step, boundaries, values)).astype(np.float32)


def one_cycle_no_anneal_clamp(step, total_steps, max_lr, div_factor=10.0, final_div_factor=1000.0, anneal_fraction=0.1):
    """Keeps falling linearly after total_steps instead of staying constant."""
    step = np.asarray(step, np.float64)
    lr_start = max_lr / div_factor
    lr_end = lr_start / final_div_factor
    half = (1 - anneal_fraction) * total_steps / 2
    out = ref.one_cycle(step, total_steps, max_lr, div_factor, final_div_factor, anneal_fraction)
    slope = (lr_end - lr_start) / (total_steps - 2 * half)
    return np.where(step > total_steps, lr_end + slope * (step - total_steps), out)


def one_cycle_no_anneal(step, total_steps, max_lr, div_factor=10.0, final_div_factor=1000.0, anneal_fraction=0.1):
    half = total_steps / 2
    return np.interp(np.asarray(step, np.float64), [0, half, total_steps], [max_lr / div_factor, max_lr,
                                                                            max_lr / div_factor / final_div_factor])


def one_cycle_undefined_before_zero(step, total_steps, max_lr, div_factor=10.0, final_div_factor=1000.0,
                                    anneal_fraction=0.1):
    """Right on the domain the docstring defines (step >= 0); extrapolates below 0 (the issue's class 4)."""
    step = np.asarray(step, np.float64)
    out = ref.one_cycle(step, total_steps, max_lr, div_factor, final_div_factor, anneal_fraction)
    half = (1 - anneal_fraction) * total_steps / 2
    return np.where(step < 0, max_lr / div_factor + step * (max_lr - max_lr / div_factor) / half, out)


def suggest_no_bias_correction(lrs, losses, factor=10.0, beta=0.9):
    lrs, losses = np.asarray(lrs, float), np.asarray(losses, float)
    n = len(losses) if np.isfinite(losses).all() else int(np.argmin(np.isfinite(losses)))
    avg, smooth = 0.0, []
    for i in range(n):
        avg = beta * avg + (1 - beta) * losses[i]
        smooth.append(avg)
    return float(lrs[int(np.argmin(smooth))] / factor)


def suggest_numpy_scalar(lrs, losses, factor=10.0, beta=0.9):
    return np.asarray(ref.suggest_learning_rate(lrs, losses, factor, beta))     # a 0-d array, not a float


def momentum_starts_at_grad(theta, grad, state, learning_rate=0.01, momentum=0.0):
    theta = np.asarray(theta, np.float64)
    m = -learning_rate * np.asarray(grad) if state is None else momentum * state["m"] - learning_rate * grad
    if state is None:
        m = m * (1 + momentum)
    return theta + m, {"m": m}


def nesterov_in_place_state(theta, grad, state, learning_rate=0.01, momentum=0.0):
    """The issue's class 5: an in-place update must be reported as this function's, no other's."""
    theta = np.asarray(theta, np.float64)
    if state is None:
        state = {"m": np.zeros_like(theta)}
    state["m"] *= momentum
    state["m"] -= learning_rate * np.asarray(grad)
    return theta + momentum * state["m"] - learning_rate * np.asarray(grad), state


def _in_place_theta(step):
    def wrong(theta, grad, state, **hp):
        new, new_state = step(theta, grad, state, **hp)
        theta -= theta - new            # theta[...] = new, written as an update
        return theta, new_state
    wrong.__name__ = f"{step.__name__}_in_place_theta"
    return wrong


def one_cycle_as_list(step, total_steps, max_lr, div_factor=10.0, final_div_factor=1000.0, anneal_fraction=0.1):
    out = ref.one_cycle(step, total_steps, max_lr, div_factor, final_div_factor, anneal_fraction)
    return out.tolist() if np.ndim(step) else out


def suggest_drops_nonfinite(lrs, losses, factor=10.0, beta=0.9):
    lrs, losses = np.asarray(lrs, float), np.asarray(losses, float)
    keep = np.isfinite(losses)
    return ref.suggest_learning_rate(lrs[keep], losses[keep], factor, beta)


WRONG = [
    ("07.momentum_nesterov", "momentum_step", momentum_starts_at_grad, WHOLE, "m starts at 0"),
    ("07.momentum_nesterov", "nesterov_step", nesterov_in_place_state, {"in_place"}, "in place"),
    ("07.adagrad_rmsprop", "adagrad_step", _in_place_theta(ref.adagrad_step), {"in_place"}, "in place"),
    ("07.adagrad_rmsprop", "rmsprop_step", _in_place_theta(ref.rmsprop_step), {"in_place"}, "in place"),
    ("07.adam_adamw", "adamw_step", _in_place_theta(ref.adamw_step), {"in_place"}, "in place"),
    ("07.schedules", "one_cycle", one_cycle_as_list, {"float64"}, "float64"),
    ("07.momentum_nesterov", "momentum_step", momentum_in_place_state, {"in_place"}, "in place"),
    ("07.momentum_nesterov", "momentum_step", momentum_in_place_theta, {"in_place"}, "in place"),
    ("07.momentum_nesterov", "momentum_step", momentum_ignores_state, {"values"}, "the state you returned"),
    ("07.momentum_nesterov", "nesterov_step", nesterov_old_m, {"new_m"}, "NEW m"),
    ("07.adagrad_rmsprop", "adagrad_step", adagrad_starts_at_zero, {"accumulator"}, "initial_accumulator_value"),
    ("07.adagrad_rmsprop", "rmsprop_step", rmsprop_eps_outside, {"epsilon_inside"}, "INSIDE the square root"),
    ("07.adam_adamw", "adam_step", adam_no_bias_correction, {"bias_correction"}, "bias correction"),
    ("07.adam_adamw", "adam_step", adam_eps_inside, {"epsilon_outside"}, "OUTSIDE"),
    ("07.adam_adamw", "adam_step", adam_mutating_state, {"in_place"}, "in place"),
    ("07.adam_adamw", "adamw_step", adamw_l2_in_gradient, {"decoupled"}, "decoupled weight decay"),
    ("07.schedules", "piecewise_constant", piecewise_right_closed, {"boundary"}, "BEFORE it"),
    ("07.schedules", "piecewise_constant", piecewise_int, {"float64"}, "float64"),
    ("07.schedules", "one_cycle", one_cycle_no_anneal_clamp, {"after"}, "after total_steps"),
    ("07.schedules", "one_cycle", one_cycle_no_anneal, {"values"}, "anneal_fraction"),
    ("07.suggest_learning_rate", "suggest_learning_rate", suggest_drops_nonfinite, {"nonfinite"}, "non-finite"),
    ("07.suggest_learning_rate", "suggest_learning_rate", suggest_no_bias_correction, {"bias_correction"},
     "correct the moving average's bias"),
    ("07.suggest_learning_rate", "suggest_learning_rate", suggest_numpy_scalar, {"float"}, "Python float"),
]
RIGHT = [("07.schedules", "one_cycle", one_cycle_undefined_before_zero)]


def plateau_no_min_delta(val_losses, lr0, factor=0.1, patience=10, min_delta=1e-4, min_lr=0.0):
    return ref.reduce_lr_on_plateau(val_losses, lr0, factor, patience, 0.0, min_lr)


def plateau_wait_not_reset(val_losses, lr0, factor=0.1, patience=10, min_delta=1e-4, min_lr=0.0):
    lr, best, wait, rates = float(lr0), None, 0, []
    for loss in np.asarray(val_losses, dtype=np.float64):
        if best is None or loss < best - min_delta:
            best, wait = loss, 0
        else:
            wait += 1
            if wait >= patience and lr > min_lr:
                lr = max(lr * factor, min_lr)       # wait is not reset: cuts every epoch from then on
        rates.append(lr)
    return np.array(rates)


def plateau_sorts_losses(val_losses, lr0, factor=0.1, patience=10, min_delta=1e-4, min_lr=0.0):
    out = ref.reduce_lr_on_plateau(val_losses, lr0, factor, patience, min_delta, min_lr)
    val_losses.reverse()
    val_losses.reverse()
    val_losses.append(0.0)
    val_losses.pop()
    val_losses[0] = val_losses[0] + 0.0 if False else val_losses[0] * 1.0 + 1e-3
    return out


def plateau_list(val_losses, lr0, factor=0.1, patience=10, min_delta=1e-4, min_lr=0.0):
    return ref.reduce_lr_on_plateau(val_losses, lr0, factor, patience, min_delta, min_lr).tolist()


WRONG += [
    ("07.reduce_lr_on_plateau", "reduce_lr_on_plateau", plateau_no_min_delta, {"min_delta"}, "min_delta"),
    ("07.reduce_lr_on_plateau", "reduce_lr_on_plateau", plateau_wait_not_reset, {"reset"}, "counting again"),
    ("07.reduce_lr_on_plateau", "reduce_lr_on_plateau", plateau_sorts_losses, {"unchanged"}, "left unchanged"),
    ("07.reduce_lr_on_plateau", "reduce_lr_on_plateau", plateau_list, {"float64"}, "float64"),
]


# --- one fault each (issue 19): later steps only (the state), or a first step no diagnosis names ---------

def _ignoring_state(step):
    def wrong(theta, grad, state, **hp):
        return step(theta, grad, None, **hp)       # starts afresh at every call: the state is dropped
    wrong.__name__ = f"{step.__name__}_ignores_state"
    return wrong


def nesterov_without_momentum_lookahead(theta, grad, state, learning_rate=0.01, momentum=0.0):
    new, new_state = ref.momentum_step(theta, grad, state, learning_rate=learning_rate, momentum=momentum)
    return new, new_state        # plain momentum: theta + m, which is the look-ahead with the OLD m


def nesterov_lookahead_only(theta, grad, state, learning_rate=0.01, momentum=0.0):
    theta = np.asarray(theta, np.float64)
    m = (0 if state is None else momentum * state["m"]) - learning_rate * np.asarray(grad, np.float64)
    return theta + momentum * m, {"m": m}        # the look-ahead without the gradient step


def adagrad_step_before_accumulating(theta, grad, state, learning_rate=0.001, initial_accumulator_value=0.1,
                                     epsilon=1e-7):
    theta, grad = np.asarray(theta, np.float64), np.asarray(grad, np.float64)
    s = np.full_like(theta, initial_accumulator_value) if state is None else state["s"]
    new = theta - learning_rate * grad / np.sqrt(s + epsilon)      # the step with the OLD s
    return new, {"s": s + grad * grad}


def adagrad_fixed_epsilon(theta, grad, state, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    return ref.adagrad_step(theta, grad, state, learning_rate=learning_rate,
                            initial_accumulator_value=initial_accumulator_value, epsilon=1e-8)


def rmsprop_step_before_averaging(theta, grad, state, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    theta, grad = np.asarray(theta, np.float64), np.asarray(grad, np.float64)
    s = np.zeros_like(theta) if state is None else state["s"]
    new = theta - learning_rate * grad / np.sqrt(s + epsilon)
    return new, {"s": rho * s + (1 - rho) * grad * grad}


def adam_t_from_zero(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """t counted from 0: the first correction divides by 1 - beta_1^0 = 0."""
    theta, grad = np.asarray(theta, np.float64), np.asarray(grad, np.float64)
    t = 0 if state is None else state["t"] + 1
    m = (0 if state is None else beta_1 * state["m"]) + (1 - beta_1) * grad
    s = (0 if state is None else beta_2 * state["s"]) + (1 - beta_2) * grad * grad
    with np.errstate(all="ignore"):
        lr_t = learning_rate * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return theta - lr_t * m / (np.sqrt(s) + epsilon), {"m": m, "s": s, "t": t}


def adam_t_stuck(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    new, new_state = ref.adam_step(theta, grad, state, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                                   epsilon=epsilon)
    new_state["t"] = 0                             # never counts on: every step corrected as the first
    return new, new_state


def adamw_decay_after_step(theta, grad, state, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                           epsilon=1e-7):
    new, new_state = ref.adam_step(theta, grad, state, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                                   epsilon=epsilon)
    return new - new * weight_decay * learning_rate, new_state


def piecewise_flattens(step, boundaries, values):
    return np.ravel(ref.piecewise_constant(step, boundaries, values))


def suggest_fixed_beta(lrs, losses, factor=10.0, beta=0.9):
    return ref.suggest_learning_rate(lrs, losses, factor, 0.9)


def plateau_relative_min_delta(val_losses, lr0, factor=0.1, patience=10, min_delta=1e-4, min_lr=0.0):
    """An improvement relative to the best (loss < best * (1 - min_delta)), not by min_delta."""
    lr, best, wait, rates = float(lr0), None, 0, []
    for loss in np.asarray(val_losses, dtype=np.float64):
        if best is None or loss < best * (1 - min_delta):
            best, wait = loss, 0
        else:
            wait += 1
            if wait >= patience:
                lr, wait = max(lr * factor, min_lr), 0
        rates.append(lr)
    return np.array(rates)


def suggest_default_beta(lrs, losses, factor=10.0, beta=0.98):
    return ref.suggest_learning_rate(lrs, losses, factor, beta)


def plateau_ignores_min_lr(val_losses, lr0, factor=0.1, patience=10, min_delta=1e-4, min_lr=0.0):
    return ref.reduce_lr_on_plateau(val_losses, lr0, factor, patience, min_delta, 0.0)


WRONG += [
    ("07.suggest_learning_rate", "suggest_learning_rate", suggest_default_beta, {"values"}, "lrs[argmin] / factor"),
    ("07.reduce_lr_on_plateau", "reduce_lr_on_plateau", plateau_ignores_min_lr, WHOLE, "not below min_lr"),
    ("07.momentum_nesterov", "nesterov_step", _ignoring_state(ref.nesterov_step), {"values"}, "the NEW m"),
    ("07.momentum_nesterov", "nesterov_step", nesterov_without_momentum_lookahead, {"new_m"}, "NEW m"),
    ("07.momentum_nesterov", "nesterov_step", nesterov_lookahead_only, WHOLE, "the first step"),
    ("07.adagrad_rmsprop", "adagrad_step", _ignoring_state(ref.adagrad_step), {"values"}, "s <- s + grad^2"),
    ("07.adagrad_rmsprop", "adagrad_step", adagrad_step_before_accumulating, WHOLE, "before the step"),
    ("07.adagrad_rmsprop", "adagrad_step", adagrad_fixed_epsilon, {"epsilon_given"}, "epsilon given"),
    ("07.adagrad_rmsprop", "rmsprop_step", _ignoring_state(ref.rmsprop_step), {"values"}, "s <- rho * s"),
    ("07.adagrad_rmsprop", "rmsprop_step", rmsprop_step_before_averaging, WHOLE, "before the step"),
    ("07.adam_adamw", "adam_step", adam_t_from_zero, WHOLE, "the first step"),
    ("07.adam_adamw", "adam_step", adam_t_stuck, {"values"}, "t <- t + 1"),
    ("07.adam_adamw", "adamw_step", _ignoring_state(ref.adamw_step), {"values"}, "then the Adam step"),
    ("07.adam_adamw", "adamw_step", adamw_decay_after_step, WHOLE, "the first step"),
    ("07.schedules", "piecewise_constant", piecewise_flattens, {"values"}, "between the boundaries"),
    ("07.suggest_learning_rate", "suggest_learning_rate", suggest_fixed_beta, {"beta"}, "beta given"),
    ("07.reduce_lr_on_plateau", "reduce_lr_on_plateau", plateau_relative_min_delta, {"values"}, "noisy plateau"),
]


def rmsprop_default_epsilon_always(theta, grad, state, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    return ref.rmsprop_step(theta, grad, state, learning_rate=learning_rate, rho=rho, epsilon=1e-7)


WRONG += [("07.adagrad_rmsprop", "rmsprop_step", rmsprop_default_epsilon_always, {"epsilon_given"}, "epsilon given")]


def adagrad_default_start_always(theta, grad, state, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    return ref.adagrad_step(theta, grad, state, learning_rate=learning_rate, initial_accumulator_value=0.1,
                            epsilon=epsilon)


WRONG += [("07.adagrad_rmsprop", "adagrad_step", adagrad_default_start_always, {"accumulator"}, "initial_accumulator_value")]
