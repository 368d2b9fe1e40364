"""Regularization (module 08): TensorFlow kernels.

- :func:`mc_dropout_predict`: Monte Carlo dropout in one compiled graph, several times faster
  than the seeds' Python loop of ``model(X, training=True)`` calls (see bench/bench_regularization.py).
- :class:`MaxNorm`: the max-norm constraint, a ``keras.constraints.Constraint`` equal to
  ``deeptrain.reference.max_norm`` (and to ``keras.constraints.MaxNorm``).
"""
import weakref

import numpy as np
import tensorflow as tf

__all__ = ["mc_dropout_predict", "MaxNorm", "dropout_layer_fast", "MCDropout", "MCAlphaDropout"]

MAX_NORM_EPSILON = 1e-7          # keras.config.epsilon(), added to the norms as Keras does

# Layers that are random in training mode and that the fast path cannot replace: they are
# called with training=True (Keras draws their noise; `seed` does not fix it).
_STOCHASTIC = tuple(getattr(tf.keras.layers, name) for name in
                    ("AlphaDropout", "GaussianDropout", "GaussianNoise", "Dropout")
                    if hasattr(tf.keras.layers, name))


@tf.keras.utils.register_keras_serializable(package="deeptrain")
class MCDropout(tf.keras.layers.Dropout):
    """Dropout that stays on at inference: the MC dropout layer of A. Geron's chapter 11.

    ``call`` always passes ``training=True`` to ``keras.layers.Dropout``, so ``model(X)`` and
    ``model.predict(X)`` draw new masks on every call while every other layer (batch
    normalization in particular) keeps its inference behaviour. Same arguments as Dropout;
    use it in place of Dropout, or copy a trained Dropout model's weights into a copy built
    with it (dropout layers have no weights, so the layer lists line up).
    """

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


