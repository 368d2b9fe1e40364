"""Overhead of kernels.monitoring.GradientNormMonitor: fit with the callback vs plain fit.

Workload: MLP 784-300-100-10 (ReLU, softmax), SGD, on 10,000 Fashion-MNIST images, batch
128, one epoch (79 steps) per timed call; the monitor records every 20 steps on a probe
batch of 256 images (4 records an epoch). Both models start from the same weights and each
keeps training across repeats (the time of a step does not depend on the weights). The
monitor is created once, so its compiled probe is traced during the warm-up, as Keras'
own train function is: the row measures the steady state. The one-off tracing cost is
reported in the note.
"""
import time

import numpy as np

from bench import Row, compare

N_TRAIN, BATCH, EVERY, PROBE = 10_000, 128, 20, 256


def _mlp(tf, seed=0):
    tf.keras.utils.set_random_seed(seed)
    model = tf.keras.Sequential([tf.keras.Input((784,)),
                                 tf.keras.layers.Dense(300, activation="relu"),
                                 tf.keras.layers.Dense(100, activation="relu"),
                                 tf.keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    return model


def run(repeats=7):
    import tensorflow as tf
    from deeptrain import data
    from deeptrain.kernels.monitoring import GradientNormMonitor

    (X, y), _, _ = data.load_fashion_mnist(n_train=N_TRAIN, n_valid=500, n_test=500, seed=0, flatten=True)
    watched, plain = _mlp(tf), _mlp(tf)
    monitor = GradientNormMonitor(X[:PROBE], y[:PROBE], every=EVERY)

    # One-off cost: tracing the probe function (first record) on a fresh model.
    cold_model = _mlp(tf, seed=1)
    cold = GradientNormMonitor(X[:PROBE], y[:PROBE], every=EVERY)
    cold_model.fit(X[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)   # Keras' own tracing first
    t0 = time.perf_counter()
    cold_model.fit(X[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0, callbacks=[cold])
    t_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    cold_model.fit(X[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0, callbacks=[cold])
    t_warm = time.perf_counter() - t0

    fit = dict(batch_size=BATCH, epochs=1, verbose=0)
    ours, base = compare(lambda: watched.fit(X, y, callbacks=[monitor], **fit),
                         lambda: plain.fit(X, y, **fit), repeats=repeats)
    steps = int(np.ceil(N_TRAIN / BATCH))
    return [Row(
        kernel="kernels.monitoring.GradientNormMonitor",
        baseline="model.fit without callback",
        workload=f"MLP 784-300-100-10, {N_TRAIN} images, batch {BATCH}, 1 epoch ({steps} steps), "
                 f"record every {EVERY} steps on {PROBE} images",
        ours_s=ours, baseline_s=base, aim=0.9,
        note=f"aim: fit at most 10% slower with the monitor. One-off tracing of the probe function on "
             f"first use: about {max(t_cold - t_warm, 0) * 1e3:.0f} ms. Records {len(range(0, steps, EVERY))} "
             f"times an epoch; the cost grows with probe size / (every x batch size).",
    )]
