"""Folded vs unfolded batch normalization at inference (kernels.batchnorm.fold_batchnorm_model).

Model: the seeds' MLP 784-300-100-10 with BN before each hidden activation,
Dense(use_bias=False) -> BatchNormalization -> Activation("relu"), BN statistics set to
non-trivial values as after training. Folding turns each Dense -> BN -> Activation triple
into one Dense(activation="relu"): 7 layers become 3.

Form measured: the compiled graph, ``tf.function(lambda x: model(x, training=False))`` with
a fixed input signature, called on a tf.Tensor - what a low-latency server runs
(``model.export`` / TF Serving execute the same kind of graph). Both models are compiled
and warmed up the same way and timed interleaved. One more row shows the eager call
``model(x, training=False)`` at batch 1, where Python overhead per layer dominates.
"""
import numpy as np
import tensorflow as tf

from bench import Row, compare
from deeptrain.kernels.batchnorm import fold_batchnorm_model

L = tf.keras.layers


def bn_mlp(seed=0):
    """784-300-100-10 with Dense(use_bias=False) -> BN -> ReLU, and trained-looking BN statistics."""
    tf.keras.utils.set_random_seed(seed)
    model = tf.keras.Sequential([
        tf.keras.Input((784,)),
        L.Dense(300, kernel_initializer="he_normal", use_bias=False), L.BatchNormalization(), L.Activation("relu"),
        L.Dense(100, kernel_initializer="he_normal", use_bias=False), L.BatchNormalization(), L.Activation("relu"),
        L.Dense(10, activation="softmax")])
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 0.5, n), rng.normal(0, 1, n),
                               rng.uniform(0.5, 3, n)])
    return model


def _loop(fn, x, calls):
    def run():
        for _ in range(calls):
            fn(x)
    return run


def run(repeats=7):
    model = bn_mlp()
    folded = fold_batchnorm_model(model)
    spec = [tf.TensorSpec((None, 784), tf.float32)]
    graph = {name: tf.function(lambda x, m=m: m(x, training=False), input_signature=spec)
             for name, m in (("ours", folded), ("base", model))}
    rows = []
    for batch, calls in ((1, 200), (1024, 20)):
        x = tf.constant(np.random.default_rng(batch).uniform(0, 1, (batch, 784)).astype(np.float32))
        np.testing.assert_allclose(graph["ours"](x).numpy(), graph["base"](x).numpy(), rtol=1e-5, atol=1e-5)
        ours, base = compare(_loop(graph["ours"], x, calls), _loop(graph["base"], x, calls), repeats=repeats,
                             warmup=2)
        row = Row(kernel="kernels.batchnorm.fold_batchnorm_model", baseline="Dense -> BatchNormalization -> ReLU",
                  workload=f"MLP 784-300-100-10 inference, tf.function graph, batch {batch}, {calls} calls",
                  ours_s=ours, baseline_s=base, aim=1.3)
        if batch == 1:
            why = "at batch 1 the fixed cost of each op dominates; folding removes the BN ops of two layers"
        else:
            why = ("at batch 1024 the three matmuls dominate; folding only removes elementwise work on "
                   "(1024, 300) and (1024, 100) tensors")
        row.note = f"batch {batch}: {why}" + ("" if row.met else f"; x{row.ratio:.2f} is below the x1.3 aim")
        rows.append(row)

    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (1, 784)).astype(np.float32))
    ours, base = compare(_loop(lambda v: folded(v, training=False), x, 50),
                         _loop(lambda v: model(v, training=False), x, 50), repeats=repeats, warmup=2)
    row = Row(kernel="kernels.batchnorm.fold_batchnorm_model", baseline="Dense -> BatchNormalization -> ReLU",
              workload="MLP 784-300-100-10 inference, eager model(x), batch 1, 50 calls",
              ours_s=ours, baseline_s=base, aim=1.3)
    row.note = ("eager calls pay Python overhead per layer: 3 layers instead of 7"
                + ("" if row.met else f"; x{row.ratio:.2f} is below the x1.3 aim"))
    rows.append(row)
    return rows
