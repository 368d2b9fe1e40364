"""Tracking gradient norms during ``fit`` (module 05): a Keras callback.

:class:`GradientNormMonitor` measures, every ``every`` training steps, the L2 norm of the
gradient of each layer's kernel and the global norm of the gradients of all trainable
variables (the quantity ``global_clipnorm`` compares with its threshold), on one fixed
probe batch, with a compiled function. It optionally writes them to TensorBoard logs.

Why a probe batch: a Keras 3 callback cannot see the gradients ``fit`` computes inside its
compiled train step. Recomputing them on a fixed batch costs one forward and backward pass
per record; with ``every=20`` and a probe of one batch that is a few percent of training
(``bench/bench_monitoring.py`` measures it). A fixed batch also makes the records
comparable with each other: they change only because the weights change.

The probe pass leaves training exactly as it would have been without the callback: the
model's non-trainable state (batch-norm moving statistics, dropout seed generators) is
restored after each record, and the optimizer is never touched.
"""
import numpy as np
import tensorflow as tf

from .gradients import kernel_variables

__all__ = ["GradientNormMonitor", "scalar_summary_metadata", "read_scalar_events"]


def scalar_summary_metadata():
    """Serialized ``SummaryMetadata`` that makes TensorBoard show a tensor as a scalar curve.

    ``tf.summary.scalar`` lives in the ``tensorboard`` package, which TensorFlow 2.21 no longer
    installs; ``tf.summary.write`` with this metadata writes the same event (the "scalars"
    plugin, data class scalar), so logs can be written without it.
    """
    from tensorflow.core.framework import summary_pb2
    meta = summary_pb2.SummaryMetadata()
    meta.plugin_data.plugin_name = "scalars"
    meta.data_class = summary_pb2.DATA_CLASS_SCALAR
    return meta.SerializeToString()


def read_scalar_events(log_dir):
    """The scalars written under ``log_dir`` (event files, recursively): {tag: [(step, value)]}.

    A small reader for tests and notebooks, so that a log can be checked without TensorBoard.
    """
    import os
    from tensorflow.core.util import event_pb2
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(log_dir)
                   for f in names if "tfevents" in f)
    out = {}
    for path in files:
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = (tf.make_ndarray(value.tensor).item() if value.HasField("tensor")
                          else value.simple_value)
                out.setdefault(value.tag, []).append((int(event.step), float(number)))
    return out


def _resolve_loss(loss):
    """A callable (y_true, y_pred) -> scalar from a compiled model's ``loss``."""
    import keras
    if loss is None or isinstance(loss, (list, tuple, dict)):
        raise ValueError("GradientNormMonitor needs loss_fn= for a model compiled without a single loss")
    fn = keras.losses.get(loss)
    if isinstance(fn, keras.losses.Loss):
        return fn
    return lambda y, p: tf.reduce_mean(fn(y, p))   # a per-sample loss function: average it


