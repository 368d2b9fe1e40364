"""The judged inputs of module 03 (activations); see autograder/cases/__init__.py."""
import numpy as np

from . import call, case_rng, cases, encode, exercise, trajectory_runner
from .keras import builder as _builder, dense_stack, keras_builder


def _activation_cases(alphas=(), large=False, near_zero=False):
    def table():
        rng = case_rng("03.activations", "z", 301)
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


TAILS = "large |z|: [-1e4, -800, -745, -710, 710, 745, 800, 1e4] and 8 draws in [-745, -709]"


def _tails(function):
    """Where exp(-z) or exp(z) overflows but the value does not: swish(-710) = -710 * sigmoid(-710) is about
    -3e-306, a naive z / (1 + exp(-z)) gives -0 (its warning silenced or not)."""
    def table():
        rng = case_rng("03.gelu_swish_mish", function, TAILS)
        z = np.concatenate([[-1e4, -800.0, -745.0, -710.0, 710.0, 745.0, 800.0, 1e4], rng.uniform(-745, -709, 8)])
        return [(TAILS, (z,), {})]
    return table


def _swish_cases():
    return (_activation_cases()() + [("z in [-5, 5], beta=2.5", (np.linspace(-5, 5, 11),), {"beta": 2.5})]
            + _tails("swish")())


exercise("03.leaky_relu", leaky_relu=cases(_activation_cases((0.01, 0.3))),
         leaky_relu_grad=cases(_activation_cases((0.01, 0.3))))
exercise("03.elu_selu", elu=cases(_activation_cases((0.5, 2.0), large=True, near_zero=True)),
         elu_grad=cases(_activation_cases((0.5, 2.0), large=True)),
         selu=cases(_activation_cases((), large=True, near_zero=True)))
exercise("03.gelu_swish_mish", gelu=cases(_activation_cases()), swish=cases(_swish_cases),
         mish=cases(lambda: _activation_cases()() + _tails("mish")()))


def _dead_relu_cases():
    rng = case_rng("03.dead_relu_fraction", "dead_relu_fraction", 303)

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
