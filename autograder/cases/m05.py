"""The judged inputs of module 05 (gradient clipping); see autograder/cases/__init__.py."""
import numpy as np

from . import call, case_rng, cases, encode, exercise, trajectory_runner
from .keras import builder as _builder, dense_stack, keras_builder


def _clip_value_cases():
    rng = case_rng("05.clip_by_value", "clip_by_value", 501)
    return [("the book's example [0.9, 100.0], c = 1", ([np.array([0.9, 100.0])], 1.0), {}),
            ("three gradients of shapes (3,), (2, 4), (2, 2, 2), c = 0.5",
             ([rng.normal(0, 1, 3), rng.normal(0, 2, (2, 4)), rng.normal(0, 1, (2, 2, 2))], 0.5), {}),
            ("large values, c = 5", ([rng.normal(0, 100, (4, 3))], 5.0), {}),
            ("an empty list", ([], 1.0), {})]


def _clip_norm_cases():
    rng = case_rng("05.clip_by_norm", "clip_by_norm", 502)
    return [("the book's example [0.9, 100.0], c = 1", (np.array([0.9, 100.0]), 1.0), {}),
            ("a (4, 3) gradient of norm about 35, c = 2", (rng.normal(0, 10, (4, 3)), 2.0), {}),
            ("a gradient already inside the ball (norm 0.5, c = 1)", (np.array([0.3, -0.4]), 1.0), {}),
            ("a gradient of all zeros", (np.zeros((2, 3)), 1.0), {}),
            ("a (2, 2, 3) gradient, c = 0.1", (rng.normal(size=(2, 2, 3)), 0.1), {})]


def _clip_global_cases():
    rng = case_rng("05.clip_by_global_norm", "clip_by_global_norm", 503)
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


def _train_step_cases():
    rng = case_rng("05.train_step_with_clipping", "train_step_with_clipping", 505)
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
        from deeptrain._setup import import_tensorflow
        optimizer = import_tensorflow().keras.optimizers.SGD(learning_rate=lr)
        record = call(fn, model, optimizer, loss_fn, X, y, clipnorm)[0]
        record["weights_after"] = encode([np.asarray(w) for w in model.get_weights()])
        out[label] = record
    return out


exercise("05.train_step_with_clipping", train_step_with_clipping=_train_step_runner)
