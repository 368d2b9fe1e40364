"""A capstone recipe: what is written down, what is allowed, and how it is trained again.

A recipe is plain JSON (no pickle, no code):

    {"version": 1,
     "model": <keras.saving.serialize_keras_object(model)>,   # layers, initializers, compile settings
     "fit": {"batch_size": 64, "epochs": 3, "validation": true,
             "callbacks": [{"class_name": "EarlyStopping", "config": {...}}]}}

``problems(recipe, ...)`` lists every rule it breaks; the grader calls it in its own process on
whatever the kernel sent, and ``replay`` rebuilds the model with Keras' ``safe_mode`` from
built-in classes only (the allow-lists below). Why allow-lists: a configuration can name any
registered class, and some built-in ones load files (``TFSMLayer``) or carry arrays
(``Constant`` initializers, ``Normalization(mean=...)``) in which trained weights could be
smuggled. Number lists are therefore capped too.
"""
import json
import time

N_TRAIN = 10_000               # training images the capstone gets (a seeded subset of the 55,000)
BUDGET_EXAMPLES = 30_000       # examples that may be seen in training: 3 epochs of N_TRAIN
MAX_PARAMS = 3_000_000         # a model larger than this is refused (grading time)
WALL_CAP_S = 300.0             # a replay stops training after this long (only pathological recipes)
MAX_RECIPE_CHARS = 200_000
MAX_NUMBER_LIST = 64           # longest list of numbers anywhere in a recipe (shapes, boundaries)
MAX_BATCH = 8192

LAYERS = {
    "InputLayer", "Dense", "Activation", "Flatten", "Reshape", "Permute", "Dropout", "AlphaDropout",
    "GaussianDropout", "GaussianNoise", "SpatialDropout1D", "SpatialDropout2D", "BatchNormalization",
    "LayerNormalization", "GroupNormalization", "Rescaling", "Normalization", "Conv1D", "Conv2D",
    "SeparableConv2D", "DepthwiseConv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
    "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "ReLU", "LeakyReLU", "PReLU", "ELU",
    "Softmax", "Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum", "Subtract",
    "ActivityRegularization", "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom",
    "RandomCrop", "RandomContrast", "RandomBrightness", "Identity",
}
ALLOWED = {
    "keras": {"Sequential", "Functional", "Model", "DTypePolicy", "FloatDTypePolicy"},
    "keras.layers": LAYERS,
    "keras.optimizers": {"SGD", "RMSprop", "Adam", "AdamW", "Nadam", "Adamax", "Adagrad", "Adadelta", "Lion",
                         "Lamb"},
    "keras.optimizers.schedules": {"ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
                                   "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts"},
    "keras.initializers": {"Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
                           "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal",
                           "LecunUniform", "Orthogonal", "VarianceScaling", "Identity", "IdentityInitializer"},
    "keras.regularizers": {"L1", "L2", "L1L2", "OrthogonalRegularizer"},
    "keras.constraints": {"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"},
    "keras.losses": None,        # any built-in loss or metric: a poor choice only costs its author
    "keras.metrics": None,
    "keras.activations": None,
}
CALLBACKS = {
    "EarlyStopping": ("monitor", "min_delta", "patience", "mode", "baseline", "restore_best_weights",
                      "start_from_epoch"),
    "ReduceLROnPlateau": ("monitor", "factor", "patience", "mode", "min_delta", "cooldown", "min_lr"),
}


class RecipeError(ValueError):
    """A recipe that cannot be graded; the message says which rule it breaks."""


def keras():
    """Keras, with TensorFlow imported quietly first (nothing on stderr)."""
    from ._setup import import_tensorflow
    import_tensorflow()
    import keras as _keras
    return _keras


# --- writing a recipe down (in the student's kernel) ------------------------------------------

