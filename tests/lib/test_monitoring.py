"""GradientNormMonitor against independent measurements: deeptrain.kernels.gradients.layer_gradient_norms
and tf.linalg.global_norm on the same weights, its recording schedule, and its TensorBoard events."""
import numpy as np
import pytest
import tensorflow as tf

from deeptrain import checks
from deeptrain.kernels import gradients as kgrad
from deeptrain.kernels.monitoring import GradientNormMonitor, read_scalar_events

LOSS = tf.keras.losses.SparseCategoricalCrossentropy()


def _data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, n)


def _model(seed=0, dropout=False, lr=0.05):
    tf.keras.utils.set_random_seed(seed)
    layers = [tf.keras.Input((6,)), tf.keras.layers.Dense(8, activation="relu"),
              tf.keras.layers.BatchNormalization()]
    layers += [tf.keras.layers.Dropout(0.3)] if dropout else []
    layers += [tf.keras.layers.Dense(5, activation="tanh"), tf.keras.layers.Dense(3, activation="softmax")]
    model = tf.keras.Sequential(layers)
    model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=lr), loss=LOSS)
    return model


class _WeightSpy(tf.keras.callbacks.Callback):
    """Copies of the weights at the start of every training step (placed before the monitor)."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_begin(self, batch, logs=None):
        self.weights.append(self.model.get_weights())


def test_recorded_norms_equal_layer_gradient_norms_and_global_norm_on_the_same_weights():
    X, y = _data()
    model = _model()
    Xp, yp = X[:20], y[:20]
    spy, monitor = _WeightSpy(), GradientNormMonitor(Xp, yp, every=3, loss_fn=LOSS)
    model.fit(X, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[spy, monitor])
    assert monitor.layer_norms.shape == (len(monitor.steps), 3)
    for row, step in enumerate(monitor.steps):
        model.set_weights(spy.weights[step])
        checks.assert_close(monitor.layer_norms[row], kgrad.layer_gradient_norms(model, Xp, yp, LOSS),
                            rtol=1e-5, name=f"per-layer norms at step {step}")
        with tf.GradientTape() as tape:
            loss = LOSS(yp, model(Xp, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        checks.assert_close(monitor.global_norms[row], float(tf.linalg.global_norm(grads)), rtol=1e-5,
                            name=f"global norm at step {step}")
    assert len(set(np.round(monitor.global_norms, 6))) > 1, "the weights changed: the norms should too"


def test_records_every_n_steps_across_epochs():
    X, y = _data(n=80)
    monitor = GradientNormMonitor(X[:8], y[:8], every=4)
    _model().fit(X, y, batch_size=16, epochs=3, verbose=0, callbacks=[monitor])    # 5 steps an epoch
    assert monitor.steps == [0, 4, 8, 12]
    assert monitor.layer_norms.shape == (4, 3) and monitor.global_norms.shape == (4,)
    assert len(monitor.layer_names) == 3


def test_every_1_records_every_step_and_keeps_counting_over_fit_calls():
    X, y = _data(n=32)
    model, monitor = _model(), GradientNormMonitor(X[:8], y[:8], every=1)
    model.fit(X, y, batch_size=16, epochs=1, verbose=0, callbacks=[monitor])
    model.fit(X, y, batch_size=16, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.steps == [0, 1, 2, 3]


def test_training_with_the_monitor_equals_training_without_it():
    """The probe pass restores BN moving statistics and dropout seeds: fit is unchanged."""
    X, y = _data()
    plain, watched = _model(3, dropout=True), _model(3, dropout=True)
    plain.fit(X, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    watched.fit(X, y, batch_size=16, epochs=2, verbose=0, shuffle=False,
                callbacks=[GradientNormMonitor(X[:16], y[:16], every=2)])
    for a, b in zip(plain.get_weights(), watched.get_weights()):    # includes BN moving mean/variance
        np.testing.assert_array_equal(a, b)


def test_default_loss_is_the_compiled_loss():
    X, y = _data()
    string_model = _model(4)
    string_model.compile(optimizer=tf.keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    by_string = GradientNormMonitor(X[:16], y[:16], every=2)
    string_model.fit(X, y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[by_string])
    by_object = GradientNormMonitor(X[:16], y[:16], every=2, loss_fn=LOSS)
    _model(4).fit(X, y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[by_object])
    checks.assert_close(by_string.layer_norms, by_object.layer_norms, rtol=1e-5)


def test_frozen_kernel_records_zero_as_layer_gradient_norms_does():
    X, y = _data()
    model = _model()
    model.layers[0].trainable = False
    model.compile(optimizer="sgd", loss=LOSS)
    monitor = GradientNormMonitor(X[:16], y[:16], every=100, loss_fn=LOSS)
    model.fit(X, y, batch_size=16, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.layer_norms[0, 0] == 0.0 and np.all(monitor.layer_norms[0, 1:] > 0)


def test_tensorboard_events_hold_the_recorded_norms(tmp_path):
    X, y = _data()
    monitor = GradientNormMonitor(X[:16], y[:16], every=2, log_dir=tmp_path / "logs")
    _model().fit(X, y, batch_size=16, epochs=2, verbose=0, callbacks=[monitor])
    monitor.close()
    events = read_scalar_events(tmp_path / "logs")
    assert set(events) == {"gradient_norm/global"} | {f"gradient_norm/{n}" for n in monitor.layer_names}
    steps, values = zip(*events["gradient_norm/global"])
    assert list(steps) == monitor.steps
    checks.assert_close(values, monitor.global_norms, rtol=1e-6)
    first_layer = [v for _, v in events[f"gradient_norm/{monitor.layer_names[0]}"]]
    checks.assert_close(first_layer, monitor.layer_norms[:, 0], rtol=1e-6)


def test_every_must_be_positive():
    with pytest.raises(ValueError):
        GradientNormMonitor(np.zeros((2, 6), np.float32), np.zeros(2), every=0)


def test_xla_compiled_probe_records_the_same_norms():
    X, y = _data()
    plain = GradientNormMonitor(X[:16], y[:16], every=3, loss_fn=LOSS)
    xla = GradientNormMonitor(X[:16], y[:16], every=3, loss_fn=LOSS, jit_compile=True)
    _model(6).fit(X, y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[plain])
    _model(6).fit(X, y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[xla])
    assert xla.steps == plain.steps
    checks.assert_close(xla.layer_norms, plain.layer_norms, rtol=1e-5)
    checks.assert_close(xla.global_norms, plain.global_norms, rtol=1e-5)
