"""Keras models described in NumPy (kernel side: built in Keras; grader side: autograder/verdicts/models.py)."""
import numpy as np

from . import case_rng


# --- exercises on Keras models ---------------------------------------------------------------
# The inputs are built here in NumPy (weights, X, y, from fixed seeds). In the kernel the model is
# a Keras model holding exactly those weights; in the grader's process (which never imports
# TensorFlow) the same description becomes a small object with the few methods the reference reads
# (``get_weights``, ``get_config``, the class name). The description is rebuilt on each side from
# the seeds: nothing the kernel reports about a model is trusted.

def dense_stack(seed, widths, activations, use_bias=None, dtype="float64"):
    """A description of a Dense stack: [(W, b or None, activation), ...] from a fixed seed."""
    rng = case_rng("models", "dense_stack", seed)
    use_bias = use_bias or [True] * len(activations)
    layers = []
    for fan_in, units, act, bias in zip(widths[:-1], widths[1:], activations, use_bias):
        W = rng.normal(0, np.sqrt(2.0 / (fan_in + units)), (fan_in, units))
        layers.append((W, rng.normal(0, 0.1, units) if bias else None, act))
    return {"input": widths[0], "layers": layers, "dtype": dtype}


def keras_builder(description, loss=None):
    """(Keras model, Keras loss or None) holding the description's weights (kernel side)."""
    from deeptrain._setup import import_tensorflow
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


def builder(functions):
    return functions.get("_grader_model_builder", keras_builder)
