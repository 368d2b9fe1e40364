"""The judged inputs of module 10 (today's training recipe); see autograder/cases/__init__.py.

Labels never depend on the key: the verdict selects cases by label. Every case lies in the
domain the docstrings define (steps >= 0, 0 <= eps <= 1, k >= 1, finite logits).
"""
import numpy as np

from . import call, case_rng, cases, exercise, isolated

# --- warmup_cosine ------------------------------------------------------------------------------

WARMUP = ["the docstring's run: steps 0..99 of the warmup from 0 to 0.1",
          "steps 0..49 of a warmup from 0.001 to 0.02",
          "random steps inside a warmup from a random start"]
DECAY = ["every step 50..250 of a 200-step decay after a 50-step warmup",
         "random steps inside the decay, random warmup and peak",
         "a scalar step (600 of the docstring's run)",
         "a (2, 3) array of steps inside the decay"]
AFTER = ["steps after warmup_steps + decay_steps: 250, 251, 400, 10000"]
ALPHA = ["alpha 0.1: steps 60..250 of a 200-step decay after a 50-step warmup"]
NO_WARMUP = ["warmup_target None: every step 0..300 of a decay from 0.05 over 300 steps",
             "warmup_target None: random steps inside a 1000-step decay"]


def _warmup_cases():
    rng = case_rng("10.warmup_cosine", "warmup_cosine", 1001)
    lr0, target, warm = float(rng.uniform(0, 0.01)), float(rng.uniform(0.05, 0.5)), int(rng.integers(20, 400))
    peak2, warm2, decay2 = float(rng.uniform(0.01, 1.0)), int(rng.integers(1, 300)), int(rng.integers(100, 3000))
    return [
        (WARMUP[0], (np.arange(100), 0.0, 1000), {"warmup_target": 0.1, "warmup_steps": 100}),
        (WARMUP[1], (np.arange(50), 0.001, 200), {"warmup_target": 0.02, "warmup_steps": 50}),
        (WARMUP[2], (np.sort(rng.integers(0, warm, 25)), lr0, 500), {"warmup_target": target, "warmup_steps": warm}),
        (DECAY[0], (np.arange(50, 251), 0.001, 200), {"warmup_target": 0.02, "warmup_steps": 50}),
        (DECAY[1], (np.sort(rng.integers(warm2, warm2 + decay2 + 1, 30)), peak2 / 10, decay2),
         {"warmup_target": peak2, "warmup_steps": warm2}),
        (DECAY[2], (600, 0.0, 1000), {"warmup_target": 0.1, "warmup_steps": 100}),
        (DECAY[3], (np.array([[100, 150, 300], [700, 1000, 1100]]), 0.0, 1000),
         {"warmup_target": 0.1, "warmup_steps": 100}),
        (AFTER[0], (np.array([250, 251, 400, 10000]), 0.001, 200), {"warmup_target": 0.02, "warmup_steps": 50}),
        (ALPHA[0], (np.arange(60, 251), 0.001, 200), {"alpha": 0.1, "warmup_target": 0.02, "warmup_steps": 50}),
        (NO_WARMUP[0], (np.arange(301), 0.05, 300), {}),
        (NO_WARMUP[1], (np.sort(rng.integers(0, 1001, 30)), float(rng.uniform(0.01, 0.5)), 1000), {}),
    ]


exercise("10.warmup_cosine", warmup_cosine=cases(_warmup_cases))


# --- label smoothing ----------------------------------------------------------------------------

LABELS = ["the docstring example: y = [0, 2], 3 classes, eps 0.3",
          "40 random labels of 10 classes, eps 0.1",
          "eps 0: plain one-hot targets",
          "eps 1: uniform targets",
          "labels as a Python list, 4 classes, eps 0.2"]
TOP_ABSENT = ["y = [0, 1, 1] with 5 classes (the top classes do not occur)"]


def _smooth_cases():
    rng = case_rng("10.label_smoothing", "smooth_labels", 1002)
    y = rng.integers(0, 10, 40)
    y[0] = 9                                  # every case but TOP_ABSENT has its top class
    return [(LABELS[0], (np.array([0, 2]), 3, 0.3), {}),
            (LABELS[1], (y, 10, 0.1), {}),
            (LABELS[2], (np.array([3, 0, 1, 3]), 4, 0.0), {}),
            (LABELS[3], (np.array([1, 0, 2]), 3, 1.0), {}),
            (LABELS[4], ([3, 2, 0, 1, 3], 4, 0.2), {}),
            (TOP_ABSENT[0], (np.array([0, 1, 1]), 5, 0.1), {})]


CE_VALUES = ["the docstring example: logits [[2, 0, 0], [0, 1, 3]], y = [0, 2], eps 0.3",
             "random logits N(0, 3^2) of shape (32, 10), eps 0.1",
             "eps 0.25, 5 classes, 8 rows"]
