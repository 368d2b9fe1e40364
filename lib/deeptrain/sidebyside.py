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

The models are trained in place (the objects passed in), and can be used one by one afterwards:
each is then compiled on its own (same loss and metrics, Keras' default optimizer), so that
``evaluate`` works as after a plain ``fit`` (compile it again before training it on its own).
"""
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


def fit(models, X, y, *, optimizer, loss, metrics=(), validation_data=None, loss_weights=None, **fit_kwargs):
    """Train the models side by side with one optimizer; returns one history dict per model.

    models: built Keras models with the same input shape (trained in place). X, y: the training data
    (the same targets for every model). optimizer: a fresh Keras optimizer, without global_clipnorm.
    loss, metrics: as for a single model. validation_data: (X_valid, y_valid) or None. Other keyword
    arguments go to ``fit`` (epochs, batch_size, shuffle, callbacks, ...). loss_weights: None, or one
    factor per model multiplying its loss, hence its gradient: with plain SGD (no momentum, no
    clipping) a factor k trains that model as a learning rate k times larger would. Returns a list of dicts,
    one per model, with the keys a single model's History would have (loss, accuracy, val_loss, ...);
    each also answers ``.history``, like the History that ``model.fit`` returns.
    """
    if getattr(optimizer, "global_clipnorm", None):
        raise ValueError("global_clipnorm measures the norm over all the models' weights together: "
                         "train such models one by one")
    names = [f"m{i}" for i in range(len(models))]
    together = combine(models)
    together.compile(optimizer=optimizer, loss={n: loss for n in names},
                     loss_weights=None if loss_weights is None else dict(zip(names, map(float, loss_weights))),
                     metrics={n: list(metrics) for n in names} if metrics else None)
    if validation_data is not None:
        X_valid, y_valid = validation_data
        validation_data = (X_valid, {n: y_valid for n in names})
    history = together.fit(X, {n: y for n in names}, validation_data=validation_data, **fit_kwargs).history
    out = []
    for n, model in zip(names, models):
        model.compile(loss=loss, metrics=list(metrics))     # for evaluate(); compile again before training it alone
        own = History()
        for key, values in history.items():
            prefix = "val_" if key.startswith("val_") else ""
            name = key[len(prefix):]
            if name.startswith(f"{n}_"):
                own[prefix + name[len(n) + 1:]] = list(values)
            elif len(models) == 1:        # Keras does not prefix the metrics of a single output
                own.setdefault(key, list(values))
        out.append(own)
    return out
