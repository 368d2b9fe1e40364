"""Module 10: warmup_cosine, smooth_labels, smoothed_cross_entropy, ema_update, accumulate_gradients.

Each implementation makes one mistake a student could make, and loses exactly the check naming it.
"""
import numpy as np

from deeptrain import reference as ref

from . import WHOLE


def warmup_from_zero(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    """The ramp starts at 0 instead of initial_learning_rate."""
    out = ref.warmup_cosine(step, initial_learning_rate, decay_steps, alpha, warmup_target, warmup_steps)
    if warmup_target is None:
        return out
    s = np.asarray(step, np.float64)
    return np.where(s < warmup_steps, warmup_target * s / max(warmup_steps, 1), out)


def warmup_off_by_one(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    """The ramp reaches the target one step early: (step + 1) / warmup_steps."""
    out = ref.warmup_cosine(step, initial_learning_rate, decay_steps, alpha, warmup_target, warmup_steps)
    if warmup_target is None:
        return out
    s = np.asarray(step, np.float64)
    ramp = initial_learning_rate + (warmup_target - initial_learning_rate) * (s + 1) / max(warmup_steps, 1)
    return np.where(s < warmup_steps, ramp, out)


def decay_not_shifted(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    """The cosine's clock starts at step 0, not at the end of the warmup (it ends warmup_steps early)."""
    s = np.asarray(step, np.float64)
    peak = initial_learning_rate if warmup_target is None else warmup_target
    d = np.minimum(s, decay_steps)
    out = peak * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * d / decay_steps)) + alpha)
    if warmup_target is not None:
        out = np.where(s < warmup_steps, initial_learning_rate + (warmup_target - initial_learning_rate) * s
                       / max(warmup_steps, 1), out)
    return out


def no_clamp(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    """No clamp: after the decay the cosine rises again."""
    s = np.asarray(step, np.float64)
    peak = initial_learning_rate if warmup_target is None else warmup_target
    d = s if warmup_target is None else s - warmup_steps
    out = peak * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * d / decay_steps)) + alpha)
    if warmup_target is not None:
        out = np.where(s < warmup_steps, initial_learning_rate + (warmup_target - initial_learning_rate) * s
                       / max(warmup_steps, 1), out)
    return out


