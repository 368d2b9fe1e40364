"""Verdicts of 02_initialization: init_std, init_limit, variance_scaling, he_avg_dense."""
import numpy as np

from deeptrain import harvest, reference
from autograder.cases import m02 as harvest_cases

from . import Check, Verdict, dtype, matches, raises, returns_type

BAD = lambda c: c.startswith("bad arguments")        # noqa: E731
GOOD = lambda c: not c.startswith("bad arguments")   # noqa: E731
INIT_LIBRARY = {"GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform",
                "VarianceScaling", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal",
                "lecun_uniform", "compute_fans", "_compute_fans"}

init = Verdict(
    exercise="02.init_std", cell="test_init_std",
    reference={"init_std": reference.init_std, "init_limit": reference.init_limit},
    forbidden={"init_std": INIT_LIBRARY, "init_limit": INIT_LIBRARY},
    checks=[
        Check("init_std", 0.5, "sigma^2 is 1 / fan_avg (glorot), 2 / fan_in (he), 1 / fan_in (lecun), "
              "fan_avg = (fan_in + fan_out) / 2 (table 11-1)", matches(GOOD, rtol=1e-7), "values"),
        Check("init_std", 0.25, "raise ValueError for an unknown kind or a fan <= 0", raises("ValueError", BAD), "errors"),
        Check("init_std", 0.25, "return a Python float", returns_type(("float", "float64"), GOOD), "float"),
        Check("init_limit", 0.5, "r = sqrt(3 sigma^2): the uniform U(-r, r) with the normal's variance",
              matches(GOOD, rtol=1e-7), "values"),
        Check("init_limit", 0.25, "raise ValueError for an unknown kind or a fan <= 0", raises("ValueError", BAD), "errors"),
        Check("init_limit", 0.25, "return a Python float", returns_type(("float", "float64"), GOOD), "float"),
    ])


def _target(shape, scale, mode):
    """The variance Keras' VarianceScaling aims at, from the fans of the shape."""
    shape = tuple(shape)
    if len(shape) == 1:
        fan_in = fan_out = shape[0]
    elif len(shape) == 2:
        fan_in, fan_out = shape
    else:
        field = int(np.prod(shape[:-2]))
        fan_in, fan_out = shape[-2] * field, shape[-1] * field
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    return scale / max(1.0, n)


def _statistics(distribution, conv=False, tails=False):
    """Test: the sample variance is within 5 % of scale / n (at least 50,000 draws: 8 standard errors),
    the mean near 0, and uniform draws stay within [-limit, limit] and reach 99 % of it.
    conv: only the kernels of more than 2 dimensions (their fans include the receptive field), else only the others.
    tails: instead, an untruncated normal's tails: |w| > 2.5 sigma for 1.24 % of the draws (at least 0.8 %:
    10 standard errors below); Keras' "truncated_normal" never goes beyond 2.27 sigma."""
    def test(got, want):
        for (shape, scale, mode, dist, seed), (label, _, _) in zip(harvest_cases.VARIANCE_SCALING,
                                                                  harvest_cases._variance_scaling_cases()):
            if (distribution is not None and dist != distribution) or (len(shape) > 2) != conv:
                continue
            g = got.get(label, {})
            if g.get("error"):
                yield f"case {label}: raised {g['error']}"
                return
            w = harvest.decode(g.get("out"))
            if not isinstance(w, np.ndarray) or w.shape != tuple(shape):
                yield f"case {label}: expected an array of shape {tuple(shape)}, got {getattr(w, 'shape', type(w).__name__)}"
                return
            var, target = float(w.var()), _target(shape, scale, mode)
            if tails:
                share = float(np.mean(np.abs(w) > 2.5 * np.sqrt(target)))
                if share < 0.008:
                    yield (f"case {label}: {100 * share:.2f} % of the draws lie beyond 2.5 standard deviations; an "
                           "untruncated normal has 1.24 % there (a truncated normal, like Keras' 'truncated_normal', none)")
                    return
                continue
            if abs(var / target - 1) > 0.05 or abs(w.mean()) > 4 * np.sqrt(target / w.size) + 1e-12:
                yield (f"case {label}: sample variance {var:.4g} and mean {w.mean():.2g}; expected variance "
                       f"{target:.4g} = scale / {mode} (within 5 %) and mean 0")
                return
            if dist == "uniform":
                limit = np.sqrt(3 * target)
                if np.abs(w).max() > limit * (1 + 1e-9) or np.abs(w).max() < 0.99 * limit:
                    yield (f"case {label}: the largest |w| is {np.abs(w).max():.6g}; a uniform draw must stay within "
                           f"limit = sqrt(3 * scale / n) = {limit:.6g} and come close to it")
                    return
    return test


def _same_seed(got, want):
    cases = harvest_cases._variance_scaling_cases()
    first, again = cases[0][0], cases[-1][0]
    a, b = (harvest.decode(got.get(c, {}).get("out")) if not got.get(c, {}).get("error") else None
            for c in (first, again))
    if a is None or b is None or not np.array_equal(a, b):
        yield f"case {again}: the same seed must give the same weights (use np.random.default_rng(seed))"


