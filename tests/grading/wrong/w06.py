"""Module 06: split_task_a_b."""
import numpy as np

from deeptrain import reference as ref


def labels_not_shifted(X, y):
    (XA, yA), (XB, yB) = ref.split_task_a_b(X, y)
    return (XA, np.asarray(y)[~np.isin(y, (5, 6))]), (XB, yB)


def shirt_is_zero(X, y):
    (XA, yA), (XB, yB) = ref.split_task_a_b(X, y)
    return (XA, yA), (XB, (1 - yB).astype(np.float32))


def relabel_in_place(X, y):
    out = ref.split_task_a_b(X, y)
    y[y > 6] -= 2                 # changes the caller's labels
    return out


def yb_int(X, y):
    (XA, yA), (XB, yB) = ref.split_task_a_b(X, y)
    return (XA, yA), (XB, yB.astype(np.int64))


WRONG = [
    ("06.split_task_a_b", "split_task_a_b", labels_not_shifted, {"labels"}, "7, 8, 9 -> 5, 6, 7"),
    ("06.split_task_a_b", "split_task_a_b", shirt_is_zero, {"labels"}, "1.0 for a shirt"),
    ("06.split_task_a_b", "split_task_a_b", relabel_in_place, {"unchanged"}, "left unchanged"),
    ("06.split_task_a_b", "split_task_a_b", yb_int, {"dtype"}, "float32"),
]
RIGHT = []


def _keras():
    import deeptrain
    return deeptrain.import_tensorflow().keras


def b_shares_layers(model_a):                  # reuses A's layers: training B would change A
    keras = _keras()
    model_b = keras.Sequential([keras.Input(model_a.input_shape[1:])] + model_a.layers[:-1]
                               + [keras.layers.Dense(1, activation="sigmoid")])
    for layer in model_b.layers[:-1]:
        layer.trainable = False
    return model_b


def b_not_frozen(model_a):
    keras = _keras()
    model_b = keras.models.clone_model(model_a)
    model_b.set_weights(model_a.get_weights())
    model_b.pop()
    model_b.add(keras.layers.Dense(1, activation="sigmoid"))
    return model_b


def b_fresh_weights(model_a):                  # clone_model alone: new random weights
    keras = _keras()
    model_b = keras.models.clone_model(model_a)
    model_b.pop()
    model_b.add(keras.layers.Dense(1, activation="sigmoid"))
    for layer in model_b.layers[:-1]:
        layer.trainable = False
    return model_b


def b_softmax_output(model_a):
    keras = _keras()
    model_b = keras.models.clone_model(model_a)
    model_b.set_weights(model_a.get_weights())
    model_b.pop()
    model_b.add(keras.layers.Dense(2, activation="softmax"))
    for layer in model_b.layers[:-1]:
        layer.trainable = False
    return model_b


def unfreeze_counts_all_layers(model, n_layers):
    for layer in model.layers[:-1][::-1][:n_layers]:
        layer.trainable = True
    return model


def unfreeze_freezes_the_rest(model, n_layers):
    with_weights = [layer for layer in model.layers[:-1] if layer.weights]
    for i, layer in enumerate(with_weights[::-1]):
        layer.trainable = i < n_layers
    return model


def unfreeze_returns_none(model, n_layers):
    with_weights = [layer for layer in model.layers[:-1] if layer.weights]
    for layer in with_weights[::-1][:n_layers]:
        layer.trainable = True


WRONG += [
    ("06.build_model_b_on_a", "build_model_b_on_a", b_shares_layers, {"independent"}, "share no variable"),
    ("06.build_model_b_on_a", "build_model_b_on_a", b_not_frozen, {"frozen"}, "freeze"),
    ("06.build_model_b_on_a", "build_model_b_on_a", b_fresh_weights, {"weights"}, "copies of A's weights"),
    ("06.build_model_b_on_a", "build_model_b_on_a", b_softmax_output, {"structure"}, "sigmoid"),
    ("06.unfreeze_top", "unfreeze_top", unfreeze_counts_all_layers, {"top"}, "have weights"),
    ("06.unfreeze_top", "unfreeze_top", unfreeze_freezes_the_rest, {"edges"}, "keep their trainable flag"),
    ("06.unfreeze_top", "unfreeze_top", unfreeze_returns_none, {"returns_model"}, "return the model"),
]


def split_x_keeps_shirts(X, y):
    """The labels are right, but task A's rows drop only the sandals (X and y_A no longer match)."""
    (XA, yA), (XB, yB) = ref.split_task_a_b(X, y)
    return (np.asarray(X)[np.asarray(y) != 5], yA), (XB, yB)


WRONG += [("06.split_task_a_b", "split_task_a_b", split_x_keeps_shirts, {"values"}, "rows of classes 5 and 6")]
