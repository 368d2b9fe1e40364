"""The judged inputs of module 08 (regularization); see autograder/cases/__init__.py."""
import numpy as np

from . import call, case_rng, cases, encode, exercise, trajectory_runner


def _l1_l2_cases():
    rng = case_rng("08.l1_l2", "weights", 801)
    return [("one array [[1, -2]], l1=0.1, l2=0.01", (np.array([[1.0, -2.0]]),), {"l1": 0.1, "l2": 0.01}),
            ("a list [ones(3), -ones((2, 2))], l1=1", ([np.ones(3), -np.ones((2, 2))],), {"l1": 1.0}),
            ("a (4, 5) array with zeros, l1=0.3, l2=0.2", (np.where(rng.random((4, 5)) < 0.3, 0.0,
                                                                   rng.normal(size=(4, 5))),), {"l1": 0.3, "l2": 0.2}),
            ("a tuple of two arrays, l2 only", ((rng.normal(size=3), rng.normal(size=(2, 3))),), {"l2": 0.5}),
            ("default l1 = l2 = 0", (rng.normal(size=4),), {})]


def _dropout_cases():
    rng = case_rng("08.dropout_forward", "dropout_forward", 802)
    x = rng.normal(size=(4, 6))
    return [("ones((2, 3)), rate 0.5, seed 0", (np.ones((2, 3)), 0.5), {"training": True, "seed": 0}),
            ("x of shape (4, 6), rate 0.3, seed 7", (x.copy(), 0.3), {"training": True, "seed": 7}),
            ("x of shape (3, 4, 5), rate 0.8, seed 1", (rng.normal(size=(3, 4, 5)), 0.8), {"seed": 1}),
            ("training=False", (x.copy(), 0.5), {"training": False, "seed": 3}),
            ("rate 0", (x.copy(), 0.0), {"training": True, "seed": 3}),
            ("rate 1 (everything dropped)", (x.copy(), 1.0), {"training": True, "seed": 3}),
            ("float32 x of shape (2, 5), rate 0.5", (x[:2, :5].astype(np.float32), 0.5), {"training": True, "seed": 5})]


def _max_norm_cases():
    rng = case_rng("08.max_norm", "max_norm", 803)
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


class NoisyClassifier:
    """A callable standing in for a model with dropout: model(X, training=True) returns softmax
    probabilities of X @ W plus fresh noise from its own seeded generator; with training False (or
    not given) the noise is off, as dropout is at inference. Probabilities are float32, as Keras'."""

    def __init__(self, seed, n_features, n_classes, noise=1.0):
        rng = case_rng("08.mc_dropout_predict", "model", seed)
        self.W = rng.normal(0, 1, (n_features, n_classes))
        self.noise, self.rng = noise, case_rng("08.mc_dropout_predict", "noise", seed + 1000)

    def __call__(self, X, training=False):
        z = np.asarray(X, np.float64) @ self.W
        if training is True:
            z = z + self.noise * self.rng.normal(size=z.shape)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _mc_cases():
    rng = case_rng("08.mc_dropout_predict", "X", 808)
    return [("10 passes, 4 rows, 3 classes", (NoisyClassifier(1, 5, 3), rng.normal(size=(4, 5))), {"n_samples": 10}),
            ("50 passes, 6 rows, 10 classes", (NoisyClassifier(2, 8, 10, 0.5), rng.normal(size=(6, 8))),
             {"n_samples": 50}),
            ("the default n_samples (100), 3 rows", (NoisyClassifier(3, 4, 2), rng.normal(size=(3, 4))), {}),
            ("one pass", (NoisyClassifier(4, 3, 3), rng.normal(size=(2, 3))), {"n_samples": 1})]


exercise("08.mc_dropout_predict", mc_dropout_predict=cases(_mc_cases))
