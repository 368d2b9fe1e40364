"""The inputs of every autograded exercise, built from fixed seeds, and how each function is run.

Used twice: in the student's kernel (``deeptrain.harvest.collect`` runs the student's functions)
and in the grader's own process (``autograder/verdicts`` runs ``deeptrain.reference`` on the same
inputs to get the expected values). Every case lies in the domain the exercise's docstring
defines. Nothing here imports ``deeptrain.reference``.

An exercise maps each graded function's name to a runner ``runner(fn, functions) -> {case: record}``;
``record`` is what ``deeptrain.harvest.call`` returns.
"""
from dataclasses import dataclass, field

import numpy as np

from .harvest import call, encode


@dataclass
class Exercise:
    functions: dict = field(default_factory=dict)


EXERCISES = {}


def exercise(name, **runners):
    EXERCISES[name] = Exercise(dict(runners))


def cases(table):
    """A runner calling fn on each (label, args, kwargs) of table (a function returning the list)."""
    def runner(fn, functions):
        out = {}
        for label, args, kwargs in table():
            out[label] = call(fn, *args, **kwargs)[0]
        return out
    return runner


def trajectory_runner(paths):
    """A runner for optimizer steps: paths() gives (label, theta0, grad_fn, n_steps, hparams).

    Each step feeds the state the function itself returned; records "label, step k" with the
    new theta as output (and whether theta, grad or state were changed in place).
    """
    def runner(fn, functions):
        out = {}
        for label, theta0, grad_fn, n, hp in paths():
            theta, state = np.array(theta0, dtype=np.float64), None
            for k in range(1, n + 1):
                grad = grad_fn(theta)
                record, value = call(fn, theta, grad, state, **hp)
                if record["error"] is None:
                    try:
                        new_theta, state = value
                        theta = np.array(new_theta, dtype=np.float64)
                        record["out"] = {"list": [record["out"]["list"][0]], "type": "theta"}
                        record["state_type"] = type(state).__name__
                    except Exception as e:  # not a pair, or theta is not numeric
                        record["error"] = f"could not read (theta, state) from what it returned: {type(e).__name__}: {e}"
                        record["out"] = None
                out[f"{label}, step {k}"] = record
                if record["error"] is not None:
                    break
        return out
    return runner


def _rng(seed):
    return np.random.default_rng(seed)


# --- 01 unstable gradients ------------------------------------------------------------------

def _sigmoid_cases():
    rng = _rng(101)
    return [("z = [-2, 0, 2]", (np.array([-2.0, 0.0, 2.0]),), {}),
            ("z ~ N(0, 10^2) of shape (7, 5)", (rng.normal(0, 10, (7, 5)),), {}),
            ("50 values of z in [-60, 60]", (rng.uniform(-60, 60, 50),), {}),
            ("large |z|: [-1e4, -745, -710, 710, 745, 1e4]", (np.array([-1e4, -745.0, -710.0, 710.0, 745.0, 1e4]),), {}),
            ("z near 0: [-1e-12, 0, 1e-12]", (np.array([-1e-12, 0.0, 1e-12]),), {}),
            ("a scalar z = 3.0", (np.float64(3.0),), {}),
            ("float32 z of shape (2, 3)", (np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3),), {})]


def _sigmoid_derivative_cases():
    return _sigmoid_cases() + [
        ("both tails: z = +-[30, 37, 40, 100, 700]",
         (np.array([-700.0, -100.0, -40.0, -37.0, -30.0, 30.0, 37.0, 40.0, 100.0, 700.0]),), {})]


def _forward_variances_cases():
    table = [(6, 30, 1.0, "sigmoid", 200, 3), (10, 64, 0.2, "tanh", 300, 11), (8, 20, np.sqrt(2 / 20), "relu", 500, 5),
             (3, 5, 2.0, "linear", 50, 0), (1, 1, 1.0, "relu", 10, 9)]
    out = [(f"forward_variances{(n, f, round(float(s), 4), a, m, seed)}", (n, f, s, a),
            {"n_samples": m, "seed": seed}) for n, f, s, a, m, seed in table]
    out.append(("a callable activation (np.sin), 4 layers of 12", (4, 12, 0.3, np.sin), {"n_samples": 80, "seed": 4}))
    return out


exercise("01.sigmoid", sigmoid=cases(_sigmoid_cases), sigmoid_derivative=cases(_sigmoid_derivative_cases))
exercise("01.forward_variances", forward_variances=cases(_forward_variances_cases))


# --- 04 batch normalization -----------------------------------------------------------------

WORKED_X = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0], [7.0, 20.0]])


