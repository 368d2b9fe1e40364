"""Module 09, the capstone: train the best Fashion-MNIST model you can within a fixed budget.

The student writes ``build_and_train(X_train, y_train, X_valid, y_valid, budget)``: it builds and
compiles a Keras model and trains it with ``budget.fit(model, X_train, y_train, ...)``, which
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

``evaluate(build_and_train)`` runs exactly the grader's procedure on the validation split, so
that a student can predict their grade.
"""
import numpy as np

from . import capstone_recipe as recipes
from .capstone_recipe import N_TRAIN, BUDGET_EXAMPLES, RecipeError  # noqa: F401  (the student's names)



class Recorded(BaseException):
    """Raised by a recording budget's fit to stop build_and_train once its recipe is written down.

    A BaseException, so that a student's ``except Exception`` does not swallow it.
    """


def load_data(seed=0):
    """The capstone's data: ``(X_train, y_train), (X_valid, y_valid)``.

    X float32 of shape (10000, 28, 28) and (5000, 28, 28), scaled to [0, 1]; y uint8 class
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


def evaluate(build_and_train, seed=0, data=None, verbose=True):
    """What the grader does, measured on the validation split: record the recipe, train it again
    from scratch with `seed`, and return the replay's report (a dict: "accuracy" on X_valid,
    "examples_seen", "steps", "seconds", ...)."""
    (X_train, y_train), (X_valid, y_valid) = data or load_data()
    recipe = record(build_and_train, ((X_train, y_train), (X_valid, y_valid)))
    report = recipes.replay(recipe, X_train, y_train, X_valid, y_valid, X_valid, y_valid, seed=seed)
    if verbose:
        print(f"seed {seed}: validation accuracy {report['accuracy']:.4f} after {report['examples_seen']:,} examples "
              f"({report['steps']:,} steps, {report['seconds']:.1f} s; {report['params']:,} parameters)")
    return report


def baseline(X_train, y_train, X_valid, y_valid, budget):
    """The capstone's baseline: module 01's plain deep network under the same budget.

    10 hidden Dense(100) sigmoid layers initialized from N(0, 1), plain SGD (learning rate 0.05),
    batches of 64, as many epochs as the budget allows.
    """
    keras = recipes.keras()
    layers = [keras.Input((28, 28)), keras.layers.Flatten()]
    layers += [keras.layers.Dense(100, activation="sigmoid",
                                  kernel_initializer=keras.initializers.RandomNormal(stddev=1.0)) for _ in range(10)]
    model = keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return budget.fit(model, X_train, y_train, batch_size=64, epochs=budget.max_epochs(), verbose=0)
