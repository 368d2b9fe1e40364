"""Module 08's explorers: the dropout rate against accuracy, and MC-dropout uncertainty.

Training takes seconds, a slider must answer in under one, so nothing trains while the
student moves a control: ``train_grid`` trains the notebook's network (``build_mlp``, the
same as its ``mlp(dropout=rate)``) once for each rate of a small grid, and records what
the two explorers show:

- per rate: the learning curves of ``fit``, the training accuracy and loss evaluated in
  inference mode (dropout off) and the validation accuracy and loss;
- per rate, for a few test images: ``n_samples`` stochastic predictions (dropout on, as in MC
  dropout) and the single deterministic one.

The explorers then only index those arrays (``mc_stats`` computes the MC mean and spread of
the first T samples in NumPy). The grid the notebook trains is kept as the current one
(``current_grid``), which the registry's draw functions use; outside a notebook,
``current_grid`` trains the default grid on first use (the notebook's data and settings).
"""
from dataclasses import dataclass, field

import numpy as np

from . import register

RATES = (0.0, 0.1, 0.2, 0.5)


@dataclass
class DropoutGrid:
    """What was measured for each dropout rate of a grid (index r follows ``rates``).

    history: {rate: {"loss", "accuracy", "val_loss", "val_accuracy"}: per-epoch lists from fit}.
    train_loss, train_accuracy: (R,) on the training set in inference mode (model.evaluate).
    valid_loss, valid_accuracy: (R,) on the validation set.
    images, labels: (N, 28, 28), (N,) the test images MC dropout was run on.
    samples: (R, T, N, C) float32: T stochastic predictions (dropout on) of each image.
    single: (R, N, C) float32: the deterministic prediction (dropout off).
    """
    rates: tuple
    epochs: int
    history: dict
    train_loss: np.ndarray
    train_accuracy: np.ndarray
    valid_loss: np.ndarray
    valid_accuracy: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    samples: np.ndarray
    single: np.ndarray
    seconds: float = field(default=0.0)

    def index(self, rate):
        """Position of `rate` in the grid (ValueError if it was not trained)."""
        for i, r in enumerate(self.rates):
            if abs(r - rate) < 1e-9:
                return i
        raise ValueError(f"rate {rate} is not in the grid {self.rates}")


def build_mlp(rate=0.0, seed=0):
    """Flatten + [Dropout] + 2 x (Dense(100, ReLU, He) + [Dropout]) + Dense(10, softmax):
    module 08's ``mlp(dropout=rate)``, with a Dropout layer before each Dense one when rate > 0."""
    from .. import import_tensorflow
    tf = import_tensorflow()
    tf.keras.utils.set_random_seed(seed)
    layers = [tf.keras.Input((28, 28)), tf.keras.layers.Flatten()]
    for units in (100, 100):
        if rate:
            layers.append(tf.keras.layers.Dropout(rate))
        layers.append(tf.keras.layers.Dense(units, activation="relu", kernel_initializer="he_normal"))
    if rate:
        layers.append(tf.keras.layers.Dropout(rate))
    layers.append(tf.keras.layers.Dense(10, activation="softmax"))
    return tf.keras.Sequential(layers)


def mc_samples(model, X, n_samples):
    """n_samples stochastic predictions of X, dropout on: float32 array (n_samples, len(X), classes).

    Each pass is ``model(X, training=True)``, with new dropout masks. The masks come from each
    Dropout layer's own seed generator, seeded when the model was built (``build_mlp(rate,
    seed)``) and advanced by every training step and pass: a fresh process that builds,
    trains and samples the same way draws the same masks (global seeds do not reset them).
    The pass is traced once (``tf.function``), which draws the same masks as calling the model
    eagerly (the generator's state advances alike) in a quarter of the time: 100 passes over
    200 images took 0.33 s instead of 1.3 s on 2 cores.
    """
    from .. import import_tensorflow
    tf = import_tensorflow()
    sample = tf.function(lambda x: model(x, training=True))
    X = tf.convert_to_tensor(np.asarray(X, dtype=np.float32))
    return np.stack([np.asarray(sample(X)) for _ in range(int(n_samples))]).astype(np.float32)


