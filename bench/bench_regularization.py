"""Module 08 kernels against what they replace.

- kernels.regularization.mc_dropout_predict vs the seeds' MC dropout loop
  ``np.stack([model(X, training=True) for _ in range(100)])`` + mean/std, on 10,000 images
  with the seeds' Flatten-Dropout-Dense100-Dropout-Dense100-Dropout-Dense10 model.
- kernels.regularization.MaxNorm vs keras.constraints.MaxNorm, applied to a 784x300 kernel.
"""
import numpy as np
import tensorflow as tf

from bench import Row, compare
from deeptrain.kernels import regularization as kreg

N_IMAGES, N_SAMPLES = 10_000, 100


def _seeds_model(seed=0):
    tf.keras.utils.set_random_seed(seed)
    dense = lambda units, act="relu": tf.keras.layers.Dense(units, activation=act, kernel_initializer="he_normal")
    return tf.keras.Sequential([
        tf.keras.Input((28, 28)), tf.keras.layers.Flatten(), tf.keras.layers.Dropout(0.2),
        dense(100), tf.keras.layers.Dropout(0.2), dense(100), tf.keras.layers.Dropout(0.2),
        tf.keras.layers.Dense(10, activation="softmax")])


def _images(n, seed=0):
    # Fashion-MNIST test images when available; the timing does not depend on the pixel values.
    try:
        from deeptrain import data
        _, _, (X, _) = data.load_fashion_mnist(n_train=10, n_valid=10, n_test=n, seed=seed)
        return X.astype(np.float32)
    except Exception:  # no data set on this machine: random pixels time the same
        return np.random.default_rng(seed).random((n, 28, 28), dtype=np.float32)


def run(repeats=7):
    rows = []

    # --- MC dropout: 100 stochastic passes over 10,000 images ---
    model = _seeds_model()
    X = _images(N_IMAGES)

    def seeds_loop():
        probas = np.stack([model(X, training=True) for _ in range(N_SAMPLES)])
        return probas.mean(axis=0), probas.std(axis=0)

    def ours():
        return kreg.mc_dropout_predict(model, X, N_SAMPLES, seed=0)

    reps = max(1, min(repeats, 3))          # one baseline run takes ~9 s on 2 cores
    ours_s, base_s = compare(ours, seeds_loop, repeats=reps, warmup=1)
    rows.append(Row(
        kernel="kernels.regularization.mc_dropout_predict",
        baseline="seeds' loop of model(X, training=True)",
        workload=f"MLP 784-D-100-D-100-D-10 (dropout 0.2), {N_IMAGES:,} images, {N_SAMPLES} samples",
        ours_s=ours_s, baseline_s=base_s, aim=1.5,
        note=("one tf.function with the sample loop inside (tf.while_loop), float64 running sum and sum "
              "of squares (no 100x stack), chunks of 2,000 rows, and each Dropout replaced by one XLA-fused "
              "loop: SplitMix64 counter-based 32-bit draws, compare, scale, select (keep probability exact to "
              "2^-32). Measured alternatives, same loop and chunks: Keras' own stateless dropout about 2x, "
              "TF Philox uint32 draws + fused select 2-3x (load-dependent), XLA over the whole pass slower "
              "than the baseline (XLA's CPU random generator). "
              f"{reps} interleaved repeats.")))

    # --- max-norm constraint on a Dense kernel ---
    W = tf.constant(np.random.default_rng(0).normal(0, 0.2, size=(784, 300)).astype(np.float32))
    ours_c, keras_c = kreg.MaxNorm(1.0), tf.keras.constraints.MaxNorm(1.0)
    np.testing.assert_allclose(ours_c(W).numpy(), keras_c(W).numpy(), rtol=1e-6)

    def call(c):
        def f():
            for _ in range(100):
                out = c(W)
            return out.numpy()
        return f

    ours_s, base_s = compare(call(ours_c), call(keras_c), repeats=repeats, warmup=1)
    rows.append(Row(
        kernel="kernels.regularization.MaxNorm", baseline="keras.constraints.MaxNorm",
        workload="784x300 kernel, 100 eager calls", ours_s=ours_s, baseline_s=base_s, aim=0.9,
        note="same formula (epsilon 1e-7 added to the norms); clip(norms, 0, r) written as one minimum."))
    return rows
