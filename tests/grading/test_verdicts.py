"""The hidden tests themselves, without nbgrader or a kernel: seconds, not minutes.

Each exercise's verdict (autograder/verdicts) is run on results produced in this process:
the reference earns full marks, the solution notebooks' answers earn full marks, every
known-wrong implementation (tests/grading/wrong) loses exactly the points of the checks it
violates and nothing in the other functions, and its first message names the mistake.
The static delegation scan is checked on the routes of issue 10.
"""
import json
import os

import numpy as np
import pytest

from autograder import SOLUTIONS, verdicts as V
from autograder.verdicts.delegation import scan
from deeptrain import harvest
from autograder.cases import m04 as _c04, m07 as _c07, m08 as _c08
from public import PUBLIC
from wrong import RIGHT, SEVERAL, WHOLE, WRONG

NOTEBOOKS = sorted(d for d in os.listdir(SOLUTIONS) if V.for_notebook(d)
                   and os.path.exists(os.path.join(SOLUTIONS, d, f"{d}.ipynb")))
# Verdicts judged check by check against deeptrain.reference. The capstone's (a scorer that trains the
# recipe again; its reference is the baseline, worth 0 points) has its own tests: test_capstone.py.
ALL = {v.exercise: v for nb in NOTEBOOKS for v in V.for_notebook(nb).values() if v.scorer is None}


def _round_trip(results):
    """What the grader receives: the JSON the kernel displays."""
    return json.loads(json.dumps({"results": results}))["results"]


# Exercises judged on what a Keras object did in the kernel (a layer's kernel, a training step): their
# results are produced here with Keras as the kernel would, the reference side needs none.
KERAS = {"02.he_avg_dense": "he_avg_dense", "05.train_step_with_clipping": "train_step_with_clipping",
         "06.build_model_b_on_a": "build_model_b_on_a"}


def _judge(exercise, replace=None):
    v = ALL[exercise]
    functions = {k: f for k, f in v.reference.items() if exercise not in KERAS or not k.startswith("_grader")}
    if exercise in KERAS:
        functions.update(_solution_functions(v.cell and NOTEBOOK_OF[exercise]))
    functions.update(replace or {})
    return V.judge(v, _round_trip(harvest.run(exercise, functions)))


NOTEBOOK_OF = {v.exercise: nb for nb in NOTEBOOKS for v in V.for_notebook(nb).values() if v.scorer is None}


@pytest.mark.parametrize("exercise", sorted(ALL))
def test_reference_earns_every_point(exercise):
    j = _judge(exercise)
    assert j.score == j.max_score > 0, j.messages()


@pytest.mark.parametrize("exercise", sorted(ALL))
def test_points_per_function_are_positive_and_checks_named(exercise):
    v = ALL[exercise]
    assert set(v.function_points()) == set(v.functions)
    assert all(p > 0 for p in v.function_points().values())
    assert len({(c.function, c.name) for c in v.checks}) == len(v.checks), "check names must be unique"


# Entries of modules whose notebook is not there yet (a module being written) wait for it.
WRONG = [e for e in WRONG if e[0] in ALL]
RIGHT = [e for e in RIGHT if e[0] in ALL]


