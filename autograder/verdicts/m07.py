"""Verdicts of 07_optimizers: the update steps, the schedules, suggest_learning_rate."""
import numpy as np

from deeptrain import reference

from . import Check, Verdict, diagnosis, dtype, matches, returns_type, unchanged_inputs

VISIBLE = "the visible example [1, -2], two steps"
FIRST = f"{VISIBLE}, step 1"
STEP_NAMES = {0: "theta", 1: "grad", 2: "state"}
IN_PLACE = ("do not modify theta, grad or the arrays in state in place: return a new theta and a new state dict "
            "(e.g. m = momentum * m - ..., not m *= ...)")
KERAS = {"SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Nadam", "Adamax", "apply_gradients", "ResourceApplyAdam",
         "ResourceApplyAdagrad", "ResourceApplyRMSProp", "ResourceApplyMomentum", "ResourceApplyKerasMomentum",
         "ApplyAdam", "ApplyMomentum", "ApplyRMSProp", "ApplyAdagrad", "ApplyGradientDescent", "update_step"}


def _step_checks(fn, first_msg, values_msg, first_points=0.25, values_points=0.75, extra=(), diagnoses=()):
    """Diagnoses first (each names one fault exactly, by its variant), then the first step, the values (judged once
    the first step is right), in place."""
    return (list(diagnoses)
            + [Check(fn, first_points, first_msg, matches([FIRST], rtol=1e-7, part=lambda v: v[0], label="theta"), "first")]
            + list(extra)
            + [Check(fn, values_points, values_msg, matches(rtol=1e-7, atol=1e-12, part=lambda v: v[0], label="theta"),
                     "values", after="first"),      # a wrong first step makes every later one wrong: one fault
               Check(fn, 0.5, IN_PLACE, unchanged_inputs(names=STEP_NAMES), "in_place")])


def _theta(fn, points, message, variant, name):
    """A diagnosis on the returned theta: fails when the trajectory is exactly the variant's."""
    return diagnosis(fn, points, message, variant, name, rtol=1e-9, atol=1e-15, part=lambda v: v[0], label="theta")


# --- the named faults, as code (each the reference rule with exactly one mistake) ---------------------------

def _as_float(theta, grad):
    return np.array(theta, dtype=np.float64), np.array(grad, dtype=np.float64)


def _momentum_variant(dampened=False, old_m=False, nesterov=False):
    def step(theta, grad, state, learning_rate=0.01, momentum=0.0):
        theta, grad = _as_float(theta, grad)
        m_old = np.zeros_like(theta) if state is None else state["m"]
        if dampened:      # m <- momentum m + (1 - momentum) g; theta <- theta - lr m (an average, not a velocity)
            m = momentum * m_old + (1 - momentum) * grad
            return theta - learning_rate * m, {"m": m}
        m = momentum * m_old - learning_rate * grad
        if nesterov:
            return theta + momentum * (m_old if old_m else m) - learning_rate * grad, {"m": m}
        return theta + m, {"m": m}
    return step


