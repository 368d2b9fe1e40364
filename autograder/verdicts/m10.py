"""Verdicts of 10_training_recipe: warmup_cosine, smooth_labels / smoothed_cross_entropy, ema_update,
accumulate_gradients.

One fault, one deduction: the cases are split by what they test (the warmup, the decay, the end of the
run, alpha, no warmup; small and large logits; the first EMA update and the later ones; complete groups
and a remainder), and the refinements are judged only on a right base (``after``).
"""
import numpy as np

from deeptrain import reference

from autograder.cases import m10 as C

from . import Check, Verdict, dtype, enc_item, matches, returns_type, unchanged_inputs



# --- named faults as code (a check's variant: the reference with exactly that mistake) ---------------

def _smooth_other_classes(y, n_classes, eps):
    y = np.asarray(y).astype(np.int64)
    out = np.full((len(y), n_classes), eps / (n_classes - 1))
    out[np.arange(len(y)), y] = 1 - eps
    return out


def _ce_sum(logits, y, eps=0.1):
    return reference.smoothed_cross_entropy(logits, y, eps) * len(y)


def _ema_from_zero(ema, weights, momentum=0.99):
    if ema is None:
        ema = [np.zeros(np.shape(w)) for w in weights]
    return reference.ema_update(ema, weights, momentum)


def _accumulate_sum(micro_grads, accumulation_steps):
    return [[g * accumulation_steps for g in update]
            for update in reference.accumulate_gradients(micro_grads, accumulation_steps)]


SCHEDULES = {"CosineDecay", "CosineDecayRestarts", "cosine_decay", "LearningRateSchedule", "OneCycleSchedule"}

warmup_cosine = Verdict(
    exercise="10.warmup_cosine", cell="test_warmup_cosine",
    reference={"warmup_cosine": reference.warmup_cosine},
    forbidden={"warmup_cosine": SCHEDULES},
    checks=[
        Check("warmup_cosine", 1.0, "during the warmup (step < warmup_steps) the rate rises linearly from "
              "initial_learning_rate to warmup_target: initial + (target - initial) * step / warmup_steps",
              matches(C.WARMUP, rtol=1e-9, atol=1e-15), "warmup"),
        Check("warmup_cosine", 1.0, "after the warmup the cosine decays over decay_steps counted from the END of the "
              "warmup: target * (1 + cos(pi * (step - warmup_steps) / decay_steps)) / 2",
              matches(C.DECAY, rtol=1e-9, atol=1e-15), "decay"),
        Check("warmup_cosine", 0.25, "after warmup_steps + decay_steps the rate stays at alpha * warmup_target "
              "(clamp the decay's step at decay_steps, or the cosine rises again)",
              matches(C.AFTER, rtol=1e-9, atol=1e-15), "after", after=("decay",)),
        Check("warmup_cosine", 0.25, "alpha is a fraction of the peak: peak * ((1 - alpha) * cosine + alpha), so the "
              "rate ends at alpha * peak", matches(C.ALPHA, rtol=1e-9, atol=1e-15), "alpha", after=("decay",)),
        Check("warmup_cosine", 0.25, "warmup_target None means no warmup: the cosine decays from "
              "initial_learning_rate over decay_steps", matches(C.NO_WARMUP, rtol=1e-9, atol=1e-15), "no_warmup",
              after=("decay",)),
        Check("warmup_cosine", 0.25, "return float64 of step's shape",
              dtype("float64", lambda c: not c.startswith("a scalar")), "float64"),
    ])

LOSSES = {"CategoricalCrossentropy", "categorical_crossentropy", "softmax_cross_entropy_with_logits",
          "softmax_cross_entropy_with_logits_v2", "log_softmax", "logsumexp", "sparse_categorical_crossentropy",
          "SparseCategoricalCrossentropy", "smooth_labels", "smoothed_cross_entropy"}