def _bn_forward_cases():
    rng = _rng(404)
    return [
        ("the worked example with eps=0 (mean [4, 20], variance [5, 150])",
         (WORKED_X.copy(), np.array([2.0, 1.0]), np.array([0.5, -1.0])), {"eps": 0.0}),
        ("a batch of 3 with eps=4 (where eps goes matters)",
         (np.array([[0.0, 1.0], [1.0, 3.0], [5.0, 2.0]]), np.array([1.5, 0.5]), np.array([0.0, 1.0])), {"eps": 4.0}),
        ("random x of shape (8, 5)", (rng.normal(2, 3, (8, 5)), rng.uniform(0.5, 2, 5), rng.normal(size=5)), {}),
        ("random x of shape (64, 3), eps=1e-5",
         (rng.normal(-1, 10, (64, 3)), rng.normal(size=3), rng.normal(size=3)), {"eps": 1e-5}),
        ("one instance, x of shape (1, 4)", (rng.normal(size=(1, 4)), rng.normal(size=4), rng.normal(size=4)), {}),
        ("a constant column", (np.column_stack([np.full(6, 7.0), rng.normal(size=6)]), np.ones(2), np.zeros(2)), {}),
        ("float32 inputs", (rng.integers(0, 5, (10, 2)).astype(np.float32), np.ones(2, np.float32),
                            np.zeros(2, np.float32)), {}),
    ]


def _bn_cache(x, gamma, eps=1e-3):
    """The minimal cache batchnorm_backward may read (its docstring), computed here from x."""
    mean = x.mean(axis=0)
    inv_std = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=0) + eps)
    return {"x_hat": (x - mean) * inv_std, "inv_std": inv_std, "gamma": np.array(gamma, dtype=np.float64)}


def _bn_backward_cases():
    rng = _rng(405)
    out = []
    for m, n in [(8, 4), (32, 7), (2, 3), (1, 2), (5, 1), (7, 4)]:
        x, g = rng.normal(1, 3, (m, n)), rng.uniform(0.5, 2, n)
        dout = rng.normal(size=(m, n))
        out.append((f"a batch of {m} x {n}", (dout, _bn_cache(x, g)), {}))
    return out


def _update_moving_cases():
    rng = _rng(406)
    out = [("moving [0, 0], [1, 1]; batch [1, 2], [4, 4]; momentum 0.9",
            (np.zeros(2), np.ones(2), np.array([1.0, 2.0]), np.array([4.0, 4.0]), 0.9), {})]
    for n, momentum in [(5, 0.99), (3, 0.9), (1, 0.5), (7, 1.0), (4, 0.0)]:
        args = (rng.normal(size=n), rng.uniform(0.1, 3, n), rng.normal(size=n), rng.uniform(0.1, 3, n), momentum)
        out.append((f"{n} features, momentum {momentum}", args, {}))
    out.append(("float32 inputs, momentum 0.9", tuple(a.astype(np.float32) for a in (
        rng.normal(size=3), rng.uniform(0.1, 3, 3), rng.normal(size=3), rng.uniform(0.1, 3, 3))) + (0.9,), {}))
    return out


def _fold_cases():
    rng = _rng(407)
    out = [("the worked example (2 x 2, with bias)",
            (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, -1.0]), np.array([1.0, 2.0]), np.array([0.0, 1.0]),
             np.array([1.0, 0.0]), np.array([4.0, 0.25]) - 1e-3), {})]
    for fan_in, units, with_bias, eps in [(6, 4, True, 1e-3), (10, 3, False, 1e-3), (1, 1, True, 1e-5), (5, 8, False, 0.01)]:
        W = rng.normal(size=(fan_in, units))
        b = rng.normal(size=units) if with_bias else None
        bn = (rng.uniform(0.5, 2, units), rng.normal(size=units), rng.normal(size=units), rng.uniform(0.1, 3, units))
        out.append((f"W of shape ({fan_in}, {units}), {'with a bias' if with_bias else 'b=None'}, eps={eps}",
                    (W, b) + bn, {"eps": eps}))
    f32 = lambda *shape: rng.uniform(0.5, 2, shape).astype(np.float32)  # noqa: E731
    out.append(("float32 inputs, W of shape (3, 2), with a bias", (f32(3, 2), f32(2), f32(2), f32(2), f32(2), f32(2)), {}))
    return out


exercise("04.batchnorm_forward", batchnorm_forward=cases(_bn_forward_cases))
exercise("04.batchnorm_backward", batchnorm_backward=cases(_bn_backward_cases))
exercise("04.update_moving_stats", update_moving_stats=cases(_update_moving_cases))
exercise("04.fold_batchnorm", fold_batchnorm=cases(_fold_cases))


