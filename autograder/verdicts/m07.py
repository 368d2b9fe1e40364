"""Verdicts of 07_optimizers: the update steps, the schedules, suggest_learning_rate."""
from deeptrain import reference

from . import Check, Verdict, dtype, matches, returns_type, unchanged_inputs

VISIBLE = "the visible example [1, -2], two steps"
FIRST = f"{VISIBLE}, step 1"
STEP_NAMES = {0: "theta", 1: "grad", 2: "state"}
IN_PLACE = ("do not modify theta, grad or the arrays in state in place: return a new theta and a new state dict "
            "(e.g. m = momentum * m - ..., not m *= ...)")
KERAS = {"SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Nadam", "Adamax", "apply_gradients", "ResourceApplyAdam",
         "ResourceApplyAdagrad", "ResourceApplyRMSProp", "ResourceApplyMomentum", "ResourceApplyKerasMomentum",
         "ApplyAdam", "ApplyMomentum", "ApplyRMSProp", "ApplyAdagrad", "ApplyGradientDescent", "update_step"}


def _step_checks(fn, first_msg, values_msg, first_points=0.25, values_points=0.75, extra=()):
    return ([Check(fn, first_points, first_msg, matches([FIRST], rtol=1e-7, part=lambda v: v[0], label="theta"), "first")]
            + list(extra)
            + [Check(fn, values_points, values_msg, matches(rtol=1e-7, atol=1e-12, part=lambda v: v[0], label="theta"),
                     "values"),
               Check(fn, 0.5, IN_PLACE, unchanged_inputs(names=STEP_NAMES), "in_place")])


momentum = Verdict(
    exercise="07.momentum_nesterov", cell="test_momentum_nesterov",
    reference={"momentum_step": reference.momentum_step, "nesterov_step": reference.nesterov_step},
    forbidden={"momentum_step": KERAS, "nesterov_step": KERAS},
    checks=_step_checks("momentum_step", "with state None, m starts at 0: the first step is theta - learning_rate * grad "
                        "(equation 11-4)", "m <- momentum * m - learning_rate * grad; theta <- theta + m, with m from "
                        "the state you returned last time")
    + _step_checks("nesterov_step", "with state None, m starts at 0: the first step is theta + momentum * m - "
                   "learning_rate * grad with the new m", "Keras' Nesterov form: m <- momentum * m - learning_rate * grad; "
                   "theta <- theta + momentum * m - learning_rate * grad (the NEW m)"))

adagrad = Verdict(
    exercise="07.adagrad_rmsprop", cell="test_adagrad_rmsprop",
    reference={"adagrad_step": reference.adagrad_step, "rmsprop_step": reference.rmsprop_step},
    forbidden={"adagrad_step": KERAS, "rmsprop_step": KERAS},
    checks=_step_checks("adagrad_step", "s starts at initial_accumulator_value (0.1), then s <- s + grad^2 before the step",
                        "s <- s + grad^2; theta <- theta - learning_rate * grad / sqrt(s + epsilon) "
                        "(epsilon inside the square root)")
    + _step_checks("rmsprop_step", "s starts at 0, then s <- rho * s + (1 - rho) * grad^2 before the step",
                   "s <- rho * s + (1 - rho) * grad^2; theta <- theta - learning_rate * grad / sqrt(s + epsilon) "
                   "(epsilon inside the square root)"))

TINY = lambda c: c.startswith("tiny gradients")  # noqa: E731
adam = Verdict(
    exercise="07.adam_adamw", cell="test_adam_adamw",
    reference={"adam_step": reference.adam_step, "adamw_step": reference.adamw_step},
    forbidden={"adam_step": KERAS, "adamw_step": KERAS},
    checks=_step_checks(
        "adam_step", "apply the bias correction with t counted from 1: the first step moves each coordinate by about "
        "learning_rate (lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(s) + epsilon))",
        "t <- t + 1; m <- beta_1 m + (1 - beta_1) g; s <- beta_2 s + (1 - beta_2) g^2; "
        "theta <- theta - lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(s) + epsilon)",
        first_points=0.25, values_points=0.75,
        extra=[Check("adam_step", 0.5, "Keras' Adam adds epsilon OUTSIDE the square root: m / (sqrt(s) + epsilon); "
                     "with tiny gradients its place decides the step", matches(TINY, rtol=1e-7, part=lambda v: v[0],
                                                                              label="theta"), "epsilon")])
    + _step_checks(
        "adamw_step", "decoupled weight decay: first theta <- theta - theta * weight_decay * learning_rate, then "
        "an Adam step with the same grad (the decay is not added to the gradient)",
        "theta <- theta - theta * weight_decay * learning_rate, then the Adam step",
        first_points=0.5, values_points=1.0))

