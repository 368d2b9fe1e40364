"""Verdicts of 08_regularization: l1_l2_penalty, l1_l2_grad, dropout_forward, max_norm, mc_dropout_predict."""
import numpy as np

from deeptrain import reference

from . import Check, Verdict, diagnosis, dtype, enc_item, matches, returns_type, unchanged_inputs


def _each(fn):
    """A function of one array applied to one array or to each array of a list/tuple (a list out)."""
    return lambda weights, l1=0.0, l2=0.0: ([fn(np.asarray(w, np.float64), l1, l2) for w in weights]
                                            if isinstance(weights, (list, tuple)) else fn(np.asarray(weights, np.float64), l1, l2))


def _penalty_half_l2(weights, l1=0.0, l2=0.0):
    ws = weights if isinstance(weights, (list, tuple)) else [weights]
    return float(sum(l1 * np.abs(w).sum() + 0.5 * l2 * (np.asarray(w, np.float64) ** 2).sum() for w in ws))

LISTS = ["a list [ones(3), -ones((2, 2))], l1=1", "a tuple of two arrays, l2 only"]
ZEROS = "a (4, 5) array with zeros, l1=0.3, l2=0.2"
REGULARIZERS = {"L1L2", "L1", "L2", "l1_l2", "l2_loss", "regularizers"}

l1_l2 = Verdict(
    exercise="08.l1_l2", cell="test_l1_l2",
    reference={"l1_l2_penalty": reference.l1_l2_penalty, "l1_l2_grad": reference.l1_l2_grad},
    forbidden={"l1_l2_penalty": REGULARIZERS, "l1_l2_grad": REGULARIZERS | {"GradientTape", "gradient"}},
    checks=[
        Check("l1_l2_penalty", 0.5, "a list or tuple of arrays: sum the penalty over every entry of every array",
              matches(LISTS, rtol=1e-12), "lists", after="values"),
        diagnosis("l1_l2_penalty", 0.25, "no factor 1/2: Keras' l2 term is l2 * sum w**2", _penalty_half_l2, "half"),
        Check("l1_l2_penalty", 0.5, "l1 * sum |w| + l2 * sum w**2 (as keras.regularizers.L1L2)",
              matches(lambda c: c not in LISTS, rtol=1e-12), "values"),
        Check("l1_l2_penalty", 0.25, "return a Python float", returns_type(("float", "float64")), "float"),
        diagnosis("l1_l2_grad", 0.25, "the l2 part of the gradient is 2 * l2 * w (the derivative of l2 * w**2)",
                  _each(lambda w, l1, l2: l1 * np.sign(w) + l2 * w), "factor_two"),
        Check("l1_l2_grad", 0.5, "the l1 part of the gradient is 0 where w = 0 (np.sign)",
              matches([ZEROS], rtol=1e-12), "zeros", after="values"),
        Check("l1_l2_grad", 0.5, "a list or tuple in gives a list of arrays out, one per input, same shapes",
              matches(LISTS, rtol=1e-12), "lists", after="values"),
        Check("l1_l2_grad", 0.25, "l1 * sign(w) + 2 * l2 * w", matches(lambda c: c not in LISTS + [ZEROS], rtol=1e-12),
              "values"),
    ])

NOT_TRAINING = "training=False"
DROP_F32 = "float32 x of shape (2, 5), rate 0.5"
EDGES = ["rate 0", "rate 1 (everything dropped)"]
def _dropout_variant(keep):
    """dropout_forward with the mask drawn another way: "below_rate" (random < rate: rate read as the keep
    probability, as in CS231n's assignment) or "below_keep" (random < 1 - rate, as in deeplearning.ai's)."""
    def forward(x, rate, training=True, seed=None):
        x = np.asarray(x, np.float64)
        if not training:
            return x.copy()
        p = rate if keep == "below_rate" else 1 - rate     # the keep probability, as those conventions read it
        mask = np.random.default_rng(seed).random(x.shape) < p
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.nan_to_num(x * mask / p)          # p = 0: 0 / 0, read as 0
    return forward