@pytest.mark.parametrize("entry", WRONG, ids=[f"{e[1]}:{e[2].__name__}" for e in WRONG])
def test_wrong_implementation_loses_exactly_its_checks(entry):
    """One fault, one deduction: a known-wrong implementation with one mistake loses exactly the check that
    names it (WHOLE: a function right nowhere loses all its points, in one message); the checks its fault
    also broke are not counted (they deduct nothing and are not shown); no other function loses anything."""
    exercise, fn, impl, failing, hint = entry
    v = ALL[exercise]
    own = [c for c in v.checks if c.function == fn]
    j = _judge(exercise, {fn: impl})
    counted = {(c.function, c.name) for c, _ in j.failures}
    if failing == WHOLE:
        assert j.status.get(fn) == "wrong" and counted == {(fn, c.name) for c in own}, j.messages()
        lost = v.function_points()[fn]
        assert len(j.messages()) == 1, j.messages()          # one line for the whole function
    else:
        assert counted == {(fn, name) for name in failing}, j.messages()
        assert len(failing) == 1 or impl in SEVERAL, "one fault, one deduction: " + str(failing)
        lost = sum(c.points for c in own if c.name in failing)
        assert len(j.messages()) == len(failing), j.messages()   # explained checks are not shown
    assert j.score == pytest.approx(v.points - lost)
    first = j.messages()[0]
    assert hint in first and "case " in first, first          # names the mistake and the case
    data = j.as_data(v)
    assert data["functions"][fn]["score"] == pytest.approx(data["functions"][fn]["max_score"] - lost)
    assert sum(f["points"] for f in data["failures"] if f["counted"]) == pytest.approx(lost)
    assert all(d["status"] == "passed" for k, d in data["functions"].items() if k != fn)


@pytest.mark.parametrize("entry", PUBLIC, ids=[f"{e[2].__module__.split('.')[-1]}.{e[2].__name__}:{e[1]}" for e in PUBLIC])
def test_public_implementation_gets_the_message_that_names_its_fault(entry):
    """Real public implementations (tests/grading/public): the right ones keep every point; the others lose
    exactly the check naming their known fault, and that message comes first."""
    exercise, fn, impl, check, phrase = entry
    j = _judge(exercise, {fn: impl})
    if check is None:
        assert j.score == j.max_score, j.messages()
        return
    assert [c.name for c, _ in j.failures] == [check], j.messages()
    assert phrase in j.messages()[0], j.messages()[0]


@pytest.mark.parametrize("entry", RIGHT, ids=[f"{e[1]}:{e[2].__name__}" for e in RIGHT])
def test_differently_written_right_answer_keeps_every_point(entry):
    exercise, fn, impl = entry
    j = _judge(exercise, {fn: impl})
    assert j.score == j.max_score, j.messages()


def test_the_set_of_wrong_implementations_covers_every_check():
    """Every check can fail: some known-wrong implementation fails it."""
    covered = {(fn, name) for ex, fn, impl, failing, hint in WRONG if failing != WHOLE for name in failing}
    covered |= {(fn, check) for ex, fn, impl, check, phrase in PUBLIC if check}
    for ex, fn, impl, failing, hint in WRONG:       # a function right nowhere: its message names one check
        if failing == WHOLE:
            j = _judge(ex, {fn: impl})
            covered.add((fn, next(c.name for c, d in j.failures if not c.rule and not d.startswith(V.WITHHELD))))
    missing = [f"{v.exercise}:{c.function}:{c.name}" for v in ALL.values() for c in v.checks
               if (c.function, c.name) not in covered]
    assert not missing, missing