@tf.keras.utils.register_keras_serializable(package="deeptrain")
class MCAlphaDropout(tf.keras.layers.AlphaDropout):
    """AlphaDropout that stays on at inference (for self-normalizing SELU networks)."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


class MaxNorm(tf.keras.constraints.Constraint):
    """Max-norm constraint: after each training step, rescale every unit's incoming weights
    so that their L2 norm is at most ``max_value`` (the seeds' w <- w r / ||w||_2).

        w <- w * min(||w||, max_value) / (1e-7 + ||w||)

    with the norm taken over ``axis`` (0 for a Dense kernel of shape (fan_in, units);
    (0, 1, 2) for a Conv2D kernel). The 1e-7 is Keras' epsilon, so this equals
    ``keras.constraints.MaxNorm`` and ``deeptrain.reference.max_norm``.
    Use: ``Dense(100, kernel_constraint=MaxNorm(1.0))``.
    """

    def __init__(self, max_value=2.0, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = tf.convert_to_tensor(w)
        axis = list(self.axis) if isinstance(self.axis, (list, tuple)) else self.axis
        norms = tf.sqrt(tf.reduce_sum(tf.square(w), axis=axis, keepdims=True))
        # norms >= 0, so clip(norms, 0, max) is a single minimum
        return w * (tf.minimum(norms, tf.cast(self.max_value, w.dtype)) / (MAX_NORM_EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


# SplitMix64 (Steele, Lea and Flood 2014; the generator of Java's SplittableRandom, which passes
# BigCrush): output k of the stream seeded by s is mix64(s + (k + 1) * GOLDEN).
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix64(z):
    """SplitMix64's output function on a uint64 tensor (arithmetic modulo 2**64)."""
    shift = lambda v, k: tf.bitwise.right_shift(v, tf.constant(k, tf.uint64))  # noqa: E731
    z = tf.bitwise.bitwise_xor(z, shift(z, 30)) * tf.constant(_MIX1, tf.uint64)
    z = tf.bitwise.bitwise_xor(z, shift(z, 27)) * tf.constant(_MIX2, tf.uint64)
    return tf.bitwise.bitwise_xor(z, shift(z, 31))


@tf.function(jit_compile=True)
def _splitmix_dropout(x, seed, counter, threshold, scale):
    gamma = tf.constant(_GOLDEN, tf.uint64)
    # The stream's key: output `counter` of the SplitMix64 stream seeded by mix64(seed).
    key = _mix64(_mix64(tf.bitcast(seed, tf.uint64)) + (tf.bitcast(counter, tf.uint64) + 1) * gamma)
    n = tf.size(x, out_type=tf.int64)
    index = tf.bitcast(tf.range((n + 1) // 2, dtype=tf.int64), tf.uint64)
    words = _mix64(key + (index + 1) * gamma)                   # one 64-bit output per 2 entries
    bits = tf.reshape(tf.reshape(tf.bitcast(words, tf.uint32), [-1])[:n], tf.shape(x))
    # One fused XLA loop: hash, compare, scale, select (no random array in memory).
    return tf.where(bits >= threshold, x * scale, tf.zeros_like(x))


def dropout_layer_fast(x, rate, seed, counter):
    """Inverted dropout whose random bits come from a counter-based generator fused by XLA.

    Entry e is kept when its 32 random bits are >= round(rate * 2**32), so the keep
    probability is 1 - rate to within 2.4e-10 (Keras' float32 uniform draw quantizes the rate at
    2**-23), and kept entries are multiplied by 1 / (1 - rate), as in ``keras.layers.Dropout``.
    The bits are SplitMix64 outputs (both 32-bit halves of each), from a stream whose key is
    itself output ``counter`` of the SplitMix64 stream of ``seed``: a pure function of
    (seed, counter, entry), so results are repeatable and every (seed, counter) gets its own mask.
    x: float tensor of any shape. seed, counter: int64 scalar tensors.

    Why not ``tf.nn.experimental.stateless_dropout``: TensorFlow's Philox kernel and the separate
    compare/scale/select passes cost about 5x more than this fused loop on a 10,000 x 784 input.
    """
    if rate <= 0.0:
        return x
    if rate >= 1.0:
        return tf.zeros_like(x)
    threshold = tf.constant(min(int(round(rate * 2.0**32)), 2**32 - 1), tf.uint32)
    return _splitmix_dropout(x, tf.cast(seed, tf.int64), tf.cast(counter, tf.int64), threshold,
                             tf.constant(1.0 / (1.0 - rate), x.dtype))


def _flat_layers(model):
    """The layers of a Sequential model, nested Sequentials expanded; None for other models."""
    if not isinstance(model, tf.keras.Sequential):
        return None
    out = []
    for layer in model.layers:
        if isinstance(layer, tf.keras.Sequential):
            inner = _flat_layers(layer)
            out.extend(inner)
        else:
            out.append(layer)
    return out


def _build_runner(model):
    """A tf.function (X_chunk, n_samples, seed, chunk_index) -> (sum, sum of squares) of the
    probabilities over n_samples stochastic passes, the loop inside the graph."""
    layers = _flat_layers(model)

    def fast_forward(x, seed, counter):
        a = x
        j = 0
        for layer in layers:
            if type(layer) is tf.keras.layers.Dropout and layer.noise_shape is None:
                a = dropout_layer_fast(a, float(layer.rate), seed, counter * 64 + j)
                j += 1
            else:
                a = layer(a, training=isinstance(layer, _STOCHASTIC))
        return a

    def forward(x, seed, counter):
        if layers is None:
            return model(x, training=True)
        return fast_forward(x, seed, counter)

    @tf.function(reduce_retracing=True)
    def run(x, n_samples, seed, chunk_index):
        base = chunk_index * tf.cast(n_samples, tf.int64)
        p0 = tf.cast(forward(x, seed, base), tf.float64)

        def body(i, s, s2):
            p = tf.cast(forward(x, seed, base + tf.cast(i, tf.int64)), tf.float64)
            return i + 1, s + p, s2 + p * p

        _, s, s2 = tf.while_loop(lambda i, s, s2: i < n_samples, body, (tf.constant(1), p0, p0 * p0))
        return s, s2

    return run


_RUNNERS = weakref.WeakKeyDictionary()


def mc_dropout_predict(model, X, n_samples=100, seed=None, batch_size=2000):
    """Monte Carlo dropout: mean and standard deviation of ``n_samples`` stochastic predictions.

    Same statistics as the seeds' loop ``np.stack([model(X, training=True) for _ in range(n)])``
    (deeptrain.reference.mc_dropout_predict), computed faster:

    - the loop over samples runs inside one ``tf.function`` (``tf.while_loop``), with no
      Python or Keras call overhead per pass;
    - it accumulates the sum and the sum of squares in float64 on the fly, never stacking the
      n_samples x n x n_classes probabilities;
    - X is cut into chunks of ``batch_size`` rows, so that the activations and dropout masks
      of a chunk stay in the CPU cache;
    - for a Sequential model, each ``keras.layers.Dropout`` is replaced by
      :func:`dropout_layer_fast` (same Bernoulli keep probability and scaling; 32-bit draws from
      a counter-based generator, SplitMix64, keyed by (seed, chunk, sample, layer) and fused
      with the masking in one XLA loop), and every other
      layer runs in inference mode (training=False), except Keras' other noise layers
      (AlphaDropout, GaussianDropout, GaussianNoise, spatial dropout), which keep sampling.
      For the seeds' Flatten/Dense/Dropout models this is exactly the loop's distribution;
      with BatchNormalization it uses the moving statistics (proper MC dropout) where the
      loop would use each batch's statistics. Any other model is called as
      ``model(x, training=True)`` inside the loop.

    model: Keras model with probability outputs of shape (n, n_classes). X: array (n, ...).
    n_samples: number of stochastic passes (>= 1). seed: int to make the result repeatable
    (the fast path's draws only); None draws one from NumPy's global generator.
    batch_size: rows per chunk. Returns (mean_proba, std_proba), float64 NumPy arrays of
    shape (n, n_classes); std is the population standard deviation (ddof=0), as np.std.
    """
    n_samples = int(n_samples)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))
    run = _RUNNERS.get(model)
    if run is None:
        run = _RUNNERS[model] = _build_runner(model)
    X = tf.convert_to_tensor(X)
    if X.dtype.is_floating and X.dtype != tf.as_dtype(model.compute_dtype):
        X = tf.cast(X, model.compute_dtype)
    n = int(X.shape[0])
    batch_size = max(1, min(int(batch_size), n))
    sums, sums2 = [], []
    for c, start in enumerate(range(0, n, batch_size)):
        s, s2 = run(X[start:start + batch_size], tf.constant(n_samples), tf.constant(seed, tf.int64),
                    tf.constant(c, tf.int64))
        sums.append(s.numpy())
        sums2.append(s2.numpy())
    mean = np.concatenate(sums) / n_samples
    var = np.concatenate(sums2) / n_samples - mean**2
    return mean, np.sqrt(np.maximum(var, 0.0))