class GradientNormMonitor(tf.keras.callbacks.Callback):
    """Record per-layer kernel gradient norms and the global gradient norm during ``fit``.

    X, y: the probe batch (e.g. 256 training rows), fixed for the whole run.
    every: record before training steps 0, every, 2 * every, ... (steps counted by this
        callback over all the ``fit`` calls it takes part in; one step per
        ``on_train_batch_begin``). Each record uses the weights at that moment.
    loss_fn: ``loss_fn(y, y_pred)``; default: the loss the model was compiled with.
        Regularization penalties (``model.losses``) are not included.
    log_dir: if given, write the norms as TensorBoard scalars ``gradient_norm/global`` and
        ``gradient_norm/<layer name>`` there, at the step of each record.
    training: run the probe forward pass in training mode (dropout, batch statistics), as
        ``fit`` does; the non-trainable state is restored afterwards either way.
    jit_compile: compile the probe function with XLA.

    After training: ``steps`` (list of int), ``layer_names`` (layers with a kernel, input to
    output), ``layer_norms`` (float64 array (n_records, n_layers)), ``global_norms``
    (float64 array (n_records,)). A layer whose kernel is frozen records 0.
    """

    def __init__(self, X, y, every=20, loss_fn=None, log_dir=None, training=True, jit_compile=False):
        super().__init__()
        if int(every) < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}")
        self.X = tf.convert_to_tensor(X)
        self.y = tf.convert_to_tensor(y)
        self.every = int(every)
        self.loss_fn = loss_fn
        self.log_dir = log_dir
        self.training = bool(training)
        self.jit_compile = bool(jit_compile)
        self.steps = []
        self.layer_names = []
        self._records = []
        self._seen = 0
        self._fn = None
        self._fn_model = None
        self._writer = None
        self._metadata = None

    # --- results -------------------------------------------------------------------------
    @property
    def layer_norms(self):
        n = len(self.layer_names)
        return np.array([r[:n] for r in self._records], dtype=np.float64).reshape(-1, n)

    @property
    def global_norms(self):
        return np.array([r[-1] for r in self._records], dtype=np.float64)

    def as_dict(self):
        """{"step": ..., "global": ..., <layer name>: ...} of 1-D arrays (e.g. for pandas)."""
        out = {"step": np.array(self.steps), "global": self.global_norms}
        for i, name in enumerate(self.layer_names):
            out[name] = self.layer_norms[:, i]
        return out

    # --- the compiled probe ----------------------------------------------------------------
    def _build(self):
        model = self.model
        loss_fn = self.loss_fn if self.loss_fn is not None else _resolve_loss(getattr(model, "loss", None))
        kernels = kernel_variables(model)
        if not kernels:
            raise ValueError("GradientNormMonitor: the model has no layer with a kernel")
        self.layer_names = [layer.name for layer in model.layers if getattr(layer, "kernel", None) is not None]
        trainable = list(model.trainable_variables)
        position = {id(v): i for i, v in enumerate(trainable)}
        kernel_index = [position.get(id(k)) for k in kernels]   # None: a frozen kernel
        state = list(model.non_trainable_variables)
        training = self.training

        def probe(X, y):
            saved = [tf.identity(v.value) for v in state]
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(X, training=training))
            grads = tape.gradient(loss, trainable)
            for v, s in zip(state, saved):
                v.assign(s)
            squares = [tf.zeros([]) if g is None else tf.reduce_sum(tf.square(tf.cast(g, tf.float32)))
                       for g in grads]
            per_layer = [tf.zeros([]) if i is None else tf.sqrt(squares[i]) for i in kernel_index]
            total = tf.sqrt(tf.add_n(squares)) if squares else tf.zeros([])
            return tf.stack(per_layer + [total])

        self._fn = tf.function(probe, jit_compile=self.jit_compile, reduce_retracing=True)
        self._fn_model = self._signature()

    def _signature(self):
        return (id(self.model), tuple(id(v) for v in self.model.trainable_variables))

    def _record(self):
        if self._fn is None or self._fn_model != self._signature():
            self._build()
        values = self._fn(self.X, self.y).numpy().astype(np.float64)
        self.steps.append(self._seen)
        self._records.append(values)
        if self._writer is not None:
            with self._writer.as_default():
                tf.summary.write("gradient_norm/global", values[-1], step=self._seen, metadata=self._metadata)
                for name, value in zip(self.layer_names, values[:-1]):
                    tf.summary.write(f"gradient_norm/{name}", value, step=self._seen, metadata=self._metadata)

    # --- Keras hooks -----------------------------------------------------------------------
    # on_train_batch_BEGIN, not _end: a callback with a batch-end hook makes Keras 3 give up
    # dispatching batch-end callbacks asynchronously, which slows every step of fit.
    def on_train_begin(self, logs=None):
        if self.log_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
            self._metadata = scalar_summary_metadata()

    def on_train_batch_begin(self, batch, logs=None):
        if self._seen % self.every == 0:
            self._record()
        self._seen += 1

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def close(self):
        """Close the TensorBoard writer (the logs are flushed at the end of every ``fit`` anyway)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