# --- 05 gradient clipping -------------------------------------------------------------------

def _clip_value_cases():
    rng = _rng(501)
    return [("the book's example [0.9, 100.0], c = 1", ([np.array([0.9, 100.0])], 1.0), {}),
            ("three gradients of shapes (3,), (2, 4), (2, 2, 2), c = 0.5",
             ([rng.normal(0, 1, 3), rng.normal(0, 2, (2, 4)), rng.normal(0, 1, (2, 2, 2))], 0.5), {}),
            ("large values, c = 5", ([rng.normal(0, 100, (4, 3))], 5.0), {}),
            ("an empty list", ([], 1.0), {})]


def _clip_norm_cases():
    rng = _rng(502)
    return [("the book's example [0.9, 100.0], c = 1", (np.array([0.9, 100.0]), 1.0), {}),
            ("a (4, 3) gradient of norm about 35, c = 2", (rng.normal(0, 10, (4, 3)), 2.0), {}),
            ("a gradient already inside the ball (norm 0.5, c = 1)", (np.array([0.3, -0.4]), 1.0), {}),
            ("a gradient of all zeros", (np.zeros((2, 3)), 1.0), {}),
            ("a (2, 2, 3) gradient, c = 0.1", (rng.normal(size=(2, 2, 3)), 0.1), {})]


def _clip_global_cases():
    rng = _rng(503)
    return [("[3] and [4] (global norm 5), c = 1", ([np.array([3.0]), np.array([4.0])], 1.0), {}),
            ("the book's example as two gradients [0.9], [100.0], c = 1",
             ([np.array([0.9]), np.array([100.0])], 1.0), {}),
            ("three gradients of shapes (3,), (2, 4), (5, 1), c = 2",
             ([rng.normal(0, 3, 3), rng.normal(0, 3, (2, 4)), rng.normal(0, 3, (5, 1))], 2.0), {}),
            ("gradients already inside the ball, c = 100", ([rng.normal(size=4), rng.normal(size=(2, 2))], 100.0), {}),
            ("gradients of all zeros", ([np.zeros(3), np.zeros((2, 2))], 1.0), {})]


exercise("05.clip_by_value", clip_by_value=cases(_clip_value_cases))
exercise("05.clip_by_norm", clip_by_norm=cases(_clip_norm_cases))
exercise("05.clip_by_global_norm", clip_by_global_norm=cases(_clip_global_cases))


# --- 07 optimizers and schedules ------------------------------------------------------------

