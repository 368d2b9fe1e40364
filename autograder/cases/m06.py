"""The judged inputs of module 06 (transfer learning); see autograder/cases/__init__.py."""
import numpy as np

from . import call, case_rng, cases, encode, exercise, trajectory_runner
from .keras import builder as _builder, dense_stack, keras_builder


def _split_cases():
    rng = case_rng("06.split_task_a_b", "split_task_a_b", 601)
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
            from deeptrain._setup import import_tensorflow
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
