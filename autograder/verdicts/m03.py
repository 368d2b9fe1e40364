"""Verdicts of 03_activations: the nonsaturating activations, two derivatives, dead_relu_fraction."""
from autograder.cases.m03 import TAILS
from deeptrain import reference

from . import Check, Verdict, dtype, matches, returns_type
from .models import numpy_builder

FLOAT32 = "float32 z of shape (2, 3)"
LARGE = "large |z|: [-1e4, -800, 800, 1e4]"
NEAR_ZERO = "z near 0: [-1e-12, -1e-10, -1e-8]"
WITH_ZERO = "z = [-2, -1, 0, 1, 3]"
GRADIENT_LIBRARY = {"GradientTape", "gradient", "grad", "jacobian", "EluGrad", "LeakyReluGrad", "SeluGrad"}


def _values(fn, points, message, exclude=(), name="values", only=None):
    # atol 1e-12: no docstring here promises relative precision in a tail (elu's near 0 has its own check).
    chosen = (lambda c: c in only) if only else (
        lambda c: c not in (FLOAT32,) + tuple(exclude) and "alpha=" not in c and "beta=" not in c)
    return Check(fn, points, message, matches(chosen, rtol=1e-7, atol=1e-12), name)


def _with(parameter, zero=None):
    """The cases that pass `parameter` (alpha=, beta=); zero: True/False for those with a z = 0."""
    return lambda c: f"{parameter}=" in c and (zero is None or ("0, 1]" in c) == zero)


def _parameter(fn, points, message, parameter, name, zero=None):
    return Check(fn, points, message, matches(_with(parameter, zero), rtol=1e-7, atol=1e-12), name)


def _float64(fn, points):
    return Check(fn, points, "return a float64 array of z's shape (convert z with np.asarray(z, dtype=np.float64))",
                 dtype("float64"), "float64")


leaky = Verdict(
    exercise="03.leaky_relu", cell="test_leaky_relu",
    reference={"leaky_relu": reference.leaky_relu, "leaky_relu_grad": reference.leaky_relu_grad},
    forbidden={"leaky_relu": {"leaky_relu", "LeakyReLU", "LeakyRelu"},
               "leaky_relu_grad": {"leaky_relu", "LeakyReLU", "LeakyRelu"} | GRADIENT_LIBRARY},
    checks=[
        _values("leaky_relu", 0.5, "leaky_relu(z) is z where z > 0 and alpha * z where z <= 0"),
        _parameter("leaky_relu", 0.25, "use the alpha given (not a constant): alpha * z where z <= 0", "alpha", "alpha"),
        _float64("leaky_relu", 0.25),
        Check("leaky_relu_grad", 0.25, "the derivative at z = 0 is alpha (the docstring's convention)",
              matches(lambda c: c.startswith(("z = [-2, -1, 0", "z = [-1, 0, 1]")), rtol=1e-12), "at_zero",
              after="values"),
        Check("leaky_relu_grad", 0.5, "leaky_relu_grad(z) is 1 where z > 0 and alpha where z <= 0 (the alpha given)",
              matches(lambda c: c != FLOAT32 and not c.startswith(("z = [-2, -1, 0", "z = [-1, 0, 1]")), rtol=1e-7,
                      atol=1e-12), "values"),
        _float64("leaky_relu_grad", 0.25),
    ])



def _overflow(fn, message):
    """The overflow rule judged by the tail values (exactly, rtol 1e-7): an exp that overflowed gives inf or
    nan there (inf * 0, inf - inf), whatever warnings were silenced; right values are right however computed."""
    return Check(fn, 0.25, message, matches([LARGE], rtol=1e-7, atol=0.0), "overflow", after="values")


