"""The clean room (autograder/cleanroom.py, room.py) against the routes of issue 18, without nbgrader.

Each test builds a submission from a solution notebook with one answer changed, runs it through
the grader's clean room with a grading secret, and judges it with the verdicts exactly as
JudgeResults does. Classes (each with at least three variants):

- rules judged by warnings the function silences (the value at the tails decides);
- delegation in a NumPy-only exercise (the room has no SciPy, TensorFlow, deeptrain: not even
  through an absolute path);
- hooks on what the harvester relies on (standard library, NumPy, builtins): they do not change
  what reaches the grader;
- memorised outputs and caches across cases (secret inputs; a fresh process per case);
- the secret: same secret and submission, same inputs; another secret or a changed submission,
  other inputs;
- every correct answer keeps full marks.
The end-to-end batch through nbgrader is tests/grading/test_hostile.py.
"""
import copy
import hashlib
import json
import os
import stat

import nbformat
import numpy as np
import pytest

from autograder import SOLUTIONS, assignments, cases, cleanroom
from autograder import verdicts as V

SECRET = "5e" * 32
OTHER = "a1" * 32


def _load(name):
    with open(os.path.join(SOLUTIONS, name, f"{name}.ipynb"), encoding="utf-8") as f:
        return json.load(f)


def _release_cells(nbjson):
    return ["".join(c["source"]) for c in nbjson["cells"]
            if c["cell_type"] == "code" and not c["metadata"].get("nbgrader", {}).get("solution")]


def submission(name, defines=None, code=""):
    """The solution of `name` with `code` appended to the answer cell that defines `defines`."""
    nb = _load(name)
    if defines:
        for c in nb["cells"]:
            src = "".join(c["source"])
            if c["metadata"].get("nbgrader", {}).get("solution") and f"def {defines}(" in src:
                c["source"] = src + "\n\n" + code
                break
        else:
            raise AssertionError(f"no answer cell defines {defines}")
    return nb


def room(nbjson, name, secret=SECRET, kinds=("numpy",)):
    """({exercise: results}, answer cell errors, problems) for the exercises of the given room kinds."""
    exercises = sorted({v.exercise for v in V.for_notebook(name).values() if cleanroom.kind_of(v.exercise) in kinds})
    return cleanroom.results(nbformat.reads(json.dumps(nbjson), as_version=4), _release_cells(_load(name)), exercises, secret)


def scores(nbjson, name, secret=SECRET, kinds=("numpy",)):
    """{function: (score, max)} as JudgeResults would give them."""
    res, _, problems = room(nbjson, name, secret, kinds)
    assert not problems, problems
    key = secret and cases.submission_key(secret, cleanroom.digest(cleanroom.answer_cells(
        nbformat.reads(json.dumps(nbjson), as_version=4))))
    old = cases.use_key(key)
    try:
        out = {}
        for v in V.for_notebook(name).values():
            if v.exercise not in res or v.scorer is not None:
                continue
            j = V.judge(v, res[v.exercise])
            points = v.function_points()
            lost = {}
            for check, _ in j.failures:
                lost[check.function] = lost.get(check.function, 0) + check.points
            for fn in v.functions:
                out[fn] = (round(points.get(fn, 0) - lost.get(fn, 0), 6), points.get(fn, 0))
        return out
    finally:
        cases.use_key(old)


def _full(s, fn):
    return s[fn][0] == pytest.approx(s[fn][1])


M01 = "01_unstable_gradients"


@pytest.fixture(scope="module")
def m01_full():
    s = scores(_load(M01), M01)
    assert all(_full(s, fn) for fn in s), s
    return s


# --- 1. rules judged by values, not by warnings the function controls ------------------------------

NAIVE = {
    "errstate": "def sigmoid(z):\n    with np.errstate(over='ignore'):\n        return 1 / (1 + np.exp(-np.asarray(z, dtype=np.float64)))\n",
    "seterr": "np.seterr(all='ignore')\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-np.asarray(z, dtype=np.float64)))\n",
    "filterwarnings": ("import warnings\ndef sigmoid(z):\n    with warnings.catch_warnings():\n"
                       "        warnings.simplefilter('ignore')\n        with np.errstate(all='ignore'):\n"
                       "            return 1 / (1 + np.exp(-np.asarray(z, dtype=np.float64)))\n"),
}


