"""Module 07 schedules: references against the Keras 3 schedules (the oracle where Keras has
one), 1cycle by its shape, the LR-finder rule, and the Keras kernels against the references.

Keras schedules compute in float32: comparisons with them are relative 1e-5.
"""
import keras
import numpy as np
import pytest

from deeptrain import checks, reference
from deeptrain.kernels import schedules as ksched

STEPS = np.concatenate([np.arange(0, 50), np.linspace(50, 5000, 60).round()])


def keras_values(schedule, steps=STEPS):
    return np.array([float(schedule(int(s))) for s in steps])


@pytest.mark.parametrize("lr0,s", [(0.01, 20), (0.5, 1000), (3e-4, 7)])
def test_power_schedule_with_c_1_matches_keras_inverse_time_decay(lr0, s):
    expected = keras_values(keras.optimizers.schedules.InverseTimeDecay(lr0, decay_steps=s, decay_rate=1.0))
    checks.assert_close(reference.power_schedule(STEPS, lr0, s), expected, rtol=1e-5)


def test_power_schedule_exponent_c_raises_the_c_1_curve_to_the_power_c():
    # lr(c) / lr0 = (lr(1) / lr0)**c, and lr0 / 2**c after s steps
    base = reference.power_schedule(STEPS, 1.0, 30, c=1)
    checks.assert_close(reference.power_schedule(STEPS, 0.2, 30, c=2.5), 0.2 * base**2.5, rtol=1e-12)
    checks.assert_close(reference.power_schedule(30, 0.2, 30, c=3), 0.2 / 8, rtol=1e-12)


@pytest.mark.parametrize("lr0,s", [(0.01, 20), (0.1, 1000), (1.0, 3)])
def test_exponential_schedule_matches_keras_exponential_decay(lr0, s):
    steps = STEPS[STEPS <= 30 * s]          # float32 (Keras) flushes lr0 * 1e-30 and below to 0
    expected = keras_values(keras.optimizers.schedules.ExponentialDecay(lr0, decay_steps=s, decay_rate=0.1), steps)
    checks.assert_close(reference.exponential_schedule(steps, lr0, s), expected, rtol=1e-5)


@pytest.mark.parametrize("boundaries,values", [([10, 20], [0.1, 0.01, 0.001]), ([5], [1.0, 0.5]),
                                               ([0, 1, 2, 100, 4000], [6.0, 5.0, 4.0, 3.0, 2.0, 1.0])])
def test_piecewise_constant_matches_keras_on_and_around_the_boundaries(boundaries, values):
    steps = np.unique(np.concatenate([STEPS, np.array(boundaries), np.array(boundaries) + 1]))
    expected = keras_values(keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values), steps)
    checks.assert_close(reference.piecewise_constant(steps, boundaries, values), expected, rtol=1e-7)


def test_schedules_return_a_float_for_a_scalar_step_and_an_array_for_an_array():
    for fn in (lambda s: reference.power_schedule(s, 0.1, 10), lambda s: reference.exponential_schedule(s, 0.1, 10),
               lambda s: reference.piecewise_constant(s, [3], [0.1, 0.01]), lambda s: reference.one_cycle(s, 100, 0.1)):
        assert isinstance(fn(4), float)
        assert fn(np.arange(6).reshape(2, 3)).shape == (2, 3)


def test_one_cycle_endpoints_and_peak():
    total, max_lr = 1000, 0.5
    checks.assert_close(reference.one_cycle(0, total, max_lr), max_lr / 10, rtol=1e-12)
    checks.assert_close(reference.one_cycle(450, total, max_lr), max_lr, rtol=1e-12)      # (1 - 0.1) / 2 of the run
    checks.assert_close(reference.one_cycle(900, total, max_lr), max_lr / 10, rtol=1e-12)
    checks.assert_close(reference.one_cycle(total, total, max_lr), max_lr / 10 / 1000, rtol=1e-12)
    checks.assert_close(reference.one_cycle(5 * total, total, max_lr), max_lr / 10 / 1000, rtol=1e-12)
    steps = np.arange(0, total + 1)
    assert reference.one_cycle(steps, total, max_lr).max() == pytest.approx(max_lr)


def test_one_cycle_rises_then_falls_linearly():
    total = 200
    lr = reference.one_cycle(np.arange(total + 1), total, 1.0, div_factor=5, final_div_factor=100, anneal_fraction=0.2)
    half = 80
    up, down, anneal = np.diff(lr[:half + 1]), np.diff(lr[half:2 * half + 1]), np.diff(lr[2 * half:])
    assert np.all(up > 0) and np.all(down < 0) and np.all(anneal < 0)
    for part in (up, down, anneal):                       # each phase is a straight line
        checks.assert_close(part, np.full_like(part, part[0]), rtol=1e-9)
    checks.assert_close(up[0], (1.0 - 0.2) / half, rtol=1e-12)