def train_grid(X_train, y_train, X_valid, y_valid, X_mc, y_mc, rates=RATES, epochs=10, n_samples=100,
               learning_rate=1e-3, batch_size=256, seed=0, trained=None):
    """Train ``build_mlp(rate)`` for each rate (Nadam, as module 08's dropout demo; the rates side by
    side in one model, ``deeptrain.sidebyside``) and measure.

    X_mc, y_mc: the images MC dropout is run on (n_samples passes each).
    trained: {rate: (model, history)} of models already trained this way (the notebook's
        rate-0 and rate-0.2 models), reused instead of training them again; history is the
        Keras History that fit returned (or its .history dict).
    Returns a DropoutGrid, which also becomes the current grid of the explorers.
    """
    import time

    from .. import import_tensorflow
    tf = import_tensorflow()
    start = time.perf_counter()
    history, evals, samples, single = {}, [], [], []
    X_mc = np.asarray(X_mc, dtype=np.float32)
    trained = dict(trained or {})
    new = [rate for rate in rates if rate not in trained]
    if new:   # the rates not handed in, trained side by side (Nadam updates each weight from its own gradient)
        from .. import sidebyside
        models = [build_mlp(rate, seed) for rate in new]
        histories = sidebyside.fit(models, X_train, y_train, optimizer=tf.keras.optimizers.Nadam(learning_rate=learning_rate),
                                   loss="sparse_categorical_crossentropy", metrics=["accuracy"], epochs=epochs,
                                   batch_size=batch_size, verbose=0, validation_data=(X_valid, y_valid))
        trained.update(zip(new, zip(models, histories)))
    for rate in rates:
        model, h = trained[rate]
        h = getattr(h, "history", h)
        if len(h["loss"]) != epochs:
            raise ValueError(f"the model of rate {rate} was trained for {len(h['loss'])} epochs, not {epochs}")
        history[rate] = {k: list(map(float, v)) for k, v in h.items()}
        evals.append(model.evaluate(X_train, y_train, verbose=0, batch_size=1000)
                     + model.evaluate(X_valid, y_valid, verbose=0, batch_size=1000))
        samples.append(mc_samples(model, X_mc, n_samples) if rate else
                       np.broadcast_to(np.asarray(model(X_mc, training=True)), (n_samples, len(X_mc), 10)))
        single.append(np.asarray(model(X_mc, training=False)))
    evals = np.array(evals, dtype=np.float64)
    grid = DropoutGrid(tuple(rates), epochs, history, evals[:, 0], evals[:, 1], evals[:, 2], evals[:, 3],
                       X_mc, np.asarray(y_mc), np.array(samples, dtype=np.float32),
                       np.array(single, dtype=np.float32), time.perf_counter() - start)
    set_current_grid(grid)
    return grid


def mc_stats(samples, n):
    """MC dropout's mean and standard deviation (ddof=0) over the first n samples.

    samples: (T, ..., C) stochastic predictions. Returns (mean, std), float64, shape (..., C).
    """
    if not 1 <= n <= len(samples):
        raise ValueError(f"n must be in [1, {len(samples)}], got {n}")
    head = np.asarray(samples[:n], dtype=np.float64)
    return head.mean(axis=0), head.std(axis=0)


def running_mean(samples):
    """The MC mean after 1, 2, ..., T samples: float64 array of samples' shape, (T, ..., C)."""
    samples = np.asarray(samples, dtype=np.float64)
    counts = np.arange(1, len(samples) + 1).reshape((-1,) + (1,) * (samples.ndim - 1))
    return np.cumsum(samples, axis=0) / counts


# ----------------------------------------------------------------------------- the current grid
_CURRENT = {}


