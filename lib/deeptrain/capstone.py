"""Module 09, the capstone: train a deep network as well as you can within a fixed budget.

The network is fixed (``capstone_recipe.DEPTH`` hidden Dense layers of ``WIDTH`` units, as in the
exercise that ends chapter 11 of Geron's book); everything about how it is trained is the
student's. The student writes ``build_and_train(X_train, y_train, X_valid, y_valid, budget)``: it
builds and compiles the Keras model and trains it with ``budget.fit(model, X_train, y_train, ...)``, which
takes the arguments of ``model.fit``. ``budget.fit`` is where the budget is enforced: the data
must be the arrays received, unchanged (preprocessing goes inside the model), and
``epochs * len(X_train)`` may not exceed ``budget.examples``.

What is graded is the **recipe**, not the weights in the student's kernel. ``budget.fit`` writes
down the model's architecture and compile settings (Keras' own serialization), the batch size,
the epochs and the callbacks; the grader trains that recipe again from scratch, in its own
process, with its own seed, on the same training split, and measures it on a test split the
kernel never receives (``deeptrain.capstone_recipe`` checks and replays a recipe). Weights
loaded or set in the kernel, test labels read there, a pretrained model: none of it reaches the
grader, which only rebuilds built-in Keras layers from their configuration.

``evaluate(build_and_train)`` runs exactly the grader's procedure (the same number of runs, seeds
0, 1, 2, ...) on the validation split and says what the grader's scale would give, with the spread
between runs, so that a student can predict their grade. ``ablate(build_and_train, variants)``
trains variants of an entry the same way and tabulates what each change is worth against that
spread. A kernel trains a recipe once per seed: training is deterministic (``dt.setup()`` turns on
TensorFlow's op determinism), so a run of the same recipe, seed and data is remembered, not repeated.
"""
import functools
import hashlib
import json

import numpy as np

from . import capstone_recipe as recipes
from .capstone_recipe import (N_TRAIN, BUDGET_EXAMPLES, DEPTH, WIDTH, GRADING_RUNS, LOW, HIGH, POINTS,  # noqa: F401
                              RecipeError, points_for)                     # (the student's names)

SEEDS = tuple(range(GRADING_RUNS))      # the seeds evaluate() and ablate() use by default: as many runs as the grade


class Recorded(BaseException):
    """Raised by a recording budget's fit to stop build_and_train once its recipe is written down.

    A BaseException, so that a student's ``except Exception`` does not swallow it.
    """


def load_data(seed=0):
    """The capstone's data: ``(X_train, y_train), (X_valid, y_valid)``.

    X float32 of shape (5000, 28, 28) and (5000, 28, 28), scaled to [0, 1]; y uint8 class
    indices. The training split is a seeded subset of Fashion-MNIST's 55,000 training images,
    the validation split is the usual last 5,000. The test split is not returned: the grader
    keeps it.
    """
    from .data import load_fashion_mnist
    (X_train, y_train), valid, _ = load_fashion_mnist(n_train=N_TRAIN, seed=seed)
    return (X_train, y_train), valid


