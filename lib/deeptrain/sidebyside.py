"""Several independent Keras models trained as one: one ``fit``, one batch order, each its own loss.

The combined model's loss is the sum of the models' losses. No weight is shared, so the gradient of
that sum with respect to one model's weights is the gradient of that model's own loss, and an
optimizer that updates each weight from its own gradient and state (SGD with or without momentum,
AdaGrad, RMSProp, Adam and its family; not ``global_clipnorm``, whose norm would mix the models)
moves each model exactly as it would alone on the same mini-batches. One ``fit`` pays the per-step
overhead of Python and TensorFlow once instead of once per model, and TensorFlow can run the models'
independent operations on different cores: three MLPs 784-300-100-10 (4 epochs, 5,000 images, batch
256) took 6.3 s instead of 12.5 s of wall time, and 4.8 s instead of 5.8 s of CPU time, on 2 cores.

    histories = sidebyside.fit([make_mlp(seed) for seed in (0, 1, 2)], X_train, y_train,
                               optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                               metrics=["accuracy"], epochs=3, batch_size=64, validation_data=(X_valid, y_valid))
    histories[0]["val_accuracy"]      # the first model's, as model.fit(...).history would name it

Models that need different optimizers (another rule, rate or schedule, or a ``global_clipnorm``, which
then measures one model's norm) take a list, one fresh optimizer per model, each of which updates only
its own model's weights; learning-rate callbacks for one model go in ``model_callbacks``:

    sidebyside.fit(models, X, y, optimizer=[keras.optimizers.SGD(0.01), keras.optimizers.Adam(1e-3)],
                   model_callbacks=[[], [keras.callbacks.ReduceLROnPlateau("val_loss")]], ...)

The models are trained in place (the objects passed in), and can be used one by one afterwards:
each is then compiled on its own (same loss and metrics, Keras' default optimizer), so that
``evaluate`` works as after a plain ``fit`` (compile it again before training it on its own).
"""
import types

from ._setup import import_tensorflow


class History(dict):
    """One model's history: a dict of lists, which also answers ``.history`` as Keras' History does."""

    @property
    def history(self):
        return self


def combine(models):
    """One Keras model whose outputs {"m0": ..., "m1": ...} are the given models applied to one input."""
    keras = import_tensorflow().keras
    inputs = keras.Input(tuple(models[0].input_shape[1:]))
    outputs = {f"m{i}": keras.layers.Identity(name=f"m{i}")(model(inputs)) for i, model in enumerate(models)}
    return keras.Model(inputs, outputs)


def _own_optimizers_train_step(together, groups, optimizers):
    """Give the combined model a train step in which optimizers[i] updates only groups[i].

    groups: one list of trainable variables per model; optimizers: one built Keras optimizer per model.
    The step is Keras' own (TensorFlow backend, keras/src/backend/tensorflow/trainer.py), except the
    update: the gradient of the summed loss with respect to a model's variables is that model's own
    gradient (no weight is shared), so each optimizer sees exactly what it would see alone.
    """
    tf = import_tensorflow()
    from keras.src.trainers.data_adapters import data_adapter_utils

    def train_step(self, data):
        x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        variables = [v for group in groups for v in group]
        gradients = tape.gradient(loss, variables)
        start = 0
        for group, optimizer in zip(groups, optimizers):        # each optimizer, its own model's slice
            optimizer.apply_gradients(zip(gradients[start:start + len(group)], group))
            start += len(group)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    together.train_step = types.MethodType(train_step, together)


def _build_loss_and_metrics(together, X, y):
    """Create the variables of the compiled loss (one mean per output) and metrics now, eagerly, from
    one example (fit resets their state when it starts an epoch). Keras creates them, and an unbuilt
    optimizer's slots, inside the first traced train step, and a tf.function that creates variables
    is traced a second time: built beforehand, the step is traced once."""
    x, y = X[:1], {n: v[:1] for n, v in y.items()}
    y_pred = together(x, training=False)
    together.compute_loss(x, y, y_pred, training=False)
    together.compute_metrics(x, y, y_pred, sample_weight=None)
    together.reset_metrics()


def own_logs(logs, name, alone=False):
    """The entries of the combined model's logs that belong to output `name` ("m0", ...), unprefixed.

    logs: {"m0_loss": ..., "val_m0_loss": ..., "loss": ...}. alone: True when there is one model only
    (Keras does not prefix the metrics of a single output). Returns {"loss": ..., "val_loss": ...}.
    """
    own = {}
    for key, value in (logs or {}).items():
        prefix = "val_" if key.startswith("val_") else ""
        rest = key[len(prefix):]
        if rest.startswith(f"{name}_"):
            own[prefix + rest[len(name) + 1:]] = value
        elif alone:
            own.setdefault(key, value)
    return own


