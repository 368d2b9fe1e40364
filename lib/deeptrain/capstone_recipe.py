"""A capstone recipe: what is written down, what is allowed, and how it is trained again.

A recipe is plain JSON (no pickle, no code):

    {"version": 1,
     "model": <keras.saving.serialize_keras_object(model)>,   # layers, initializers, compile settings
     "fit": {"batch_size": 64, "epochs": 3, "validation": true,
             "callbacks": [{"class_name": "EarlyStopping", "config": {...}}]}}

``problems(recipe, ...)`` lists every rule it breaks; the grader calls it in its own process on
whatever the kernel sent, and ``replay`` rebuilds the model with Keras' ``safe_mode`` from
built-in classes only (the allow-lists below) and trains it from scratch with several grading
seeds. Why allow-lists: a configuration can name any registered class, and some built-in ones
load files (``TFSMLayer``) or carry arrays (``Constant`` initializers, ``Normalization(mean=...)``,
``Rescaling(scale=...)``) in which trained weights could be smuggled.

**A recipe carries no weights, by construction** (``_number_problems``, ``_string_problems``):
- a number may stand only under a key known to hold a size, a rate, a factor, a boundary or a
  seed (``SCALAR_KEYS``, ``LIST_KEYS``); anywhere else (a dict of numbers, an unknown argument) the
  recipe is refused;
- under those keys a value is one number, or a short flat list of numbers where the key is a
  shape or an axis (at most ``MAX_SHAPE_LIST``) or a schedule's boundaries and values (at most
  ``MAX_NUMBER_LIST``): so no argument can scale or shift the signal unit by unit
  (``Rescaling``, ``Normalization``, ``Constant`` and initializer arguments are scalars);
- the whole recipe holds at most ``MAX_NUMBERS`` numbers, all keys and all nesting counted;
- every string is an identifier of at most 64 characters that is not a number (no numbers in
  strings, no base64), and layer names, which no layer computes with, are dropped before the
  grader builds the model; so are seeds, so that the grader's seeds decide the initialization;
- the architecture is fixed (``DEPTH`` hidden ``Dense`` layers of ``WIDTH`` units and a
  ``Dense(10)`` output, in a ``Sequential`` model); the only other layers with weights are
  normalization layers and ``PReLU``, whose weights are trained from their initializers.
"""
import json
import math
import re
import time

N_TRAIN = 5_000                # training images the capstone gets (a seeded subset of the 55,000)
BUDGET_EXAMPLES = 20_000       # examples that may be seen in training: 4 epochs of N_TRAIN
DEPTH, WIDTH = 20, 100         # the fixed network: 20 hidden Dense layers of 100 units (Geron, ch. 11, ex. 8)
N_CLASSES = 10
GRADING_RUNS = 3               # the grade is the mean test accuracy of this many runs (seeds base, base+1, ...)
MAX_PARAMS = 400_000           # a model larger than this is refused (the fixed network has about 280,000)
WALL_CAP_S = 600.0             # replay() stops training after this long, shared by its runs (pathological recipes; a run takes 3-5 s quiet), in each of the grader's replay processes
MAX_RECIPE_CHARS = 200_000
MAX_NUMBERS = 1_000            # numbers in the whole recipe, every key and nesting counted (a rich recipe: ~250)
MAX_NUMBER_LIST = 64           # a schedule's boundaries / values
MAX_SHAPE_LIST = 4             # a shape, an axis list, a factor range
MAX_BATCH = 8192

# The scale (test accuracy, mean of the grading runs -> points): set from measurements, see
# BENCHMARKS.md ("The capstone's scale"). Measured: Keras' defaults in the fixed network 0.659
# (runs 0.635 to 0.673: 1.3 points, no run above 2.4); He + cosine decay, the course's lessons
# combined, 0.781 (10 points); the solution 0.794. LOW sits just above the defaults' worst run, so
# that their best run stays under 3 points; HIGH just under the course combination's mean, so that
# it earns every point; each single technique that pays alone (He, batch normalization, a schedule)
# then earns 3 to 6 points more than the defaults.
POINTS = 10
LOW = 0.640                    # 0 points
HIGH = 0.780                   # POINTS points

