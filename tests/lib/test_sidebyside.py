"""deeptrain.sidebyside: models trained side by side end where each would end trained alone on the
same mini-batches (the oracle: a plain model.fit per model, same data order, same optimizer)."""
import numpy as np
import pytest

import deeptrain as dt
from deeptrain import sidebyside

tf = dt.setup()
keras = tf.keras


def _model(seed, batch_norm=False):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((6,)), keras.layers.Dense(8, activation="relu")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    return keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax")])


@pytest.mark.parametrize("make_optimizer", [lambda: keras.optimizers.SGD(0.1, momentum=0.9),
                                            lambda: keras.optimizers.Adam(0.01)], ids=["momentum", "adam"])
def test_side_by_side_training_matches_training_each_model_alone(make_optimizer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 6)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    alone = []
    for seed in (0, 1):
        model = _model(seed, batch_norm=seed == 1)
        model.compile(optimizer=make_optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        alone.append((model.fit(X, y, epochs=2, batch_size=32, shuffle=False, verbose=0,
                                validation_data=(X[:20], y[:20])).history, model.get_weights()))
    models = [_model(0), _model(1, batch_norm=True)]
    histories = sidebyside.fit(models, X, y, optimizer=make_optimizer(), loss="sparse_categorical_crossentropy",
                               metrics=["accuracy"], epochs=2, batch_size=32, shuffle=False, verbose=0,
                               validation_data=(X[:20], y[:20]))
    for (history, weights), model, together in zip(alone, models, histories):
        assert sorted(together) == sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        for key in history:
            np.testing.assert_allclose(together[key], history[key], rtol=1e-4, atol=1e-6, err_msg=key)
        for w_alone, w_together in zip(weights, model.get_weights()):
            np.testing.assert_allclose(w_together, w_alone, rtol=1e-4, atol=1e-6)


def test_one_model_alone_has_a_single_models_history():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(32, 6)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    (history,) = sidebyside.fit([_model(0)], X, y, optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                                metrics=["accuracy"], epochs=2, batch_size=16, verbose=0, validation_data=(X, y))
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"] and len(history["val_loss"]) == 2


def test_global_clipnorm_is_refused():
    with pytest.raises(ValueError, match="global_clipnorm"):
        sidebyside.fit([_model(0), _model(1)], np.zeros((4, 6), np.float32), np.zeros(4, int),
                       optimizer=keras.optimizers.SGD(0.1, global_clipnorm=1.0), loss="sparse_categorical_crossentropy")


def test_a_loss_weight_is_a_learning_rate_factor_for_plain_sgd():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    alone = _model(0)
    alone.compile(optimizer=keras.optimizers.SGD(0.025), loss="sparse_categorical_crossentropy")
    alone.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    models = [_model(1), _model(0)]
    sidebyside.fit(models, X, y, optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                   loss_weights=[1.0, 0.25], epochs=2, batch_size=16, shuffle=False, verbose=0)
    for w_alone, w_together in zip(alone.get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(w_together, w_alone, rtol=1e-4, atol=1e-6)


def test_each_model_can_be_evaluated_afterwards_and_its_history_answers_dot_history():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(32, 6)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    models = [_model(0), _model(1)]
    histories = sidebyside.fit(models, X, y, optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                               metrics=["accuracy"], epochs=1, batch_size=32, shuffle=False, verbose=0)
    loss, accuracy = models[1].evaluate(X, y, verbose=0)
    p = models[1](X, training=False).numpy()
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(32), y])), rel=1e-4)
    assert histories[1].history is histories[1] and len(histories[1].history["loss"]) == 1