def _quadratic(seed):
    """An ill-conditioned quadratic bowl (eigenvalues 1 ... 100) and a scaled matrix problem."""
    rng = _rng(seed)
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
         rmsprop_step=trajectory_runner(_paths(8, dict(learning_rate=0.1), dict(learning_rate=0.01, rho=0.8),
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
            ("noisy losses, beta=0.98", (lrs, bowl + 0.3 * _rng(71).normal(size=61)), {"beta": 0.98})]


exercise("07.schedules", piecewise_constant=cases(_piecewise_cases), one_cycle=cases(_one_cycle_cases))
exercise("07.suggest_learning_rate", suggest_learning_rate=cases(_suggest_lr_cases))


# --- 08 regularization ----------------------------------------------------------------------

def _l1_l2_cases():
    rng = _rng(801)
    return [("one array [[1, -2]], l1=0.1, l2=0.01", (np.array([[1.0, -2.0]]),), {"l1": 0.1, "l2": 0.01}),
            ("a list [ones(3), -ones((2, 2))], l1=1", ([np.ones(3), -np.ones((2, 2))],), {"l1": 1.0}),
            ("a (4, 5) array with zeros, l1=0.3, l2=0.2", (np.where(rng.random((4, 5)) < 0.3, 0.0,
                                                                   rng.normal(size=(4, 5))),), {"l1": 0.3, "l2": 0.2}),
            ("a tuple of two arrays, l2 only", ((rng.normal(size=3), rng.normal(size=(2, 3))),), {"l2": 0.5}),
            ("default l1 = l2 = 0", (rng.normal(size=4),), {})]


def _dropout_cases():
    rng = _rng(802)
    x = rng.normal(size=(4, 6))
    return [("ones((2, 3)), rate 0.5, seed 0", (np.ones((2, 3)), 0.5), {"training": True, "seed": 0}),
            ("x of shape (4, 6), rate 0.3, seed 7", (x.copy(), 0.3), {"training": True, "seed": 7}),
            ("x of shape (3, 4, 5), rate 0.8, seed 1", (rng.normal(size=(3, 4, 5)), 0.8), {"seed": 1}),
            ("training=False", (x.copy(), 0.5), {"training": False, "seed": 3}),
            ("rate 0", (x.copy(), 0.0), {"training": True, "seed": 3}),
            ("rate 1 (everything dropped)", (x.copy(), 1.0), {"training": True, "seed": 3}),
            ("float32 x of shape (2, 5), rate 0.5", (x[:2, :5].astype(np.float32), 0.5), {"training": True, "seed": 5})]


def _max_norm_cases():
    rng = _rng(803)
    return [("the docstring example (column norms 5 and 0.5), max_value 1",
             (np.array([[3.0, 0.3], [4.0, 0.4]]), 1.0), {}),
            ("a Dense kernel (20, 6), max_value 2", (rng.normal(0, 1, (20, 6)), 2.0), {}),
            ("a column of zeros", (np.column_stack([np.zeros(4), rng.normal(0, 3, 4)]), 1.0), {}),
            ("axis=1 on a (5, 3) array", (rng.normal(0, 2, (5, 3)), 1.5), {"axis": 1}),
            ("a Conv2D kernel (3, 3, 2, 4) with axis=(0, 1, 2)", (rng.normal(0, 1, (3, 3, 2, 4)), 1.0),
             {"axis": (0, 1, 2)}),
            ("a float32 Dense kernel (4, 3)", (rng.normal(0, 2, (4, 3)).astype(np.float32), 1.0), {})]


exercise("08.l1_l2", l1_l2_penalty=cases(_l1_l2_cases), l1_l2_grad=cases(_l1_l2_cases))
exercise("08.dropout_forward", dropout_forward=cases(_dropout_cases))
exercise("08.max_norm", max_norm=cases(_max_norm_cases))


# --- exercises on Keras models ---------------------------------------------------------------
# The inputs are built here in NumPy (weights, X, y, from fixed seeds). In the kernel the model is
# a Keras model holding exactly those weights; in the grader's process (which never imports
# TensorFlow) the same description becomes a small object with the few methods the reference reads
# (``get_weights``, ``get_config``, the class name). The description is rebuilt on each side from
# the seeds: nothing the kernel reports about a model is trusted.

def dense_stack(seed, widths, activations, use_bias=None, dtype="float64"):
    """A description of a Dense stack: [(W, b or None, activation), ...] from a fixed seed."""
    rng = _rng(seed)
    use_bias = use_bias or [True] * len(activations)
    layers = []
    for fan_in, units, act, bias in zip(widths[:-1], widths[1:], activations, use_bias):
        W = rng.normal(0, np.sqrt(2.0 / (fan_in + units)), (fan_in, units))
        layers.append((W, rng.normal(0, 0.1, units) if bias else None, act))
    return {"input": widths[0], "layers": layers, "dtype": dtype}


def keras_builder(description, loss=None):
    """(Keras model, Keras loss or None) holding the description's weights (kernel side)."""
    from ._setup import import_tensorflow
    tf = import_tensorflow()
    dtype = description["dtype"]
    layers = [tf.keras.layers.Dropout(spec[1], dtype=dtype) if isinstance(spec[0], str) else
              tf.keras.layers.Dense(spec[0].shape[1], activation=spec[2], use_bias=spec[1] is not None, dtype=dtype)
              for spec in description["layers"]]
    model = tf.keras.Sequential([tf.keras.Input((description["input"],), dtype=dtype)] + layers)
    for layer, spec in zip(model.layers, description["layers"]):
        if not isinstance(spec[0], str):
            W, b, act = spec
            layer.set_weights([W.astype(dtype)] + ([b.astype(dtype)] if b is not None else []))
    losses = {"mse": lambda: tf.keras.losses.MeanSquaredError(dtype=dtype),
              "sparse": lambda: tf.keras.losses.SparseCategoricalCrossentropy(dtype=dtype),
              "sparse_logits": lambda: tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=dtype)}
    return model, (losses[loss]() if loss else None)


def _builder(functions):
    return functions.get("_grader_model_builder", keras_builder)