class Budget:
    """The training budget, and the only way to train in ``build_and_train``.

    examples: how many training examples may be seen (epochs x len(X_train)).
    record_only: write the recipe down and stop (``Recorded``) instead of training; the grader
    and ``evaluate`` use it.
    """

    def __init__(self, X_train, y_train, X_valid, y_valid, examples=BUDGET_EXAMPLES, record_only=False):
        self.data = (X_train, y_train, X_valid, y_valid)
        self.examples = int(examples)
        self.record_only = record_only
        self.recipe = None

    def __repr__(self):
        n = len(self.data[0])
        return (f"Budget({self.examples:,} training examples: {self.examples // n} epochs of {n:,} images; "
                f"train with budget.fit(model, X_train, y_train, ...))")

    def max_epochs(self):
        return self.examples // len(self.data[0])

    def fit(self, model, x, y, *, batch_size=32, epochs=1, validation_data=None, callbacks=None, verbose="auto"):
        """Train model as ``model.fit`` would, within the budget (see the module's docstring).

        model: a compiled Keras model of built-in layers. x, y: the X_train and y_train that
        build_and_train received. validation_data: None or (X_valid, y_valid) as received.
        callbacks: only EarlyStopping and ReduceLROnPlateau (learning-rate schedules go into the
        optimizer). Returns the History. Call it once per build_and_train.
        """
        if self.recipe is not None:
            raise RecipeError("budget.fit was already called: the budget allows one training run "
                              "(put all the epochs in one call)")
        self._same_data(x, y, validation_data)
        fit = {"batch_size": batch_size, "epochs": epochs, "validation": validation_data is not None,
               "callbacks": [recipes.callback_spec(c) for c in (callbacks or [])]}
        recipe = recipes.recipe_of(model, fit)
        problems = recipes.problems(recipe, self.examples, len(x))
        if problems:
            raise RecipeError("; ".join(problems))
        self.recipe = recipe
        if self.record_only:
            raise Recorded()
        counter = recipes.examples_counter(len(x), batch_size)
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_data=validation_data,
                            callbacks=list(callbacks or []) + [counter], verbose=verbose, shuffle=True)
        history.examples_seen = counter.examples
        return history

    def _same_data(self, x, y, validation_data):
        X_train, y_train, X_valid, y_valid = self.data
        same = _same_array(x, X_train) and _same_array(y, y_train)
        if validation_data is not None:
            same = same and len(validation_data) == 2 and _same_array(validation_data[0], X_valid) \
                and _same_array(validation_data[1], y_valid)
        if not same:
            raise RecipeError("budget.fit trains on the X_train, y_train (and X_valid, y_valid) that build_and_train "
                              "received, unchanged: the grader replays your recipe on its own copy of them. Put "
                              "preprocessing inside the model (e.g. layers.Rescaling, layers.Normalization)")


def _same_array(a, b):
    if a is b:
        return True
    try:
        a = np.asarray(a)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    except Exception:
        return False


def record(build_and_train, data=None, examples=BUDGET_EXAMPLES):
    """Run build_and_train with a recording budget and return its recipe (a JSON-able dict).

    Raises RecipeError (with the reason) when the function never calls budget.fit, or when the
    recipe breaks a rule. data: ((X_train, y_train), (X_valid, y_valid)); load_data() by default.
    """
    (X_train, y_train), (X_valid, y_valid) = data or load_data()
    budget = Budget(X_train, y_train, X_valid, y_valid, examples, record_only=True)
    try:
        build_and_train(X_train, y_train, X_valid, y_valid, budget)
    except Recorded:
        return budget.recipe
    raise RecipeError("build_and_train returned without calling budget.fit(model, X_train, y_train, ...)")


