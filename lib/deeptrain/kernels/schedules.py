"""Learning-rate schedules and an LR finder for Keras (module 07).

The schedules are ``keras.optimizers.schedules.LearningRateSchedule`` subclasses equal to
``deeptrain.reference.schedules`` (computed in float32; tests/lib/test_schedules.py): pass one
as an optimizer's ``learning_rate`` and Keras evaluates it at ``optimizer.iterations`` before
every update. ``LRFinder`` is a callback; ``find_learning_rate`` runs it on a model and
returns what ``suggest_learning_rate`` needs.
"""
import math

import keras
import numpy as np
from keras import ops

__all__ = ["PowerSchedule", "ExponentialSchedule", "PiecewiseConstantSchedule", "OneCycleSchedule",
           "OneCycleCallback", "LRFinder", "find_learning_rate"]


class PowerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr = lr0 / (1 + step / s)**c (``reference.power_schedule``)."""

    def __init__(self, lr0, s, c=1.0, name="power_schedule"):
        super().__init__()
        self.lr0, self.s, self.c, self.name = float(lr0), float(s), float(c), name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        return self.lr0 / ops.power(1.0 + step / self.s, self.c)

    def get_config(self):
        return {"lr0": self.lr0, "s": self.s, "c": self.c, "name": self.name}


class ExponentialSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr = lr0 * 0.1**(step / s) (``reference.exponential_schedule``)."""

    def __init__(self, lr0, s, name="exponential_schedule"):
        super().__init__()
        self.lr0, self.s, self.name = float(lr0), float(s), name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        return self.lr0 * ops.power(0.1, step / self.s)

    def get_config(self):
        return {"lr0": self.lr0, "s": self.s, "name": self.name}


class PiecewiseConstantSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """values[i] where i = number of boundaries strictly below step
    (``reference.piecewise_constant``; Keras' PiecewiseConstantDecay convention)."""

    def __init__(self, boundaries, values, name="piecewise_constant"):
        super().__init__()
        if len(values) != len(boundaries) + 1:
            raise ValueError("need len(values) == len(boundaries) + 1")
        self.boundaries = [float(b) for b in boundaries]
        self.values = [float(v) for v in values]
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        index = ops.sum(ops.cast(ops.greater(step[..., None], ops.convert_to_tensor(self.boundaries)), "int32"),
                        axis=-1)
        return ops.take(ops.convert_to_tensor(self.values, dtype="float32"), index)

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class OneCycleSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The 1cycle schedule, piecewise linear (``reference.one_cycle``, same arguments)."""

    def __init__(self, total_steps, max_lr, div_factor=10.0, final_div_factor=1000.0, anneal_fraction=0.1,
                 name="one_cycle"):
        super().__init__()
        if not 0 < anneal_fraction < 1:
            raise ValueError(f"anneal_fraction must be in (0, 1), got {anneal_fraction}")
        self.total_steps, self.max_lr = float(total_steps), float(max_lr)
        self.div_factor, self.final_div_factor = float(div_factor), float(final_div_factor)
        self.anneal_fraction, self.name = float(anneal_fraction), name

    def __call__(self, step):
        lr_start = self.max_lr / self.div_factor
        lr_end = lr_start / self.final_div_factor
        half = (1.0 - self.anneal_fraction) * self.total_steps / 2.0
        step = ops.clip(ops.cast(step, "float32"), 0.0, self.total_steps)
        # Each phase written from the end point it approaches, so that float32 keeps its
        # relative precision near the small end values (no lr_start - almost lr_start).
        up = lr_start + (self.max_lr - lr_start) * (step / half)
        down = lr_start + (self.max_lr - lr_start) * ((2.0 * half - step) / half)
        anneal = lr_end + (lr_start - lr_end) * ((self.total_steps - step) / (self.total_steps - 2.0 * half))
        return ops.where(step <= half, up, ops.where(step <= 2.0 * half, down, anneal))

    def get_config(self):
        return {"total_steps": self.total_steps, "max_lr": self.max_lr, "div_factor": self.div_factor,
                "final_div_factor": self.final_div_factor, "anneal_fraction": self.anneal_fraction,
                "name": self.name}


class OneCycleCallback(keras.callbacks.Callback):
    """1cycle as a callback, the way A. Geron's chapter 11 writes it: before every batch, set
    the optimizer's (float) learning rate to ``one_cycle(batch count, ...)`` (same arguments
    and formula as ``reference.one_cycle`` and ``OneCycleSchedule``).

    Counts the batches itself from the start of training, so it works with any optimizer
    that has a plain float learning rate. ``self.rates`` records the rate of each batch.
    """

    def __init__(self, total_steps, max_lr, div_factor=10.0, final_div_factor=1000.0, anneal_fraction=0.1):
        super().__init__()
        if not 0 < anneal_fraction < 1:
            raise ValueError(f"anneal_fraction must be in (0, 1), got {anneal_fraction}")
        self.total_steps, self.max_lr = float(total_steps), float(max_lr)
        self.div_factor, self.final_div_factor = float(div_factor), float(final_div_factor)
        self.anneal_fraction = float(anneal_fraction)
        self.rates = []

    def rate(self, step):
        """The 1cycle learning rate at batch `step` (counted from 0), a Python float."""
        lr_start = self.max_lr / self.div_factor
        half = (1.0 - self.anneal_fraction) * self.total_steps / 2.0
        return float(np.interp(step, [0.0, half, 2.0 * half, self.total_steps],
                               [lr_start, self.max_lr, lr_start, lr_start / self.final_div_factor]))

    def on_train_begin(self, logs=None):
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        lr = self.rate(len(self.rates))
        self.model.optimizer.learning_rate = lr
        self.rates.append(lr)


class LRFinder(keras.callbacks.Callback):
    """Train with an exponentially growing learning rate and record (lr, loss) for each batch.

    Batch k (from 0) is trained with lr_k = min_lr * (max_lr / min_lr)**(k / (n_steps - 1)).
    Records ``self.lrs`` and ``self.losses`` (the loss of each batch, recovered from the
    running epoch mean that Keras reports). Stops training after n_steps batches, or as soon
    as the loss is not finite or exceeds ``stop_factor`` times the best loss so far. At the
    end it restores the model's weights and the optimizer's learning rate; the optimizer's
    own state (moments, step count) is not restored, so compile again with a fresh optimizer
    before training for real.

    The optimizer must have a plain float learning rate (not a schedule).
    """

    def __init__(self, min_lr=1e-5, max_lr=10.0, n_steps=300, stop_factor=4.0):
        super().__init__()
        if not 0 < min_lr < max_lr or n_steps < 2:
            raise ValueError("need 0 < min_lr < max_lr and n_steps >= 2")
        self.min_lr, self.max_lr, self.n_steps, self.stop_factor = min_lr, max_lr, int(n_steps), stop_factor
        self.lrs, self.losses = [], []

    def _lr(self, k):
        return self.min_lr * (self.max_lr / self.min_lr) ** (k / (self.n_steps - 1))

    def on_train_begin(self, logs=None):
        if isinstance(self.model.optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError("LRFinder needs an optimizer with a float learning rate, not a schedule")
        self._weights = self.model.get_weights()
        self._lr0 = float(self.model.optimizer.learning_rate.numpy())
        self.lrs, self.losses, self._best = [], [], math.inf

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_sum = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self._lr(len(self.lrs))

    def on_train_batch_end(self, batch, logs=None):
        total = float(logs["loss"]) * (batch + 1)        # Keras reports the mean over the epoch so far
        loss, self._epoch_sum = total - self._epoch_sum, total
        self.lrs.append(self._lr(len(self.lrs)))
        self.losses.append(loss)
        if math.isfinite(loss):
            self._best = min(self._best, loss)
        if (not math.isfinite(loss) or loss > self.stop_factor * self._best
                or len(self.lrs) >= self.n_steps):
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.model.set_weights(self._weights)
        self.model.optimizer.learning_rate = self._lr0


def find_learning_rate(model, X, y, batch_size=128, min_lr=1e-5, max_lr=10.0, n_steps=300, stop_factor=4.0):
    """Run an LRFinder on a compiled model; returns (lrs, losses) as float64 arrays.

    Trains for at most n_steps batches (as many epochs over (X, y) as that takes, shuffled),
    then puts the weights back as they were. Feed the result to suggest_learning_rate.
    """
    finder = LRFinder(min_lr=min_lr, max_lr=max_lr, n_steps=n_steps, stop_factor=stop_factor)
    steps_per_epoch = math.ceil(len(X) / batch_size)
    model.fit(X, y, batch_size=batch_size, epochs=math.ceil(n_steps / steps_per_epoch), callbacks=[finder],
              verbose=0)
    return np.array(finder.lrs, dtype=np.float64), np.array(finder.losses, dtype=np.float64)
