"""Gradient clipping (module 05): NumPy references.

Three ways to keep one update from being too large, each as TensorFlow computes it, so
that ``tf.clip_by_value``, ``tf.clip_by_norm`` and ``tf.clip_by_global_norm`` (and the
Keras optimizer arguments ``clipvalue``, ``clipnorm`` and ``global_clipnorm``) are oracles:

- by value: every component on its own into [-c, c]; may change the direction;
- by norm: one tensor rescaled so that its L2 norm is at most c; keeps its direction;
- by global norm: all tensors rescaled by one common factor so that the norm of their
  concatenation is at most c; keeps the direction of the whole update.

Everything here is float64 NumPy; nothing imports TensorFlow.
"""
import numpy as np

__all__ = ["clip_by_value", "clip_by_norm", "global_norm", "clip_by_global_norm"]


def _as_float(g):
    return np.asarray(g, dtype=np.float64)


def clip_by_value(grads, clip_value):
    """Clip every component of every gradient into [-clip_value, clip_value].

        g_i <- min(max(g_i, -c), c)

    grads: list of arrays (any shapes; None entries are passed through as None).
    clip_value: c > 0. Returns a new list of float64 arrays of the same shapes.
    As ``tf.clip_by_value(g, -c, c)`` on each tensor and Keras' ``clipvalue=c``.

    >>> clip_by_value([np.array([0.9, 100.0])], 1.0)
    [array([0.9, 1. ])]
    """
    if clip_value <= 0:
        raise ValueError(f"clip_value must be positive, got {clip_value}")
    c = float(clip_value)
    return [None if g is None else np.clip(_as_float(g), -c, c) for g in grads]


def clip_by_norm(grad, max_norm):
    """Rescale one gradient so that its L2 (Frobenius) norm is at most max_norm.

        g <- g * c / max(||g||_2, c)

    grad: array of any shape; ||g||_2 is the norm of all its entries together.
    max_norm: c > 0. Returns float64 of the same shape, in the same direction as grad.
    Unchanged when ||g|| <= c (in particular a zero gradient stays zero).
    As ``tf.clip_by_norm(g, c)`` (no axes) and Keras' per-variable ``clipnorm=c``.

    >>> clip_by_norm(np.array([0.9, 100.0]), 1.0)
    array([0.00899964, 0.9999595 ])
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    g = _as_float(grad)
    norm = np.sqrt(np.sum(g * g))
    return g * max_norm / max(norm, max_norm)     # TF's order: (g * c) / max(norm, c)


def global_norm(grads):
    """sqrt(sum_k ||g_k||_2^2): the norm of all gradients concatenated into one vector.

    grads: list of arrays (None entries are skipped). Returns a float.
    As ``tf.linalg.global_norm``.
    """
    return float(np.sqrt(sum(np.sum(_as_float(g) ** 2) for g in grads if g is not None)))


def clip_by_global_norm(grads, max_norm):
    """Rescale all gradients by one common factor so that their global norm is at most max_norm.

        G = sqrt(sum_k ||g_k||_2^2)            (global_norm)
        g_k <- g_k * c / max(G, c)   for every k

    grads: list of arrays (any shapes; None entries are skipped and returned as None).
    max_norm: c > 0.
    Returns ``(clipped, G)``: the list of float64 arrays, and G computed BEFORE clipping
    (a float), exactly what ``tf.clip_by_global_norm(grads, c)`` returns. As in TF, a
    non-finite G (an inf or NaN somewhere) makes every clipped entry NaN: clipping cannot
    rescue a gradient that has already overflowed.

    >>> clipped, G = clip_by_global_norm([np.array([3.0]), np.array([4.0])], 1.0)
    >>> clipped, G
    ([array([0.6]), array([0.8])], 5.0)
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    G = global_norm(grads)
    scale = max_norm / max(G, max_norm) if np.isfinite(G) else np.nan
    return [None if g is None else _as_float(g) * scale for g in grads], G