def _gradient_norm_cases():
    rng = _rng(111)
    return [
        ("a float64 model 3 -> 4 (sigmoid) -> 1, mean squared error",
         dense_stack(11, [3, 4, 1], ["sigmoid", "linear"]), rng.normal(size=(6, 3)), rng.normal(size=(6, 1)), "mse"),
        ("a float64 model 8 -> 6 x 4 (relu) -> 3 (softmax), sparse crossentropy",
         dense_stack(12, [8, 6, 6, 6, 6, 3], ["relu"] * 4 + ["softmax"]), rng.normal(size=(16, 8)),
         rng.integers(0, 3, 16), "sparse"),
        ("a float64 model 5 -> 4 (tanh, no bias) -> 3 (logits), sparse crossentropy from logits",
         dense_stack(13, [5, 4, 3], ["tanh", "linear"], use_bias=[False, True]), rng.normal(size=(7, 5)),
         rng.integers(0, 3, 7), "sparse_logits"),
    ]


def _gradient_norm_runner(fn, functions):
    out = {}
    for label, description, X, y, loss in _gradient_norm_cases():
        model, loss_fn = _builder(functions)(description, loss)
        out[label] = call(fn, model, X, y, loss_fn)[0]
    return out


exercise("01.layer_gradient_norms", layer_gradient_norms=_gradient_norm_runner)


# --- 03 activations -------------------------------------------------------------------------

def _activation_cases(alphas=(), large=False, near_zero=False):
    def table():
        rng = _rng(301)
        out = [("z = [-2, -1, 0, 1, 3]", (np.array([-2.0, -1.0, 0.0, 1.0, 3.0]),), {}),
               ("z ~ N(0, 3^2) of shape (5, 4)", (rng.normal(0, 3, (5, 4)),), {}),
               ("200 values of z in [-20, 20]", (np.linspace(-20, 20, 200),), {}),
               ("a scalar z = -0.5", (np.float64(-0.5),), {}),
               ("float32 z of shape (2, 3)", (np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3),), {})]
        for a in alphas:
            out.append((f"z ~ N(0, 2^2) of shape (6,), alpha={a}", (rng.normal(0, 2, 6),), {"alpha": a}))
            out.append((f"z = [-1, 0, 1], alpha={a}", (np.array([-1.0, 0.0, 1.0]),), {"alpha": a}))
        if large:
            out.append(("large |z|: [-1e4, -800, 800, 1e4]", (np.array([-1e4, -800.0, 800.0, 1e4]),), {}))
        if near_zero:
            out.append(("z near 0: [-1e-12, -1e-10, -1e-8]", (np.array([-1e-12, -1e-10, -1e-8]),), {}))
        return out
    return table


def _swish_cases():
    return _activation_cases()() + [("z in [-5, 5], beta=2.5", (np.linspace(-5, 5, 11),), {"beta": 2.5})]


exercise("03.leaky_relu", leaky_relu=cases(_activation_cases((0.01, 0.3))),
         leaky_relu_grad=cases(_activation_cases((0.01, 0.3))))
exercise("03.elu_selu", elu=cases(_activation_cases((0.5, 2.0), large=True, near_zero=True)),
         elu_grad=cases(_activation_cases((0.5, 2.0), large=True)),
         selu=cases(_activation_cases((), large=True, near_zero=True)))
exercise("03.gelu_swish_mish", gelu=cases(_activation_cases()), swish=cases(_swish_cases),
         mish=cases(_activation_cases()))


def _dead_relu_cases():
    rng = _rng(303)

    def stack(seed, widths, acts, dead, dropout_after=None):
        d = dense_stack(seed, widths, acts)
        layers = []
        for i, (W, b, act) in enumerate(d["layers"]):
            b = b.copy()
            for unit in dead.get(i, ()):          # a large negative bias: relu(z) = 0 on every row
                b[unit] = -1e3
            layers.append((W, b, act))
            if dropout_after == i:
                layers.append(("Dropout", 0.5))
        d["layers"] = layers
        return d
    return [("hidden Dense(8, relu), Dense(4, relu); 3 + 1 dead units",
             stack(31, [5, 8, 4, 3], ["relu", "relu", "softmax"], {0: (0, 3, 5), 1: (2,)}), rng.normal(size=(20, 5))),
            ("with a Dropout layer after the first hidden layer (identity at inference)",
             stack(32, [6, 10, 5, 2], ["relu", "relu", "softmax"], {0: (1, 2), 1: ()}, dropout_after=0),
             rng.normal(size=(15, 6))),
            ("the output layer is a relu layer with dead units (it is not hidden)",
             stack(33, [4, 6, 3], ["relu", "relu"], {0: (0,), 1: (0, 1)}), rng.normal(size=(10, 4))),
            ("a sigmoid hidden layer (its units are not ReLU units)",
             stack(34, [4, 5, 6, 2], ["sigmoid", "relu", "softmax"], {0: (0, 1), 1: (4,)}), rng.normal(size=(12, 4))),
            ("one row of X", stack(35, [3, 7, 2], ["relu", "softmax"], {}), rng.normal(size=(1, 3)))]


