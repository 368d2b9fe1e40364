"""Verdicts of 01_unstable_gradients: sigmoid, sigmoid_derivative, forward_variances, layer_gradient_norms."""
import numpy as np

from autograder.cases.m01 import DROPOUT
from deeptrain import reference

from . import Check, Verdict, describe, dtype, matches, out
from .models import numpy_builder

TAILS = "both tails: z = +-[30, 37, 40, 100, 700]"
LARGE = "large |z|: [-1e4, -745, -710, 710, 745, 1e4]"
FLOAT32 = "float32 z of shape (2, 3)"
CALLABLE = "a callable activation (np.sin), 4 layers of 12"
NUMPY_DELEGATION = {"expit", "log_expit", "sigmoid", "Sigmoid", "logistic", "softplus"}

NEGATIVE = lambda v: v[: len(v) // 2]    # noqa: E731  the z < 0 half of LARGE and TAILS (symmetric)
POSITIVE = lambda v: v[len(v) // 2:]     # noqa: E731


sigmoid = Verdict(
    exercise="01.sigmoid", cell="test_sigmoid",
    reference={"sigmoid": reference.sigmoid, "sigmoid_derivative": reference.sigmoid_derivative},
    forbidden={"sigmoid": NUMPY_DELEGATION, "sigmoid_derivative": NUMPY_DELEGATION},
    checks=[
        # Rules judged by the values in the tails, compared exactly (subnormals included: sigmoid(-745) is
        # about 5e-324, the naive formula gives 0 whether or not its overflow warning was silenced).
        Check("sigmoid", 0.25, "sigmoid overflowed for large |z| (its tail values are wrong): take exp of non-positive "
              "numbers only, e.g. exp(-|z|), and pick the formula by the sign of z",
              matches([LARGE], rtol=1e-7, atol=0.0), "overflow", after="values"),
        Check("sigmoid", 0.5, "sigmoid(z) differs from 1 / (1 + exp(-z))", matches(lambda c: c != FLOAT32, rtol=1e-7, atol=1e-300), "values"),
        Check("sigmoid", 0.25, "return a float64 array of z's shape (convert z with np.asarray(z, dtype=np.float64))",
              dtype("float64"), "dtype"),
        Check("sigmoid_derivative", 0.1, "sigmoid_derivative overflowed for large negative z (its tail values are wrong): "
              "compute it from exp(-|z|) or as sigma(z) * sigma(-z)",
              matches([LARGE, TAILS], rtol=1e-7, atol=0.0, part=NEGATIVE), "overflow", after="values"),
        Check("sigmoid_derivative", 0.4, "keep full relative precision in both tails: 1 - sigma(z) cancels to 0 "
              "for z > 37; write the derivative as sigma(z) * sigma(-z)",
              matches([LARGE, TAILS], rtol=1e-7, atol=0.0, part=POSITIVE), "tails", after="values"),
        Check("sigmoid_derivative", 0.4, "sigmoid_derivative(z) differs from sigma(z) * (1 - sigma(z))",
              matches(lambda c: c not in (TAILS, FLOAT32, LARGE), rtol=1e-7, atol=1e-12), "values"),
        Check("sigmoid_derivative", 0.1, "return a float64 array of z's shape", dtype("float64"), "dtype"),
    ])

forward_variances = Verdict(
    exercise="01.forward_variances", cell="test_forward_variances",
    reference={"forward_variances": reference.forward_variances},
    forbidden={"forward_variances": set()},
    checks=[
        Check("forward_variances", 1.5, "the variances differ from the recipe: from np.random.default_rng(seed) "
              "draw X first, then one W per layer, in that order; a <- activation(a @ W); np.var over every "
              "sample and unit of each layer", matches(lambda c: c != CALLABLE, rtol=1e-7), "values"),
        Check("forward_variances", 0.5, "accept a callable activation as well as a name (see ACTIVATIONS)",
              matches([CALLABLE], rtol=1e-7), "callable"),
    ])

def _in_training(got, want):
    """Test: on the model with dropout, the norms are those of a training pass: finite, one per kernel, and
    not the inference norms (which the reference gives: it has no dropout masks to draw)."""
    g = got.get(DROPOUT)
    if not g or g.get("error"):
        yield f"case {DROPOUT}: " + (f"raised {g['error']}" if g else "not run")
        return
    norms, inference = np.asarray(out(g), dtype=np.float64), np.asarray(out(want[DROPOUT]), dtype=np.float64)
    if norms.shape != inference.shape or not np.all(np.isfinite(norms)):
        yield f"case {DROPOUT}: expected {inference.size} finite norms, got {describe(out(g))}"
    elif np.allclose(norms, inference, rtol=1e-6, atol=1e-12):
        yield f"case {DROPOUT}: the norms are those of the model at inference (dropout off): {norms.round(6).tolist()}"


def _gradient_norms_reference(model, X, y, loss_fn):
    return reference.layer_gradient_norms(model, X, y, loss_fn)


gradient_norms = Verdict(
    exercise="01.layer_gradient_norms", cell="test_layer_gradient_norms",
    reference={"layer_gradient_norms": _gradient_norms_reference, "_grader_model_builder": numpy_builder},
    forbidden={"layer_gradient_norms": {"layer_gradient_norms"}},
    checks=[
        Check("layer_gradient_norms", 2.0, "one L2 norm of d loss / d kernel per layer with a kernel, input to output "
              "(tf.GradientTape on loss_fn(y, model(X, training=True)), then tf.norm of each kernel's gradient)",
              matches(lambda c: c != DROPOUT, rtol=1e-6, atol=1e-12), "values"),
        Check("layer_gradient_norms", 0.5, "call the model with training=True, as in training: with a Dropout layer the "
              "gradients are those of the thinned network, not of the model at inference", _in_training, "training",
              after="values"),
        Check("layer_gradient_norms", 0.5, "return a NumPy float64 array", dtype("float64"), "float64"),
    ])

VERDICTS = [sigmoid, forward_variances, gradient_norms]