label_smoothing = Verdict(
    exercise="10.label_smoothing", cell="test_label_smoothing",
    reference={"smooth_labels": reference.smooth_labels, "smoothed_cross_entropy": reference.smoothed_cross_entropy},
    forbidden={"smooth_labels": {"CategoricalCrossentropy", "one_hot", "to_categorical", "label_smoothing"},
               "smoothed_cross_entropy": LOSSES},
    checks=[
        Check("smooth_labels", 0.5, "(1 - eps) * one_hot(y) + eps / n_classes: every class gets eps / n_classes, "
              "the true class 1 - eps + eps / n_classes (Keras' rule, not eps / (n_classes - 1))",
              matches(C.LABELS, rtol=1e-12, atol=1e-15), "values", variant=_smooth_other_classes),
        Check("smooth_labels", 0.25, "the targets have n_classes columns even when the top classes do not occur in y",
              matches(C.TOP_ABSENT, rtol=1e-12), "n_classes", after=("values",)),
        Check("smooth_labels", 0.25, "return float64", dtype("float64"), "float64"),
        Check("smoothed_cross_entropy", 0.75, "the MEAN over the rows of -sum(smoothed targets * log softmax(logits)), "
              "with the targets smoothed by eps", matches(C.CE_VALUES, rtol=1e-9), "values", variant=_ce_sum),
        Check("smoothed_cross_entropy", 0.25, "with eps 0 it is the plain cross-entropy: the MEAN over the rows of "
              "-log softmax(logits)[y]", matches(C.CE_PLAIN, rtol=1e-9), "plain"),
        Check("smoothed_cross_entropy", 0.5, "large logits must not overflow: subtract each row's maximum before exp "
              "(a stable log-softmax)", matches(C.CE_LARGE, rtol=1e-9), "stable", after=("values",)),
        Check("smoothed_cross_entropy", 0.5, "return a Python float", returns_type(("float", "float64")), "float"),
    ])

ema_update = Verdict(
    exercise="10.ema_update", cell="test_ema_update",
    reference={"ema_update": reference.ema_update},
    forbidden={"ema_update": {"use_ema", "ExponentialMovingAverage", "_model_variables_moving_average",
                              "finalize_variable_values", "SWA"}},
    checks=[
        Check("ema_update", 0.5, "the first call (ema None) returns a copy of the weights, as Keras' use_ema does at "
              "iteration 0 (the average does not start at 0)",
              matches(lambda c: c.endswith(", update 1"), rtol=1e-12), "first", variant=_ema_from_zero),
        Check("ema_update", 1.0, "ema <- momentum * ema + (1 - momentum) * weights, each weight on its own, "
              "starting from the ema you returned last time", matches(rtol=1e-12, atol=1e-15), "values",
              after=("first",)),
        Check("ema_update", 0.25, "leave ema and weights unchanged: return a new list of new arrays "
              "(e.g. new = momentum * a + ..., not a *= momentum)",
              unchanged_inputs(names={0: "ema", 1: "weights"}), "in_place"),
        Check("ema_update", 0.25, "return a list of float64 arrays", dtype("float64", part=enc_item(0)), "float64"),
    ])

accumulate = Verdict(
    exercise="10.accumulate_gradients", cell="test_accumulate_gradients",
    reference={"accumulate_gradients": reference.accumulate_gradients},
    forbidden={"accumulate_gradients": {"gradient_accumulation_steps", "apply_gradients", "_accumulated_gradients"}},
    checks=[
        Check("accumulate_gradients", 1.0, "every k consecutive micro-batches make one update: the MEAN of their k "
              "gradients (not the sum), weight by weight", matches(C.ACC_VALUES, rtol=1e-12, atol=1e-15), "values",
              variant=_accumulate_sum),
        Check("accumulate_gradients", 0.5, "a last group of fewer than k micro-batches makes no update (Keras keeps it "
              "in its accumulators): return len(micro_grads) // k updates",
              matches(C.ACC_REST, rtol=1e-12, atol=1e-15), "remainder", after=("values",)),
        Check("accumulate_gradients", 0.25, "leave micro_grads unchanged (do not add into its arrays in place)",
              unchanged_inputs(names={0: "micro_grads"}), "unchanged"),
        Check("accumulate_gradients", 0.25, "return lists of float64 arrays",
              dtype("float64", C.ACC_VALUES, part=lambda enc: enc["list"][0]["list"][0]),
              "float64"),
    ])

VERDICTS = [warmup_cosine, label_smoothing, ema_update, accumulate]
