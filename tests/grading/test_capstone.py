"""Module 09's capstone: the recipe rules, the budget, the grader's replay and its hostile cases.

The rules are checked without training (milliseconds). The replays train for real, in the
grader's subprocess, as grading does (about 10 s each on 2 cores): the baseline lands on the
figure the scale is built on, the solution earns full points, and each bypass (weights loaded or
set in the kernel, a forged recipe over the budget or carrying weights, a custom layer) earns
what the recipe deserves and no more.
"""
import json

import numpy as np
import pytest

from autograder.verdicts import judge, m09
from deeptrain import capstone, capstone_recipe as R, harvest

K = R.keras()


@pytest.fixture(scope="module")
def data():
    return capstone.load_data()


def mlp(X_train, y_train, X_valid, y_valid, budget, epochs=None, extra=(), **fit):
    """A small honest entry: Dense(64, ReLU, He) + softmax, Adam."""
    model = K.Sequential([K.Input((28, 28)), K.layers.Flatten(), *extra,
                          K.layers.Dense(64, activation="relu", kernel_initializer="he_normal"),
                          K.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=K.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return budget.fit(model, X_train, y_train, batch_size=128, epochs=epochs or budget.max_epochs(), **fit)


def recipe_of(fn, data):
    return capstone.record(fn, data)


# --- the rules, without training --------------------------------------------------------------

def test_an_honest_recipe_is_plain_json_and_follows_the_rules(data):
    recipe = recipe_of(mlp, data)
    assert json.loads(json.dumps(recipe)) == recipe
    assert R.problems(recipe) == []
    assert recipe["fit"] == {"batch_size": 128, "epochs": 3, "validation": False, "callbacks": []}


def test_over_the_budget_is_refused_in_the_kernel_and_by_the_grader(data):
    with pytest.raises(R.RecipeError, match="over the budget of 30,000"):
        recipe_of(lambda *a: mlp(*a, epochs=4), data)
    forged = recipe_of(mlp, data)
    forged["fit"]["epochs"] = 50                       # a kernel can send anything: the grader re-checks
    assert any("over the budget" in p for p in R.problems(forged))


def test_changed_data_or_a_second_run_is_refused(data):
    def scaled(X_train, y_train, X_valid, y_valid, budget):
        return mlp(X_train * 2, y_train, X_valid, y_valid, budget)

    with pytest.raises(R.RecipeError, match="unchanged"):
        recipe_of(scaled, data)

    def twice(X_train, y_train, X_valid, y_valid, budget):
        budget.record_only = False
        mlp(X_train, y_train, X_valid, y_valid, budget, epochs=1)
        budget.record_only = True
        return mlp(X_train, y_train, X_valid, y_valid, budget, epochs=1)

    small = (data[0][0][:500], data[0][1][:500]), data[1]
    with pytest.raises(R.RecipeError, match="already called"):
        capstone.record(twice, small, examples=1000)
    with pytest.raises(R.RecipeError, match="without calling budget.fit"):
        recipe_of(lambda *a: None, data)


def test_only_allowed_callbacks_and_compiled_models(data):
    with pytest.raises(R.RecipeError, match="only the callbacks"):
        recipe_of(lambda *a: mlp(*a, callbacks=[K.callbacks.LearningRateScheduler(lambda e: 1e-3)]), data)

    def uncompiled(X_train, y_train, X_valid, y_valid, budget):
        model = K.Sequential([K.Input((28, 28)), K.layers.Flatten(), K.layers.Dense(10)])
        return budget.fit(model, X_train, y_train)

    with pytest.raises(R.RecipeError, match="compile the model"):
        recipe_of(uncompiled, data)
    stopping = recipe_of(lambda *a: mlp(*a, validation_data=(a[2], a[3]),
                                        callbacks=[K.callbacks.EarlyStopping(patience=1, min_delta=0.01)]), data)
    assert stopping["fit"]["callbacks"][0]["config"]["min_delta"] == pytest.approx(0.01)


@K.saving.register_keras_serializable(package="student")
class Memorised(K.layers.Layer):
    """A custom layer: code the grader would have to import and run."""

    def call(self, x):
        return x


@pytest.mark.parametrize("layer, why", [
    (lambda: K.layers.Lambda(lambda x: x), "Lambda is not allowed"),
    (lambda: Memorised(), "not allowed"),
    (lambda: K.layers.Normalization(mean=list(np.zeros(784)), variance=list(np.ones(784))), "holds 784 numbers"),
])
def test_code_and_smuggled_weights_in_the_configuration_are_refused(data, layer, why):
    flat = [K.layers.Flatten(), layer()] if "Normalization" in why or "784" in why else [layer()]
    with pytest.raises(R.RecipeError, match=why):
        recipe_of(lambda *a: mlp(*a, extra=flat), data)


def test_a_constant_initializer_must_hold_one_number(data):
    forged = recipe_of(mlp, data)
    dense = next(layer for layer in forged["model"]["config"]["layers"] if layer["class_name"] == "Dense")
    dense["config"]["kernel_initializer"] = {"module": "keras.initializers", "class_name": "Constant",
                                             "config": {"value": [[0.1] * 10] * 3}, "registered_name": None}
    assert any("Constant initializer" in p for p in R.problems(forged))


# --- the grader's replay (trains for real) ------------------------------------------------------

def _judge_recipe(recipe):
    results = {"build_and_train": {"case": {"out": {"str_full": json.dumps(recipe), "type": "recipe"},
                                            "error": None}}}
    return judge(m09.capstone_verdict, results)


def test_the_baseline_replays_to_the_figure_the_scale_starts_from(data):
    report = m09.run_replay(json.dumps(recipe_of(capstone.baseline, data)))
    assert report["examples_seen"] == 30_000 and report["steps"] == 3 * 157
    # The grading seed and deterministic ops give the same figure on one machine; another CPU may
    # round differently, hence the margin.
    assert report["accuracy"] == pytest.approx(m09.BASELINE, abs=0.015), report
    assert m09.points_for(report["accuracy"]) <= 0.6


def test_a_trained_model_in_the_kernel_is_worth_nothing_to_the_grader(data):
    """Weights set in the kernel (e.g. loaded from a model trained for hours) do not travel: the
    recipe of a perfect-looking model that was never trained within the budget scores as its recipe."""
    def cheat(X_train, y_train, X_valid, y_valid, budget):
        model = K.Sequential([K.Input((28, 28)), K.layers.Flatten(), K.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=K.optimizers.SGD(learning_rate=1e-9), loss="sparse_categorical_crossentropy")
        model.set_weights([w + 1.0 for w in model.get_weights()])   # stands for weights trained elsewhere
        return budget.fit(model, X_train, y_train, batch_size=8192, epochs=1)

    j = _judge_recipe(recipe_of(cheat, data))
    assert j.score == 0, j.messages()
    assert "test accuracy" in j.messages()[0]


def test_a_forged_recipe_over_the_budget_scores_zero_with_the_reason(data):
    forged = recipe_of(mlp, data)
    forged["fit"]["epochs"] = 50
    j = _judge_recipe(forged)
    assert j.score == 0 and "over the budget" in j.messages()[0], j.messages()


def test_the_solution_earns_every_point_and_says_where_it_landed(data):
    from test_verdicts import _solution_functions
    ns = _solution_functions("09_capstone")
    results = json.loads(json.dumps(harvest.run("09.capstone", ns)))
    j = judge(m09.capstone_verdict, results)
    assert j.score == j.max_score == 10, j.messages()
    assert j.summary.startswith("test accuracy 0.8") and "target 0.850" in j.summary


def test_points_are_linear_between_baseline_and_target():
    assert m09.points_for(m09.BASELINE) == 0 and m09.points_for(0.1) == 0
    assert m09.points_for(m09.TARGET) == 10 and m09.points_for(0.99) == 10
    assert m09.points_for((m09.BASELINE + m09.TARGET) / 2) == 5


def test_loading_weights_or_the_test_files_is_flagged_and_zeroed():
    from autograder.verdicts.delegation import scan
    for source in ["def build_and_train(a, b, c, d, budget):\n    m = make()\n    m.load_weights('w.h5')\n",
                   "import numpy as np\ndef build_and_train(a, b, c, d, budget):\n"
                   "    X = np.fromfile('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte')\n",
                   "def build_and_train(a, b, c, d, budget):\n    base = keras.applications.MobileNetV2()\n"]:
        delegated, _ = scan([source], m09.capstone_verdict.forbidden)
        assert "build_and_train" in delegated and "bypass" in delegated["build_and_train"], source
        j = judge(m09.capstone_verdict, {}, delegated)
        assert j.score == 0 and j.flagged
    honest = "def build_and_train(a, b, c, d, budget):\n    m = keras.Sequential([keras.layers.Dense(10)])\n"
    assert scan([honest], m09.capstone_verdict.forbidden)[0] == {}
    # Only a one-word string with a slash is read as a path: a docstring's formula is not.
    from autograder.verdicts import m01
    docstring = 'def sigmoid(z):\n    """The logistic sigmoid 1 / (1 + exp(-z))."""\n    return 1 / (1 + np.exp(-z))\n'
    assert scan([docstring], {"sigmoid": m01.VERDICTS[0].forbidden["sigmoid"]})[0] == {}


# --- end to end: hostile capstone notebooks through python -m autograder grade -------------------

FORGE = '''
import json as _json
import deeptrain.capstone as _cap
_honest_record = _cap.record
def _forged(fn, data=None, examples=30_000):      # the kernel hands over a recipe of its own making
    recipe = _honest_record(fn, data, examples)
    recipe["fit"]["epochs"] = 30
    return recipe
_cap.record = _forged
'''
PRETRAINED = '''
def build_and_train(X_train, y_train, X_valid, y_valid, budget):
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.load_weights("trained_elsewhere.weights.h5")
    return budget.fit(model, X_train, y_train, epochs=1)
'''


def _variant(source_edit):
    """The solution notebook of module 09 with its answer cell changed by source_edit(source)."""
    from autograder import SOLUTIONS
    nb = json.load(open(f"{SOLUTIONS}/09_capstone/09_capstone.ipynb"))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "build_and_train":
            cell["source"] = source_edit("".join(cell["source"]))
    return nb


@pytest.mark.slow
def test_hostile_capstone_notebooks_get_the_grade_they_deserve(tmp_path):
    from autograder.grade import grade
    cases = {"forged_recipe": (_variant(lambda s: s + "\n" + FORGE), "over the budget"),
             "loads_weights": (_variant(lambda s: PRETRAINED), "bypass")}
    for student, (nb, _) in cases.items():
        (tmp_path / "subs" / student).mkdir(parents=True)
        (tmp_path / "subs" / student / "09_capstone.ipynb").write_text(json.dumps(nb))
    report = grade(str(tmp_path / "subs"), names=["09_capstone"], grading=str(tmp_path / "grading"), jobs=2,
                   log=print, class_report=False)
    got = {o.student: o for o in report.outcomes}
    for student, (_, said) in cases.items():
        o = got[student]
        feedback = open(o.feedback, encoding="utf-8").read()
        assert o.score == 0 and o.max_score == 10, (student, o.score, o.message)
        assert said in feedback, (student, o.message)
    assert got["loads_weights"].status == "flagged", got["loads_weights"].review