variance_scaling = Verdict(
    exercise="02.variance_scaling", cell="test_variance_scaling",
    reference={"variance_scaling": reference.variance_scaling},
    forbidden={"variance_scaling": INIT_LIBRARY},
    checks=[
        Check("variance_scaling", 0.75, "normal: N(0, scale / n), n the fan that mode names", _statistics("normal"),
              "normal"),
        Check("variance_scaling", 0.5, "normal means untruncated: draw N(0, scale / n) itself (rng.normal), not a "
              "truncated normal rescaled to the same variance (Keras' 'truncated_normal')",
              _statistics("normal", tails=True), "untruncated", after="normal"),
        Check("variance_scaling", 0.75, "uniform: U(-limit, limit) with limit = sqrt(3 * scale / n)",
              _statistics("uniform"), "uniform"),
        Check("variance_scaling", 0.5, "the fans of a kernel (k1, ..., c_in, c_out) include the receptive field: "
              "fan_in = k1*...*c_in, fan_out = k1*...*c_out", _statistics(None, conv=True), "conv",
              after=("normal", "uniform")),
        Check("variance_scaling", 0.25, "the same seed gives the same weights", _same_seed, "seed"),
        Check("variance_scaling", 0.25, "return a float64 array of the given shape", dtype("float64"), "float64"),
    ])

VERDICTS = [init, variance_scaling]


def _he_avg_records(got):
    """(fan_in, units, activation, label, record) of each he_avg_dense case; a str when the
    case cannot be judged (nothing returned, or it raised): the caller yields it and stops."""
    if not got:
        yield "no layer was returned"
        return
    for fan_in, units, activation in harvest_cases.HE_AVG:
        label = f"he_avg_dense({units}, {activation!r}) built on inputs of width {fan_in}"
        rec = got.get(label, {})
        if rec.get("error"):
            yield f"case {label}: raised {rec['error']}"
            return
        yield fan_in, units, activation, label, rec


def _he_avg_statistics(got, want):
    """Test: the built kernel has variance 2 / fan_avg (within 5 %) and stays within the uniform limit."""
    for item in _he_avg_records(got):
        if isinstance(item, str):
            yield item
            return
        fan_in, units, activation, label, rec = item
        try:
            kernel = harvest.decode(rec["out"]["dict"]["kernel"])
        except (KeyError, TypeError, ValueError):
            yield f"case {label}: the layer has no kernel of shape (fan_in, units)"
            return
        target = 2.0 / ((fan_in + units) / 2)
        limit = np.sqrt(3 * target)
        if kernel.shape != (fan_in, units):
            yield f"case {label}: kernel of shape {kernel.shape}, expected {(fan_in, units)}"
            return
        if abs(kernel.var() / target - 1) > 0.05:
            yield (f"case {label}: the kernel's variance is {kernel.var():.4g}, expected 2 / fan_avg = {target:.4g}: "
                   "VarianceScaling(scale=2, mode='fan_avg', distribution='uniform')")
            return
        if np.abs(kernel).max() > limit * (1 + 1e-6) or np.abs(kernel).max() < 0.99 * limit:
            yield (f"case {label}: the largest |w| is {np.abs(kernel).max():.5g}; a uniform draw reaches the "
                   f"limit sqrt(3 * 2 / fan_avg) = {limit:.5g} and never exceeds it")
            return


def _he_avg_layer(got, want):
    """Test: a Dense layer with the units and activation asked for."""
    for item in _he_avg_records(got):
        if isinstance(item, str):
            yield item
            return
        fan_in, units, activation, label, rec = item
        try:
            d = {k: harvest.decode(v) for k, v in rec["out"]["dict"].items() if k != "kernel"}
        except (KeyError, TypeError, ValueError):
            yield f"case {label}: not a Dense layer"
            return
        want_act = activation or "linear"
        if d.get("class") != "Dense" or int(d.get("units", -1)) != units or d.get("activation") != want_act:
            yield (f"case {label}: got a {d.get('class')} with units={d.get('units')}, activation={d.get('activation')}; "
                   f"expected Dense, units={units}, activation={want_act!r}")
            return


he_avg = Verdict(
    exercise="02.he_avg_dense", cell="test_he_avg_dense",
    reference={"he_avg_dense": lambda units, activation=None: None, "_grader_model_builder": object()},
    forbidden={"he_avg_dense": {"HeUniform", "HeNormal", "GlorotUniform", "he_uniform", "he_normal"}},
    checks=[
        Check("he_avg_dense", 1.5, "the kernel must be drawn by VarianceScaling(scale=2, mode='fan_avg', "
              "distribution='uniform'): variance 2 / fan_avg, uniform within sqrt(3 * 2 / fan_avg)",
              _he_avg_statistics, "statistics"),
        Check("he_avg_dense", 0.5, "return a keras.layers.Dense with the units and activation given", _he_avg_layer,
              "layer"),
    ])

VERDICTS = VERDICTS + [he_avg]