def evaluate(build_and_train, seeds=SEEDS, data=None, verbose=True):
    """What the grader does, measured on the validation split: record the recipe, train it again
    from scratch once per seed, and return the replay's report (a dict: "accuracy", the mean on
    X_valid; "accuracies", one per run; "spread", max - min; "points", what the grader's scale gives
    that mean; "examples_seen", "steps", "seconds", ...).

    The grade itself uses the test images, which your code never sees: expect it to differ from
    this estimate by about the spread between runs. A run this kernel already trained (same recipe,
    same seed, same data) is remembered, not trained again ("reused" counts them).
    """
    (X_train, y_train), (X_valid, y_valid) = data or load_data()
    recipe = record(build_and_train, ((X_train, y_train), (X_valid, y_valid)))
    key = (_recipe_key(recipe), _data_key(X_train, y_train, X_valid, y_valid))
    seeds = [int(s) for s in seeds]
    missing = [s for s in dict.fromkeys(seeds) if (key, s) not in _TRAINED]
    reused = len(seeds) - len(missing)
    if missing:     # in one call: the later runs reuse the first one's traced training graph
        # no wall-clock cap here: on your own machine a busy moment must not cut a run short (the grader caps)
        done = recipes.replay(recipe, X_train, y_train, X_valid, y_valid, X_valid, y_valid, seeds=tuple(missing),
                              wall_cap_s=float("inf"))
        for seed, accuracy, seconds in zip(missing, done["accuracies"], done["run_seconds"]):
            _TRAINED[key, seed] = dict(done, accuracies=[accuracy], seeds=[seed], seconds=seconds, run_seconds=[seconds])
    runs = [_TRAINED[key, seed] for seed in seeds]
    accuracies = [run["accuracies"][0] for run in runs]
    report = {"accuracy": float(np.mean(accuracies)), "accuracies": accuracies, "seeds": [int(s) for s in seeds],
              "spread": float(max(accuracies) - min(accuracies)), "examples_seen": runs[-1]["examples_seen"],
              "steps": runs[-1]["steps"], "seconds": sum(run["seconds"] for run in runs),
              "stopped_by_wall_cap": any(run["stopped_by_wall_cap"] for run in runs), "params": runs[-1]["params"],
              "reused": reused}
    report["points"] = points_for(report["accuracy"])
    if verbose:
        runs = ", ".join(f"{a:.4f}" for a in report["accuracies"])
        print(f"validation accuracy {report['accuracy']:.4f} (runs with seeds {', '.join(map(str, report['seeds']))}: "
              f"{runs}; spread {report['spread']:.4f}) after {report['examples_seen']:,} examples per run "
              f"({report['steps']:,} steps, {report['seconds']:.1f} s of training in all)")
        if reused:
            print(f"({reused} of these runs had been trained before in this kernel, with the same recipe, seed and "
                  "data: remembered, not trained again)")
        if len(report["accuracies"]) > 1:
            low, high = points_for(min(report["accuracies"])), points_for(max(report["accuracies"]))
            print(f"the grader's scale gives this mean {report['points']:g} points of {POINTS} "
                  f"(a single run: {low:g} to {high:g}); 0 points at {LOW:.3f}, {POINTS} at {HIGH:.3f}")
        else:
            print(f"the grader's scale gives this run {report['points']:g} points of {POINTS}")
    return report


# Runs this kernel has trained: {((recipe key, data key), seed): the replay's report of that run}.
# Training is deterministic (op determinism, seeded initialization and shuffling), so the same
# recipe, seed and data would give the same numbers again: evaluate() and ablate() reuse them.
_TRAINED = {}


def _recipe_key(recipe):
    """The recipe as the grader replays it (names and seeds dropped), as canonical JSON."""
    return json.dumps({"model": recipes.inert(recipe["model"]), "fit": recipe["fit"]}, sort_keys=True)


def _data_key(*arrays):
    digest = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.shape}{a.dtype}".encode())
        digest.update(memoryview(a).cast("B"))
    return digest.hexdigest()


def forget_runs():
    """Forget the runs this kernel has trained: evaluate() and ablate() train them again."""
    _TRAINED.clear()


