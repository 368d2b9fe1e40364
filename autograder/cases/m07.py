"""The judged inputs of module 07 (optimizers and schedules); see autograder/cases/__init__.py."""
import numpy as np

from . import call, case_rng, cases, encode, exercise, trajectory_runner


def _quadratic(seed):
    """An ill-conditioned quadratic bowl (eigenvalues 1 ... 100) and a scaled matrix problem."""
    rng = case_rng("07.optimizers", "quadratic", seed)
    Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    A = Q @ np.diag(np.logspace(0, 2, 5)) @ Q.T
    b, theta0 = rng.normal(size=5), rng.normal(size=5) * 3
    target, scale, th0 = rng.normal(size=(3, 4)), np.linspace(0.1, 10, 12).reshape(3, 4), rng.normal(size=(3, 4))
    return (A, b, theta0), (target, scale, th0)


def _paths(seed, hp_a, hp_b, extra=()):
    def paths():
        (A, b, theta0), (target, scale, th0) = _quadratic(seed)
        out = [("the visible example [1, -2], two steps", np.array([1.0, -2.0]),
                _VisibleGrads(), 2, dict(hp_a)),
               ("a 5-d quadratic bowl", theta0, lambda th: A @ th - b, 12, dict(hp_a)),
               ("a (3, 4) matrix problem", th0, lambda th: scale * (th - target), 8, dict(hp_b))]
        for label, grad_kind, n, hp in extra:
            if grad_kind == "tiny":
                out.append((label, theta0, lambda th: 1e-6 * (A @ th - b), n, dict(hp)))
            elif grad_kind == "zero":
                out.append((label, np.array([1.0, 2.0]), lambda th: np.array([1.0, 0.0]) * th, n, dict(hp)))
        return out
    return paths


class _VisibleGrads:
    """The visible checks' two gradients, [0.5, 4] then [-0.5, 2]."""

    def __init__(self):
        self.k = 0

    def __call__(self, theta):
        self.k += 1
        return np.array([0.5, 4.0]) if self.k == 1 else np.array([-0.5, 2.0])


exercise("07.momentum_nesterov",
         momentum_step=trajectory_runner(_paths(7, dict(learning_rate=0.1, momentum=0.9),
                                                dict(learning_rate=0.003, momentum=0.95))),
         nesterov_step=trajectory_runner(_paths(7, dict(learning_rate=0.1, momentum=0.9),
                                                dict(learning_rate=0.003, momentum=0.95))))
exercise("07.adagrad_rmsprop",
         adagrad_step=trajectory_runner(_paths(8, dict(learning_rate=0.1), dict(learning_rate=0.05,
                                                initial_accumulator_value=0.5, epsilon=1e-6),
                                               extra=[("a coordinate whose gradient is always 0", "zero", 3,
                                                       dict(learning_rate=0.1))])),
         # epsilon=1e-4 on the matrix problem: an epsilon ignored (a constant of one's own) shows there
         rmsprop_step=trajectory_runner(_paths(8, dict(learning_rate=0.1), dict(learning_rate=0.01, rho=0.8, epsilon=1e-4),
                                               extra=[("a coordinate whose gradient is always 0", "zero", 3,
                                                       dict(learning_rate=0.1))])))
exercise("07.adam_adamw",
         adam_step=trajectory_runner(_paths(9, dict(learning_rate=0.1), dict(learning_rate=0.02, beta_1=0.8,
                                            beta_2=0.99, epsilon=1e-6),
                                            extra=[("tiny gradients (1e-6 x the bowl's), epsilon=1e-7", "tiny", 4,
                                                    dict(learning_rate=0.01))])),
         adamw_step=trajectory_runner(_paths(9, dict(learning_rate=0.1, weight_decay=0.5),
                                             dict(learning_rate=0.02, weight_decay=0.004, beta_1=0.8),
                                             extra=[("tiny gradients, weight_decay=0.1", "tiny", 4,
                                                     dict(learning_rate=0.01, weight_decay=0.1))])))


