"""Verdicts of 08_regularization: l1_l2_penalty, l1_l2_grad, dropout_forward, max_norm, mc_dropout_predict."""
from deeptrain import reference

from . import Check, Verdict, dtype, enc_item, matches, returns_type, unchanged_inputs

LISTS = ["a list [ones(3), -ones((2, 2))], l1=1", "a tuple of two arrays, l2 only"]
ZEROS = "a (4, 5) array with zeros, l1=0.3, l2=0.2"
REGULARIZERS = {"L1L2", "L1", "L2", "l1_l2", "l2_loss", "regularizers"}

l1_l2 = Verdict(
    exercise="08.l1_l2", cell="test_l1_l2",
    reference={"l1_l2_penalty": reference.l1_l2_penalty, "l1_l2_grad": reference.l1_l2_grad},
    forbidden={"l1_l2_penalty": REGULARIZERS, "l1_l2_grad": REGULARIZERS | {"GradientTape", "gradient"}},
    checks=[
        Check("l1_l2_penalty", 0.5, "a list or tuple of arrays: sum the penalty over every entry of every array",
              matches(LISTS, rtol=1e-12), "lists"),
        Check("l1_l2_penalty", 0.75, "l1 * sum |w| + l2 * sum w**2 (no factor 1/2, as keras.regularizers.L1L2)",
              matches(lambda c: c not in LISTS, rtol=1e-12), "values"),
        Check("l1_l2_penalty", 0.25, "return a Python float", returns_type(("float", "float64")), "float"),
        Check("l1_l2_grad", 0.5, "the l1 part of the gradient is 0 where w = 0 (np.sign), and 2 * l2 * w for l2",
              matches([ZEROS], rtol=1e-12), "zeros"),
        Check("l1_l2_grad", 0.5, "a list or tuple in gives a list of arrays out, one per input, same shapes",
              matches(LISTS, rtol=1e-12), "lists"),
        Check("l1_l2_grad", 0.5, "l1 * sign(w) + 2 * l2 * w", matches(lambda c: c not in LISTS + [ZEROS], rtol=1e-12),
              "values"),
    ])

NOT_TRAINING = "training=False"
DROP_F32 = "float32 x of shape (2, 5), rate 0.5"
EDGES = ["rate 0", "rate 1 (everything dropped)"]
dropout = Verdict(
    exercise="08.dropout_forward", cell="test_dropout_forward",
    reference={"dropout_forward": reference.dropout_forward},
    forbidden={"dropout_forward": {"Dropout", "dropout", "AlphaDropout", "StatelessDropout"}},
    checks=[
        Check("dropout_forward", 0.25, "when training is False, return x unchanged (as float64)",
              matches([NOT_TRAINING], rtol=0, atol=0), "not_training"),
        Check("dropout_forward", 1.0, "keep = np.random.default_rng(seed).random(x.shape) >= rate, then x / (1 - rate) "
              "where kept and 0 elsewhere (inverted dropout: scale the kept entries)",
              matches(lambda c: c not in EDGES + [NOT_TRAINING, DROP_F32], rtol=1e-12), "values"),
        Check("dropout_forward", 0.25, "rate 0 returns x; rate 1 drops everything (zeros, no division by zero)",
              matches(EDGES, rtol=1e-12), "edges"),
        Check("dropout_forward", 0.25, "leave x unchanged: return a new array", unchanged_inputs(names={0: "x"}),
              "unchanged"),
        Check("dropout_forward", 0.25, "return float64", dtype("float64"), "float64"),
    ])

DENSE = ["the docstring example (column norms 5 and 0.5), max_value 1", "a Dense kernel (20, 6), max_value 2"]
ZERO_COL = "a column of zeros"
MAX_F32 = "a float32 Dense kernel (4, 3)"
max_norm = Verdict(
    exercise="08.max_norm", cell="test_max_norm",
    reference={"max_norm": reference.max_norm},
    forbidden={"max_norm": {"MaxNorm", "max_norm", "clip_by_norm"}},
    checks=[
        Check("max_norm", 1.0, "W * min(norm, max_value) / (1e-7 + norm), with one norm per unit (column) for axis=0",
              matches(DENSE, rtol=1e-9), "values"),
        Check("max_norm", 0.25, "an all-zero column stays 0 (the 1e-7 in the denominator)",
              matches([ZERO_COL], rtol=1e-9), "zero"),
        Check("max_norm", 0.5, "the norm runs over `axis` (an int or a tuple: (0, 1, 2) for a Conv2D kernel), kept "
              "as a size-1 axis (keepdims=True) so that it broadcasts against W",
              matches(lambda c: c not in DENSE + [ZERO_COL, MAX_F32], rtol=1e-9), "axis"),
        Check("max_norm", 0.25, "return float64 of W's shape", dtype("float64"), "float64"),
    ])

VERDICTS = [l1_l2, dropout, max_norm]

DEFAULT_N = "the default n_samples (100), 3 rows"
mc_dropout = Verdict(
    exercise="08.mc_dropout_predict", cell="test_mc_dropout_predict",
    reference={"mc_dropout_predict": reference.mc_dropout_predict},
    forbidden={"mc_dropout_predict": {"mc_dropout_predict"}},
    checks=[
        Check("mc_dropout_predict", 1.0, "mean_proba is the mean over n_samples passes model(X, training=True), "
              "one pass per sample (axis 0 of the stacked passes)",
              matches(lambda c: c != DEFAULT_N, rtol=1e-5, atol=1e-7, part=lambda v: v[0], label="mean_proba"), "mean"),
        Check("mc_dropout_predict", 1.0, "std_proba is np.std over the passes (ddof=0), each with training=True "
              "(dropout on; without it every pass is the same and the std is 0)",
              matches(lambda c: c != DEFAULT_N, rtol=1e-5, atol=1e-7, part=lambda v: v[1], label="std_proba"), "std"),
        Check("mc_dropout_predict", 0.5, "n_samples defaults to 100", matches([DEFAULT_N], rtol=1e-5, atol=1e-7),
              "default"),
        Check("mc_dropout_predict", 0.5, "return float64 NumPy arrays",
              lambda g, w: list(dtype("float64", part=enc_item(0))(g, w)) or list(dtype("float64", part=enc_item(1))(g, w)),
              "float64"),
    ])

VERDICTS = VERDICTS + [mc_dropout]