def alpha_absolute(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    """alpha added as an absolute floor: peak * cosine + alpha."""
    s = np.asarray(step, np.float64)
    base = ref.warmup_cosine(step, initial_learning_rate, decay_steps, 0.0, warmup_target, warmup_steps)
    warming = (s < warmup_steps) if warmup_target is not None else np.zeros(s.shape, bool)
    return np.where(warming, base, base + alpha)


def none_means_zero(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    """warmup_target None read as a warmup towards 0."""
    return ref.warmup_cosine(step, initial_learning_rate, decay_steps, alpha,
                             0.0 if warmup_target is None else warmup_target, warmup_steps)


def warmup_cosine_float32(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    return np.asarray(ref.warmup_cosine(step, initial_learning_rate, decay_steps, alpha, warmup_target, warmup_steps),
                      dtype=np.float32)


def warmup_cosine_constant(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    """A constant rate: right nowhere (its float64 earns nothing)."""
    return np.full(np.shape(step), 0.01)


def smooth_other_classes(y, n_classes, eps):
    """The other convention: 1 - eps on the true class, eps / (n_classes - 1) on the others."""
    y = np.asarray(y).astype(int)
    out = np.full((len(y), n_classes), eps / (n_classes - 1))
    out[np.arange(len(y)), y] = 1 - eps
    return out


def smooth_eye_of_max(y, n_classes, eps):
    """n_classes taken from the labels seen: np.eye(max(y) + 1)."""
    y = np.asarray(y).astype(int)
    k = int(y.max()) + 1
    return (1 - eps) * np.eye(k)[y] + eps / n_classes


def smooth_float32(y, n_classes, eps):
    return ref.smooth_labels(y, n_classes, eps).astype(np.float32)


def ce_sum_not_mean(logits, y, eps=0.1):
    return ref.smoothed_cross_entropy(logits, y, eps) * len(y)


def ce_naive_softmax(logits, y, eps=0.1):
    """exp without subtracting the maximum: inf / inf = NaN on large logits."""
    logits = np.asarray(logits, np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return float(np.mean(-(ref.smooth_labels(y, logits.shape[1], eps) * np.log(p)).sum(axis=1)))


def ce_eps_or_default(logits, y, eps=0.1):
    """`eps = eps or 0.1`: a default guard that turns eps 0 into 0.1."""
    return ref.smoothed_cross_entropy(logits, y, eps or 0.1)


def ce_array(logits, y, eps=0.1):
    return np.array(ref.smoothed_cross_entropy(logits, y, eps))        # a 0-d array, not a float


def ce_hard_targets(logits, y, eps=0.1):
    """Forgets the smoothing: the plain cross-entropy (right only for eps 0: still wrong)."""
    return ref.smoothed_cross_entropy(logits, y, 0.0)


def ema_starts_at_zero(ema, weights, momentum=0.99):
    """The average starts at 0 (a bias towards 0 that Keras avoids by copying the first weights)."""
    if ema is None:
        ema = [np.zeros_like(np.asarray(w, np.float64)) for w in weights]
    return ref.ema_update(ema, weights, momentum)


def ema_swapped_momentum(ema, weights, momentum=0.99):
    """momentum on the new weights instead of the old average."""
    if ema is None:
        return ref.ema_update(None, weights, momentum)
    return [(1 - momentum) * np.asarray(a) + momentum * np.asarray(w) for a, w in zip(ema, weights)]


def ema_in_place(ema, weights, momentum=0.99):
    if ema is None:
        return [np.array(w, np.float64) for w in weights]
    for a, w in zip(ema, weights):
        a *= momentum
        a += (1 - momentum) * np.asarray(w)
    return ema


def ema_float32(ema, weights, momentum=0.99):
    out = ref.ema_update(None if ema is None else [np.asarray(a, np.float64) for a in ema], weights, momentum)
    return [a.astype(np.float32) for a in out]


def acc_sum(micro_grads, accumulation_steps):
    """The sum of the k gradients, not their mean (k times too large a step)."""
    return [[g * accumulation_steps for g in update] for update in ref.accumulate_gradients(micro_grads,
                                                                                              accumulation_steps)]


def acc_keeps_remainder(micro_grads, accumulation_steps):
    """Averages the incomplete last group into one more update."""
    k = accumulation_steps
    out = ref.accumulate_gradients(micro_grads, k)
    rest = micro_grads[len(out) * k:]
    if rest:
        out.append([np.mean([np.asarray(g[i], np.float64) for g in rest], axis=0) for i in range(len(rest[0]))])
    return out


def acc_in_place(micro_grads, accumulation_steps):
    """Adds into the first micro-batch's arrays: right updates, the caller's gradients overwritten."""
    k, out = accumulation_steps, []
    for start in range(0, len(micro_grads) - k + 1, k):
        acc = micro_grads[start]
        for g in micro_grads[start + 1:start + k]:
            for a, b in zip(acc, g):
                a += b
        for a in acc:
            a /= k
        out.append([np.array(a, np.float64) for a in acc])
    return out


def acc_float32(micro_grads, accumulation_steps):
    return [[g.astype(np.float32) for g in u] for u in ref.accumulate_gradients(micro_grads, accumulation_steps)]


WRONG = [
    ("10.warmup_cosine", "warmup_cosine", warmup_from_zero, {"warmup"}, "initial_learning_rate"),
    ("10.warmup_cosine", "warmup_cosine", warmup_off_by_one, {"warmup"}, "step / warmup_steps"),
    ("10.warmup_cosine", "warmup_cosine", decay_not_shifted, {"decay"}, "END of the warmup"),
    ("10.warmup_cosine", "warmup_cosine", no_clamp, {"after"}, "clamp"),
    ("10.warmup_cosine", "warmup_cosine", alpha_absolute, {"alpha"}, "fraction of the peak"),
    ("10.warmup_cosine", "warmup_cosine", none_means_zero, {"no_warmup"}, "None"),
    ("10.warmup_cosine", "warmup_cosine", warmup_cosine_float32, {"float64"}, "float64"),
    ("10.warmup_cosine", "warmup_cosine", warmup_cosine_constant, WHOLE, "linearly"),
    ("10.label_smoothing", "smooth_labels", smooth_other_classes, {"values"}, "n_classes - 1"),
    ("10.label_smoothing", "smooth_labels", smooth_eye_of_max, {"n_classes"}, "top classes"),
    ("10.label_smoothing", "smooth_labels", smooth_float32, {"float64"}, "float64"),
    ("10.label_smoothing", "smoothed_cross_entropy", ce_sum_not_mean, {"values"}, "MEAN"),
    ("10.label_smoothing", "smoothed_cross_entropy", ce_hard_targets, {"values"}, "smoothed targets"),
    ("10.label_smoothing", "smoothed_cross_entropy", ce_naive_softmax, {"stable"}, "maximum"),
    ("10.label_smoothing", "smoothed_cross_entropy", ce_array, {"float"}, "Python float"),
    ("10.label_smoothing", "smoothed_cross_entropy", ce_eps_or_default, {"plain"}, "eps 0"),
    ("10.ema_update", "ema_update", ema_starts_at_zero, {"first"}, "copy of the weights"),
    ("10.ema_update", "ema_update", ema_swapped_momentum, {"values"}, "momentum * ema"),
    ("10.ema_update", "ema_update", ema_in_place, {"in_place"}, "new list"),
    ("10.ema_update", "ema_update", ema_float32, {"float64"}, "float64"),
    ("10.accumulate_gradients", "accumulate_gradients", acc_sum, {"values"}, "MEAN"),
    ("10.accumulate_gradients", "accumulate_gradients", acc_keeps_remainder, {"remainder"}, "fewer than k"),
    ("10.accumulate_gradients", "accumulate_gradients", acc_in_place, {"unchanged"}, "unchanged"),
    ("10.accumulate_gradients", "accumulate_gradients", acc_float32, {"float64"}, "float64"),
]


def warmup_cosine_by_pieces(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    """Right, written as a Python loop over the steps with if/else."""
    steps = np.asarray(step, np.float64)
    out = np.empty(steps.shape)
    for i, s in np.ndenumerate(steps):
        if warmup_target is not None and s < warmup_steps:
            out[i] = initial_learning_rate + (warmup_target - initial_learning_rate) * s / warmup_steps
        else:
            peak = initial_learning_rate if warmup_target is None else warmup_target
            d = min(s - (0 if warmup_target is None else warmup_steps), decay_steps)
            out[i] = peak * ((1 - alpha) * (1 + np.cos(np.pi * d / decay_steps)) / 2 + alpha)
    return out if steps.ndim else float(out)


def ce_via_logsumexp(logits, y, eps=0.1):
    """Right: the loss as logsumexp(z) - sum(t * z) (the targets sum to 1)."""
    z = np.asarray(logits, np.float64)
    m = z.max(axis=1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    t = ref.smooth_labels(y, z.shape[1], eps)
    return float(np.mean(lse - (t * z).sum(axis=1)))


RIGHT = [("10.warmup_cosine", "warmup_cosine", warmup_cosine_by_pieces),
         ("10.label_smoothing", "smoothed_cross_entropy", ce_via_logsumexp)]