@pytest.mark.parametrize("variant", sorted(NAIVE))
def test_silenced_overflow_loses_the_tail_rule_only(m01_full, variant):
    s = scores(submission(M01, "sigmoid", NAIVE[variant]), M01)
    assert s["sigmoid"][0] < s["sigmoid"][1], s
    assert _full(s, "forward_variances"), s


# --- 2. delegation in a NumPy-only exercise is impossible -----------------------------------------

DELEGATE = {
    "try_import": ("try:\n    from scipy.special import expit as _e\nexcept Exception:\n    _e = None\n"
                   "def sigmoid(z):\n    return _e(z)\n"),
    "dict_update": ("import importlib\n_t = {}\n_t.update(e=getattr(importlib.import_module('sci' + 'py.special'), 'ex' + 'pit'))\n"
                    "def sigmoid(z):\n    return _t['e'](z)\n"),
    "class_attribute": ("class _K:\n    import scipy.special as sp\n    f = sp.expit\n"
                        "def sigmoid(z):\n    return _K.f(z)\n"),
    "reduce_getattr": ("import functools\n_f = functools.reduce(getattr, ['special', 'expit'], __import__('scipy.special'))\n"
                       "def sigmoid(z):\n    return _f(z)\n"),
    "absolute_path": ("import sys, glob\nfor _p in glob.glob(sys.prefix + '/lib/python3*/site-packages'):\n    sys.path.insert(0, _p)\n"
                      "import scipy.special\ndef sigmoid(z):\n    return scipy.special.expit(z)\n"),
    "tensorflow": ("_tf = __import__('tensor' + 'flow')\ndef sigmoid(z):\n    return _tf.math.sigmoid(z).numpy()\n"),
    "reference": ("from deeptrain.reference import sigmoid as _s\ndef sigmoid(z):\n    return _s(z)\n"),
}


@pytest.mark.parametrize("variant", sorted(DELEGATE))
def test_delegation_in_a_numpy_exercise_cannot_run(m01_full, variant):
    stub = "def sigmoid(z):\n    raise NotImplementedError\n"     # the student wrote no sigmoid of their own
    s = scores(submission(M01, "sigmoid", stub + DELEGATE[variant]), M01)
    assert s["sigmoid"][0] == 0, s


PROBE = f'''
import os, sys, glob
def sigmoid(z):
    found = []
    for name in {cleanroom.FORBIDDEN!r}:
        try:
            m = __import__(name)
            if name != "scipy" or hasattr(__import__("scipy.special").special, "softmax"):
                found.append(name)     # (scipy: only the grader's shim of scipy.special, erf/erfc/expit)
        except BaseException:
            pass
    for d in glob.glob(sys.prefix + "/lib/python3*/site-packages") + glob.glob(sys.base_prefix + "/lib/python3*/site-packages"):
        found += [f"file:{{n}}" for n in ("scipy", "tensorflow", "keras", "deeptrain") if os.path.exists(os.path.join(d, n, "__init__.py"))]
    home = os.path.expanduser("~")
    found += [f"home:{{p}}" for p in ("/root/.ssh", "/root/.local/share/jupyter") if os.path.exists(p) and os.listdir(p)]
    raise RuntimeError("reachable: " + ",".join(found))
'''


def test_the_numpy_room_holds_numpy_only():
    res, _, problems = room(submission(M01, "sigmoid", PROBE), M01)
    assert not problems
    errors = {r["error"].split(" (line")[0] for r in res["01.sigmoid"]["sigmoid"].values()}
    assert errors == {"RuntimeError: reachable: "}, errors


# --- 3. hooks on what the harvester relies on do not reach the grader ---------------------------------

IN_PLACE = ("def sigmoid(z):\n    z = np.asarray(z)\n    out = np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))\n"
            "    if z.ndim and z.dtype == np.float64:\n        z[...] = 0.0\n    return out\n")