def test_one_cycle_is_symmetric_around_its_peak():
    total = 1000
    t = np.linspace(0, 450, 91)
    checks.assert_close(reference.one_cycle(450 - t, total, 0.3), reference.one_cycle(450 + t, total, 0.3), rtol=1e-12)


def test_suggest_learning_rate_without_smoothing_is_a_tenth_of_the_argmin():
    lrs = np.logspace(-5, 1, 7)
    losses = [2.3, 2.2, 1.5, 0.9, 1.2, 4.0, 30.0]
    assert reference.suggest_learning_rate(lrs, losses, beta=0) == pytest.approx(1e-2 / 10)
    assert reference.suggest_learning_rate(lrs, losses, factor=3, beta=0) == pytest.approx(1e-2 / 3)


def test_suggest_learning_rate_ignores_everything_after_the_first_nan():
    lrs = np.logspace(-4, 0, 5)
    losses = [2.0, 1.0, np.nan, 0.1, 0.01]        # the finite values after the NaN must not count
    assert reference.suggest_learning_rate(lrs, losses, beta=0) == pytest.approx(1e-3 / 10)
    assert reference.suggest_learning_rate(lrs, [1.0, np.inf, 0.0, 0.0, 0.0], beta=0) == pytest.approx(1e-5)


def test_suggest_learning_rate_smoothing_is_the_bias_corrected_moving_average():
    rng = np.random.default_rng(0)
    lrs = np.logspace(-5, 0, 200)
    losses = 2 + np.cos(np.linspace(0, 3, 200)) + rng.normal(0, 0.2, 200)
    smooth, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = 0.95 * avg + 0.05 * loss
        smooth.append(avg / (1 - 0.95 ** (i + 1)))
    assert reference.suggest_learning_rate(lrs, losses, beta=0.95) == pytest.approx(lrs[np.argmin(smooth)] / 10)
    # the first smoothed value is the first loss itself (no pull towards 0)
    assert reference.suggest_learning_rate([1.0, 2.0], [1.0, 1.5], factor=1, beta=0.9) == 1.0


def test_suggest_learning_rate_rejects_bad_input():
    with pytest.raises(ValueError):
        reference.suggest_learning_rate([1, 2, 3], [1, 2])
    with pytest.raises(ValueError):
        reference.suggest_learning_rate([1, 2], [np.nan, 1.0])


# --- kernels -----------------------------------------------------------------------------

@pytest.mark.parametrize("kernel,ref", [
    (ksched.PowerSchedule(0.05, 40, c=1.5), lambda s: reference.power_schedule(s, 0.05, 40, c=1.5)),
    (ksched.ExponentialSchedule(0.05, 40), lambda s: reference.exponential_schedule(s, 0.05, 40)),
    (ksched.PiecewiseConstantSchedule([10, 400], [0.1, 0.05, 0.001]),
     lambda s: reference.piecewise_constant(s, [10, 400], [0.1, 0.05, 0.001])),
    (ksched.OneCycleSchedule(3000, 0.2), lambda s: reference.one_cycle(s, 3000, 0.2)),
    (ksched.OneCycleSchedule(77, 1.0, div_factor=4, final_div_factor=50, anneal_fraction=0.3),
     lambda s: reference.one_cycle(s, 77, 1.0, div_factor=4, final_div_factor=50, anneal_fraction=0.3)),
], ids=["power", "exponential", "piecewise", "one_cycle", "one_cycle_args"])
def test_kernel_schedule_matches_reference(kernel, ref):
    checks.assert_close(keras_values(kernel), ref(STEPS), rtol=1e-5, atol=1e-30)   # atol: float32 underflow
    clone = type(kernel).from_config(kernel.get_config())
    checks.assert_close(keras_values(clone, STEPS[:10]), ref(STEPS[:10]), rtol=1e-5)


def test_kernel_schedule_drives_an_optimizer():
    # Keras evaluates the schedule at optimizer.iterations before each update: with SGD on
    # f(w) = w (gradient 1) the weight falls by exactly the scheduled rates.
    opt = keras.optimizers.SGD(learning_rate=ksched.OneCycleSchedule(20, 0.5))
    w = keras.Variable(np.zeros(1, np.float32))
    for _ in range(25):
        opt.apply([np.ones(1, np.float32)], [w])
    checks.assert_close(-float(w.numpy()[0]), reference.one_cycle(np.arange(25), 20, 0.5).sum(), rtol=1e-5)


def _small_problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2048, 20)).astype(np.float32)
    y = (X[:, :5].sum(axis=1) > 0).astype(np.int64) + 2 * (X[:, 5] > 0)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(4)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, X, y