elu = Verdict(
    exercise="03.elu_selu", cell="test_elu_selu",
    reference={"elu": reference.elu, "elu_grad": reference.elu_grad, "selu": reference.selu},
    forbidden={"elu": {"elu", "ELU", "Elu", "selu", "SELU", "Selu"},
               "elu_grad": {"elu", "ELU", "Elu"} | GRADIENT_LIBRARY,
               "selu": {"selu", "SELU", "Selu", "elu", "ELU", "Elu"}},
    checks=[
        _overflow("elu", "elu overflowed for large |z| (inf or nan in the tails): take exp only of z <= 0 "
                  "(e.g. np.expm1(np.minimum(z, 0)))"),
        Check("elu", 0.25, "full relative precision near 0: alpha * (exp(z) - 1) loses digits there; use np.expm1(z)",
              matches([NEAR_ZERO], rtol=1e-7), "near_zero", after="values"),
        _values("elu", 0.25, "elu(z) is z where z > 0 and alpha * (exp(z) - 1) where z <= 0", exclude=(NEAR_ZERO, LARGE)),
        _parameter("elu", 0.25, "use the alpha given (not a constant): alpha * (exp(z) - 1) where z <= 0", "alpha", "alpha"),
        _float64("elu", 0.25),
        _overflow("elu_grad", "elu_grad overflowed for large |z| (inf or nan in the tails): take exp only of z <= 0"),
        Check("elu_grad", 0.125, "the derivative at z = 0 is alpha (alpha at z = 0: the left branch, as TensorFlow)",
              matches(lambda c: c.startswith(("z = [-2, -1, 0", "z = [-1, 0, 1]")), rtol=1e-12), "at_zero",
              after=("values", "alpha")),
        Check("elu_grad", 0.25, "elu_grad(z) is 1 where z > 0 and alpha * exp(z) where z <= 0",
              matches(lambda c: c not in (FLOAT32, LARGE) and "alpha=" not in c and not c.startswith("z = [-2, -1, 0"),
                      rtol=1e-7, atol=1e-12), "values"),
        _parameter("elu_grad", 0.125, "use the alpha given (not a constant): alpha * exp(z) where z <= 0", "alpha",
                   "alpha", zero=False),
        _overflow("selu", "selu overflowed for large |z| (inf or nan in the tails): take exp only of z <= 0"),
        _values("selu", 0.5, "selu(z) = SELU_SCALE * elu(z, SELU_ALPHA) with the constants given", exclude=(LARGE,)),
        _float64("selu", 0.25),
    ])

gelu = Verdict(
    exercise="03.gelu_swish_mish", cell="test_gelu_swish_mish",
    reference={"gelu": reference.gelu, "swish": reference.swish, "mish": reference.mish},
    forbidden={"gelu": {"gelu", "GELU", "Gelu"}, "swish": {"swish", "silu", "Swish", "SiLU", "hard_swish"},
               "mish": {"mish", "Mish", "softplus", "Softplus", "log_expit"}},    # NumPy only: no library softplus
    checks=[
        _values("gelu", 0.75, "gelu(z) = z / 2 * (1 + erf(z / sqrt(2))), the exact (erf) form, not the tanh approximation"),
        _float64("gelu", 0.25),
        _values("swish", 0.25, "swish(z) = z * sigmoid(beta * z)", exclude=(TAILS,)),
        Check("swish", 0.25, "swish overflowed for large |z| (its tail values are wrong: swish(-710) is about -3e-306): "
              "compute sigmoid(beta * z) without overflow, from exp(-|beta z|)", matches([TAILS], rtol=1e-7, atol=0.0),
              "overflow", after="values"),
        _parameter("swish", 0.25, "use the beta given: swish(z) = z * sigmoid(beta * z)", "beta", "beta"),
        _float64("swish", 0.25),
        _values("mish", 0.5, "mish(z) = z * tanh(softplus(z)), softplus(z) = log(1 + exp(z))", exclude=(TAILS,)),
        Check("mish", 0.25, "mish overflowed for large |z| (inf or nan in its tails): compute softplus without overflow, "
              "e.g. np.logaddexp(0, z) or np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))",
              matches([TAILS], rtol=1e-7, atol=1e-300), "overflow", after="values"),
        _float64("mish", 0.25),
    ])

DEAD_VALUES = ["hidden Dense(8, relu), Dense(4, relu); 3 + 1 dead units",
               "with a Dropout layer after the first hidden layer (identity at inference)", "one row of X"]
dead = Verdict(
    exercise="03.dead_relu_fraction", cell="test_dead_relu_fraction",
    reference={"dead_relu_fraction": reference.dead_relu_fraction, "_grader_model_builder": numpy_builder},
    forbidden={"dead_relu_fraction": {"dead_relu_fraction"}},
    checks=[
        Check("dead_relu_fraction", 1.5, "a hidden ReLU unit is dead when it outputs 0 on EVERY row of X; "
              "return dead units / hidden ReLU units (run X through the layers at inference: dropout is off)",
              matches(DEAD_VALUES, rtol=1e-12), "values"),
        Check("dead_relu_fraction", 0.5, "the output layer (the last Dense) is not hidden: do not count its units",
              matches(["the output layer is a relu layer with dead units (it is not hidden)"], rtol=1e-12), "output"),
        Check("dead_relu_fraction", 0.5, "only units of Dense layers whose activation is relu count",
              matches(["a sigmoid hidden layer (its units are not ReLU units)"], rtol=1e-12), "relu_only"),
        Check("dead_relu_fraction", 0.5, "return a Python float", returns_type(("float", "float64")), "float"),
    ])

VERDICTS = [leaky, elu, gelu, dead]