HOOKS = {
    "array_equal": "np.array_equal = lambda *a, **k: True\n",
    "deepcopy": "import copy\ncopy.deepcopy = lambda x, *a, **k: x\n",
    "isinstance": "import builtins\n_i = builtins.isinstance\nbuiltins.isinstance = lambda o, t: False if t is np.ndarray else _i(o, t)\n",
    "json": "import json\n_d = json.dumps\njson.dumps = lambda o, *a, **k: _d(o, *a, **k).replace('\"mutated\": [0]', '\"mutated\": []')\n",
}


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_hooks_do_not_hide_an_in_place_change(hook):
    res, _, _ = room(submission(M01, "sigmoid", IN_PLACE + HOOKS[hook]), M01)
    recs = res["01.sigmoid"]["sigmoid"]
    changed = [label for label, r in recs.items() if r.get("mutated")]
    assert len(changed) >= 3, {k: (r.get("mutated"), r.get("error")) for k, r in recs.items()}


FORGE = {   # sigmoid returns zeros; the hook tries to make the grader read something else
    "json": "import json\njson.dumps = lambda o, *a, **k: '{\"out\": null, \"error\": null, \"mutated\": [], \"warnings\": []}'\n",
    "asarray": "_a = np.asarray\nnp.asarray = lambda x, *a, **k: _a(x, *a, **k) + 0.5\n",
    "b64": "import base64\n_b = base64.b64encode\nbase64.b64encode = lambda b: _b(np.full(len(b) // 8, 0.5).tobytes())\n",
    "display": "import builtins\nbuiltins.display = lambda *a, **k: None\nget_ipython = lambda: None\n",
}


@pytest.mark.parametrize("hook", sorted(FORGE))
def test_hooks_do_not_change_the_values_judged(m01_full, hook):
    s = scores(submission(M01, "sigmoid", "def sigmoid(z):\n    return np.zeros(np.shape(z))\n" + FORGE[hook]), M01)
    assert s["sigmoid"][0] == 0, s


# --- 4. memorised outputs and caches across cases -------------------------------------------------

def _memorising_answer():
    """sigmoid answering from a table of the public inputs' outputs, computed 'at home' with the reference."""
    from deeptrain.reference import sigmoid as ref
    old = cases.use_key(None)
    try:
        table = {}
        for _, args, _ in cases.m01._sigmoid_cases():
            z = np.asarray(args[0], dtype=np.float64)
            table[hashlib.sha256(z.tobytes()).hexdigest()] = ref(z).tolist()
    finally:
        cases.use_key(old)
    return (f"import hashlib\n_T = {json.dumps(table)}\n"
            "def sigmoid(z):\n    z = np.asarray(z, dtype=np.float64)\n"
            "    got = _T.get(hashlib.sha256(z.tobytes()).hexdigest())\n"
            "    return np.zeros(z.shape) if got is None else np.array(got)\n")


def test_memorised_outputs_fail_on_secret_inputs(m01_full):
    nb = submission(M01, "sigmoid", _memorising_answer())
    public = scores(nb, M01, secret=None)
    secret = scores(nb, M01)
    assert public["sigmoid"][0] > secret["sigmoid"][0] == 0, (public, secret)


CACHE = {   # a trace of earlier calls kept somewhere: every case must see none
    "global": "_seen = []\ndef _trace():\n    _seen.append(1)\n    return len(_seen) - 1\n",
    "tmp_file": ("import os\ndef _trace():\n    p = '/tmp/.seen'\n    n = os.path.getsize(p) if os.path.exists(p) else 0\n"
                 "    open(p, 'a').write('x')\n    return n\n"),
    "cwd_file": ("import os\ndef _trace():\n    n = len(os.listdir('.'))\n    open(f'.seen{n}', 'w').close()\n    return n\n"),
    "shared_memory": ("import mmap\n_m = mmap.mmap(-1, 8)\ndef _trace():\n    n = _m[0]\n    _m[0] = n + 1\n    return n\n"),
    "builtins": "import builtins\ndef _trace():\n    n = getattr(builtins, '_seen', 0)\n    builtins._seen = n + 1\n    return n\n",
}


