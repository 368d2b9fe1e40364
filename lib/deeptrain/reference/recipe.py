"""Today's training recipe (module 10), in NumPy: warmup + cosine decay, label smoothing,
an exponential moving average (EMA) of the weights, and gradient accumulation.

Each function computes what a Keras 3 built-in computes, so that Keras is the oracle
(tests/lib/test_recipe.py):

- ``warmup_cosine`` is ``keras.optimizers.schedules.CosineDecay(initial_learning_rate,
  decay_steps, alpha, warmup_target=..., warmup_steps=...)``;
- ``smooth_labels`` and ``smoothed_cross_entropy`` are what
  ``keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps)`` does to
  one-hot targets and computes from logits;
- ``ema_update`` is the average an optimizer built with ``use_ema=True, ema_momentum=...``
  keeps of the weights (``optimizer._model_variables_moving_average``);
- ``accumulate_gradients`` gives the gradients an optimizer built with
  ``gradient_accumulation_steps=k`` applies.

Everything here is float64 NumPy; nothing imports TensorFlow.
"""
import numpy as np

__all__ = ["warmup_cosine", "smooth_labels", "smoothed_cross_entropy", "ema_update", "accumulate_gradients"]


def warmup_cosine(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    """Linear warmup, then cosine decay (Loshchilov & Hutter 2017; Goyal et al. 2017), as Keras'
    ``CosineDecay`` computes it.

    With warmup (warmup_target not None), for the step s (optimizer updates done so far, from 0):

        s < warmup_steps:   lr = initial_learning_rate + (warmup_target - initial_learning_rate) * s / warmup_steps
        otherwise:          lr = warmup_target * ((1 - alpha) * (1 + cos(pi * d / decay_steps)) / 2 + alpha),
                            d = min(s - warmup_steps, decay_steps)

    so the decay starts where the warmup ends, and the rate stays at alpha * warmup_target after
    warmup_steps + decay_steps. Without warmup (warmup_target None) the cosine decays from
    initial_learning_rate, d = min(s, decay_steps).

    step: scalar or array of steps >= 0. decay_steps > 0, warmup_steps >= 0, 0 <= alpha <= 1.
    Returns float64 of step's shape (a Python float for a scalar step).
    """
    step = np.asarray(step, dtype=np.float64)
    if warmup_target is None:
        peak, d = initial_learning_rate, np.minimum(step, decay_steps)
        warming = np.zeros(step.shape, dtype=bool)
    else:
        peak, d = warmup_target, np.clip(step - warmup_steps, 0, decay_steps)
        warming = step < warmup_steps
    cosine = peak * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * d / decay_steps)) + alpha)
    if warmup_target is not None and warmup_steps > 0:
        ramp = initial_learning_rate + (warmup_target - initial_learning_rate) * step / warmup_steps
        cosine = np.where(warming, ramp, cosine)
    out = np.asarray(cosine, dtype=np.float64)
    return float(out) if out.ndim == 0 else out


def smooth_labels(y, n_classes, eps):
    """Smoothed one-hot targets (Szegedy et al. 2016): (1 - eps) * one_hot(y) + eps / n_classes.

    y: integer class labels, shape (n,), each in [0, n_classes). 0 <= eps <= 1.
    Returns float64 of shape (n, n_classes); every row sums to 1.
    """
    y = np.asarray(y).astype(np.int64)
    one_hot = np.zeros((len(y), n_classes))
    one_hot[np.arange(len(y)), y] = 1.0
    return (1.0 - eps) * one_hot + eps / n_classes


def smoothed_cross_entropy(logits, y, eps=0.1):
    """Mean cross-entropy between the smoothed targets and softmax(logits), as
    ``CategoricalCrossentropy(from_logits=True, label_smoothing=eps)`` computes it on one-hot y.

    logits: shape (n, n_classes), any finite values (large ones included: uses a stable
    log-softmax). y: integer labels, shape (n,). Returns a Python float.
    """
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    targets = smooth_labels(y, logits.shape[1], eps)
    return float(np.mean(-(targets * log_softmax).sum(axis=1)))


def ema_update(ema, weights, momentum=0.99):
    """One update of the exponential moving average of the weights, as Keras' ``use_ema``.

    Keras updates the average after every optimizer step: the first time (iteration 0) it
    copies the weights; afterwards ema <- momentum * ema + (1 - momentum) * weights.
    (No bias correction is needed: the average starts at the weights, not at 0.)

    ema: None on the first call, then the list this function returned. weights: a list of
    arrays (the model's weights after this step). Returns a new list of float64 arrays, one per
    weight, same shapes; the inputs are left unchanged.
    """
    weights = [np.asarray(w, dtype=np.float64) for w in weights]
    if ema is None:
        return [w.copy() for w in weights]
    return [momentum * np.asarray(a, dtype=np.float64) + (1 - momentum) * w for a, w in zip(ema, weights)]


def accumulate_gradients(micro_grads, accumulation_steps):
    """The gradients an optimizer with ``gradient_accumulation_steps=k`` applies.

    micro_grads: a list of micro-batch gradients, in training order; each one a list of arrays
    (one per weight, as ``tape.gradient(loss, model.trainable_variables)`` gives them).
    accumulation_steps: k >= 1. Every k consecutive micro-batches make one update, with the MEAN
    of their k gradients; a last group of fewer than k micro-batches makes no update (Keras keeps
    it in its accumulators).

    Returns a list of len(micro_grads) // k updates, each a list of float64 arrays (one per
    weight, same shapes). The inputs are left unchanged.
    """
    k = int(accumulation_steps)
    updates = []
    for start in range(0, len(micro_grads) - k + 1, k):
        group = micro_grads[start:start + k]
        updates.append([np.mean([np.asarray(g[i], dtype=np.float64) for g in group], axis=0)
                        for i in range(len(group[0]))])
    return updates