def set_current_grid(grid):
    """Make `grid` the one the explorers (and the registry's draw functions) show."""
    _CURRENT["grid"] = grid


def default_grid():
    """The grid module 08 trains: its data (5,000 / 2,000 / 2,000 images, seed 0), the rates
    RATES, 10 epochs, MC dropout on the first 200 test images with 100 samples."""
    from .. import data
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = data.load_fashion_mnist(
        n_train=5_000, n_valid=2_000, n_test=2_000, seed=0)
    return train_grid(X_train, y_train, X_valid, y_valid, X_test[:N_MC_IMAGES], y_test[:N_MC_IMAGES])


N_MC_IMAGES = 200


def current_grid():
    """The grid set last (by train_grid), or the default grid, trained on first use."""
    if "grid" not in _CURRENT:
        default_grid()
    return _CURRENT["grid"]


# ----------------------------------------------------------------------------- explorer 1: the rate
def draw_rate(rate=0.2):
    """Accuracy against the dropout rate (left) and the learning curves of `rate` (right)."""
    from matplotlib.figure import Figure

    g = current_grid()
    i = g.index(rate)
    rates = np.array(g.rates)
    fit_acc = np.array([g.history[r]["accuracy"][-1] for r in g.rates])
    fig = Figure(figsize=(10.5, 3.8), layout="constrained")
    ax, ax_curves = fig.subplots(1, 2)
    ax.plot(rates, g.train_accuracy, "o-", color="C0", label="train, evaluated (dropout off)")
    ax.plot(rates, fit_acc, "o--", color="C0", alpha=0.5, label="train, as fit reports it (dropout on)")
    ax.plot(rates, g.valid_accuracy, "o-", color="C1", label="validation")
    ax.axvline(rate, color="0.5", lw=1, ls=":")
    ax.set_xlabel("dropout rate"); ax.set_ylabel(f"accuracy after {g.epochs} epochs"); ax.grid(alpha=0.3)
    ax.set_xticks(rates); ax.legend(fontsize="small")
    gap = g.train_accuracy[i] - g.valid_accuracy[i]
    ax.set_title(f"rate {rate:g}: validation {g.valid_accuracy[i]:.3f}, train - validation gap {gap:.3f}",
                 fontsize=9)

    epochs = np.arange(1, g.epochs + 1)
    for r, colour in ((g.rates[0], "0.6"), (rate, "C3")):
        h = g.history[r]
        ax_curves.plot(epochs, h["loss"], "--", color=colour, label=f"rate {r:g}: training loss (fit)")
        ax_curves.plot(epochs, h["val_loss"], "-", color=colour, label=f"rate {r:g}: validation loss")
    ax_curves.set_xlabel("epoch"); ax_curves.set_ylabel("loss"); ax_curves.grid(alpha=0.3)
    ax_curves.legend(fontsize="small")
    ax_curves.set_title(f"learning curves, rate {rate:g} against rate {g.rates[0]:g}", fontsize=9)
    return fig


def rate_controls():
    """A slider over the trained rates, at 0.2 (the notebook's dropout model)."""
    import ipywidgets as widgets

    rates = current_grid().rates
    return {"rate": widgets.SelectionSlider(options=[(f"{r:g}", r) for r in rates],
                                            value=0.2 if 0.2 in rates else rates[0],
                                            description="dropout rate", style={"description_width": "initial"})}


