"""Gradient clipping (module 05): TensorFlow kernels.

The three clipping rules as TensorFlow ops, written out (they do not call
``tf.clip_by_*``, so those stay independent oracles for the tests), and one custom
training step that clips by global norm. Numerically equal to
``deeptrain.reference.clipping`` (float32 to 1e-5).

Speed: these ops are what ``tf.clip_by_*`` and Keras' optimizer arguments already do; they
exist to be read and to serve the custom training loop of the notebook, not to be faster.
``train_step_with_clipping`` runs eagerly (one call, one step): for long custom loops wrap
your own step in ``tf.function``, or simply pass ``global_clipnorm=`` to a Keras optimizer.
"""
import tensorflow as tf

__all__ = ["clip_by_value", "clip_by_norm", "global_norm", "clip_by_global_norm",
           "train_step_with_clipping"]


def clip_by_value(grads, clip_value):
    """Clip every component of every gradient into [-clip_value, clip_value].

    grads: list of tensors (None entries pass through). Returns a list of tensors.
    Same as ``[tf.clip_by_value(g, -c, c) for g in grads]`` and Keras' ``clipvalue=c``.
    """
    out = []
    for g in grads:
        if g is None:
            out.append(None)
            continue
        g = tf.convert_to_tensor(g)
        c = tf.convert_to_tensor(clip_value, dtype=g.dtype)
        out.append(tf.minimum(tf.maximum(g, -c), c))
    return out


def _squared_norm(g):
    return tf.reduce_sum(tf.square(g))


def clip_by_norm(grad, max_norm):
    """g * c / max(||g||_2, c) for one tensor (norm over all its entries), as ``tf.clip_by_norm``.

    A zero gradient gives zero (and a zero gradient of its own, as TF's version does).
    """
    g = tf.convert_to_tensor(grad)
    c = tf.convert_to_tensor(max_norm, dtype=g.dtype)
    sq = _squared_norm(g)
    positive = sq > 0
    # sqrt(0) has an infinite derivative: take it of 1 where the sum is 0 (TF's "two-tap" trick).
    norm = tf.where(positive, tf.sqrt(tf.where(positive, sq, tf.ones_like(sq))), sq)
    return g * c / tf.maximum(norm, c)


def global_norm(grads):
    """sqrt(sum_k ||g_k||_2^2) over the non-None tensors, as ``tf.linalg.global_norm``.

    Summed in the dtype of the first tensor (float32 for a float32 model).
    """
    tensors = [tf.convert_to_tensor(g) for g in grads if g is not None]
    if not tensors:
        return tf.constant(0.0)
    dtype = tensors[0].dtype
    return tf.sqrt(tf.add_n([tf.cast(_squared_norm(g), dtype) for g in tensors]))


def clip_by_global_norm(grads, max_norm):
    """Scale all tensors by c / max(G, c), G = global norm; returns ``(clipped, G)`` as TF does.

    grads: list of tensors (None entries pass through). G is computed before clipping.
    A non-finite G makes every output NaN, exactly like ``tf.clip_by_global_norm``.
    """
    tensors = [None if g is None else tf.convert_to_tensor(g) for g in grads]
    G = global_norm(tensors)
    c = tf.convert_to_tensor(max_norm, dtype=G.dtype)
    scale = c / tf.maximum(G, c)
    scale = tf.where(tf.math.is_finite(G), scale, tf.constant(float("nan"), G.dtype))
    return [None if g is None else g * tf.cast(scale, g.dtype) for g in tensors], G


def train_step_with_clipping(model, optimizer, loss_fn, X, y, clipnorm):
    """One training step whose gradients are clipped by global norm before they are applied.

    model: a built Keras model; optimizer: a Keras optimizer WITHOUT clipping arguments;
    loss_fn: called as ``loss_fn(y, model(X, training=True))``; X, y: one batch.
    clipnorm: c > 0, the threshold on the global norm of the gradients of all trainable
    variables. Returns the global gradient norm BEFORE clipping, as a Python float.

    Gives the same new weights as ``optimizer.apply_gradients`` with
    ``global_clipnorm=clipnorm`` set on the optimizer.
    """
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(X, training=True))
    grads = tape.gradient(loss, variables)
    clipped, G = clip_by_global_norm(grads, clipnorm)
    optimizer.apply_gradients([(g, v) for g, v in zip(clipped, variables) if g is not None])
    return float(G)