def _solution_functions(name):
    """The answers of a solution notebook, defined in this process (Keras models for the model exercises)."""
    nb = json.load(open(os.path.join(SOLUTIONS, name, f"{name}.ipynb")))
    ns = {"np": np}
    if any(("tf." in "".join(c["source"]) or "keras." in "".join(c["source"])) for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")):
        import deeptrain
        ns["tf"] = deeptrain.import_tensorflow()
        ns["keras"] = ns["tf"].keras
    for c in nb["cells"]:
        if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution"):
            exec("".join(c["source"]), ns)
    return ns


@pytest.mark.parametrize("name", sorted(set(NOTEBOOK_OF.values())))   # the capstone's: test_capstone.py
def test_solution_notebook_answers_earn_every_point(name):
    ns = _solution_functions(name)
    for v in V.for_notebook(name).values():
        j = V.judge(v, _round_trip(harvest.run(v.exercise, ns)))
        assert j.score == j.max_score, (v.exercise, j.messages())


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_test_cells_carry_the_verdicts_points(name):
    """Every test cell: the hidden harvest header first, the visible checks after it, the verdict's points."""
    nb = json.load(open(os.path.join(SOLUTIONS, name, f"{name}.ipynb")))
    found = V.for_notebook(name)
    for c in nb["cells"]:
        meta = c["metadata"].get("nbgrader", {})
        if c["cell_type"] != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        source = "".join(c["source"])
        assert meta["grade_id"] in found, f"{meta['grade_id']} has no verdict"
        head, _, visible = source.partition("### END HIDDEN TESTS")
        assert head.startswith("### BEGIN HIDDEN TESTS") and f"collect({found[meta['grade_id']].exercise!r}" in head
        assert "print(" in visible and "HIDDEN" not in visible and "reference" not in source, meta["grade_id"]
        assert meta["points"] == pytest.approx(found[meta["grade_id"]].points), meta["grade_id"]


def test_missing_or_garbled_results_score_zero_with_a_message():
    v = ALL["01.sigmoid"]
    for results in (None, {}, {"sigmoid": "garbage"}, {"sigmoid": {"case": {"out": {"array": "!!"}}}},
                    {"sigmoid": {"__missing__": {"error": "NameError: sigmoid is not defined"}}}):
        j = V.judge(v, results)
        assert j.score <= v.function_points()["sigmoid_derivative"] and j.failures
        assert all(d for _, d in j.failures)


def test_an_error_in_one_function_costs_only_its_points():
    def broken(z):
        raise NotImplementedError()
    j = _judge("01.sigmoid", {"sigmoid_derivative": broken})
    assert j.score == ALL["01.sigmoid"].function_points()["sigmoid"]
    assert "NotImplementedError" in j.messages()[0]


def test_cases_stay_in_the_documented_domain():
    one_cycle = [c for c in _c07._one_cycle_cases()]
    assert all(np.min(args[0]) >= 0 for _, args, _ in one_cycle), "one_cycle is defined for step >= 0 only"
    for _, args, _ in _c08._dropout_cases():
        assert 0 <= args[1] <= 1
    for _, args, kw in _c04._bn_forward_cases():
        assert np.ndim(args[0]) == 2 and kw.get("eps", 1e-3) >= 0


# --- delegation: the static scan ------------------------------------------------------------

FORBIDDEN = {"sigmoid": ALL["01.sigmoid"].forbidden["sigmoid"], "adam_step": ALL["07.adam_adamw"].forbidden["adam_step"],
             "clip_by_value": ALL["05.clip_by_value"].forbidden["clip_by_value"]}

DELEGATING = {
    "scipy ufunc": ("from scipy.special import expit\ndef sigmoid(z):\n    return expit(z)\n", "sigmoid"),
    "scipy ufunc through a module alias": ("import scipy.special as sp\n_f = sp.expit\n"
                                           "def sigmoid(z):\n    return _f(z)\n", "sigmoid"),
    "tf raw op": ("def sigmoid(z):\n    return tf.raw_ops.Sigmoid(x=tf.constant(z)).numpy()\n", "sigmoid"),
    "raw op by string": ("def sigmoid(z):\n    return getattr(tf.raw_ops, 'Sigmoid')(x=z).numpy()\n", "sigmoid"),
    "importlib of the reference": ("import importlib\ndef sigmoid(z):\n"
                                   "    return importlib.import_module('deeptrain.reference').sigmoid(z)\n", "sigmoid"),
    "reference through a helper": ("from deeptrain import reference as R\ndef _h(z):\n    return R.sigmoid(z)\n"
                                   "def sigmoid(z):\n    return _h(z)\n", "sigmoid"),
    "keras optimizer": ("def adam_step(theta, grad, state, **hp):\n    opt = keras.optimizers.Adam(**hp)\n"
                        "    return theta, state\n", "adam_step"),
    "raw apply adam": ("def adam_step(theta, grad, state, **hp):\n"
                       "    tf.raw_ops.ResourceApplyAdam(var=v)\n    return theta, state\n", "adam_step"),
    "deferred evaluation": ("class Lazy:\n    def __init__(self, z):\n        self.z = z\n"
                            "    def __array__(self, dtype=None, copy=None):\n"
                            "        return tf.math.sigmoid(self.z).numpy()\n"
                            "def sigmoid(z):\n    return Lazy(z)\n", "sigmoid"),
    "graded name bound to a library function": ("sigmoid = tf.nn.sigmoid\n", "sigmoid"),
    "tf clip": ("def clip_by_value(grads, c):\n    return [tf.clip_by_value(g, -c, c).numpy() for g in grads]\n",
                "clip_by_value"),
}


@pytest.mark.parametrize("route", sorted(DELEGATING))
def test_delegation_routes_are_found(route):
    source, fn = DELEGATING[route]
    delegated, _ = scan([source], FORBIDDEN)
    assert fn in delegated, route


DYNAMIC = {
    "exec": "def sigmoid(z):\n    exec('r = 1')\n    return z\n",
    "computed getattr": "def sigmoid(z):\n    return getattr(np, 'ex' + 'p')(z)\n",
    "sys.modules": "import sys\ndef sigmoid(z):\n    return sys.modules['numpy'].exp(z)\n",
    "__code__ swap": "def sigmoid(z):\n    return z\nsigmoid.__code__ = (lambda z: z).__code__\n",
    "__import__": "def sigmoid(z):\n    return __import__('numpy').exp(z)\n",
}


@pytest.mark.parametrize("route", sorted(DYNAMIC))
def test_dynamic_code_is_flagged_not_zeroed(route):
    delegated, dynamic = scan([DYNAMIC[route]], FORBIDDEN)
    assert "sigmoid" not in delegated and "sigmoid" in dynamic, route


def test_honest_code_is_not_flagged():
    source = ("def sigmoid(z):\n    z = np.asarray(z, dtype=np.float64)\n    e = np.exp(-np.abs(z))\n"
              "    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))\n"
              "def swish(z, beta=1.0):\n    return z * sigmoid(beta * z)\n"
              "def clip_by_value(grads, c):\n    return [np.clip(g, -c, c) for g in grads]\n"
              "def adam_step(theta, grad, state, learning_rate=0.001):\n    sigmoid = 3\n    return theta, state\n")
    delegated, dynamic = scan([source], FORBIDDEN)
    assert not delegated and not dynamic, (delegated, dynamic)


def test_a_delegating_function_costs_only_its_own_points():
    source = ("from scipy.special import expit\ndef sigmoid(z):\n    return expit(z)\n"
              "def sigmoid_derivative(z):\n    return sigmoid(z) * sigmoid(-z)\n"
              "ACTIVATIONS = {'sigmoid': sigmoid}\ndef forward_variances(*args):\n    return ACTIVATIONS\n")
    forbidden = {"sigmoid": {"expit"}, "sigmoid_derivative": {"expit"}, "forward_variances": set()}
    delegated, _ = scan([source], forbidden)
    assert set(delegated) == {"sigmoid"}, delegated


def test_rebinding_a_name_the_tests_use_is_flagged():
    _, dynamic = scan(["class _L:\n    pass\nchecks = _L()\ndef sigmoid(z):\n    return z\n"],
                      {"sigmoid": set()}, protected={"checks", "np"})
    assert "sigmoid" in dynamic and "checks" in dynamic["sigmoid"]
    _, dynamic = scan(["import numpy as np\ndef sigmoid(z):\n    return z\n"], {"sigmoid": set()}, protected={"np"})
    assert not dynamic


def test_a_correct_answer_that_warns_keeps_every_point():
    """Only NumPy's floating-point warnings break the "no overflow or warning" rule."""
    import warnings

    def noisy(z):
        warnings.warn("student code: noisy but correct", UserWarning)
        return ALL["01.sigmoid"].reference["sigmoid"](z)
    j = _judge("01.sigmoid", {"sigmoid": noisy})
    assert j.score == j.max_score, j.messages()