def _adagrad_variant(start=None, eps_outside=False, eps=None):
    def step(theta, grad, state, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
        theta, grad = _as_float(theta, grad)
        s = np.full_like(theta, initial_accumulator_value if start is None else start) if state is None else state["s"]
        s = s + grad * grad
        e = epsilon if eps is None else eps
        d = (np.sqrt(s) + e) if eps_outside else np.sqrt(s + e)
        with np.errstate(divide="ignore", invalid="ignore"):
            return theta - learning_rate * np.where(d > 0, grad / d, 0.0), {"s": s}      # eps 0: no step where s = 0
    return step


def _rmsprop_variant(eps_outside=False, eps=None):
    def step(theta, grad, state, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        theta, grad = _as_float(theta, grad)
        s = np.zeros_like(theta) if state is None else state["s"]
        s = rho * s + (1 - rho) * grad * grad
        e = epsilon if eps is None else eps
        with np.errstate(divide="ignore", invalid="ignore"):       # eps 0: 0 / 0 where s = 0, as the student's
            return theta - learning_rate * grad / ((np.sqrt(s) + e) if eps_outside else np.sqrt(s + e)), {"s": s}
    return step


def _adam_variant(form="keras", bias=True, decay=None):
    """form: "keras" (epsilon added to sqrt(s) of the uncorrected s), "inside" (sqrt(s + epsilon)), "corrected"
    (Kingma and Ba's m_hat / (sqrt(s_hat) + epsilon)). decay (AdamW): "coupled" adds weight_decay * theta to the
    gradient instead of shrinking theta first."""
    def step(theta, grad, state, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None):
        theta, grad = _as_float(theta, grad)
        if weight_decay is not None:
            if decay == "coupled":
                grad = grad + weight_decay * theta
            else:
                theta = theta - theta * weight_decay * learning_rate
        t = 1 if state is None else state["t"] + 1
        m = (np.zeros_like(theta) if state is None else state["m"]) * beta_1 + (1 - beta_1) * grad
        s = (np.zeros_like(theta) if state is None else state["s"]) * beta_2 + (1 - beta_2) * grad * grad
        if not bias:
            return theta - learning_rate * m / (np.sqrt(s) + epsilon), {"m": m, "s": s, "t": t}
        if form == "corrected":
            m_hat, s_hat = m / (1 - beta_1 ** t), s / (1 - beta_2 ** t)
            return theta - learning_rate * m_hat / (np.sqrt(s_hat) + epsilon), {"m": m, "s": s, "t": t}
        lr_t = learning_rate * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        d = np.sqrt(s + epsilon) if form == "inside" else np.sqrt(s) + epsilon
        return theta - lr_t * m / d, {"m": m, "s": s, "t": t}
    return step


def _adamw_variant(decay, form="keras"):
    def step(theta, grad, state, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        return _adam_variant(form=form, decay=decay)(theta, grad, state, learning_rate, beta_1, beta_2, epsilon,
                                                     weight_decay)
    return step


def _fixed(step, **constants):
    """The step with some hyper-parameters fixed whatever the caller passes (constants of one's own)."""
    def fixed(theta, grad, state, **hp):
        hp.update(constants)
        return step(theta, grad, state, **hp)
    return fixed


# The epsilons of one's own a step may use instead of the argument: none, PyTorch's Adagrad, Keras', d2l's...
OWN_EPSILONS = (0.0, 1e-10, 1e-8, 1e-7, 1e-6, 1e-5)
EPS_INSIDE = ("epsilon goes INSIDE the square root: theta <- theta - learning_rate * grad / sqrt(s + epsilon) "
              "(not sqrt(s) + epsilon)")


momentum = Verdict(
    exercise="07.momentum_nesterov", cell="test_momentum_nesterov",
    reference={"momentum_step": reference.momentum_step, "nesterov_step": reference.nesterov_step},
    forbidden={"momentum_step": KERAS, "nesterov_step": KERAS},
    checks=_step_checks("momentum_step", "with state None, m starts at 0: the first step is theta - learning_rate * grad "
                        "(equation 11-4)", "m <- momentum * m - learning_rate * grad; theta <- theta + m, with m from "
                        "the state you returned last time", values_points=0.5, diagnoses=[
                            _theta("momentum_step", 0.25, "m is a velocity, not an average of the gradients: m <- momentum "
                                   "* m - learning_rate * grad, theta <- theta + m (not m <- momentum * m + (1 - momentum) "
                                   "* grad, theta <- theta - learning_rate * m)", _momentum_variant(dampened=True),
                                   "velocity")])
    + _step_checks("nesterov_step", "with state None, m starts at 0: the first step is theta + momentum * m - "
                   "learning_rate * grad with the new m", "Keras' Nesterov form: m <- momentum * m - learning_rate * grad; "
                   "theta <- theta + momentum * m - learning_rate * grad (the NEW m)", values_points=0.5, diagnoses=[
                       _theta("nesterov_step", 0.25, "use the NEW m in the look-ahead: theta <- theta + momentum * m - "
                              "learning_rate * grad after m <- momentum * m - learning_rate * grad",
                              _momentum_variant(nesterov=True, old_m=True), "new_m")]))

adagrad = Verdict(
    exercise="07.adagrad_rmsprop", cell="test_adagrad_rmsprop",
    reference={"adagrad_step": reference.adagrad_step, "rmsprop_step": reference.rmsprop_step},
    forbidden={"adagrad_step": KERAS, "rmsprop_step": KERAS},
    checks=_step_checks("adagrad_step", "the first step: s starts at initial_accumulator_value, then s <- s + grad^2 "
                        "before the step", "s <- s + grad^2; theta <- theta - learning_rate * grad / sqrt(s + epsilon)",
                        values_points=0.25, diagnoses=[
                            _theta("adagrad_step", 0.25, "s starts at initial_accumulator_value (the argument; Keras' "
                                   "default 0.1), not at 0 or at a constant of your own",
                                   (_adagrad_variant(start=0.0), _adagrad_variant(start=0.0, eps=1e-6),
                                    _adagrad_variant(start=0.0, eps_outside=True), _adagrad_variant(start=0.0, eps=0.0),
                                    _adagrad_variant(start=0.1)), "accumulator"),
                            _theta("adagrad_step", 0.125, "use the epsilon given, not a constant of your own (1e-6, 1e-8, "
                                   "...)", tuple(_adagrad_variant(eps=e) for e in OWN_EPSILONS), "epsilon_given"),
                            _theta("adagrad_step", 0.125, EPS_INSIDE, (_adagrad_variant(eps_outside=True),), "epsilon_inside")])
    + _step_checks("rmsprop_step", "the first step: s starts at 0, then s <- rho * s + (1 - rho) * grad^2 before the step",
                   "s <- rho * s + (1 - rho) * grad^2; theta <- theta - learning_rate * grad / sqrt(s + epsilon)",
                   values_points=0.25, diagnoses=[
                       _theta("rmsprop_step", 0.25, "use the epsilon given, not a constant of your own (1e-6, 1e-8, ...)",
                              tuple(_rmsprop_variant(eps=e) for e in OWN_EPSILONS), "epsilon_given"),
                       _theta("rmsprop_step", 0.25, EPS_INSIDE, (_rmsprop_variant(eps_outside=True),
                                                               _rmsprop_variant(eps_outside=True, eps=1e-8)),
                              "epsilon_inside")]))

TINY = lambda c: c.startswith("tiny gradients")  # noqa: E731
adam = Verdict(
    exercise="07.adam_adamw", cell="test_adam_adamw",
    reference={"adam_step": reference.adam_step, "adamw_step": reference.adamw_step},
    forbidden={"adam_step": KERAS, "adamw_step": KERAS},
    checks=_step_checks(
        "adam_step", "apply the bias correction with t counted from 1: the first step moves each coordinate by about "
        "learning_rate (lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(s) + epsilon))",
        "t <- t + 1; m <- beta_1 m + (1 - beta_1) g; s <- beta_2 s + (1 - beta_2) g^2; "
        "theta <- theta - lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(s) + epsilon) (with tiny gradients, "
        "epsilon decides the step)",
        first_points=0.25, values_points=0.25,
        diagnoses=[
            _theta("adam_step", 0.25, "apply the bias correction: lr_t = learning_rate * sqrt(1 - beta_2^t) / "
                   "(1 - beta_1^t), t counted from 1", _adam_variant(bias=False), "bias_correction"),
            _theta("adam_step", 0.25, "Keras' Adam adds epsilon OUTSIDE the square root: m / (sqrt(s) + epsilon), not "
                   "sqrt(s + epsilon)", _adam_variant(form="inside"), "epsilon_outside"),
            _theta("adam_step", 0.25, "epsilon is added to sqrt(s) of the UNcorrected s (Keras' form): lr_t * m / "
                   "(sqrt(s) + epsilon), not m_hat / (sqrt(s_hat) + epsilon) as in Kingma and Ba's paper",
                   (_adam_variant(form="corrected"),), "epsilon_uncorrected"),
            _theta("adam_step", 0.25, "use the beta_1, beta_2 and epsilon given, not constants of your own",
                   tuple(_fixed(_adam_variant(form=form), beta_1=0.9, beta_2=0.999, epsilon=eps)
                         for form in ("keras", "corrected") for eps in (1e-7, 1e-6, 1e-8)), "arguments")])
    + _step_checks(
        "adamw_step", "the first step: theta <- theta - theta * weight_decay * learning_rate, then an Adam step with the "
        "same grad", "theta <- theta - theta * weight_decay * learning_rate, then the Adam step",
        first_points=0.25, values_points=0.5, diagnoses=[
            _theta("adamw_step", 0.25, "epsilon is added to sqrt(s) of the UNcorrected s (Keras' form): lr_t * m / "
                   "(sqrt(s) + epsilon), not m_hat / (sqrt(s_hat) + epsilon)", (_adamw_variant(None, "corrected"),),
                   "epsilon_uncorrected"),
            _theta("adamw_step", 0.5, "decoupled weight decay: shrink theta first (theta <- theta - theta * "
                   "weight_decay * learning_rate); adding weight_decay * theta to the gradient is l2 regularization, "
                   "not AdamW", _adamw_variant("coupled"), "decoupled")]))

BOUNDARY = "steps [0, 5, 6, 10, 11], boundaries [5, 10]"
FRACTIONAL = "fractional steps around the boundaries [100, 300, 1000]"
ARRAYS_PW = [BOUNDARY, FRACTIONAL, "one boundary, a (2, 3) array of steps"]
AFTER = "steps after the end: 100, 150, 1000"
def _piecewise_right_closed(step, boundaries, values):
    """The named fault: a step equal to a boundary takes the value after it."""
    i = np.searchsorted(np.asarray(boundaries, np.float64), np.asarray(step, np.float64), side="right")
    return np.asarray(values, np.float64)[i]


def _one_cycle_unclamped(step, total_steps, max_lr, div_factor=10.0, final_div_factor=1000.0, anneal_fraction=0.1):
    """The named fault: the last segment goes on falling after total_steps."""
    step = np.asarray(step, np.float64)
    start, end = max_lr / div_factor, max_lr / div_factor / final_div_factor
    half = (1 - anneal_fraction) * total_steps / 2
    slope = (end - start) / (total_steps - 2 * half)
    out = reference.one_cycle(step, total_steps, max_lr, div_factor, final_div_factor, anneal_fraction)
    return np.where(step > total_steps, end + slope * (step - total_steps), out)


schedules = Verdict(
    exercise="07.schedules", cell="test_schedules",
    reference={"piecewise_constant": reference.piecewise_constant, "one_cycle": reference.one_cycle},
    forbidden={"piecewise_constant": {"PiecewiseConstantDecay", "piecewise_constant"},
               "one_cycle": {"OneCycleLR", "CosineDecay", "PolynomialDecay", "one_cycle"}},
    checks=[
        Check("piecewise_constant", 0.25, "return float64 of step's shape", dtype("float64", ARRAYS_PW), "float64"),
        Check("piecewise_constant", 0.5, "a step equal to a boundary takes the value BEFORE it: values[i] for "
              "boundaries[i-1] < step <= boundaries[i]", matches([BOUNDARY, FRACTIONAL], rtol=1e-12), "boundary",
              variant=_piecewise_right_closed),
        Check("piecewise_constant", 0.75, "piecewise_constant(step) differs from the values between the boundaries",
              matches(rtol=1e-12), "values"),
        Check("one_cycle", 0.25, "after total_steps the rate stays at max_lr / div_factor / final_div_factor",
              matches([AFTER], rtol=1e-9), "after", variant=_one_cycle_unclamped),
        Check("one_cycle", 1.0, "one_cycle is linear through (0, max_lr / div_factor), (half, max_lr), (2 half, "
              "max_lr / div_factor), (total_steps, max_lr / div_factor / final_div_factor), "
              "half = (1 - anneal_fraction) * total_steps / 2", matches(lambda c: c != AFTER, rtol=1e-9), "values"),
        Check("one_cycle", 0.25, "return float64 of step's shape",
              dtype("float64", lambda c: not c.startswith("a scalar")), "float64"),
    ])

def _suggest_uncorrected(lrs, losses, factor=10.0, beta=0.9):
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    finite = np.isfinite(losses)
    n = len(losses) if finite.all() else int(np.argmin(finite))
    avg, smooth = 0.0, []
    for i in range(n):
        avg = beta * avg + (1 - beta) * losses[i]
        smooth.append(avg)
    return float(lrs[int(np.argmin(smooth))] / factor)


NONFINITE = ["a loss that becomes inf at batch 30", "a NaN at batch 20"]
suggest = Verdict(
    exercise="07.suggest_learning_rate", cell="test_suggest_learning_rate",
    reference={"suggest_learning_rate": reference.suggest_learning_rate},
    forbidden={"suggest_learning_rate": {"LRFinder", "lr_find"}},
    checks=[
        diagnosis("suggest_learning_rate", 0.25, "correct the moving average's bias: smooth_i = a_i / (1 - beta^(i+1)) "
                  "(a_i alone starts near 0 and pulls the minimum to the first batches)", _suggest_uncorrected,
                  "bias_correction"),
        Check("suggest_learning_rate", 0.5, "smooth with the bias-corrected moving average a_i / (1 - beta^(i+1)), "
              "then return lrs[argmin] / factor", matches(lambda c: c not in NONFINITE and "beta=" not in c, rtol=1e-12),
              "values"),
        Check("suggest_learning_rate", 0.25, "use the beta given (beta = 0: no smoothing)",
              matches(lambda c: "beta=" in c, rtol=1e-12), "beta"),
        Check("suggest_learning_rate", 0.5, "ignore everything from the first non-finite loss (NaN or inf) on",
              matches(NONFINITE, rtol=1e-12), "nonfinite", after="values"),
        Check("suggest_learning_rate", 0.5, "return a Python float", returns_type(("float", "float64")), "float"),
    ])

PLATEAU_DOC = ["the docstring example (factor 0.5, patience 2)", "min_delta 1e-4: a fall of 5e-5 is no improvement",
               "a flat loss, patience 1, min_lr 0.005", "Keras' defaults on 12 flat epochs"]
def _plateau_variant(ignore_min_delta=False, reset=True):
    def rates(val_losses, lr0, factor=0.1, patience=10, min_delta=1e-4, min_lr=0.0):
        delta = 0.0 if ignore_min_delta else min_delta
        lr, best, wait, out = float(lr0), None, 0, []
        for loss in np.asarray(val_losses, dtype=np.float64):
            if best is None or loss < best - delta:
                best, wait = loss, 0
            else:
                wait += 1
                if wait >= patience:
                    lr = max(lr * factor, min_lr)
                    wait = 0 if reset else wait
            out.append(lr)
        return np.array(out)
    return rates


plateau = Verdict(
    exercise="07.reduce_lr_on_plateau", cell="test_reduce_lr_on_plateau",
    reference={"reduce_lr_on_plateau": reference.reduce_lr_on_plateau},
    forbidden={"reduce_lr_on_plateau": {"ReduceLROnPlateau"}},
    checks=[
        diagnosis("reduce_lr_on_plateau", 0.25, "an epoch improves only when loss < best - min_delta (a smaller fall "
                  "is no improvement)", _plateau_variant(ignore_min_delta=True), "min_delta"),
        diagnosis("reduce_lr_on_plateau", 0.25, "after a cut, start counting again: the wait goes back to 0 (Keras' "
                  "cooldown 0), so the next cut comes `patience` epochs later", _plateau_variant(reset=False), "reset"),
        Check("reduce_lr_on_plateau", 0.25, "an epoch improves when loss < best - min_delta; after `patience` epochs "
              "without improvement multiply the rate by factor (not below min_lr) and start counting again",
              matches(PLATEAU_DOC, rtol=1e-12), "rule"),
        Check("reduce_lr_on_plateau", 0.75, "the rates differ from Keras' ReduceLROnPlateau on a noisy plateau",
              matches(lambda c: c not in PLATEAU_DOC, rtol=1e-12), "values", after="rule"),
        Check("reduce_lr_on_plateau", 0.25, "val_losses must be left unchanged", unchanged_inputs(names={0: "val_losses"}),
              "unchanged"),
        Check("reduce_lr_on_plateau", 0.25, "return a float64 array of len(val_losses)", dtype("float64"), "float64"),
    ])

VERDICTS = [momentum, adagrad, adam, schedules, suggest, plateau]