# ----------------------------------------------------------------------------- explorer 2: MC dropout
def draw_mc(rate=0.2, image=0, n_samples=30):
    """One test image (left); MC mean +- std of its class probabilities over n_samples passes,
    with the deterministic pass (middle); the running MC mean of each class against the number
    of passes (right)."""
    from matplotlib.figure import Figure

    from ..data import CLASS_NAMES

    g = current_grid()
    i = g.index(rate)
    samples = g.samples[i, :, image]                           # (T, C)
    mean, std = mc_stats(samples, n_samples)
    single = g.single[i, image]
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax_img, ax_bar, ax_run = fig.subplots(1, 3, gridspec_kw={"width_ratios": [0.8, 2, 1.6]})
    ax_img.imshow(g.images[image], cmap="binary"); ax_img.axis("off")
    ax_img.set_title(f"test image {image}: {CLASS_NAMES[g.labels[image]]}", fontsize=9)

    classes = np.arange(len(mean))
    ax_bar.bar(classes, mean, yerr=std, capsize=3, color="C0", alpha=0.8, label=f"MC mean ± std, {n_samples} passes")
    ax_bar.plot(classes, single, "r_", ms=16, mew=2, label="one deterministic pass")
    ax_bar.set_ylim(0, 1.05); ax_bar.set_xticks(classes)
    ax_bar.set_xticklabels(CLASS_NAMES, rotation=35, fontsize=7, ha="right")
    ax_bar.set_ylabel("probability"); ax_bar.legend(fontsize="small", loc="upper right")
    top = int(mean.argmax())
    wrong = top != int(g.labels[image])
    ax_bar.set_title(f"rate {rate:g}: predicts {CLASS_NAMES[top]} with {mean[top]:.2f} ± {std[top]:.2f}"
                     + (" (wrong)" if wrong else ""), fontsize=9, color="C3" if wrong else "black")

    run = running_mean(g.samples[i, :, image])                 # (T, C)
    passes = np.arange(1, len(run) + 1)
    shown = np.argsort(run[-1])[::-1][:3]                      # the three most probable classes
    for k, c in enumerate(shown):
        ax_run.plot(passes, run[:, c], color=f"C{k}", label=CLASS_NAMES[c])
    ax_run.axvline(n_samples, color="0.5", lw=1, ls=":")
    ax_run.set_xscale("log"); ax_run.set_ylim(0, 1.05); ax_run.grid(alpha=0.3)
    ax_run.set_xlabel("number of passes (log scale)"); ax_run.set_ylabel("MC mean probability")
    ax_run.legend(fontsize="small"); ax_run.set_title("the MC mean settles as passes are added", fontsize=9)
    return fig


def mc_controls():
    """Rate (among those with dropout), test image and number of passes; at rate 0.2, image 0, 30 passes."""
    import ipywidgets as widgets

    g = current_grid()
    rates = [r for r in g.rates if r > 0]
    style = {"description_width": "initial"}
    return {
        "rate": widgets.SelectionSlider(options=[(f"{r:g}", r) for r in rates],
                                        value=0.2 if 0.2 in rates else rates[0], description="dropout rate",
                                        style=style),
        "image": widgets.IntSlider(value=0, min=0, max=len(g.images) - 1, description="test image", style=style),
        "n_samples": widgets.IntSlider(value=30, min=1, max=g.samples.shape[1], description="MC passes",
                                       style=style),
    }


def rate_explorer(grid=None):
    """Explorer 1 (None while grading, and nothing is trained then). grid: a DropoutGrid from
    train_grid (default: the current one)."""
    from .. import is_grading
    from . import explorer as make_explorer

    if is_grading():
        return None
    if grid is not None:
        set_current_grid(grid)
    return make_explorer(draw_rate, rate_controls(), name="08_dropout_rate",
                         title="Dropout rate against accuracy (one model trained per rate)")


def mc_explorer(grid=None):
    """Explorer 2 (None while grading). grid: as for rate_explorer."""
    from .. import is_grading
    from . import explorer as make_explorer

    if is_grading():
        return None
    if grid is not None:
        set_current_grid(grid)
    return make_explorer(draw_mc, mc_controls(), name="08_mc_dropout",
                         title="MC dropout: mean and spread of the stochastic predictions")


register("08_dropout_rate", "08_regularization", draw_rate, rate_controls)
register("08_mc_dropout", "08_regularization", draw_mc, mc_controls)