dropout = Verdict(
    exercise="08.dropout_forward", cell="test_dropout_forward",
    reference={"dropout_forward": reference.dropout_forward},
    forbidden={"dropout_forward": {"Dropout", "dropout", "AlphaDropout", "StatelessDropout"}},
    checks=[
        Check("dropout_forward", 0.25, "when training is False, return x unchanged (as float64)",
              matches([NOT_TRAINING], rtol=0, atol=0), "not_training"),
        diagnosis("dropout_forward", 0.25, "rate is the probability of DROPPING an entry: keep = random >= rate (not "
                  "random < rate, which treats rate as the keep probability)", _dropout_variant(keep="below_rate"),
                  "rate_is_drop"),
        diagnosis("dropout_forward", 0.25, "draw the mask exactly as the docstring says: keep = rng.random(x.shape) >= "
                  "rate (random < 1 - rate keeps as many entries, but other ones)", _dropout_variant(keep="below_keep"),
                  "mask"),
        Check("dropout_forward", 0.5, "keep = np.random.default_rng(seed).random(x.shape) >= rate, then x / (1 - rate) "
              "where kept and 0 elsewhere (inverted dropout: scale the kept entries)",
              matches(lambda c: c not in EDGES + [NOT_TRAINING, DROP_F32], rtol=1e-12), "values"),
        Check("dropout_forward", 0.25, "rate 0 returns x; rate 1 drops everything (zeros, no division by zero)",
              matches(EDGES, rtol=1e-12), "edges"),
        Check("dropout_forward", 0.25, "leave x unchanged: return a new array", unchanged_inputs(names={0: "x"}),
              "unchanged"),
        Check("dropout_forward", 0.25, "return float64", dtype("float64"), "float64", after="unchanged"),
    ])

DENSE = ["the docstring example (column norms 5 and 0.5), max_value 1", "a Dense kernel (20, 6), max_value 2"]
ZERO_COL = "a column of zeros"
MAX_F32 = "a float32 Dense kernel (4, 3)"
def _max_norm_variant(rows=False, fuzz=1e-7):
    def project(W, max_value, axis=0):
        W = np.asarray(W, np.float64)
        n = np.sqrt(np.sum(W ** 2, axis=-1 if rows else axis, keepdims=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            return W * np.minimum(n, max_value) / (fuzz + n)
    return project


max_norm = Verdict(
    exercise="08.max_norm", cell="test_max_norm",
    reference={"max_norm": reference.max_norm},
    forbidden={"max_norm": {"MaxNorm", "max_norm", "clip_by_norm"}},
    checks=[
        diagnosis("max_norm", 0.25, "one norm per unit: for a Dense kernel the norm runs over axis 0 (a column, the "
                  "incoming weights of a unit), not over a row", _max_norm_variant(rows=True), "per_unit"),
        Check("max_norm", 0.75, "W * min(norm, max_value) / (1e-7 + norm), with one norm per unit (column) for axis=0",
              matches(DENSE, rtol=1e-9), "values"),
        Check("max_norm", 0.25, "an all-zero column stays 0 (the 1e-7 in the denominator)",
              matches([ZERO_COL], rtol=1e-9), "zero", variant=_max_norm_variant(fuzz=0.0)),
        Check("max_norm", 0.5, "the norm runs over `axis` (an int or a tuple: (0, 1, 2) for a Conv2D kernel), kept "
              "as a size-1 axis (keepdims=True) so that it broadcasts against W",
              matches(lambda c: c not in DENSE + [ZERO_COL, MAX_F32], rtol=1e-9), "axis"),
        Check("max_norm", 0.25, "return float64 of W's shape", dtype("float64"), "float64"),
    ])

VERDICTS = [l1_l2, dropout, max_norm]

DEFAULT_N = "the default n_samples (100), 3 rows"
def _mc_variant(training):
    def predict(model, X, n_samples=100):
        p = np.stack([np.asarray(model(X, training=training), np.float64) for _ in range(n_samples)])
        return p.mean(axis=0), p.std(axis=0)
    return predict


mc_dropout = Verdict(
    exercise="08.mc_dropout_predict", cell="test_mc_dropout_predict",
    reference={"mc_dropout_predict": reference.mc_dropout_predict},
    forbidden={"mc_dropout_predict": {"mc_dropout_predict"}},
    checks=[
        diagnosis("mc_dropout_predict", 0.5, "call model(X, training=True): without training=True dropout is off, "
                  "every pass is the same and the std is 0", _mc_variant(training=False), "training"),
        Check("mc_dropout_predict", 0.75, "mean_proba is the mean over n_samples passes model(X, training=True), "
              "one pass per sample (axis 0 of the stacked passes)",
              matches(lambda c: c != DEFAULT_N, rtol=1e-5, atol=1e-7, part=lambda v: v[0], label="mean_proba"), "mean"),
        Check("mc_dropout_predict", 0.75, "std_proba is np.std over the passes (ddof=0), each with training=True "
              "(dropout on; without it every pass is the same and the std is 0)",
              matches(lambda c: c != DEFAULT_N, rtol=1e-5, atol=1e-7, part=lambda v: v[1], label="std_proba"), "std"),
        Check("mc_dropout_predict", 0.5, "n_samples defaults to 100",
              matches([DEFAULT_N], rtol=1e-5, atol=1e-7, part=lambda v: v[0], label="mean_proba"), "default",
              after="mean"),
        Check("mc_dropout_predict", 0.5, "return float64 NumPy arrays",
              lambda g, w: list(dtype("float64", part=enc_item(0))(g, w)) or list(dtype("float64", part=enc_item(1))(g, w)),
              "float64"),
    ])

VERDICTS = VERDICTS + [mc_dropout]