class Ablation(dict):
    """{variant: np.array of validation accuracies, one per seed}, the first variant the reference.

    ``table()`` is the text ``ablate`` prints; ``plot(ax)`` draws every run and each mean;
    ``clear(name)`` tells whether the runs of a variant and the reference do not overlap.
    """

    def __init__(self, accuracies, seeds):
        super().__init__((name, np.asarray(accs, dtype=float)) for name, accs in accuracies.items())
        self.seeds = tuple(seeds)
        self.reference = next(iter(self))

    def change(self, name):
        return float(self[name].mean() - self[self.reference].mean())

    def spread(self, name):
        return float(self[name].max() - self[name].min())

    def clear(self, name):
        """The variant's runs all lie above, or all below, the reference's runs."""
        ref, accs = self[self.reference], self[name]
        return bool(accs.max() < ref.min() or accs.min() > ref.max())

    def table(self):
        width = max(len(name) for name in self)
        lines = [f"{'variant':<{width}}  mean    change   spread  clear?  runs (seeds {', '.join(map(str, self.seeds))})"]
        for name, accs in self.items():
            change = "" if name == self.reference else f"{self.change(name):+.4f}"
            clear = "" if name == self.reference else ("yes" if self.clear(name) else "no")
            lines.append(f"{name:<{width}}  {accs.mean():.4f}  {change:>7}  {self.spread(name):.4f}  {clear:>6}  "
                         + ", ".join(f"{a:.4f}" for a in accs))
        return "\n".join(lines)

    def plot(self, ax=None, title="Ablation: every run (dots) and the mean (bar)"):
        import matplotlib.pyplot as plt
        ax = ax or plt.subplots(figsize=(8, 0.5 * len(self) + 1.2))[1]
        names = list(self)[::-1]
        for i, name in enumerate(names):
            ax.plot(self[name], [i] * len(self[name]), "o", color="C0", alpha=0.6)
            ax.plot(self[name].mean(), i, "|", color="k", markersize=18)
        ref = self[self.reference]
        ax.axvspan(ref.min(), ref.max(), color="C2", alpha=0.15, label=f"runs of {self.reference}")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel(f"validation accuracy ({len(self.seeds)} runs per variant)")
        ax.set_title(title)
        ax.legend(loc="best")
        return ax


def ablate(build_and_train, variants, seeds=SEEDS, data=None, verbose=True, known=None):
    """Train variants of an entry the grader's way, each with every seed, on the validation split.

    build_and_train: your function, taking keyword switches after its five arguments
    (``def build_and_train(X_train, y_train, X_valid, y_valid, budget, batch_norm=True, ...)``);
    called without switches it is your entry. variants: {name: {switch: value}}, the first one
    usually ``{"my entry": {}}``, the reference of the changes. Returns an ``Ablation``
    ({name: accuracies per seed}) and prints its table: each variant's mean, its change from the
    reference, its spread between runs, and whether its runs and the reference's do not overlap.
    known: {name: accuracies per seed} of variants measured elsewhere, not trained again.
    Cost: len(variants) x len(seeds) training runs (a few seconds each), fewer when some of them
    were trained before in this kernel (same recipe, seed and data: see ``evaluate``).
    """
    import time
    data = data or load_data()
    start = time.perf_counter()
    known = known or {}
    before = len(_TRAINED)
    accuracies = {name: list(known[name]) if name in known else
                  evaluate(functools.partial(build_and_train, **switches), seeds, data, verbose=False)["accuracies"]
                  for name, switches in variants.items()}
    result = Ablation(accuracies, seeds)
    if verbose:
        trained = len(_TRAINED) - before
        runs = len(variants) * len(seeds)
        print(f"{trained} training runs in {time.perf_counter() - start:.0f} s"
              + (f" ({runs - trained} of the table's {runs} runs were trained before: remembered)" if trained < runs else ""))
        print(result.table())
    return result


def keras_defaults(X_train, y_train, X_valid, y_valid, budget):
    """The fixed network with Keras' defaults and nothing from chapter 11: ReLU, Glorot's uniform
    initialization, ``"adam"`` (learning rate 0.001, constant), batches of 32, as many epochs as the
    budget allows. The grader's scale puts it near 1 point of 10 (its runs: 0 to 2.4)."""
    keras = recipes.keras()
    layers = [keras.Input((28, 28)), keras.layers.Flatten()]
    for _ in range(DEPTH):
        layers += [keras.layers.Dense(WIDTH), keras.layers.Activation("relu")]
    model = keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return budget.fit(model, X_train, y_train, batch_size=32, epochs=budget.max_epochs(), verbose=0)


baseline = keras_defaults       # the verdict's reference (worth about 1 point)
