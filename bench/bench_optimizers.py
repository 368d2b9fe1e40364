"""deeptrain.kernels.optimizers against the Keras built-ins: training speed in fit.

Workload: an MLP 784-300-100-10 (ReLU, softmax), batch 256, `fit` for one epoch of STEPS
batches, compiled with jit_compile=True on both sides, the same random data and the same
initial weights. Each optimizer is timed against the Keras optimizer of the same rule and
hyperparameters, interleaved (bench.compare), after a warm-up fit that pays the XLA compile.
Aim: x0.9 (no more than 10 % slower than Keras).

The row's times are wall-clock medians, like every other benchmark. On a shared machine they
swing with the other processes' load, so each row's note also gives the ratio of the medians
of process CPU time (all of TensorFlow's threads), which such load disturbs much less.
"""
import statistics
import time

import numpy as np

from bench import Row, compare

STEPS = 80
BATCH = 256


def _pairs():
    import keras
    from deeptrain.kernels import optimizers as kopt

    K = keras.optimizers
    return [
        ("Momentum", lambda: kopt.Momentum(learning_rate=0.01, momentum=0.9),
         "SGD(momentum=0.9)", lambda: K.SGD(learning_rate=0.01, momentum=0.9)),
        ("Nesterov", lambda: kopt.Nesterov(learning_rate=0.01, momentum=0.9),
         "SGD(momentum=0.9, nesterov=True)", lambda: K.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)),
        ("AdaGrad", lambda: kopt.AdaGrad(learning_rate=0.01), "Adagrad", lambda: K.Adagrad(learning_rate=0.01)),
        ("RMSProp", lambda: kopt.RMSProp(), "RMSprop", lambda: K.RMSprop()),
        ("Adam", lambda: kopt.Adam(), "Adam", lambda: K.Adam()),
        ("AdaMax", lambda: kopt.AdaMax(), "Adamax", lambda: K.Adamax()),
        ("Nadam", lambda: kopt.Nadam(), "Nadam", lambda: K.Nadam()),
        ("AdamW", lambda: kopt.AdamW(), "AdamW", lambda: K.AdamW()),
    ]


def _model(optimizer):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(300, activation="relu"),
                              keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", jit_compile=True)
    return model


def _fit(model, X, y, cpu_times):
    """One epoch of fit; appends the process CPU time it took to cpu_times."""
    def fit():
        start = time.process_time()
        model.fit(X, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        cpu_times.append(time.process_time() - start)
    return fit


def run(repeats=7):
    rng = np.random.default_rng(0)
    X = rng.random((STEPS * BATCH, 784), dtype=np.float32)
    y = rng.integers(0, 10, STEPS * BATCH)
    rows = []
    for ours_name, make_ours, keras_name, make_keras in _pairs():
        ours, theirs = _model(make_ours()), _model(make_keras())
        cpu_ours, cpu_keras = [], []
        ours_s, keras_s = compare(_fit(ours, X, y, cpu_ours), _fit(theirs, X, y, cpu_keras), repeats=repeats, warmup=1)
        cpu_ratio = statistics.median(cpu_keras[1:]) / statistics.median(cpu_ours[1:])   # [0]: the warm-up
        rows.append(Row(kernel=f"kernels.optimizers.{ours_name}", baseline=f"keras.optimizers.{keras_name}",
                        workload=f"fit, MLP 784-300-100-10, batch {BATCH}, {STEPS} steps, XLA",
                        ours_s=ours_s, baseline_s=keras_s, aim=0.9,
                        note=f"{STEPS / ours_s:.0f} vs {STEPS / keras_s:.0f} steps/s; CPU-time ratio x{cpu_ratio:.2f}"))
    return rows