def _dead_relu_runner(fn, functions):
    out = {}
    for label, description, X in _dead_relu_cases():
        model, _ = _builder(functions)(description)
        out[label] = call(fn, model, X)[0]
    return out


exercise("03.dead_relu_fraction", dead_relu_fraction=_dead_relu_runner)


# --- 02 initialization ------------------------------------------------------------------------

def _init_cases():
    rng = _rng(202)
    fans = [(1, 1), (784, 300), (3, 5000)] + [tuple(int(f) for f in rng.integers(1, 3000, 2)) for _ in range(6)]
    out = [(f"{kind}, fan_in={a}, fan_out={b}", (kind, a, b), {}) for a, b in fans for kind in ("glorot", "he", "lecun")]
    out += [(f"bad arguments {args}", args, {}) for args in
            [("relu", 10, 10), ("", 3, 3), ("glorot", 10, 0), ("he", 10, 0), ("lecun", -2, 4), ("he", 0, 0)]]
    return out


exercise("02.init_std", init_std=cases(_init_cases), init_limit=cases(_init_cases))

VARIANCE_SCALING = [((300, 200), 1.0, "fan_in", "normal", 1), ((300, 200), 2.0, "fan_out", "normal", 2),
                    ((300, 200), 2.0, "fan_avg", "uniform", 3), ((200, 300), 1.0, "fan_in", "uniform", 4),
                    ((5, 5, 32, 64), 2.0, "fan_in", "normal", 5), ((5, 5, 32, 64), 1.0, "fan_out", "uniform", 6),
                    ((60000,), 3.0, "fan_avg", "normal", 7)]


def _variance_scaling_cases():
    out = [(f"shape {s}, scale {sc}, {m}, {d}, seed {seed}", (s,), {"scale": sc, "mode": m, "distribution": d,
                                                                    "seed": seed})
           for s, sc, m, d, seed in VARIANCE_SCALING]
    out.append(("shape (300, 200), fan_in, normal, seed 1 again (same seed, same weights)", ((300, 200),),
                {"scale": 1.0, "mode": "fan_in", "distribution": "normal", "seed": 1}))
    return out


exercise("02.variance_scaling", variance_scaling=cases(_variance_scaling_cases))


# --- 06 transfer learning: the data split ------------------------------------------------------

def _split_cases():
    rng = _rng(601)
    y = rng.integers(0, 10, 60)
    return [("the docstring example y = [9, 6, 5, 3]", (np.arange(8.0).reshape(4, 2), np.array([9, 6, 5, 3])), {}),
            ("60 images 4 x 4 with every class", (rng.normal(size=(60, 4, 4)), y), {}),
            ("no shirt or sandal", (rng.normal(size=(5, 3)), np.array([0, 1, 2, 7, 9])), {}),
            ("only shirts and sandals", (rng.normal(size=(4, 2)), np.array([5, 6, 6, 5])), {})]


def _split_runner(fn, functions):
    out = {}
    for label, args, kwargs in _split_cases():
        record, value = call(fn, *args, **kwargs)
        out[label] = record
    return out


exercise("06.split_task_a_b", split_task_a_b=_split_runner)


# --- 07 performance scheduling ----------------------------------------------------------------

def _plateau_cases():
    rng = _rng(23)
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


# --- 08 MC dropout: a stochastic "model" that needs no TensorFlow ------------------------------

class NoisyClassifier:
    """A callable standing in for a model with dropout: model(X, training=True) returns softmax
    probabilities of X @ W plus fresh noise from its own seeded generator; with training False (or
    not given) the noise is off, as dropout is at inference. Probabilities are float32, as Keras'."""

    def __init__(self, seed, n_features, n_classes, noise=1.0):
        rng = _rng(seed)
        self.W = rng.normal(0, 1, (n_features, n_classes))
        self.noise, self.rng = noise, _rng(seed + 1000)

    def __call__(self, X, training=False):
        z = np.asarray(X, np.float64) @ self.W
        if training is True:
            z = z + self.noise * self.rng.normal(size=z.shape)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _mc_cases():
    rng = _rng(808)
    return [("10 passes, 4 rows, 3 classes", (NoisyClassifier(1, 5, 3), rng.normal(size=(4, 5))), {"n_samples": 10}),
            ("50 passes, 6 rows, 10 classes", (NoisyClassifier(2, 8, 10, 0.5), rng.normal(size=(6, 8))),
             {"n_samples": 50}),
            ("the default n_samples (100), 3 rows", (NoisyClassifier(3, 4, 2), rng.normal(size=(3, 4))), {}),
            ("one pass", (NoisyClassifier(4, 3, 3), rng.normal(size=(2, 3))), {"n_samples": 1})]


