"""The judged inputs of module 04 (batch normalization); see autograder/cases/__init__.py."""
import numpy as np

from . import call, case_rng, cases, encode, exercise, trajectory_runner


WORKED_X = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0], [7.0, 20.0]])


def _bn_forward_cases():
    rng = case_rng("04.batchnorm_forward", "batchnorm_forward", 404)
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
    rng = case_rng("04.batchnorm_backward", "batchnorm_backward", 405)
    out = []
    for m, n in [(8, 4), (32, 7), (2, 3), (1, 2), (5, 1), (7, 4)]:
        x, g = rng.normal(1, 3, (m, n)), rng.uniform(0.5, 2, n)
        dout = rng.normal(size=(m, n))
        out.append((f"a batch of {m} x {n}", (dout, _bn_cache(x, g)), {}))
    return out


def _update_moving_cases():
    rng = case_rng("04.update_moving_stats", "update_moving_stats", 406)
    out = [("moving [0, 0], [1, 1]; batch [1, 2], [4, 4]; momentum 0.9",
            (np.zeros(2), np.ones(2), np.array([1.0, 2.0]), np.array([4.0, 4.0]), 0.9), {})]
    for n, momentum in [(5, 0.99), (3, 0.9), (1, 0.5), (7, 1.0), (4, 0.0)]:
        args = (rng.normal(size=n), rng.uniform(0.1, 3, n), rng.normal(size=n), rng.uniform(0.1, 3, n), momentum)
        out.append((f"{n} features, momentum {momentum}", args, {}))
    out.append(("float32 inputs, momentum 0.9", tuple(a.astype(np.float32) for a in (
        rng.normal(size=3), rng.uniform(0.1, 3, 3), rng.normal(size=3), rng.uniform(0.1, 3, 3))) + (0.9,), {}))
    return out


def _fold_cases():
    rng = case_rng("04.fold_batchnorm", "fold_batchnorm", 407)
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