CE_PLAIN = ["eps 0: the plain cross-entropy, logits of shape (16, 4)"]
CE_LARGE = ["large logits (hundreds), eps 0.1",
            "logits shifted by +700, eps 0.2 (exp overflows without the max trick)"]


def _ce_cases():
    rng = case_rng("10.label_smoothing", "smoothed_cross_entropy", 1003)
    big = rng.normal(0, 300, (6, 4))
    return [(CE_VALUES[0], (np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]]), np.array([0, 2])), {"eps": 0.3}),
            (CE_VALUES[1], (rng.normal(0, 3, (32, 10)), rng.integers(0, 10, 32)), {"eps": 0.1}),
            (CE_PLAIN[0], (rng.normal(0, 2, (16, 4)), rng.integers(0, 4, 16)), {"eps": 0.0}),
            (CE_VALUES[2], (rng.normal(0, 1, (8, 5)), rng.integers(0, 5, 8)), {"eps": 0.25}),
            (CE_LARGE[0], (big, rng.integers(0, 4, 6)), {"eps": 0.1}),
            (CE_LARGE[1], (rng.normal(0, 2, (5, 3)) + 700.0, rng.integers(0, 3, 5)), {"eps": 0.2})]


exercise("10.label_smoothing", smooth_labels=cases(_smooth_cases), smoothed_cross_entropy=cases(_ce_cases))


# --- EMA of the weights -------------------------------------------------------------------------

def sequence_runner(sequences):
    """A runner for ema_update: sequences() gives (label, [weights_1, weights_2, ...], momentum).

    Each call gets the ema the function itself returned last time (None the first time) and the
    next weights; records "label, update k" with the returned ema as output.
    """
    def one(label, weights_seq, momentum, fn):
        out, ema = {}, None
        for k, weights in enumerate(weights_seq, start=1):
            record, value = call(fn, ema, [w.copy() for w in weights], momentum)
            ema = value
            out[f"{label}, update {k}"] = record
            if record["error"] is not None:
                break
        return out

    def runner(fn, functions):
        out = {}
        for label, seq, momentum in sequences():
            out.update(isolated(label, lambda: one(label, seq, momentum, fn), steps=True))
        return out
    return runner


EMA_VISIBLE = "the visible example: [1, 2] and [[0.5]], momentum 0.9"


def _ema_sequences():
    rng = case_rng("10.ema_update", "ema_update", 1004)
    kernel = [[rng.normal(size=(4, 3)) + 0.1 * k, rng.normal(size=3)] for k in range(6)]
    drift = [[np.full(5, float(k)) + rng.normal(0, 0.1, 5)] for k in range(4)]
    return [(EMA_VISIBLE, [[np.array([1.0, 2.0]), np.array([[0.5]])], [np.array([3.0, 2.0]), np.array([[1.5]])],
                           [np.array([0.0, 0.0]), np.array([[-0.5]])]], 0.9),
            ("a (4, 3) kernel and a bias, momentum 0.99", kernel, 0.99),
            ("drifting weights of shape (5,), momentum 0.5", drift, 0.5)]


exercise("10.ema_update", ema_update=sequence_runner(_ema_sequences))


# --- gradient accumulation ----------------------------------------------------------------------

ACC_VALUES = ["the visible example: 4 micro-batches, k 2",
              "8 micro-batches of a (3, 2) kernel and a bias, k 4",
              "6 micro-batches, k 1 (every micro-batch is an update)",
              "6 micro-batches, k 6 (one update)"]
ACC_REST = ["10 micro-batches, k 4 (the last 2 make no update)",
            "3 micro-batches, k 4 (no update yet)"]


def _micro(rng, n, shapes):
    return [[rng.normal(size=s) for s in shapes] for _ in range(n)]


def _acc_cases():
    rng = case_rng("10.accumulate_gradients", "accumulate_gradients", 1005)
    visible = [[np.array([1.0, 2.0])], [np.array([3.0, 0.0])], [np.array([-1.0, 1.0])], [np.array([1.0, 1.0])]]
    return [(ACC_VALUES[0], (visible, 2), {}),
            (ACC_VALUES[1], (_micro(rng, 8, [(3, 2), (2,)]), 4), {}),
            (ACC_VALUES[2], (_micro(rng, 6, [(2, 2)]), 1), {}),
            (ACC_VALUES[3], (_micro(rng, 6, [(3,), (1,)]), 6), {}),
            (ACC_REST[0], (_micro(rng, 10, [(2, 3), (3,)]), 4), {}),
            (ACC_REST[1], (_micro(rng, 3, [(2,)]), 4), {})]


exercise("10.accumulate_gradients", accumulate_gradients=cases(_acc_cases))