exercise("08.mc_dropout_predict", mc_dropout_predict=cases(_mc_cases))


# --- 05 a training step with clipping ---------------------------------------------------------

def _train_step_cases():
    rng = _rng(505)
    return [("global norm above clipnorm (clipping), mean squared error",
             dense_stack(51, [4, 6, 2], ["tanh", "linear"], use_bias=[False, False]), rng.normal(size=(8, 4)),
             rng.normal(size=(8, 2)) * 5, "mse", 0.1, 0.05),
            ("global norm below clipnorm (no clipping), mean squared error",
             dense_stack(52, [3, 5, 1], ["relu", "linear"], use_bias=[False, False]), rng.normal(size=(10, 3)),
             rng.normal(size=(10, 1)), "mse", 0.1, 1e3),
            ("three layers, sparse crossentropy, clipping",
             dense_stack(53, [5, 8, 6, 3], ["sigmoid", "relu", "softmax"], use_bias=[False] * 3),
             rng.normal(size=(12, 5)), rng.integers(0, 3, 12), "sparse", 0.5, 0.01)]


def _train_step_runner(fn, functions):
    builder = functions.get("_grader_model_builder")
    out = {}
    for label, description, X, y, loss, lr, clipnorm in _train_step_cases():
        if builder is not None:      # the grader: the expected values come from the description itself
            model, loss_fn = builder(description, loss)
            out[label] = call(fn, model, None, loss_fn, X, y, clipnorm)[0]
            continue
        model, loss_fn = keras_builder(description, loss)
        from ._setup import import_tensorflow
        optimizer = import_tensorflow().keras.optimizers.SGD(learning_rate=lr)
        record = call(fn, model, optimizer, loss_fn, X, y, clipnorm)[0]
        record["weights_after"] = encode([np.asarray(w) for w in model.get_weights()])
        out[label] = record
    return out


exercise("05.train_step_with_clipping", train_step_with_clipping=_train_step_runner)


# --- 02 a Dense layer with He initialization over fan_avg --------------------------------------

HE_AVG = [(500, 300, "relu"), (784, 50, "sigmoid"), (40, 2000, None)]


def _he_avg_runner(fn, functions):
    if functions.get("_grader_model_builder") is not None:
        return {}                    # the grader judges the kernel's layer by its statistics alone
    from ._setup import import_tensorflow
    tf = import_tensorflow()
    out = {}
    for fan_in, units, activation in HE_AVG:
        label = f"he_avg_dense({units}, {activation!r}) built on inputs of width {fan_in}"
        record, layer = call(fn, units, activation)
        if record["error"] is None:
            try:
                tf.keras.utils.set_random_seed(fan_in)
                model = tf.keras.Sequential([tf.keras.Input((fan_in,)), layer])
                config = layer.get_config()
                act = config.get("activation")
                record["out"] = {"dict": {"kernel": encode(np.asarray(layer.kernel)),
                                          "units": encode(int(config.get("units", -1))),
                                          "activation": encode(act if isinstance(act, str) else repr(act)),
                                          "class": encode(type(layer).__name__)}}
                del model
            except Exception as e:  # not a layer, or it cannot be built
                record["error"] = f"the returned object is not a Dense layer that can be built: {type(e).__name__}: {e}"[:600]
                record["out"] = None
        out[label] = record
    return out


exercise("02.he_avg_dense", he_avg_dense=_he_avg_runner)


# --- 06 transfer learning: models built from other models ---------------------------------------

def _model_a_cases():
    return [("model A: 6 -> 8 (relu) -> 5 (relu) -> 8 (softmax)", dense_stack(61, [6, 8, 5, 8], ["relu", "relu", "softmax"],
                                                                            dtype="float32")),
            ("model A: 4 -> 3 (tanh) -> 8 (softmax)", dense_stack(62, [4, 3, 8], ["tanh", "softmax"], dtype="float32"))]


