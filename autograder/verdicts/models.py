"""NumPy stand-ins for the Keras objects of the model exercises, for the grader's process.

The reference implementations read a model only through ``layer.get_weights()``,
``layer.get_config()`` and the layer's class name, and a loss through its class name and
``from_logits``: these classes offer exactly that, built from the same description
(``deeptrain.harvest_cases.dense_stack``) the kernel turned into a Keras model. The grader thus
never imports TensorFlow and never uses a model the kernel built.
"""
import numpy as np


class Dense:
    def __init__(self, W, b, activation):
        self._weights = [np.asarray(W, np.float64)] + ([np.asarray(b, np.float64)] if b is not None else [])
        self._activation = activation

    def get_weights(self):
        return [w.copy() for w in self._weights]

    def get_config(self):
        return {"activation": self._activation}


class Dropout:
    def __init__(self, rate):
        self.rate = rate

    def get_weights(self):
        return []

    def get_config(self):
        return {"rate": self.rate}


class Model:
    def __init__(self, layers):
        self.layers = layers


class _Loss:
    def __init__(self, from_logits=False):
        self.from_logits = from_logits

    def get_config(self):
        return {"from_logits": self.from_logits}


class MeanSquaredError(_Loss):
    pass


class SparseCategoricalCrossentropy(_Loss):
    pass


def numpy_builder(description, loss=None):
    """(model, loss) with the description's weights, for the reference (no TensorFlow)."""
    model = Model([Dropout(spec[1]) if isinstance(spec[0], str) else Dense(*spec) for spec in description["layers"]])
    losses = {"mse": lambda: MeanSquaredError(), "sparse": lambda: SparseCategoricalCrossentropy(),
              "sparse_logits": lambda: SparseCategoricalCrossentropy(from_logits=True)}
    return model, (losses[loss]() if loss else None)
