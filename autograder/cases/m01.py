"""The judged inputs of module 01 (unstable gradients); see autograder/cases/__init__.py."""
import numpy as np

from . import call, case_rng, cases, encode, exercise, trajectory_runner
from .keras import builder as _builder, dense_stack, keras_builder


def _sigmoid_cases():
    rng = case_rng("01.sigmoid", "sigmoid", 101)
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


def _gradient_norm_cases():
    rng = case_rng("01.layer_gradient_norms", "layer_gradient_norms", 111)
    return [
        ("a float64 model 3 -> 4 (sigmoid) -> 1, mean squared error",
         dense_stack(11, [3, 4, 1], ["sigmoid", "linear"]), rng.normal(size=(6, 3)), rng.normal(size=(6, 1)), "mse"),
        ("a float64 model 8 -> 6 x 4 (relu) -> 3 (softmax), sparse crossentropy",
         dense_stack(12, [8, 6, 6, 6, 6, 3], ["relu"] * 4 + ["softmax"]), rng.normal(size=(16, 8)),
         rng.integers(0, 3, 16), "sparse"),
        ("a float64 model 5 -> 4 (tanh, no bias) -> 3 (logits), sparse crossentropy from logits",
         dense_stack(13, [5, 4, 3], ["tanh", "linear"], use_bias=[False, True]), rng.normal(size=(7, 5)),
         rng.integers(0, 3, 7), "sparse_logits"),
        _dropout_case(),
    ]


DROPOUT = "a model 6 -> 8 (relu) -> Dropout(0.5) -> 3, mean squared error: training=True switches the dropout on"


def _dropout_case():
    """A model in which training=True matters: with it the Dropout layer drops half the units (new norms at
    each call), without it the layer is the identity (the grader's reference gives those inference norms)."""
    rng = case_rng("01.layer_gradient_norms", "layer_gradient_norms", DROPOUT)
    d = dense_stack(14, [6, 8, 3], ["relu", "linear"])
    d["layers"] = [d["layers"][0], ("Dropout", 0.5), d["layers"][1]]
    return DROPOUT, d, rng.normal(size=(32, 6)), rng.normal(size=(32, 3)), "mse"


def _gradient_norm_runner(fn, functions):
    out = {}
    for label, description, X, y, loss in _gradient_norm_cases():
        model, loss_fn = _builder(functions)(description, loss)
        out[label] = call(fn, model, X, y, loss_fn)[0]
    return out


exercise("01.layer_gradient_norms", layer_gradient_norms=_gradient_norm_runner)