def _b_on_a_runner(fn, functions):
    """Reports B's layers (class, trainable flag, weights), A's weights after the call, and A's
    weights after all of B's variables were set to 7 (shared variables would show there)."""
    if functions.get("_grader_model_builder") is not None:
        return {}                    # judged from the descriptions themselves
    out = {}
    for label, description in _model_a_cases():
        model_a, _ = keras_builder(description)
        record, model_b = call(fn, model_a)
        if record["error"] is None:
            try:
                layers = [{"class": type(layer).__name__, "trainable": bool(layer.trainable),
                           "weights": [np.asarray(w) for w in layer.get_weights()],
                           "activation": str(layer.get_config().get("activation")),
                           "units": int(layer.get_config().get("units", -1))} for layer in model_b.layers]
                a_after = [np.asarray(w) for w in model_a.get_weights()]
                for v in model_b.weights:
                    v.assign(np.full(tuple(v.shape), 7.0, dtype=v.dtype.name if hasattr(v.dtype, "name") else "float32"))
                a_after_b_changed = [np.asarray(w) for w in model_a.get_weights()]
                probe = np.zeros((1, description["input"]), dtype="float32")
                record["out"] = encode({"layers": layers, "output_shape": list(np.shape(model_b(probe))),
                                        "a_after": a_after, "a_after_b_changed": a_after_b_changed,
                                        "same_object": model_b is model_a})
            except Exception as e:
                record["error"] = f"the returned object is not a Keras model: {type(e).__name__}: {e}"[:600]
                record["out"] = None
        out[label] = record
    return out


exercise("06.build_model_b_on_a", build_model_b_on_a=_b_on_a_runner)

# Layer specs: (kind, trainable before the call); kinds with weights: Dense, BatchNormalization.
UNFREEZE = [("n_layers=2 on Flatten, Dense, Dropout, Dense, Dense | output", 2,
             [("Flatten", False), ("Dense", False), ("Dropout", False), ("Dense", False), ("Dense", False)]),
            ("n_layers=3: the Dropout has no weights and is not counted", 3,
             [("Flatten", False), ("Dense", False), ("Dropout", False), ("Dense", False), ("Dense", False)]),
            ("n_layers=1 with a BatchNormalization on top", 1,
             [("Dense", False), ("Dense", False), ("BatchNormalization", False)]),
            ("n_layers=0 changes nothing", 0, [("Dense", False), ("Dense", False)]),
            ("n_layers=10, more than there are: all", 10, [("Dense", False), ("Dropout", False), ("Dense", False)]),
            ("a lower layer that was trainable stays trainable", 1, [("Dense", True), ("Dense", False), ("Dense", False)])]


class _Layer:
    """The grader's stand-in for a Keras layer: a trainable flag and weights (or none)."""

    def __init__(self, kind, trainable):
        self.trainable = trainable
        self.weights = [] if kind in ("Flatten", "Dropout") else [np.zeros(1)]


class _Stack:
    def __init__(self, layers):
        self.layers = layers


def _unfreeze_runner(fn, functions):
    out = {}
    grader = functions.get("_grader_model_builder") is not None
    for label, n, specs in UNFREEZE:
        if grader:
            model = _Stack([_Layer(kind, t) for kind, t in specs] + [_Layer("Dense", True)])
        else:
            from ._setup import import_tensorflow
            keras = import_tensorflow().keras
            make = {"Flatten": lambda: keras.layers.Flatten(), "Dropout": lambda: keras.layers.Dropout(0.5),
                    "Dense": lambda: keras.layers.Dense(4), "BatchNormalization": lambda: keras.layers.BatchNormalization()}
            first = specs[0][0] == "Flatten"
            model = keras.Sequential([keras.Input((2, 2) if first else (4,))] + [make[k]() for k, _ in specs]
                                     + [keras.layers.Dense(1, activation="sigmoid")])
            for layer, (_, t) in zip(model.layers, specs):
                layer.trainable = t
        record, value = call(fn, model, n)
        if record["error"] is None:
            record["out"] = encode({"flags": [bool(layer.trainable) for layer in model.layers],
                                    "returned_model": value is model})
        out[label] = record
    return out


exercise("06.unfreeze_top", unfreeze_top=_unfreeze_runner)


# --- 09 capstone: the recipe build_and_train writes down (trained again by the grader) ----------

def _capstone_runner(fn, functions):
    """One case: build_and_train on the capstone's data with a recording budget. The record's "out"
    is the recipe as a JSON string (the grader checks it and trains it again; see
    deeptrain.capstone_recipe), or "error" says why there is none."""
    import json
    from . import capstone
    record, recipe = call(lambda: json.dumps(capstone.record(fn)))
    if record["error"] is None:   # whole: encode() would cut a string at 2,000 characters
        record["out"] = {"str_full": recipe, "type": "recipe"}
    return {"the capstone's data, recording budget": record}


exercise("09.capstone", build_and_train=_capstone_runner)