WEIGHTED = {"Dense", "BatchNormalization", "LayerNormalization", "GroupNormalization", "PReLU"}
INPUT_SIDE = {"InputLayer", "Flatten", "Reshape", "Rescaling", "Normalization", "RandomFlip", "RandomTranslation",
              "RandomRotation", "RandomZoom", "RandomContrast", "RandomBrightness"}   # only before the first Dense
LAYERS = WEIGHTED | INPUT_SIDE | {
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "AlphaDropout", "GaussianDropout",
    "GaussianNoise", "UnitNormalization", "ActivityRegularization", "Identity",
}
ALLOWED = {
    "keras": {"Sequential", "DTypePolicy", "FloatDTypePolicy"},
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
# Where a number may stand (see the module's docstring). Keys of the allowed classes' configurations
# that hold sizes, rates, factors, boundaries, seeds; a value there is one number (or, in LIST_KEYS,
# a short flat list of numbers).
SCALAR_KEYS = {
    "version", "units", "rate", "momentum", "epsilon", "renorm_momentum", "rmax", "rmin", "dmax", "groups",
    "l1", "l2", "factor", "max_value", "min_value", "negative_slope", "threshold", "alpha", "stddev", "mean",
    "variance", "minval", "maxval", "scale", "offset", "gain", "value", "seed", "learning_rate",
    "initial_learning_rate", "decay_steps", "decay_rate", "end_learning_rate", "power", "warmup_target",
    "warmup_steps", "first_decay_steps", "t_mul", "m_mul", "beta_1", "beta_2", "rho", "weight_decay",
    "clipnorm", "global_clipnorm", "clipvalue", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
    "gradient_accumulation_steps", "initial_accumulator_value", "steps_per_execution", "loss_weights",
    "ignore_class", "label_smoothing", "batch_size", "epochs", "patience", "min_delta", "baseline",
    "start_from_epoch", "cooldown", "min_lr", "height_factor", "width_factor", "fill_value", "height", "width",
    "interpolation_order",
}
LIST_KEYS = {"batch_shape", "input_shape", "build_input_shape", "shape", "target_shape", "axis", "noise_shape",
             "shared_axes", "value_range", "factor", "height_factor", "width_factor", "boundaries", "values"}
SCHEDULE_LISTS = {"boundaries", "values"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")

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
    try:
        size = len(json.dumps(recipe, allow_nan=False))
    except (TypeError, ValueError) as e:
        return [f"the recipe is not plain JSON ({e})"]
    if size > MAX_RECIPE_CHARS:
        return [f"the recipe is longer than {MAX_RECIPE_CHARS:,} characters"]
    out = _class_problems(recipe["model"]) + _number_problems(recipe) + _string_problems(recipe)
    if out:         # a recipe that names other classes or carries data is refused before anything reads it further
        return out
    out = _architecture_problems(recipe["model"])
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
            out.append(f"{module}.{name} is not allowed (a Sequential model of built-in Keras layers for a "
                       f"multilayer perceptron, optimizers, schedules, initializers, regularizers and constraints "
                       f"only) at {path}")
        elif d.get("registered_name") not in (None, name) and module != "keras.activations":
            out.append(f"{name} at {path} is a registered custom object ({d.get('registered_name')})")
    return out


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _number_problems(recipe):
    """Numbers only where a size, rate, factor, boundary or seed goes; short flat lists only for
    shapes, axes and a schedule's boundaries; at most MAX_NUMBERS in all (see the docstring)."""
    out, count = [], 0
    why = "a recipe carries no weights: numbers go only where a size, a rate, a factor or a boundary goes"

    def visit(node, key, path):
        nonlocal count
        if isinstance(node, dict):
            for k, v in node.items():
                visit(v, k, f"{path}.{k}")
        elif isinstance(node, list):
            numbers = [x for x in node if _is_number(x)]
            count += len(numbers)
            if any(isinstance(x, list) for x in node):
                out.append(f"{path} nests lists ({why})")
                count += sum(_count_numbers(x) for x in node if isinstance(x, list))
                return
            if not numbers:
                for i, v in enumerate(node):
                    visit(v, key, f"{path}[{i}]")
                return
            if any(isinstance(x, dict) for x in node):
                out.append(f"{path} mixes numbers and configurations ({why})")
            elif key not in LIST_KEYS:
                out.append(f"{path} holds a list of {len(node)} numbers under {key!r}, which takes one number or "
                           f"none ({why})")
            elif len(node) > (MAX_NUMBER_LIST if key in SCHEDULE_LISTS else MAX_SHAPE_LIST):
                limit = MAX_NUMBER_LIST if key in SCHEDULE_LISTS else MAX_SHAPE_LIST
                out.append(f"{path} holds {len(node)} numbers (at most {limit} under {key!r}: {why})")
        elif _is_number(node):
            count += 1
            if key not in SCALAR_KEYS | LIST_KEYS:
                out.append(f"{path} holds a number under {key!r}, which is not a size, a rate, a factor or a "
                           f"boundary ({why})")
            elif isinstance(node, float) and not math.isfinite(node):
                out.append(f"{path} is not a finite number")

    visit(recipe, None, "recipe")
    if count > MAX_NUMBERS:
        out.insert(0, f"the recipe holds {count:,} numbers, more than {MAX_NUMBERS:,} ({why})")
    return out[:5] + ([f"... and {len(out) - 5} more such places"] if len(out) > 5 else [])


def _count_numbers(node):
    if isinstance(node, dict):
        return sum(_count_numbers(v) for v in node.values())
    if isinstance(node, list):
        return sum(_count_numbers(v) for v in node)
    return int(_is_number(node))


def _string_problems(recipe):
    """Every string and every key an identifier of at most 64 characters that is not a number."""
    out = []

    def bad(text):
        if not isinstance(text, str) or not _IDENTIFIER.fullmatch(text):
            return True
        try:
            float(text)             # "nan", "inf", "infinity": numbers in a string
            return True
        except ValueError:
            return False

    def visit(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if bad(k):
                    out.append(f"{path} has the key {str(k)[:40]!r}, which is not a short identifier")
                visit(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, f"{path}[{i}]")
        elif isinstance(node, str) and bad(node):
            out.append(f"{path} holds the string {node[:40]!r}: strings in a recipe are names of at most 64 "
                       "letters, digits and _.- that are not numbers (a recipe carries no data)")

    visit(recipe, "recipe")
    return out[:5] + ([f"... and {len(out) - 5} more such strings"] if len(out) > 5 else [])


def _layers(spec):
    config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
    layers = config.get("layers")
    return layers if isinstance(layers, list) and all(isinstance(x, dict) for x in layers) else None


def _architecture_problems(spec):
    """The fixed network: a Sequential model whose Dense layers are DEPTH of WIDTH units and a
    Dense(N_CLASSES) output; weights only in Dense, normalization and PReLU layers; input-side
    layers (reshaping, rescaling, augmentation) only before the first Dense."""
    fixed = (f"the network is fixed: a keras.Sequential model with {DEPTH} hidden Dense layers of {WIDTH} units "
             f"and a Dense({N_CLASSES}) output; how you train it is yours")
    layers = _layers(spec)
    if spec.get("class_name") != "Sequential" or layers is None:
        return [fixed + f" (got {spec.get('class_name')})"]
    names = [layer.get("class_name") for layer in layers]
    dense = [i for i, name in enumerate(names) if name == "Dense"]
    units = [(layers[i].get("config") or {}).get("units") for i in dense]
    out = []
    if units != [WIDTH] * DEPTH + [N_CLASSES]:
        out.append(fixed + f" (got Dense layers of {units} units)")
    if dense:
        late = sorted({names[i] for i in range(dense[0], len(names)) if names[i] in INPUT_SIDE})
        if late:
            out.append(f"{', '.join(late)} may only come before the first Dense layer (input-side layers)")
        after = sorted({names[i] for i in range(dense[-1] + 1, len(names)) if names[i] in WEIGHTED})
        if after:
            out.append(f"{', '.join(after)} after the Dense({N_CLASSES}) output: the output layer comes last")
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


def inert(spec):
    """A copy of a model's configuration without what no computation needs and the grader decides:
    the names of layers, model and optimizer (Keras gives fresh ones) and seeds (the grader's seeds
    initialize and shuffle)."""
    spec = json.loads(json.dumps(spec))
    for _, d in _walk(spec):
        config = d.get("config")
        if isinstance(config, dict):
            if d.get("class_name") == "Sequential":
                config["name"] = "sequential"          # Keras requires one
            elif d.get("module") in ("keras.layers", "keras.optimizers"):
                config.pop("name", None)
            if "seed" in config:
                config["seed"] = None
    return spec


def build(recipe):
    """The compiled model of a recipe that passed problems(), with fresh weights drawn from the
    current global seed (names and seeds of the recipe are dropped: see ``inert``)."""
    spec = inert(recipe["model"])
    if spec.get("class_name") != "Sequential" or spec.get("module") != "keras":
        raise RecipeError("the model is not a keras.Sequential")
    try:
        model = _sequential(spec)
    except Exception as e:
        raise RecipeError(f"the model could not be rebuilt from its configuration ({type(e).__name__}: {e})"[:500])
    if model.count_params() > MAX_PARAMS:
        raise RecipeError(f"the model has {model.count_params():,} parameters (at most {MAX_PARAMS:,})")
    return model


def _sequential(spec):
    """The compiled keras.Sequential of a serialized one, built once. Keras' ``Sequential.from_config``
    builds the whole model again after each layer it adds (42 builds for the fixed network: 0.5 to
    1.7 s of each grading run); here the layers are rebuilt one by one in safe mode and the model is
    built once, drawing each layer's initial weights in the same order (the same weights, configuration
    and compile configuration for every recipe of the sweep: tests/grading/test_capstone.py)."""
    from keras.src.saving.serialization_lib import SafeModeScope     # what deserialize_keras_object uses
    k = keras()
    config = spec["config"]
    with SafeModeScope(True):
        layers = [k.saving.deserialize_keras_object(c, safe_mode=True) for c in config["layers"]]
        model = k.Sequential(layers, name=config.get("name"))
        if spec.get("compile_config"):
            model.compile_from_config(spec["compile_config"])
    return model


def restart(model, fresh):
    """Put into `model` (trained before: its training function traced) every state `fresh` (the same
    recipe, built just now) starts from: weights, normalization statistics, dropout's seed generators,
    the optimizer's slots, step count and rate. Training `model` then runs as training `fresh` would, to
    the last digit (tests/grading/test_capstone.py compares), without tracing and optimizing the training
    graph again (bench.capstone_grading: the solution's 3 runs 10.1 s instead of 11.4 s, Keras' defaults
    10.7 s instead of 13.2 s). False, and nothing changed, when the two do not match variable for variable."""
    fresh.optimizer.build(fresh.trainable_variables)      # the slots a first fit would create
    pairs = list(zip(model.variables, fresh.variables)) + list(zip(model.optimizer.variables,
                                                                   fresh.optimizer.variables))
    if (len(model.variables), len(model.optimizer.variables)) != (len(fresh.variables), len(fresh.optimizer.variables)) \
            or any(tuple(a.shape) != tuple(b.shape) or a.dtype != b.dtype for a, b in pairs):
        return False
    for a, b in pairs:
        a.assign(b)
    return True


def build_for_fit(model, X, y):
    """Create now, eagerly, the variables Keras would create inside the first traced train step: the
    optimizer's slots, the compiled loss's mean and the metrics (from one example, without training; fit
    resets the metrics). A tf.function that creates variables is traced a second time, so built beforehand
    the first run's training step is traced once (the same numbers: the slots start at zero either way,
    as in ``restart``; tests/grading/test_capstone.py replays the recorded sweep)."""
    model.optimizer.build(model.trainable_variables)
    x, target = X[:1], y[:1]
    y_pred = model(x, training=False)
    model.compute_loss(x, target, y_pred, training=False)
    model.compute_metrics(x, target, y_pred, sample_weight=None)
    model.reset_metrics()


def predict_classes(model, X, chunk=2000):
    """argmax of the model's outputs, by direct calls in chunks (model.predict would trace a new
    tf.function per model, and TensorFlow warns on stderr after a few)."""
    import numpy as np
    return np.concatenate([np.asarray(model(X[i:i + chunk], training=False)).argmax(axis=-1)
                           for i in range(0, len(X), chunk)])


def grading_seeds(base=0, runs=GRADING_RUNS):
    """The seeds of the grading runs: base, base + 1, ..."""
    return tuple(int(base) + i for i in range(runs))


def replay(recipe, X_train, y_train, X_valid, y_valid, X_eval, y_eval, seeds=(0,), examples=BUDGET_EXAMPLES,
           wall_cap_s=WALL_CAP_S, seed=None):
    """Train the recipe from scratch once per seed and measure each run on (X_eval, y_eval).

    Returns {"accuracy" (the mean), "accuracies" (one per seed), "seeds", "spread" (max - min),
    "examples_seen", "steps" (of one run), "seconds" (training, all runs), "stopped_by_wall_cap",
    "run_seconds" (one per run), "params"}. Raises RecipeError for a recipe that breaks a rule. The
    wall-clock cap is shared by the runs. ``seed=s`` is ``seeds=(s,)``. Later runs reuse the first
    run's traced training graph (``restart``): train several seeds in one call rather than one by one.
    """
    import numpy as np
    if seed is not None:
        seeds = (seed,)
    found = problems(recipe, examples, len(X_train))
    if found:
        raise RecipeError("; ".join(found))
    k = keras()
    fit = recipe["fit"]
    batch_size = fit.get("batch_size", 32)
    accuracies, run_seconds, hit, model = [], [], False, None
    for s in seeds:
        k.backend.clear_session()
        k.utils.set_random_seed(int(s))
        fresh = build(recipe)
        if model is None or not restart(model, fresh):
            model = fresh
            build_for_fit(model, X_train, y_train)     # its training step is traced once, not twice
        counter = examples_counter(len(X_train), batch_size)
        cap = _wall_cap(max(1.0, (wall_cap_s - sum(run_seconds)) / max(1, len(seeds) - len(accuracies))))
        callbacks = [getattr(k.callbacks, c["class_name"])(**c["config"]) for c in fit.get("callbacks") or []]
        start = time.perf_counter()
        model.fit(X_train, y_train, batch_size=batch_size, epochs=fit.get("epochs", 1),
                  validation_data=(X_valid, y_valid) if fit.get("validation") else None, shuffle=True, verbose=0,
                  callbacks=callbacks + [counter, cap])
        run_seconds.append(time.perf_counter() - start)
        hit = hit or cap.hit
        accuracies.append(float((predict_classes(model, X_eval) == y_eval).mean()))
    return {"accuracy": float(np.mean(accuracies)), "accuracies": accuracies, "seeds": [int(s) for s in seeds],
            "spread": float(max(accuracies) - min(accuracies)), "examples_seen": counter.examples,
            "steps": counter.steps, "seconds": sum(run_seconds), "run_seconds": run_seconds, "stopped_by_wall_cap": hit,
            "params": int(model.count_params())}


def points_for(accuracy):
    """The scale: linear from LOW (0 points) to HIGH (POINTS points), rounded to 0.1 point."""
    share = (accuracy - LOW) / (HIGH - LOW)
    return round(POINTS * min(1.0, max(0.0, share)), 1)