BOUNDARY = "steps [0, 5, 6, 10, 11], boundaries [5, 10]"
FRACTIONAL = "fractional steps around the boundaries [100, 300, 1000]"
ARRAYS_PW = [BOUNDARY, FRACTIONAL, "one boundary, a (2, 3) array of steps"]
AFTER = "steps after the end: 100, 150, 1000"
schedules = Verdict(
    exercise="07.schedules", cell="test_schedules",
    reference={"piecewise_constant": reference.piecewise_constant, "one_cycle": reference.one_cycle},
    forbidden={"piecewise_constant": {"PiecewiseConstantDecay", "piecewise_constant"},
               "one_cycle": {"OneCycleLR", "CosineDecay", "PolynomialDecay", "one_cycle"}},
    checks=[
        Check("piecewise_constant", 0.25, "return float64 of step's shape", dtype("float64", ARRAYS_PW), "float64"),
        Check("piecewise_constant", 0.5, "a step equal to a boundary takes the value BEFORE it: values[i] for "
              "boundaries[i-1] < step <= boundaries[i]", matches([BOUNDARY, FRACTIONAL], rtol=1e-12), "boundary"),
        Check("piecewise_constant", 0.75, "piecewise_constant(step) differs from the values between the boundaries",
              matches(rtol=1e-12), "values"),
        Check("one_cycle", 0.25, "after total_steps the rate stays at max_lr / div_factor / final_div_factor",
              matches([AFTER], rtol=1e-9), "after"),
        Check("one_cycle", 1.0, "one_cycle is linear through (0, max_lr / div_factor), (half, max_lr), (2 half, "
              "max_lr / div_factor), (total_steps, max_lr / div_factor / final_div_factor), "
              "half = (1 - anneal_fraction) * total_steps / 2", matches(lambda c: c != AFTER, rtol=1e-9), "values"),
        Check("one_cycle", 0.25, "return float64 of step's shape",
              dtype("float64", lambda c: not c.startswith("a scalar")), "float64"),
    ])

NONFINITE = ["a loss that becomes inf at batch 30", "a NaN at batch 20"]
suggest = Verdict(
    exercise="07.suggest_learning_rate", cell="test_suggest_learning_rate",
    reference={"suggest_learning_rate": reference.suggest_learning_rate},
    forbidden={"suggest_learning_rate": {"LRFinder", "lr_find"}},
    checks=[
        Check("suggest_learning_rate", 1.0, "smooth with the bias-corrected moving average a_i / (1 - beta^(i+1)), "
              "then return lrs[argmin] / factor", matches(lambda c: c not in NONFINITE, rtol=1e-12), "values"),
        Check("suggest_learning_rate", 0.5, "ignore everything from the first non-finite loss (NaN or inf) on",
              matches(NONFINITE, rtol=1e-12), "nonfinite"),
        Check("suggest_learning_rate", 0.5, "return a Python float", returns_type(("float", "float64")), "float"),
    ])

PLATEAU_DOC = ["the docstring example (factor 0.5, patience 2)", "min_delta 1e-4: a fall of 5e-5 is no improvement",
               "a flat loss, patience 1, min_lr 0.005", "Keras' defaults on 12 flat epochs"]
plateau = Verdict(
    exercise="07.reduce_lr_on_plateau", cell="test_reduce_lr_on_plateau",
    reference={"reduce_lr_on_plateau": reference.reduce_lr_on_plateau},
    forbidden={"reduce_lr_on_plateau": {"ReduceLROnPlateau"}},
    checks=[
        Check("reduce_lr_on_plateau", 0.75, "an epoch improves when loss < best - min_delta; after `patience` epochs "
              "without improvement multiply the rate by factor (not below min_lr) and start counting again",
              matches(PLATEAU_DOC, rtol=1e-12), "rule"),
        Check("reduce_lr_on_plateau", 0.75, "the rates differ from Keras' ReduceLROnPlateau on a noisy plateau",
              matches(lambda c: c not in PLATEAU_DOC, rtol=1e-12), "values"),
        Check("reduce_lr_on_plateau", 0.25, "val_losses must be left unchanged", unchanged_inputs(names={0: "val_losses"}),
              "unchanged"),
        Check("reduce_lr_on_plateau", 0.25, "return a float64 array of len(val_losses)", dtype("float64"), "float64"),
    ])

VERDICTS = [momentum, adagrad, adam, schedules, suggest, plateau]