def test_each_model_with_its_own_optimizer_moves_as_it_would_alone():
    """Oracle: a plain model.fit per model with that model's optimizer (different rules, rates, a
    schedule and a global_clipnorm, which is per model here), on the same mini-batches."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(96, 6)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    makers = [lambda: keras.optimizers.SGD(0.1, momentum=0.9),
              lambda: keras.optimizers.Adam(0.01),
              lambda: keras.optimizers.RMSprop(keras.optimizers.schedules.ExponentialDecay(0.01, 3, 0.5)),
              lambda: keras.optimizers.SGD(0.5, global_clipnorm=0.1)]
    alone = []
    for seed, make in enumerate(makers):
        model = _model(seed, batch_norm=seed == 1)
        model.compile(optimizer=make(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        alone.append((model.fit(X, y, epochs=2, batch_size=32, shuffle=False, verbose=0,
                                validation_data=(X[:20], y[:20])).history, model.get_weights()))
    models = [_model(seed, batch_norm=seed == 1) for seed in range(len(makers))]
    histories = sidebyside.fit(models, X, y, optimizer=[make() for make in makers],
                               loss="sparse_categorical_crossentropy", metrics=["accuracy"], epochs=2,
                               batch_size=32, shuffle=False, verbose=0, validation_data=(X[:20], y[:20]))
    for i, ((history, weights), model, together) in enumerate(zip(alone, models, histories)):
        assert sorted(together) == sorted(history)
        for key in history:
            np.testing.assert_allclose(together[key], history[key], rtol=1e-4, atol=1e-6, err_msg=f"model {i}: {key}")
        for w_alone, w_together in zip(weights, model.get_weights()):
            np.testing.assert_allclose(w_together, w_alone, rtol=1e-4, atol=1e-6, err_msg=f"model {i}")


def test_optimizer_lists_are_checked():
    models = [_model(0), _model(1)]
    X, y = np.zeros((4, 6), np.float32), np.zeros(4, int)
    with pytest.raises(ValueError, match="one per model"):
        sidebyside.fit(models, X, y, optimizer=[keras.optimizers.SGD(0.1)], loss="sparse_categorical_crossentropy")
    shared = keras.optimizers.SGD(0.1)
    with pytest.raises(ValueError, match="fresh one"):
        sidebyside.fit(models, X, y, optimizer=[shared, shared], loss="sparse_categorical_crossentropy")


class _Rates(keras.callbacks.Callback):
    """Records model.optimizer's learning rate and the val_loss the callback is shown after every epoch."""

    def on_train_begin(self, logs=None):
        self.rates, self.val_losses = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        self.val_losses.append(logs["val_loss"])


def test_model_callbacks_act_on_their_own_models_optimizer_and_logs():
    """Oracle: model.fit alone with the same learning-rate callbacks. ReduceLROnPlateau must read its
    own model's val_loss (the two models' losses differ), the scheduler its own optimizer's rate."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)

    def callbacks():
        return [[keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=0, min_delta=10.0), _Rates()],
                [keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.2 * 0.5 ** epoch), _Rates()]]

    alone_runs = callbacks()
    alone = []
    for seed, own in enumerate(alone_runs):
        model = _model(seed)
        model.compile(optimizer=keras.optimizers.SGD(0.2, momentum=0.9), loss="sparse_categorical_crossentropy")
        model.fit(X, y, epochs=3, batch_size=16, shuffle=False, verbose=0, validation_data=(X[:16], y[:16]), callbacks=own)
        alone.append(model.get_weights())
    together_runs = callbacks()
    models = [_model(0), _model(1)]
    sidebyside.fit(models, X, y, optimizer=[keras.optimizers.SGD(0.2, momentum=0.9) for _ in models],
                   loss="sparse_categorical_crossentropy", epochs=3, batch_size=16, shuffle=False, verbose=0,
                   validation_data=(X[:16], y[:16]), model_callbacks=together_runs)
    assert min(alone_runs[0][1].rates) < 0.2          # the plateau callback did cut the rate (min_delta 10)
    for i in range(2):
        np.testing.assert_allclose(together_runs[i][1].rates, alone_runs[i][1].rates, rtol=1e-6, err_msg=f"model {i}")
        np.testing.assert_allclose(together_runs[i][1].val_losses, alone_runs[i][1].val_losses, rtol=1e-4,
                                   err_msg=f"model {i}: the logs shown to its callbacks")
        for w_alone, w_together in zip(alone[i], models[i].get_weights()):
            np.testing.assert_allclose(w_together, w_alone, rtol=1e-4, atol=1e-6, err_msg=f"model {i}")


@pytest.mark.parametrize("several", [False, True], ids=["one optimizer", "one per model"])
def test_the_combined_train_step_is_traced_once(monkeypatch, several):
    """The optimizer's slots and the compiled loss's and metrics' variables exist before fit: Keras would
    create them inside the first traced step, and TensorFlow then traces the step a second time.
    Oracle: a count of the calls of Keras' own train step (each trace calls it once; running the
    traced graph does not)."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer
    calls, train_step = [], TensorFlowTrainer.train_step
    monkeypatch.setattr(TensorFlowTrainer, "train_step", lambda self, data: calls.append(1) or train_step(self, data))
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(64, 6)).astype(np.float32), rng.integers(0, 3, 64)
    optimizer = [keras.optimizers.Adam(0.01), keras.optimizers.Adam(0.01)] if several else keras.optimizers.Adam(0.01)
    if several:   # the own-optimizers step replaces Keras' one: count it instead
        own = sidebyside._own_optimizers_train_step

        def counted(together, groups, optimizers):
            own(together, groups, optimizers)
            step = together.train_step
            together.train_step = lambda data: calls.append(1) or step(data)
        monkeypatch.setattr(sidebyside, "_own_optimizers_train_step", counted)
    sidebyside.fit([_model(0), _model(1)], X, y, optimizer=optimizer, loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"], epochs=2, batch_size=32, verbose=0, validation_data=(X[:16], y[:16]))
    assert len(calls) == 1, f"the train step was traced {len(calls)} times"