def recipe_of(model, fit):
    """The recipe of a compiled Keras model and the fit settings (a JSON-able dict)."""
    k = keras()
    if not isinstance(model, k.Model):
        raise RecipeError(f"budget.fit needs a Keras model, got {type(model).__name__}")
    if not getattr(model, "compiled", False):
        raise RecipeError("compile the model (optimizer, loss, metrics) before budget.fit")
    try:
        spec = json.loads(json.dumps(k.saving.serialize_keras_object(model)))   # plain JSON: tuples become lists
    except Exception as e:
        raise RecipeError(f"the model could not be written down with Keras' serialization "
                          f"({type(e).__name__}: {e}); use built-in layers only") from None
    return {"version": 1, "model": spec, "fit": fit}


def callback_spec(callback):
    """{"class_name", "config"} of an allowed callback, read from its attributes."""
    name = type(callback).__name__
    if name not in CALLBACKS or type(callback).__module__.split(".")[0] != "keras":
        raise RecipeError(f"budget.fit accepts only the callbacks {', '.join(sorted(CALLBACKS))}, got {name}: "
                          "put learning-rate schedules into the optimizer (keras.optimizers.schedules)")
    config = {}
    for arg in CALLBACKS[name]:
        value = getattr(callback, arg)
        if arg == "min_delta":
            value = abs(value)          # EarlyStopping stores it signed by mode
        config[arg] = value if isinstance(value, (str, bool, type(None))) else float(value)
    return {"class_name": name, "config": config}


# --- checking a recipe (in the grader's process; also in the kernel for early, clear errors) ---

def problems(recipe, examples=BUDGET_EXAMPLES, n_train=N_TRAIN):
    """Every rule the recipe breaks, as sentences for the student ([] when it can be graded)."""
    if not isinstance(recipe, dict) or not isinstance(recipe.get("model"), dict) \
            or not isinstance(recipe.get("fit"), dict):
        return ["the recipe is not a {version, model, fit} document"]
    if len(json.dumps(recipe)) > MAX_RECIPE_CHARS:
        return [f"the recipe is longer than {MAX_RECIPE_CHARS:,} characters"]
    out = _class_problems(recipe["model"]) + _number_problems(recipe["model"])
    if "compile_config" not in recipe["model"]:
        out.append("the model was not compiled")
    return out + _fit_problems(recipe["fit"], examples, n_train)


