"""Learning-rate schedules and the LR-finder rule (module 07), in NumPy.

A schedule maps the training step (the number of optimizer updates done so far, counted
from 0, as Keras passes ``optimizer.iterations`` to a ``LearningRateSchedule``) to the
learning rate of the next update. Every schedule here accepts a scalar step or an array of
steps and returns float64 of the same shape (a Python float for a scalar step).

Where Keras has the same schedule it is the oracle (tests/lib/test_schedules.py):
``power_schedule`` with c = 1 is ``InverseTimeDecay(lr0, decay_steps=s, decay_rate=1)``,
``exponential_schedule`` is ``ExponentialDecay(lr0, decay_steps=s, decay_rate=0.1)``,
``piecewise_constant`` is ``PiecewiseConstantDecay(boundaries, values)``, and
``reduce_lr_on_plateau`` replays the callback ``ReduceLROnPlateau`` (with ``cooldown=0``).

Everything here is float64 NumPy; nothing imports TensorFlow.
"""
import numpy as np

__all__ = ["power_schedule", "exponential_schedule", "piecewise_constant", "one_cycle",
           "suggest_learning_rate", "reduce_lr_on_plateau"]


def _out(step, value):
    return float(value) if np.ndim(step) == 0 else value


def power_schedule(step, lr0, s, c=1):
    """Power scheduling: lr = lr0 / (1 + step / s)**c.

    The rate falls to lr0 / 2**c after s steps, lr0 / 3**c after 2 s steps, ...: fast at
    first, then ever more slowly. With c = 1 this is Keras' ``InverseTimeDecay(lr0,
    decay_steps=s, decay_rate=1)``.

    step: scalar or array (>= 0). lr0 > 0, s > 0, c >= 0. Returns float64 like step.
    """
    step = np.asarray(step, dtype=np.float64)
    return _out(step, lr0 / (1.0 + step / s) ** c)


def exponential_schedule(step, lr0, s):
    """Exponential scheduling: lr = lr0 * 0.1**(step / s), a tenfold drop every s steps.

    Smooth (not a staircase). Keras' ``ExponentialDecay(lr0, decay_steps=s, decay_rate=0.1)``.

    step: scalar or array (>= 0). lr0 > 0, s > 0. Returns float64 like step.
    """
    step = np.asarray(step, dtype=np.float64)
    return _out(step, lr0 * 0.1 ** (step / s))


def piecewise_constant(step, boundaries, values):
    """Piecewise constant scheduling, with Keras' ``PiecewiseConstantDecay`` convention:

        values[0]   for step <= boundaries[0]
        values[i]   for boundaries[i-1] < step <= boundaries[i]
        values[-1]  for step > boundaries[-1]

    (a boundary belongs to the interval on its left).
    boundaries: increasing sequence of n numbers; values: sequence of n + 1 learning rates.
    step: scalar or array. Returns float64 like step.
    """
    boundaries = np.asarray(boundaries, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(boundaries) + 1,):
        raise ValueError(f"need len(values) == len(boundaries) + 1, got {len(values)} and {len(boundaries)}")
    step = np.asarray(step, dtype=np.float64)
    index = np.searchsorted(boundaries, step, side="left")   # how many boundaries are < step
    return _out(step, values[index])


def one_cycle(step, total_steps, max_lr, div_factor=10.0, final_div_factor=1000.0, anneal_fraction=0.1):
    """The 1cycle schedule (Smith 2018): up, down, then a final annealing. Piecewise linear.

    With lr_start = max_lr / div_factor, lr_end = lr_start / final_div_factor and
    half = (1 - anneal_fraction) * total_steps / 2, the learning rate goes linearly

        from lr_start to max_lr     over steps [0, half]              (warm-up)
        from max_lr to lr_start     over steps [half, 2 half]         (cool-down)
        from lr_start to lr_end     over steps [2 half, total_steps]  (annealing, the last
                                                                       anneal_fraction of the run)

    and stays at lr_end after total_steps (and at lr_start before 0). Steps may be
    fractional. The defaults: start a tenth of the peak, finish a thousand times lower
    still, the last 10 % of the steps for the annealing.

    step: scalar or array. total_steps > 0, max_lr > 0, div_factor >= 1,
    final_div_factor >= 1, 0 < anneal_fraction < 1. Returns float64 like step.

    >>> one_cycle(np.array([0, 45, 90, 100]), 100, 1.0)
    array([1.e-01, 1.e+00, 1.e-01, 1.e-04])
    """
    if not 0 < anneal_fraction < 1:
        raise ValueError(f"anneal_fraction must be in (0, 1), got {anneal_fraction}")
    lr_start = max_lr / div_factor
    lr_end = lr_start / final_div_factor
    half = (1.0 - anneal_fraction) * total_steps / 2.0
    step = np.asarray(step, dtype=np.float64)
    lr = np.interp(step, [0.0, half, 2.0 * half, float(total_steps)], [lr_start, max_lr, lr_start, lr_end])
    return _out(step, lr)


