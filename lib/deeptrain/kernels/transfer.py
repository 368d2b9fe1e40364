"""Transfer learning (module 06): reusing a trained Keras model's layers for a new task.

``build_model_b_on_a`` and ``unfreeze_top`` are Keras code (cloning, copying weights,
freezing), so their reference implementation lives here rather than in the NumPy
``deeptrain.reference`` package; the split of the data into task A and task B is NumPy
(``deeptrain.reference.transfer.split_task_a_b``).

There is nothing here to benchmark against a built-in: these functions assemble models,
they do not compute anything themselves.
"""
import numpy as np
import tensorflow as tf

keras = tf.keras

__all__ = ["build_model_b_on_a", "unfreeze_top", "reused_layers_with_weights", "shared_variables",
           "accuracy"]


def build_model_b_on_a(model_a):
    """A binary classifier for task B that reuses every layer of model A but its output.

    model_a: a built ``keras.Sequential`` (with an ``Input``) trained on task A; its last
        layer is its output layer.
    Returns a new, uncompiled ``keras.Sequential``: copies of all of A's layers except the
    last, holding copies of A's weights (``keras.models.clone_model`` builds new layers with
    new variables, ``set_weights`` copies the values), followed by a new
    ``Dense(1, activation="sigmoid")`` output. The reused layers are frozen
    (``trainable = False``); only the new output layer is trainable.

    Model A is never changed and shares no variable with the result: training model B
    leaves A's weights as they were. (``Sequential(model_a.layers[:-1])`` would instead
    put A's own layer objects, and so A's variables, into B.)
    """
    clone = keras.models.clone_model(model_a)      # same architecture, fresh variables
    clone.set_weights(model_a.get_weights())       # copy the values (trainable or not)
    clone.pop()                                    # drop A's output layer
    clone.add(keras.layers.Dense(1, activation="sigmoid"))
    for layer in clone.layers[:-1]:
        layer.trainable = False
    return clone


def reused_layers_with_weights(model):
    """The layers below the output layer that hold weights, input to output.

    ``layer.weights`` lists a frozen layer's variables too (``trainable_weights`` would be
    empty for it), so frozen and trainable layers are both counted. Layers without weights
    (Flatten, Dropout, activations) are left out.
    """
    return [layer for layer in model.layers[:-1] if layer.weights]


def unfreeze_top(model, n_layers):
    """Make the top ``n_layers`` reused layers of ``model`` trainable again, in place.

    model: a model built by ``build_model_b_on_a`` (its last layer is the new output).
    n_layers: how many of the layers just below the output to unfreeze, counting only
        layers that hold weights (so a Dropout or Flatten layer is neither counted nor
        changed). 0 changes nothing; a number larger than the count unfreezes them all.
        The other layers keep their ``trainable`` flag.
    Returns ``model`` (the same object).

    Keras reads the ``trainable`` flags when the model is compiled: call
    ``model.compile(...)`` again after this function, before training (preferably with a
    lower learning rate, so as not to wreck the reused weights).
    """
    if n_layers < 0:
        raise ValueError(f"n_layers must be >= 0, got {n_layers}")
    for layer in reused_layers_with_weights(model)[::-1][:n_layers]:
        layer.trainable = True
    return model


def shared_variables(model_1, model_2):
    """The variables that two models share (the same object, not equal values), by path."""
    ids = {id(v) for v in model_1.weights}
    return [v.path for v in model_2.weights if id(v) in ids]


def accuracy(model, X, y, batch_size=4096):
    """Accuracy of a classifier on (X, y), with plain forward passes (no ``evaluate`` set-up).

    A model with one output unit is read as a sigmoid (class 1 when the output > 0.5),
    a wider one as a softmax (argmax). y: class indices of shape (n,).
    """
    outputs = [np.asarray(model(X[i:i + batch_size], training=False)) for i in range(0, len(X), batch_size)]
    p = np.concatenate(outputs)
    predicted = (p[:, 0] > 0.5).astype(int) if p.shape[1] == 1 else p.argmax(axis=1)
    return float(np.mean(predicted == np.asarray(y).reshape(-1)))
