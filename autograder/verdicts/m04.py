"""Verdicts of 04_batch_norm: batchnorm_forward, batchnorm_backward, update_moving_stats, fold_batchnorm."""
import numpy as np

from deeptrain import reference

from . import Check, Verdict, diagnosis, dtype, enc_item, matches, unchanged_inputs

WORKED = "the worked example with eps=0 (mean [4, 20], variance [5, 150])"
CONSTANT = "a constant column"
FLOAT32 = "float32 inputs"
BN_LIBRARY = {"BatchNormalization", "batch_normalization", "moments", "normalize", "fused_batch_norm",
              "FusedBatchNorm", "FusedBatchNormV3", "batch_norm"}

def _bn_variant(ddof=0, eps_outside=False, fixed_eps=None):
    """batchnorm_forward with one named fault: the unbiased variance (ddof=1), eps added to the std, or an eps
    of one's own whatever is passed (PyTorch's 1e-5, Keras' 1e-3, 1e-8)."""
    def forward(x, gamma, beta, eps=1e-3):
        eps = eps if fixed_eps is None else fixed_eps
        x = np.asarray(x, dtype=np.float64)
        var = x.var(axis=0, ddof=ddof) if len(x) > ddof else np.zeros(x.shape[1])
        inv_std = 1.0 / (np.sqrt(var) + eps) if eps_outside else 1.0 / np.sqrt(var + eps)
        x_hat = (x - x.mean(axis=0)) * inv_std
        return gamma * x_hat + beta, {"x_hat": x_hat, "inv_std": inv_std, "gamma": np.asarray(gamma, np.float64)}
    return forward


def _fold_without_eps(W, b, gamma, beta, moving_mean, moving_var, eps=1e-3):
    return reference.fold_batchnorm(W, b, gamma, beta, moving_mean, moving_var, eps=0.0)


def _swapped_momentum(moving_mean, moving_var, batch_mean, batch_var, momentum):
    return reference.update_moving_stats(batch_mean, batch_var, moving_mean, moving_var, momentum)


forward = Verdict(
    exercise="04.batchnorm_forward", cell="test_batchnorm_forward",
    reference={"batchnorm_forward": reference.batchnorm_forward},
    forbidden={"batchnorm_forward": BN_LIBRARY},
    checks=[
        diagnosis("batchnorm_forward", 0.25, "use the eps given (eps=0 in the worked example, 4, 1e-5, ...), not a "
                  "constant of your own", tuple(_bn_variant(fixed_eps=e) for e in (1e-5, 1e-3, 1e-8)), "eps_given",
                  rtol=1e-9, atol=1e-12),
        Check("batchnorm_forward", 0.75, "divide by m, not m - 1: equation 11-3 uses the biased batch variance",
              matches([WORKED], rtol=1e-7, atol=1e-9, part=lambda v: v[0], label="out"), "biased",
              variant=_bn_variant(ddof=1)),
        Check("batchnorm_forward", 0.5, 'add eps to the variance inside the square root: inv_std = 1 / sqrt(var + eps)',
              matches([CONSTANT], rtol=1e-7, part=lambda v: v[1]["inv_std"][:1], label='cache["inv_std"] of the constant column'), "eps",
              variant=_bn_variant(eps_outside=True)),
        Check("batchnorm_forward", 0.5, "out differs from gamma * (x - mean) / sqrt(var + eps) + beta",
              matches(rtol=1e-7, atol=1e-9, part=lambda v: v[0], label="out"), "values"),
        Check("batchnorm_forward", 0.5, 'the cache must hold "x_hat", "inv_std" and "gamma" as the docstring defines them',
              matches(rtol=1e-7, atol=1e-9, part=lambda v: {k: v[1][k] for k in ("x_hat", "inv_std", "gamma")},
                      label="cache"), "cache"),
        Check("batchnorm_forward", 0.5, "out must be float64 even for float32 inputs (convert x first)",
              dtype("float64", [FLOAT32], part=enc_item(0)), "float64"),
    ])