def _walk(node, path="model"):
    """(path, dict) of every dict in a nested configuration."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def _class_problems(spec):
    out = []
    for path, d in _walk(spec):
        if "class_name" not in d or "module" not in d:
            continue
        module, name = d.get("module"), d.get("class_name")
        allowed = ALLOWED.get(module, set())
        if module not in ALLOWED or (allowed is not None and name not in allowed):
            out.append(f"{module}.{name} is not allowed (built-in Keras layers, optimizers, schedules, "
                       f"initializers, regularizers and constraints only) at {path}")
        elif d.get("registered_name") not in (None, name) and module != "keras.activations":
            out.append(f"{name} at {path} is a registered custom object ({d.get('registered_name')})")
    return out


def _number_problems(spec):
    out = []
    for path, d in _walk(spec):
        for k, v in d.items():
            if isinstance(v, list) and len(v) > MAX_NUMBER_LIST and all(isinstance(x, (int, float)) for x in v):
                out.append(f"{path}.{k} holds {len(v)} numbers (at most {MAX_NUMBER_LIST}: a recipe carries "
                           "no weights)")
        if d.get("class_name") == "Constant" and not isinstance(d.get("config", {}).get("value"), (int, float)):
            out.append(f"a Constant initializer at {path} must hold one number")
    return out


def _fit_problems(fit, examples, n_train):
    out = []
    bs, epochs = fit.get("batch_size", 32), fit.get("epochs", 1)
    if not isinstance(bs, int) or isinstance(bs, bool) or not 1 <= bs <= MAX_BATCH:
        out.append(f"batch_size must be an integer from 1 to {MAX_BATCH}, got {bs!r}")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        out.append(f"epochs must be a positive integer, got {epochs!r}")
    elif epochs * n_train > examples:
        out.append(f"{epochs} epochs of {n_train:,} images is {epochs * n_train:,} examples: over the budget of "
                   f"{examples:,} (at most {examples // n_train} epochs)")
    for c in fit.get("callbacks") or []:
        if not isinstance(c, dict) or c.get("class_name") not in CALLBACKS \
                or not isinstance(c.get("config"), dict) or set(c["config"]) - set(CALLBACKS[c["class_name"]]):
            out.append(f"callback {str(c)[:80]} is not allowed (EarlyStopping, ReduceLROnPlateau)")
    return out


# --- training a recipe again (the grader's replay, and evaluate() in the notebook) ------------

def examples_counter(n_train, batch_size):
    """A Keras callback counting the training examples (.examples) and gradient steps (.steps) run."""
    k = keras()

    class ExamplesSeen(k.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.examples, self.steps = 0, 0

        def on_train_batch_end(self, batch, logs=None):
            # batch: the step's index within its epoch; the epoch's last batch may be smaller
            self.examples += max(0, min(batch_size, n_train - batch * batch_size))
            self.steps += 1

    return ExamplesSeen()


def _wall_cap(seconds):
    k = keras()

    class WallClockCap(k.callbacks.Callback):
        """Stop training once `seconds` have passed (recorded in .hit)."""

        def on_train_begin(self, logs=None):
            self.start, self.hit = time.perf_counter(), False

        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() - self.start > seconds:
                self.hit, self.model.stop_training = True, True

    return WallClockCap()


def build(recipe):
    """The compiled model of a recipe that passed problems(), with fresh weights."""
    k = keras()
    try:
        model = k.saving.deserialize_keras_object(json.loads(json.dumps(recipe["model"])), safe_mode=True)
    except Exception as e:
        raise RecipeError(f"the model could not be rebuilt from its configuration ({type(e).__name__}: {e})"[:500])
    if model.count_params() > MAX_PARAMS:
        raise RecipeError(f"the model has {model.count_params():,} parameters (at most {MAX_PARAMS:,})")
    return model


def predict_classes(model, X, chunk=2000):
    """argmax of the model's outputs, by direct calls in chunks (model.predict would trace a new
    tf.function per model, and TensorFlow warns on stderr after a few)."""
    import numpy as np
    return np.concatenate([np.asarray(model(X[i:i + chunk], training=False)).argmax(axis=-1)
                           for i in range(0, len(X), chunk)])


def replay(recipe, X_train, y_train, X_valid, y_valid, X_eval, y_eval, seed=0, examples=BUDGET_EXAMPLES,
           wall_cap_s=WALL_CAP_S):
    """Train the recipe from scratch with `seed` and measure it on (X_eval, y_eval).

    Returns {"accuracy", "examples_seen", "steps", "seconds", "stopped_by_wall_cap", "params"}.
    Raises RecipeError for a recipe that breaks a rule.
    """
    found = problems(recipe, examples, len(X_train))
    if found:
        raise RecipeError("; ".join(found))
    k = keras()
    k.utils.set_random_seed(seed)
    model = build(recipe)
    fit = recipe["fit"]
    batch_size = fit.get("batch_size", 32)
    counter, cap = examples_counter(len(X_train), batch_size), _wall_cap(wall_cap_s)
    callbacks = [getattr(k.callbacks, c["class_name"])(**c["config"]) for c in fit.get("callbacks") or []]
    start = time.perf_counter()
    model.fit(X_train, y_train, batch_size=batch_size, epochs=fit.get("epochs", 1),
              validation_data=(X_valid, y_valid) if fit.get("validation") else None, shuffle=True, verbose=0,
              callbacks=callbacks + [counter, cap])
    seconds = time.perf_counter() - start
    accuracy = float((predict_classes(model, X_eval) == y_eval).mean())
    return {"accuracy": accuracy, "examples_seen": counter.examples, "steps": counter.steps,
            "seconds": seconds, "stopped_by_wall_cap": cap.hit, "params": int(model.count_params())}