@pytest.mark.parametrize("where", sorted(CACHE))
def test_no_state_crosses_cases(where):
    code = CACHE[where] + "def sigmoid(z):\n    raise RuntimeError(f'earlier calls: {_trace()}')\n"
    res, _, _ = room(submission(M01, "sigmoid", code), M01)
    errors = {r["error"].split(" (line")[0] for r in res["01.sigmoid"]["sigmoid"].values()}
    assert errors == {"RuntimeError: earlier calls: 0"}, errors


def test_a_cache_across_cases_fails_the_same_seed_check():
    name = "02_initialization"
    code = ("_cache = {}\n_vs = variance_scaling\n"
            "def variance_scaling(shape, scale=1.0, mode='fan_in', distribution='truncated_normal', seed=None):\n"
            "    key = (tuple(shape), scale, mode, distribution, seed)\n"
            "    if key not in _cache:\n        _cache[key] = _vs(shape, scale, mode, distribution, seed=None)\n"
            "    return _cache[key]\n")
    nb = submission(name, "variance_scaling", code)
    res, _, _ = room(nb, name)
    assert "02.variance_scaling" in res
    s = scores(nb, name)
    assert s["variance_scaling"][0] < s["variance_scaling"][1], s
    assert _full(s, "init_std") and _full(s, "init_limit"), s


# --- 5. the secret ------------------------------------------------------------------------------

def _inputs(secret, nb=None, name=M01):
    """The sigmoid cases' inputs as the room saw them (a function returning its input)."""
    nb = nb or submission(M01, "sigmoid", "def sigmoid(z):\n    return np.array(z, dtype=np.float64)\n")
    res, _, _ = room(nb, name, secret)
    return {k: r["out"].get("array") for k, r in res["01.sigmoid"]["sigmoid"].items()}


def test_same_secret_same_inputs_other_secret_or_submission_other_inputs():
    a, b, c = _inputs(SECRET), _inputs(SECRET), _inputs(OTHER)
    changed = submission(M01, "sigmoid", "def sigmoid(z):\n    return np.array(z, dtype=np.float64)  # v2\n")
    d = _inputs(SECRET, changed)
    assert a == b and a.keys() == c.keys() == d.keys()
    random = [k for k in a if "N(0" in k or "in [-60, 60]" in k]
    assert random and all(a[k] != c[k] and a[k] != d[k] for k in random)
    fixed = [k for k in a if k.startswith("z = [-2, 0, 2]")]
    assert fixed and all(a[k] == c[k] for k in fixed)     # the visible example stays


def test_the_secret_is_drawn_once_and_private(tmp_path):
    s1 = cleanroom.grading_secret(str(tmp_path))
    assert cleanroom.grading_secret(str(tmp_path)) == s1 and len(bytes.fromhex(s1)) == 32
    mode = stat.S_IMODE(os.stat(tmp_path / cleanroom.SECRET_FILE).st_mode)
    assert mode == 0o600
    assert cleanroom.grading_secret(str(tmp_path / "other")) != s1


# --- 6. correct answers keep full marks --------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in assignments() if n != "09_capstone"])
def test_every_solution_keeps_full_marks_in_the_clean_room(name):
    s = scores(_load(name), name, kinds=("numpy", "tensorflow"))
    assert s and all(_full(s, fn) for fn in s), s


def test_every_exercise_has_a_room_and_numpy_exercises_say_numpy():
    """The NumPy-only list is the notebooks' text: an exercise in a TensorFlow room is one on Keras objects."""
    for ex in cases.EXERCISES:
        kind = cleanroom.kind_of(ex)
        assert kind in ("numpy", "tensorflow")
    for ex in cleanroom.TENSORFLOW:
        assert ex in cases.EXERCISES, ex


def test_grading_starts_with_the_capstone_then_the_modules_without_tensorflow():
    """The order jobs are submitted in (autograder/grade.py job_rank): the capstone's replay first, then what
    another worker can grade while the capstone's worker imports TensorFlow for its room."""
    from autograder.grade import job_rank
    names = assignments()
    order = sorted(names, key=job_rank)
    without = [n for n in names if "tensorflow" not in cleanroom.kinds_for([n])]
    assert order[0].startswith("09_") and without, (order, without)
    assert order[1:1 + len(without)] == sorted(without), order