backward = Verdict(
    exercise="04.batchnorm_backward", cell="test_batchnorm_backward",
    reference={"batchnorm_backward": reference.batchnorm_backward},
    forbidden={"batchnorm_backward": BN_LIBRARY | {"GradientTape", "gradient", "grad"}},
    checks=[
        Check("batchnorm_backward", 0.75, "dbeta is the sum of dout over the batch (axis 0)",
              matches(rtol=1e-7, atol=1e-10, part=lambda v: v[2], label="dbeta"), "dbeta"),
        Check("batchnorm_backward", 0.75, "dgamma is the sum of dout * x_hat over the batch (axis 0)",
              matches(rtol=1e-7, atol=1e-10, part=lambda v: v[1], label="dgamma"), "dgamma"),
        Check("batchnorm_backward", 1.5, "dx must include the paths through the batch mean and variance: "
              "dx = gamma * inv_std / m * (m * dout - sum(dout) - x_hat * sum(dout * x_hat))",
              matches(rtol=1e-7, atol=1e-10, part=lambda v: v[0], label="dx"), "dx"),
    ])

MOVING_F32 = "float32 inputs, momentum 0.9"
MOVING_FIRST = "moving [0, 0], [1, 1]; batch [1, 2], [4, 4]; momentum 0.9"
moving = Verdict(
    exercise="04.update_moving_stats", cell="test_update_moving_stats",
    reference={"update_moving_stats": reference.update_moving_stats},
    forbidden={"update_moving_stats": BN_LIBRARY | {"assign_moving_average", "ExponentialMovingAverage"}},
    checks=[
        Check("update_moving_stats", 0.5, "the momentum weights the OLD average: v_hat * momentum + v * (1 - momentum)",
              matches([MOVING_FIRST], rtol=1e-12, atol=1e-15), "direction", variant=_swapped_momentum),
        Check("update_moving_stats", 0.75, "new_mean / new_var differ from v_hat * momentum + v * (1 - momentum)",
              matches(lambda c: c != MOVING_F32, rtol=1e-12, atol=1e-15), "values"),
        Check("update_moving_stats", 0.5, "the inputs must be left unchanged: compute new arrays, no in-place update",
              unchanged_inputs(names={0: "moving_mean", 1: "moving_var", 2: "batch_mean", 3: "batch_var"}),
              "unchanged"),
        Check("update_moving_stats", 0.25, "return float64 arrays, also for float32 inputs (convert them first)",
              lambda g, w: list(dtype("float64", part=enc_item(0))(g, w)) or list(dtype("float64", part=enc_item(1))(g, w)),
              "float64", after="unchanged"),      # arrays updated in place keep the caller's dtype: one fault
    ])

FOLD_F32 = "float32 inputs, W of shape (3, 2), with a bias"
FOLD_NAMES = {0: "W", 1: "b", 2: "gamma", 3: "beta", 4: "moving_mean", 5: "moving_var"}
fold = Verdict(
    exercise="04.fold_batchnorm", cell="test_fold_batchnorm",
    reference={"fold_batchnorm": reference.fold_batchnorm},
    forbidden={"fold_batchnorm": BN_LIBRARY},
    checks=[
        diagnosis("fold_batchnorm", 0.5, "s = gamma / sqrt(moving_var + eps): the eps given goes inside the square "
                  "root", _fold_without_eps, "eps"),
        Check("fold_batchnorm", 1.0, "W_folded = W * s and b_folded = (b - moving_mean) * s + beta, "
              "with s = gamma / sqrt(moving_var + eps) (one factor per column, i.e. per unit)",
              matches(lambda c: "b=None" not in c and c != FOLD_F32, rtol=1e-7, atol=1e-12), "values"),
        Check("fold_batchnorm", 0.5, "b=None means a Dense without bias: fold as if b were zeros",
              matches(lambda c: "b=None" in c, rtol=1e-7, atol=1e-12), "no_bias"),
        Check("fold_batchnorm", 0.75, "the inputs must be left unchanged: compute new arrays, no in-place update",
              unchanged_inputs(names=FOLD_NAMES), "unchanged"),
        Check("fold_batchnorm", 0.25, "return float64 arrays, also for float32 inputs (convert them first)",
              lambda g, w: list(dtype("float64", part=enc_item(0))(g, w)) or list(dtype("float64", part=enc_item(1))(g, w)),
              "float64"),
    ])

VERDICTS = [forward, backward, moving, fold]