def _own_view(callbacks, name, optimizer, alone):
    """One callback that shows `callbacks` a single model: `optimizer` as model.optimizer, own logs.

    So that a learning-rate callback (LearningRateScheduler, ReduceLROnPlateau, ...) acts on one
    model's optimizer and reads that model's loss. Callbacks that need more of the model (weights,
    stop_training) are not supported this way.
    """
    keras = import_tensorflow().keras
    view = types.SimpleNamespace(optimizer=optimizer, stop_training=False)
    hooks = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
             "on_train_batch_begin", "on_train_batch_end"]

    class OwnView(keras.callbacks.Callback):
        def set_model(self, model):
            super().set_model(model)
            for callback in callbacks:
                callback.set_model(view)

    def forward(hook):
        with_index = hook not in ("on_train_begin", "on_train_end")      # (epoch or batch, logs) or (logs)

        def method(self, *args, logs=None):
            index, rest = (args[:1], args[1:]) if with_index else ((), args)
            logs = rest[0] if rest else logs
            for callback in callbacks:
                getattr(callback, hook)(*index, logs=own_logs(logs, name, alone))
        return method

    for hook in hooks:
        setattr(OwnView, hook, forward(hook))
    return OwnView()


def fit(models, X, y, *, optimizer, loss, metrics=(), validation_data=None, loss_weights=None,
        model_callbacks=None, **fit_kwargs):
    """Train the models side by side; returns one history dict per model.

    models: built Keras models with the same input shape (trained in place). X, y: the training data
    (the same targets for every model). optimizer: a fresh Keras optimizer shared by all the models
    (without global_clipnorm), or a list of fresh optimizers, one per model, each updating only its
    own model's weights (so models with different optimizers, learning rates or schedules train in one
    fit; callbacks that change ``model.optimizer`` then reach only the first model's optimizer).
    loss, metrics: as for a single model. validation_data: (X_valid, y_valid) or None. Other keyword
    arguments go to ``fit`` (epochs, batch_size, shuffle, callbacks, ...). loss_weights: None, or one
    factor per model multiplying its loss, hence its gradient: with plain SGD (no momentum, no
    clipping) a factor k trains that model as a learning rate k times larger would. Returns a list of dicts,
    one per model, with the keys a single model's History would have (loss, accuracy, val_loss, ...);
    each also answers ``.history``, like the History that ``model.fit`` returns.
    model_callbacks: None, or one list of callbacks per model (with a list of optimizers) that see that
    model alone: its optimizer as ``model.optimizer`` and its own logs (learning-rate callbacks).
    """
    optimizers = list(optimizer) if isinstance(optimizer, (list, tuple)) else [optimizer]
    if isinstance(optimizer, (list, tuple)) and len(optimizers) != len(models):
        raise ValueError(f"{len(optimizers)} optimizers for {len(models)} models: give one per model")
    if len(set(map(id, optimizers))) != len(optimizers):
        raise ValueError("the same optimizer object appears twice in the list: give each model a fresh one")
    if not isinstance(optimizer, (list, tuple)) and getattr(optimizer, "global_clipnorm", None):
        raise ValueError("global_clipnorm measures the norm over all the models' weights together: "
                         "train such models one by one, or give each model its own optimizer")
    names = [f"m{i}" for i in range(len(models))]
    together = combine(models)
    together.compile(optimizer=optimizers[0], loss={n: loss for n in names},
                     loss_weights=None if loss_weights is None else dict(zip(names, map(float, loss_weights))),
                     metrics={n: list(metrics) for n in names} if metrics else None)
    if len(optimizers) > 1:
        groups = [list(model.trainable_variables) for model in models]
        for group, own in zip(groups, optimizers):
            own.build(group)                      # its slots now, not inside the traced train step
        _own_optimizers_train_step(together, groups, optimizers)
    else:
        optimizers[0].build(together.trainable_variables)
    _build_loss_and_metrics(together, X, {n: y for n in names})
    if model_callbacks is not None:
        if len(model_callbacks) != len(models) or len(optimizers) != len(models):
            raise ValueError("model_callbacks needs one list per model and one optimizer per model")
        views = [_own_view(list(own), n, opt, len(models) == 1)
                 for own, n, opt in zip(model_callbacks, names, optimizers) if own]
        fit_kwargs["callbacks"] = list(fit_kwargs.get("callbacks") or []) + views
    if validation_data is not None:
        X_valid, y_valid = validation_data
        validation_data = (X_valid, {n: y_valid for n in names})
    history = together.fit(X, {n: y for n in names}, validation_data=validation_data, **fit_kwargs).history
    out = []
    for n, model in zip(names, models):
        model.compile(loss=loss, metrics=list(metrics))     # for evaluate(); compile again before training it alone
        out.append(History({key: list(values) for key, values in own_logs(history, n, len(models) == 1).items()}))
    return out
