"""Batch normalization (module 04): TensorFlow kernels.

- ``batchnorm_forward``: equation 11-3 in training mode as plain TensorFlow ops
  (differentiable by ``tf.GradientTape``), numerically equal to the NumPy reference.
- ``fold_batchnorm_model``: a new Keras model for low-latency inference in which every
  inference-mode ``BatchNormalization`` layer that can be folded into a neighbouring
  ``Dense`` layer is gone (bench/bench_batchnorm.py measures what it buys).
- ``folding_plan``: what ``fold_batchnorm_model`` would do with each BN layer, and why.
- ``latency_comparison``: interleaved timing of two ways to predict (folded or not), wall and
  CPU time, repeated until the ratio is stable (the notebook's demo and bench_batchnorm).
"""
import time

import numpy as np
import tensorflow as tf

__all__ = ["batchnorm_forward", "update_moving_stats", "fold_batchnorm_model", "folding_plan", "latency_comparison"]


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    """Batch normalization in training mode (equation 11-3) as TensorFlow ops.

    x: (m, n) tensor or array (float32 or float64); gamma, beta: (n,), cast to x's dtype.
    Uses the biased batch variance (divide by m), like Keras 3 and the reference.
    Returns (out, batch_mean, batch_var): tensors of shapes (m, n), (n,), (n,).
    Gradients come from autodiff (no cache needed). This is the readable op used by demos
    and tests; it is not a replacement for ``keras.layers.BatchNormalization`` (which also
    keeps the moving statistics), so it is not benchmarked against it.
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, tf.float32)
    gamma = tf.cast(tf.convert_to_tensor(gamma, dtype_hint=x.dtype), x.dtype)
    beta = tf.cast(tf.convert_to_tensor(beta, dtype_hint=x.dtype), x.dtype)
    mean = tf.reduce_mean(x, axis=0)                             # step 1
    var = tf.reduce_mean(tf.square(x - mean), axis=0)            # step 2 (biased)
    x_hat = (x - mean) * tf.math.rsqrt(var + tf.constant(eps, x.dtype))  # step 3
    return gamma * x_hat + beta, mean, var                       # step 4


def update_moving_stats(moving_mean, moving_var, batch_mean, batch_var, momentum):
    """v_hat <- v_hat * momentum + v * (1 - momentum), for mean and variance (tensors).

    Returns (new_mean, new_var); if the first two arguments are ``tf.Variable`` they are
    left unchanged (assign the results if you want the update in place).
    """
    dtype = tf.convert_to_tensor(moving_mean).dtype
    momentum = tf.constant(momentum, dtype)     # not tf.cast: a Python float would go through float32
    new_mean = moving_mean * momentum + tf.cast(batch_mean, dtype) * (1 - momentum)
    new_var = moving_var * momentum + tf.cast(batch_var, dtype) * (1 - momentum)
    return new_mean, new_var


# --- folding -------------------------------------------------------------------------------

def _is_dense(layer):
    return (type(layer) is tf.keras.layers.Dense and not getattr(layer, "lora_enabled", False)
            and not getattr(layer, "quantization_mode", None))


def _is_linear(activation):
    if isinstance(activation, dict):
        activation = activation.get("config", {}).get("name", activation.get("class_name"))
    return activation in (None, "linear")


class _Dense:
    """A Dense layer to build: its config and float64 weights (b None when it has no bias)."""

    def __init__(self, layer):
        self.config = layer.get_config()
        self.W = layer.kernel.numpy().astype(np.float64)
        self.b = layer.bias.numpy().astype(np.float64) if layer.use_bias else None
        self.dtype = layer.kernel.numpy().dtype
        self.name = layer.name
        self.folded = []                     # names of the BN layers folded into it

    @property
    def linear(self):
        return _is_linear(self.config.get("activation"))

    def build(self):
        bias = self.b is not None or bool(self.folded)
        config = dict(self.config, use_bias=bias)
        layer = tf.keras.layers.Dense.from_config(config)
        weights = [self.W] + ([np.zeros(self.W.shape[1]) if self.b is None else self.b] if bias else [])
        return layer, [w.astype(self.dtype) for w in weights]


class _BN:
    """An inference-mode BN layer as the affine map x * s + t (float64 vectors)."""

    def __init__(self, layer):
        n = layer.moving_mean.shape[0]
        gamma = layer.gamma.numpy().astype(np.float64) if layer.scale else np.ones(n)
        beta = layer.beta.numpy().astype(np.float64) if layer.center else np.zeros(n)
        self.s = gamma / np.sqrt(layer.moving_variance.numpy().astype(np.float64) + layer.epsilon)
        self.t = beta - layer.moving_mean.numpy().astype(np.float64) * self.s
        self.layer, self.name = layer, layer.name
        self.why_not = []                    # reasons it could not fold, for the report


def _bn_on_last_axis(layer):
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    rank = len(layer.input.shape)
    return len(axis) == 1 and axis[0] in (-1, rank - 1)


def _plan(model):
    """The folded model as a list of _Dense, _BN (left in place) and Keras layers to copy,
    and the report: one line per BatchNormalization layer."""
    if not isinstance(model, tf.keras.Sequential):
        raise TypeError(f"fold_batchnorm_model supports keras.Sequential models, got {type(model).__name__}")
    if not model.built or not model.inputs:
        raise ValueError("build the model first (start it with keras.Input(shape=...))")
    items = []
    for layer in model.layers:
        if _is_dense(layer):
            items.append(_Dense(layer))
        elif isinstance(layer, tf.keras.layers.BatchNormalization) and _bn_on_last_axis(layer):
            items.append(_BN(layer))
        else:
            items.append(layer)
    report = {}

    # 1. Dense (linear) -> BN: scale the Dense's columns by s, map its bias b to b * s + t.
    out = []
    for item in items:
        prev = out[-1] if out else None
        if isinstance(item, _BN) and isinstance(prev, _Dense):
            if prev.linear:
                prev.W = prev.W * item.s
                prev.b = (np.zeros(prev.W.shape[1]) if prev.b is None else prev.b) * item.s + item.t
                prev.folded.append(item.name)
                report[item.name] = f"folded into the previous layer, {prev.name}"
                continue
            item.why_not.append(f"the activation {prev.config['activation']!r} of {prev.name} sits between them")
        out.append(item)
    items = out

    # 2. BN -> Dense (any activation): BN(a) @ W + b = a @ (s[:, None] * W) + (t @ W + b).
    out = []
    for item in reversed(items):
        nxt = out[-1] if out else None
        if isinstance(item, _BN) and isinstance(nxt, _Dense):
            nxt.b = (np.zeros(nxt.W.shape[1]) if nxt.b is None else nxt.b) + item.t @ nxt.W
            nxt.W = item.s[:, None] * nxt.W
            nxt.folded.insert(0, item.name)
            report[item.name] = f"folded into the next layer, {nxt.name}"
            continue
        if isinstance(item, _BN):
            item.why_not.append("no Dense layer right after it")
        out.append(item)
    items = out[::-1]
    for item in items:
        if isinstance(item, _BN):
            report[item.name] = "left in place: " + "; ".join(item.why_not)
    for layer in model.layers:   # BN layers on another axis are copied as they are
        if isinstance(layer, tf.keras.layers.BatchNormalization) and layer.name not in report:
            report[layer.name] = "left in place: it does not normalize the last axis"
    order = [layer.name for layer in model.layers if layer.name in report]
    return items, [f"{name}: {report[name]}" for name in order]


def folding_plan(model):
    """What fold_batchnorm_model(model) does with each BatchNormalization layer: a list of lines."""
    return _plan(model)[1]


def fold_batchnorm_model(model, merge_activations=True):
    """A NEW Sequential model that predicts what `model` predicts at inference, with the BN
    layers folded into neighbouring Dense layers.

    In inference mode a BN layer is the affine map x * s + t with s = gamma / sqrt(moving_var
    + eps) and t = beta - moving_mean * s, so
    - Dense with a linear activation (use_bias True or False) -> BN becomes one Dense with
      kernel W * s and bias (b - moving_mean) * s + beta (reference.fold_batchnorm);
    - BN -> Dense (any activation) becomes one Dense with kernel s[:, None] * W and bias
      t @ W + b (reference.fold_batchnorm_into_next): a BN on the inputs, or after an activation;
    - a BN after a Dense with a nonlinear activation and not followed by a Dense (e.g.
      Dense("relu") -> BN -> Dropout) cannot be folded: it is copied as it is.
      ``folding_plan(model)`` lists what happens to each BN layer and why.
    merge_activations: give a folded Dense the activation of an ``Activation`` layer right
    after it and drop that layer (the textbook's Dense(use_bias=False) -> BN -> Activation).

    The original model is not modified and shares no layer or variable with the result.
    The result is meant for inference (with training=True it does not use batch statistics).
    Supports keras.Sequential models; BN layers must normalize the last axis to be folded.
    """
    items, _ = _plan(model)
    layers, weights, prev_item = [], [], None
    for item in items:
        if isinstance(item, _Dense):
            layer, w = item.build()
        else:
            source = item.layer if isinstance(item, _BN) else item
            if (merge_activations and isinstance(source, tf.keras.layers.Activation) and layers
                    and isinstance(prev_item, _Dense) and prev_item.folded and prev_item.linear):
                layers[-1] = tf.keras.layers.Dense.from_config(
                    dict(layers[-1].get_config(), activation=source.get_config()["activation"]))
                prev_item = None
                continue
            layer, w = type(source).from_config(source.get_config()), source.get_weights()
        layers.append(layer)
        weights.append(w)
        prev_item = item
    inp = model.inputs[0]
    new = tf.keras.Sequential([tf.keras.Input(shape=inp.shape[1:], dtype=inp.dtype)] + layers,
                              name=f"{model.name}_folded")
    for layer, w in zip(layers, weights):
        if w:
            layer.set_weights(w)
    return new


def _quartiles(values):
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return float(q1), float(q2), float(q3)


def latency_comparison(fn_a, fn_b, calls, min_rounds=5, max_rounds=30, target_spread=0.05, warmup=2):
    """How much faster ``fn_a()`` runs than ``fn_b()``, robust to a busy machine.

    fn_a, fn_b: callables without arguments (e.g. one prediction each). They are run in
    interleaved rounds (a, b, a, b, ...) so that a slow spell of the machine hits both; one
    round times ``calls`` calls of each. Rounds continue, from ``min_rounds`` up to
    ``max_rounds``, until the interquartile range of the per-round speed-ups is at most
    ``target_spread`` times their median. Wall time (``perf_counter``) and this process's
    CPU time (``process_time``, all threads) are both recorded: CPU time is not inflated by
    other processes waiting for the same cores, wall time is what a user waits.

    Returns a dict: ``speedup`` (median of b/a per round, wall), ``spread`` (IQR / median of
    those ratios), ``cpu_speedup`` (same with CPU time), ``cpu_spread``, ``rounds``,
    ``stable`` (spread <= target), ``a_s``, ``b_s`` (median wall seconds per call).
    """
    for _ in range(warmup):
        fn_a()
        fn_b()
    wall = {"a": [], "b": []}
    cpu = {"a": [], "b": []}

    def one(key, fn):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(calls):
            fn()
        wall[key].append((time.perf_counter() - w0) / calls)
        cpu[key].append((time.process_time() - c0) / calls)

    ratios = []
    while True:
        one("a", fn_a)
        one("b", fn_b)
        ratios.append(wall["b"][-1] / wall["a"][-1])
        if len(ratios) >= min_rounds:
            q1, q2, q3 = _quartiles(ratios)
            if (q3 - q1) <= target_spread * q2 or len(ratios) >= max_rounds:
                break
    cpu_ratios = np.array(cpu["b"]) / np.maximum(np.array(cpu["a"]), 1e-12)
    c1, c2, c3 = _quartiles(cpu_ratios)
    return {"speedup": q2, "spread": (q3 - q1) / q2, "cpu_speedup": c2, "cpu_spread": (c3 - c1) / c2,
            "rounds": len(ratios), "stable": (q3 - q1) <= target_spread * q2,
            "a_s": float(np.median(wall["a"])), "b_s": float(np.median(wall["b"]))}