def suggest_learning_rate(lrs, losses, factor=10.0, beta=0.9):
    """The LR-finder rule: a factor below the learning rate at the minimum of the smoothed loss.

    lrs: increasing learning rates tried, one per batch (exponentially spaced by the finder);
    losses: the training loss of each of those batches (same length).

    1. Cut the run at the first non-finite loss (NaN or inf): the loss has exploded, and
       nothing from there on is kept.
    2. Smooth the losses with a bias-corrected exponential moving average:
           a_i = beta * a_(i-1) + (1 - beta) * losses[i]   (a_(-1) = 0),
           smooth_i = a_i / (1 - beta**(i + 1)).
       beta = 0 means no smoothing.
    3. Return lrs[i*] / factor as a Python float, where i* is the (first) index of the
       smallest smoothed loss.

    The minimum itself is already at the edge of divergence (the loss turns back up right
    after it), hence a rate a factor (10 by default) below it: fast, and still safely stable.
    Raises ValueError when the lengths differ or no finite loss is left.

    >>> suggest_learning_rate([1e-4, 1e-3, 1e-2, 1e-1, 1.0], [2.3, 2.0, 1.0, 3.0, np.nan], beta=0)
    0.001
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if lrs.shape != losses.shape or lrs.ndim != 1:
        raise ValueError(f"lrs and losses must be 1-D of the same length, got {lrs.shape} and {losses.shape}")
    bad = ~np.isfinite(losses)
    n = int(np.argmax(bad)) if bad.any() else len(losses)
    if n == 0:
        raise ValueError("no finite loss before the first NaN/inf: nothing to choose from")
    smooth, avg = np.empty(n), 0.0
    for i in range(n):
        avg = beta * avg + (1.0 - beta) * losses[i]
        smooth[i] = avg / (1.0 - beta ** (i + 1))
    return float(lrs[int(np.argmin(smooth))] / factor)


def reduce_lr_on_plateau(val_losses, lr0, factor=0.1, patience=10, min_delta=1e-4, min_lr=0.0):
    """Performance scheduling: the learning rate after each epoch, as Keras' callback
    ``ReduceLROnPlateau(monitor="val_loss", factor, patience, min_delta, min_lr)`` sets it.

    val_losses: 1-D sequence of finite validation losses, one per epoch (epoch 0 first).
    lr0: the learning rate the optimizer starts with (> 0). 0 < factor < 1, patience >= 1,
    min_delta >= 0, min_lr >= 0.

    Keras' rule, applied at the end of every epoch in order:
      - the epoch *improves* if it is the first one or val_loss < best - min_delta (a fall
        by more than min_delta from the best loss so far);
        then best = val_loss and the wait counter goes back to 0;
      - otherwise wait += 1, and once wait reaches patience: if lr > min_lr, then
        lr = max(lr * factor, min_lr) and wait = 0 (at min_lr nothing changes).
    Returns a float64 array of len(val_losses): entry i is the learning rate in effect
    after epoch i, i.e. the one epoch i + 1 trains with.

    >>> reduce_lr_on_plateau([1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5], 0.1, factor=0.5, patience=2)
    array([0.1  , 0.1  , 0.1  , 0.05 , 0.05 , 0.025, 0.025])
    """
    val_losses = np.asarray(val_losses, dtype=np.float64)
    if val_losses.ndim != 1:
        raise ValueError(f"val_losses must be 1-D, got shape {val_losses.shape}")
    lr, best, wait, out = float(lr0), None, 0, []
    for loss in val_losses:
        if best is None or loss < best - min_delta:     # a fall by more than min_delta
            best, wait = loss, 0
        else:
            wait += 1
            if wait >= patience and lr > min_lr:
                lr, wait = max(lr * factor, min_lr), 0
        out.append(lr)
    return np.array(out, dtype=np.float64)
