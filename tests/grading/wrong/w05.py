"""Module 05: gradient clipping."""
import numpy as np

from deeptrain import reference as ref


def clip_value_in_place(grads, clip_value):
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)
    return grads


def clip_value_one_sided(grads, clip_value):
    return [np.minimum(np.asarray(g, np.float64), clip_value) for g in grads]


def clip_norm_divides_by_norm(grad, max_norm):
    g = np.asarray(grad, np.float64)
    n = np.linalg.norm(g)
    return g * max_norm / n if n > max_norm or n == 0 else g      # 0/0 for a zero gradient


def clip_norm_always_rescales(grad, max_norm):
    g = np.asarray(grad, np.float64)
    n = np.sqrt(np.sum(g ** 2))
    return g * max_norm / n if n > 0 else g


def clip_norm_per_row(grad, max_norm):
    g = np.atleast_2d(np.asarray(grad, np.float64))
    n = np.sqrt(np.sum(g ** 2, axis=-1, keepdims=True))
    return (g * max_norm / np.maximum(n, max_norm)).reshape(np.shape(grad))


def global_norm_after(grads, max_norm):
    clipped, G = ref.clip_by_global_norm(grads, max_norm)
    return clipped, float(np.sqrt(sum(np.sum(c ** 2) for c in clipped)))


def global_per_tensor(grads, max_norm):
    _, G = ref.clip_by_global_norm(grads, max_norm)
    return [ref.clip_by_norm(g, max_norm) for g in grads], G


def global_norm_as_array(grads, max_norm):
    clipped, G = ref.clip_by_global_norm(grads, max_norm)
    return clipped, np.array([G])


def clip_value_list_comprehension(grads, clip_value):       # right, written differently
    return [np.maximum(np.minimum(np.array(g, dtype=float), clip_value), -clip_value) for g in grads]


def clip_value_by_norm(grads, clip_value):
    return [ref.clip_by_norm(g, clip_value) for g in grads]


WRONG = [
    ("05.clip_by_value", "clip_by_value", clip_value_in_place, {"unchanged"}, "must not change"),
    ("05.clip_by_value", "clip_by_value", clip_value_by_norm, {"book"}, "the book"),
    ("05.clip_by_value", "clip_by_value", clip_value_one_sided, {"values"}, "[-c, c]"),
    ("05.clip_by_norm", "clip_by_norm", clip_norm_divides_by_norm, {"zero"}, "all zeros"),
    ("05.clip_by_norm", "clip_by_norm", clip_norm_always_rescales, {"inside"}, "unchanged"),
    ("05.clip_by_norm", "clip_by_norm", clip_norm_per_row, {"values"}, "ALL entries"),
    ("05.clip_by_global_norm", "clip_by_global_norm", global_norm_after, {"G"}, "BEFORE clipping"),
    ("05.clip_by_global_norm", "clip_by_global_norm", global_per_tensor, {"clipped"}, "same factor"),
    ("05.clip_by_global_norm", "clip_by_global_norm", global_norm_as_array, {"float"}, "G a float"),
]
RIGHT = [("05.clip_by_value", "clip_by_value", clip_value_list_comprehension)]


def _tf():
    import deeptrain
    return deeptrain.import_tensorflow()


def _grads(model, loss_fn, X, y):
    tf = _tf()
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(X, training=True))
    return tape.gradient(loss, model.trainable_variables)


def step_returns_clipped_norm(model, optimizer, loss_fn, X, y, clipnorm):
    tf = _tf()
    grads = _grads(model, loss_fn, X, y)
    clipped, G = tf.clip_by_global_norm(grads, clipnorm)
    optimizer.apply_gradients(zip(clipped, model.trainable_variables))
    return float(tf.linalg.global_norm(clipped))


def step_clips_per_tensor(model, optimizer, loss_fn, X, y, clipnorm):
    tf = _tf()
    grads = _grads(model, loss_fn, X, y)
    G = tf.linalg.global_norm(grads)
    optimizer.apply_gradients([(tf.clip_by_norm(g, clipnorm), v) for g, v in zip(grads, model.trainable_variables)])
    return float(G)


def step_without_update(model, optimizer, loss_fn, X, y, clipnorm):
    return float(_tf().linalg.global_norm(_grads(model, loss_fn, X, y)))


def step_returns_tensor(model, optimizer, loss_fn, X, y, clipnorm):
    tf = _tf()
    grads = _grads(model, loss_fn, X, y)
    clipped, G = tf.clip_by_global_norm(grads, clipnorm)
    optimizer.apply_gradients(zip(clipped, model.trainable_variables))
    return G


WRONG += [
    ("05.train_step_with_clipping", "train_step_with_clipping", step_returns_clipped_norm, {"G"}, "BEFORE clipping"),
    ("05.train_step_with_clipping", "train_step_with_clipping", step_clips_per_tensor, {"update"}, "one factor"),
    ("05.train_step_with_clipping", "train_step_with_clipping", step_without_update, {"update"}, "apply_gradients"),
    ("05.train_step_with_clipping", "train_step_with_clipping", step_returns_tensor, {"float"}, "Python float"),
]


def global_norm_rescaled_by_g(grads, max_norm):
    """g / G * min(G, c): the same factor, but 0 / 0 for gradients of all zeros."""
    G = np.sqrt(sum(float(np.sum(np.square(g))) for g in grads))
    with np.errstate(all="ignore"):
        return [np.asarray(g, np.float64) / np.float64(G) * min(G, max_norm) for g in grads], float(G)


WRONG += [("05.clip_by_global_norm", "clip_by_global_norm", global_norm_rescaled_by_g, {"zeros"}, "all zeros")]