def _piecewise_cases():
    return [("steps [0, 5, 6, 10, 11], boundaries [5, 10]",
             (np.array([0, 5, 6, 10, 11]), [5, 10], [1.0, 0.5, 0.1]), {}),
            ("a scalar step 7", (7, [5, 10], [1.0, 0.5, 0.1]), {}),
            ("fractional steps around the boundaries [100, 300, 1000]",
             (np.array([0.0, 99.5, 100.0, 100.5, 300.0, 300.25, 999.0, 1000.0, 1000.5, 5000.0]),
              [100, 300, 1000], [0.1, 0.05, 0.01, 0.001]), {}),
            ("one boundary, a (2, 3) array of steps", (np.arange(6).reshape(2, 3), [2], [3.0, 1.0]), {})]


def _one_cycle_cases():
    return [("steps [0, 45, 90, 100, 120], 100 steps, max_lr 1", (np.array([0, 45, 90, 100, 120]), 100, 1.0), {}),
            ("every step 0..200 of a 200-step run, max_lr 0.5", (np.arange(201), 200, 0.5), {}),
            ("fractional steps, div_factor 25, final_div_factor 1e4, anneal_fraction 0.3",
             (np.linspace(0, 1000, 37), 1000, 0.02), {"div_factor": 25.0, "final_div_factor": 1e4,
                                                        "anneal_fraction": 0.3}),
            ("a scalar step 30 of 100", (30, 100, 1.0), {}),
            ("steps after the end: 100, 150, 1000", (np.array([100.0, 150.0, 1000.0]), 100, 1.0), {})]


def _suggest_lr_cases():
    lrs = np.logspace(-5, 1, 61)
    x = np.log10(lrs)
    bowl = 2.3 - 0.8 * np.exp(-((x + 1.5) ** 2) / 0.8) + 0.02 * np.sin(7 * x)
    exploded = bowl.copy()
    nan_run = bowl.copy()
    exploded[30:] = np.inf       # before the minimum (batch 35): what comes after must not count
    nan_run[20] = np.nan
    return [("the docstring example (beta=0)", ([1e-4, 1e-3, 1e-2, 1e-1, 1.0], [2.3, 2.0, 1.0, 3.0, np.nan]),
             {"beta": 0}),
            ("a smooth loss curve over 61 rates", (lrs, bowl), {}),
            ("a loss that becomes inf at batch 30", (lrs, exploded), {}),
            ("a NaN at batch 20", (lrs, nan_run), {"factor": 4.0}),
            ("noisy losses, beta=0.98", (lrs, bowl + 0.3 * case_rng("07.suggest_learning_rate", "noise", 71).normal(size=61)), {"beta": 0.98})]


exercise("07.schedules", piecewise_constant=cases(_piecewise_cases), one_cycle=cases(_one_cycle_cases))
exercise("07.suggest_learning_rate", suggest_learning_rate=cases(_suggest_lr_cases))


def _plateau_cases():
    rng = case_rng("07.reduce_lr_on_plateau", "reduce_lr_on_plateau", 23)
    out = [("the docstring example (factor 0.5, patience 2)",
            ([1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5], 0.1), {"factor": 0.5, "patience": 2}),
           ("min_delta 1e-4: a fall of 5e-5 is no improvement", ([1.0, 0.95, 0.94995, 0.9498], 0.1),
            {"factor": 0.5, "patience": 1}),
           ("a flat loss, patience 1, min_lr 0.005", (list(np.ones(6)), 1.0), {"factor": 0.1, "patience": 1, "min_lr": 0.005}),
           ("Keras' defaults on 12 flat epochs", (list(np.full(12, 2.0)), 0.01), {})]
    kws = [dict(factor=0.5, patience=2), dict(factor=0.1, patience=3, min_delta=0.01),
           dict(factor=0.2, patience=1, min_delta=0.0, min_lr=1.3e-4), dict(), dict(factor=0.7, patience=4, min_lr=0.011)]
    for i, kw in enumerate(kws):
        n = int(rng.integers(20, 80))
        curve = 1.0 / np.sqrt(1 + np.arange(n)) + 0.3 + rng.normal(0, 0.01, n)
        out.append((f"a noisy plateau of {n} epochs, {kw}", (list(curve), float(rng.choice([0.03, 0.1, 1.0]))), kw))
    return out


exercise("07.reduce_lr_on_plateau", reduce_lr_on_plateau=cases(_plateau_cases))