def test_lr_finder_records_batch_losses_restores_weights_and_stops_when_the_loss_explodes():
    model, X, y = _small_problem()
    before = [w.copy() for w in model.get_weights()]
    lrs, losses = ksched.find_learning_rate(model, X, y, batch_size=64, min_lr=1e-4, max_lr=1e4, n_steps=200)
    n = len(lrs)
    assert 20 < n < 200, f"the loss should explode before lr = 1e4 (stopped after {n} batches)"
    checks.assert_close(lrs, 1e-4 * (1e8) ** (np.arange(n) / 199), rtol=1e-12, name="exponential lr grid")
    assert not np.isfinite(losses[-1]) or losses[-1] > 4 * np.nanmin(losses[:-1]), "stops at the explosion"
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    suggestion = reference.suggest_learning_rate(lrs, losses)
    assert 1e-4 <= suggestion <= 10, suggestion


def test_lr_finder_losses_are_the_per_batch_losses():
    # First batch of the first epoch: the reported mean is the batch loss itself; with a tiny
    # lr the weights hardly move, so every batch loss matches the loss of the initial model.
    model, X, y = _small_problem(1)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = [float(loss_fn(y[i:i + 128], model(X[i:i + 128]))) for i in range(0, 2048, 128)]
    finder = ksched.LRFinder(min_lr=1e-9, max_lr=1e-8, n_steps=16)
    model.fit(X, y, batch_size=128, epochs=1, shuffle=False, callbacks=[finder], verbose=0)
    checks.assert_close(finder.losses, expected, rtol=1e-4)


# ---- performance scheduling: reduce_lr_on_plateau against Keras' ReduceLROnPlateau -------------------

def keras_plateau_rates(val_losses, lr0, **kwargs):
    """Replay val_losses through keras.callbacks.ReduceLROnPlateau on a compiled model and read
    the optimizer's learning rate after each epoch (the oracle; float32 like every Keras rate)."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr0), loss="mse")
    callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **kwargs)
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, loss in enumerate(val_losses):
        callback.on_epoch_end(epoch, {"val_loss": float(loss)})
        rates.append(float(model.optimizer.learning_rate.numpy()))
    return np.array(rates)


PLATEAU_CASES = [
    dict(factor=0.5, patience=2),
    dict(factor=0.1, patience=3, min_delta=0.01),
    dict(factor=0.2, patience=1, min_delta=0.0, min_lr=1.3e-4),
    dict(),                                                       # Keras' defaults: 0.1, 10, 1e-4, 0
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reduce_lr_on_plateau_matches_keras_callback(kwargs, seed):
    rng = np.random.default_rng(seed)
    # a loss that falls, then plateaus with noise of about min_delta's size: every branch is taken
    val_losses = 1.0 / np.sqrt(1 + np.arange(60)) + 0.3 + rng.normal(0, 0.01, 60)
    checks.assert_close(reference.reduce_lr_on_plateau(val_losses, 0.03, **kwargs),
                        keras_plateau_rates(val_losses, 0.03, **kwargs), rtol=1e-6)


def test_reduce_lr_on_plateau_worked_example():
    # improvements at epochs 0, 1; epochs 2, 3 wait -> halve; epochs 4, 5 wait -> halve again; 6 improves
    got = reference.reduce_lr_on_plateau([1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5], 0.1, factor=0.5, patience=2)
    checks.assert_close(got, [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rtol=1e-12)


def test_reduce_lr_on_plateau_never_goes_below_min_lr_and_keeps_a_steady_loss_flat():
    got = reference.reduce_lr_on_plateau(np.ones(50), 1.0, factor=0.1, patience=1, min_lr=0.0025)
    assert got.min() == 0.0025 and np.all(np.diff(got) <= 0)
    checks.assert_close(reference.reduce_lr_on_plateau(np.linspace(1, 0, 30), 0.2, patience=1), np.full(30, 0.2))


def test_one_cycle_callback_sets_the_reference_rate_before_every_batch():
    total = 3 * 8                                   # 3 epochs of 8 batches
    callback = ksched.OneCycleCallback(total, max_lr=0.2)
    seen = []
    probe = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(float(model.optimizer.learning_rate.numpy())))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    X = np.random.default_rng(0).normal(size=(64, 2))
    model.fit(X, X[:, :1], batch_size=8, epochs=3, verbose=0, callbacks=[callback, probe])
    expected = reference.one_cycle(np.arange(total), total, 0.2)
    checks.assert_close(np.array(callback.rates), expected, rtol=1e-12)
    checks.assert_close(np.array(seen), expected, rtol=1e-6)     # what the optimizer really used (float32)
