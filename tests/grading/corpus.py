"""Hostile and broken submissions of module 01, generated from its solution and release.

Each case is a student folder holding one notebook, and the grade it deserves: the points of
the tests it should fail are subtracted from the maximum (a set: all of those cells' points; a
dict: the points each cell loses, for partial credit). ``filled`` is the release with the
solution's answers typed in (what a good student submits); the cases start from it or from the
untouched release (``blank``).
"""
import copy
import json
import os
import re

NAME = "01_unstable_gradients"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(folder):
    with open(os.path.join(ROOT, folder, NAME, f"{NAME}.ipynb"), encoding="utf-8") as f:
        return json.load(f)


def _gid(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def _src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _index(nb, gid):
    return next(i for i, c in enumerate(nb["cells"]) if _gid(c) == gid)


def _code(source):
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def release():
    return _load("course")


def filled():
    """The release with the solution's answer cells."""
    sol, nb = _load("solutions"), release()
    answers = {_gid(c): _src(c) for c in sol["cells"] if c["metadata"].get("nbgrader", {}).get("solution")
               and c["cell_type"] == "code"}
    for cell in nb["cells"]:
        if _gid(cell) in answers:
            cell["source"] = answers[_gid(cell)]
    return nb


def points():
    """{test cell id: points} of the autograded tests."""
    return {_gid(c): c["metadata"]["nbgrader"]["points"] for c in release()["cells"]
            if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade")}


def _append(nb, gid, code):
    cell = nb["cells"][_index(nb, gid)]
    cell["source"] = _src(cell) + "\n\n" + code


# --- the cases ------------------------------------------------------------------------------

def infinite_loop():
    nb = filled()
    _append(nb, "layer_gradient_norms", '''_real_lgn = layer_gradient_norms
def layer_gradient_norms(model, X, y, loss_fn):
    if len(X) < 100:          # the tests' small batches
        while True:
            pass
    return _real_lgn(model, X, y, loss_fn)''')
    return nb, {"test_layer_gradient_norms"}, "CellTimeout"


def unstoppable_loop():
    nb = filled()
    _append(nb, "forward_variances", '''import time as _time
_real_fv = forward_variances
def forward_variances(n_layers, *args, **kwargs):
    if n_layers < 10:         # the tests' small stacks
        while True:           # ignores the grader's interrupt
            try:
                _time.sleep(0.05)
            except KeyboardInterrupt:
                pass
    return _real_fv(n_layers, *args, **kwargs)''')
    return nb, {"test_forward_variances"}, "did not stop when interrupted"


def os_exit():
    nb = filled()
    _append(nb, "sigmoid", '''_real_sd = sigmoid_derivative
def sigmoid_derivative(z):
    if np.size(z) < 100:
        import os
        os._exit(3)
    return _real_sd(z)''')
    # The kernel dies (the feedback says so); in the clean room only the cases that exit lose points.
    return nb, {"test_sigmoid": 1}, "KernelExited"


def memory_bomb():
    nb = filled()
    _append(nb, "layer_gradient_norms", '''_real_lgn = layer_gradient_norms
def layer_gradient_norms(model, X, y, loss_fn):
    if len(X) < 100:
        hog = []
        while True:
            hog.append(np.ones(50_000_000))   # 400 MB at a time
    return _real_lgn(model, X, y, loss_fn)''')
    return nb, {"test_layer_gradient_norms"}, "MemoryLimit"


def noisy_output():
    nb = filled()
    _append(nb, "sigmoid", '''import sys as _sys
_real_sigmoid, _said = sigmoid, []
def sigmoid(z):
    if not _said:
        print("x" * 20_000_000)                    # 20 MB of output, once
        _said.append(True)
    print("debug: sigmoid called", file=_sys.stderr)
    return _real_sigmoid(z)''')
    return nb, set(), "debug: sigmoid called"


def edited_test():
    nb = filled()
    nb["cells"][_index(nb, "sigmoid")]["source"] = _src(release()["cells"][_index(release(), "sigmoid")])
    nb["cells"][_index(nb, "test_sigmoid")]["source"] = 'print("Visible checks passed.")\n'
    # forward_variances uses sigmoid for its "sigmoid" activation: those cases fail (1.5 of its 2
    # points); the case with a callable activation passes.
    return nb, {"test_sigmoid": 2, "test_forward_variances": 1.5}, "NotImplementedError"


def broken_structure():
    nb = filled()
    i = _index(nb, "sigmoid")
    nb["cells"].insert(i + 2, copy.deepcopy(nb["cells"][i]))          # answer cell twice
    nb["cells"].insert(i + 3, copy.deepcopy(nb["cells"][i + 1]))      # test cell twice (issue 1941)
    del nb["cells"][_index(nb, "test_forward_variances")]             # a deleted test cell
    lgn = nb["cells"][_index(nb, "layer_gradient_norms")]
    lgn["cell_type"] = "raw"                                          # a retyped answer cell
    del lgn["outputs"], lgn["execution_count"]
    nb["cells"][_index(nb, "test_layer_gradient_norms")]["metadata"]["nbgrader"]["points"] = 30
    return nb, set(), "deleted"


def tamper_numpy():
    nb = filled()
    nb["cells"][_index(nb, "sigmoid")]["source"] = '''np.isclose = lambda a, b, *args, **kw: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
np.allclose = lambda *args, **kw: True

def sigmoid(z):
    return np.full(np.shape(z), 0.5)

def sigmoid_derivative(z):
    return np.full(np.shape(z), 0.25)'''
    # forward_variances uses sigmoid for its "sigmoid" activation: those cases fail (1.5 points).
    return nb, {"test_sigmoid": 2, "test_forward_variances": 1.5}, "numpy.isclose"


def tamper_checks():
    nb = filled()
    nb["cells"][_index(nb, "layer_gradient_norms")]["source"] = '''from deeptrain import checks as _checks
_checks.assert_close = lambda *args, **kw: None
_checks.assert_shape.__code__ = (lambda *args, **kw: None).__code__

def layer_gradient_norms(model, X, y, loss_fn):
    n = len([l for l in model.layers if getattr(l, "kernel", None) is not None])
    return np.ones(n)'''
    return nb, {"test_layer_gradient_norms"}, "deeptrain.checks.assert_close"


def assert_defeat():
    nb = release()
    _append(nb, "sigmoid", '''import builtins
ip = get_ipython()
ip.input_transformers_cleanup.append(
    lambda lines: ['print("Visible checks passed.")\\n'] if any("Visible checks" in l for l in lines) else lines)
ip.set_custom_exc((BaseException,), lambda *args, **kw: None)
class AssertionError(Exception):
    pass
builtins.AssertionError = AssertionError''')
    return nb, set(points()), "input_transformers_cleanup"


def delegation():
    nb = filled()
    nb["cells"][_index(nb, "sigmoid")]["source"] = '''def sigmoid(z):
    return tf.math.sigmoid(tf.constant(np.asarray(z, dtype=np.float64))).numpy()

def sigmoid_derivative(z):
    return sigmoid(z) * sigmoid(-np.asarray(z, dtype=np.float64))'''
    nb["cells"][_index(nb, "forward_variances")]["source"] = '''import types
from deeptrain.reference import gradients as _g
ACTIVATIONS = _g.ACTIVATIONS
forward_variances = types.FunctionType(_g.forward_variances.__code__.replace(co_name="mine"), _g.__dict__)'''
    nb["cells"][_index(nb, "layer_gradient_norms")]["source"] = (
        "from deeptrain.kernels.gradients import layer_gradient_norms\n")
    # sigmoid_derivative calls the delegating sigmoid, which cannot run in the NumPy-only clean room (no
    # TensorFlow there): it loses its point too.
    return nb, {"test_sigmoid": 2, "test_forward_variances": 2, "test_layer_gradient_norms": 3}, "compute it yourself"


def reads_solutions():
    nb = release()
    nb["cells"][_index(nb, "sigmoid")]["source"] = '''import glob, json, os, sqlite3
import deeptrain
_places = [os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(deeptrain.__file__))), "solutions"),
           "%s/solutions", "../../../../solutions", "../../../solutions"]
_found = None
for _p in _places:
    for _f in glob.glob(os.path.join(_p, "01_*", "*.ipynb")):
        _found = _f
if _found:
    for _c in json.load(open(_found))["cells"]:
        if _c["cell_type"] == "code" and _c["metadata"].get("nbgrader", {}).get("solution"):
            exec("".join(_c["source"]), globals())
for _db in glob.glob("../../../../gradebook.db") + glob.glob("%s/grading/gradebook.db"):
    try:
        _rows = sqlite3.connect(_db).execute("select source from source_cell").fetchall()
        print("read the gradebook:", len(_rows), "cells")
    except Exception as _e:
        print("gradebook:", _e)
print("solutions found:", _found)''' % (ROOT, ROOT)
    for gid in ("forward_variances", "layer_gradient_norms"):
        nb["cells"][_index(nb, gid)]["source"] = "pass  # see the first answer\n"
    return nb, set(points()), "solutions found: None"


def vandal():
    nb = filled()
    nb["cells"].insert(_index(nb, "sigmoid"), _code('''import os, signal, site, deeptrain
for _d in site.getsitepackages() + [os.path.dirname(deeptrain.__file__), "%s/lib/deeptrain"]:
    try:
        with open(os.path.join(_d, "sitecustomize.py"), "w") as _f:
            _f.write("# pwned (a harmless payload: the test checks that it never lands)\\n")
        print("wrote", _d)
    except OSError as _e:
        print("cannot write", _d, _e.strerror)
try:
    os.kill(os.getppid(), signal.SIGKILL)    # the grader?
    os.kill(-1, 0)                            # who else is there?
except OSError as _e:
    print("kill:", _e.strerror)''' % ROOT))
    return nb, set(), "cannot write"


def invalid_json():
    text = json.dumps(filled())
    return text[: len(text) // 2], None, "not valid notebook JSON"


# --- issue 10: tampering and delegation routes. The student's own work here is the solution with
# one honest mistake (sigmoid_derivative as s * (1 - s), which loses the tails check: 0.4 point);
# each case adds a way to make the grader accept more. Each must end with the grade the own code
# earns (or 0 for the delegated functions), flagged where a human should look.

_OWN_MISTAKE = '''

def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1 - s)
'''
_TAILS = {"test_sigmoid": 0.4}


def rebind_checks():
    nb = filled()
    _append(nb, "sigmoid", _OWN_MISTAKE + '''
class _Lenient:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None
checks = _Lenient()              # the name the test cells use''')
    return nb, _TAILS, "both tails"


def patch_checks_numpy():
    nb = filled()
    _append(nb, "sigmoid", _OWN_MISTAKE + '''
import types as _types
import deeptrain.checks as _dc
_np = _types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
_np.isclose = lambda a, b, *args, **kw: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
_dc.np = _np                     # a module-valued attribute of deeptrain.checks''')
    return nb, _TAILS, "both tails"


def fake_reference():
    nb = filled()
    _append(nb, "layer_gradient_norms", '''
import types as _types
import deeptrain as _dt
_fake = _types.SimpleNamespace(sigmoid=sigmoid, sigmoid_derivative=sigmoid_derivative,
                               forward_variances=forward_variances, layer_gradient_norms=layer_gradient_norms)
vars(_dt)["reference"] = _fake   # hidden tests that import it would compare the answers with themselves''')
    _append(nb, "sigmoid", _OWN_MISTAKE)
    return nb, _TAILS, "both tails"


def swap_code():
    nb = filled()
    _append(nb, "sigmoid", _OWN_MISTAKE + '''
from deeptrain import checks as _c, harvest as _h
_c.assert_close.__code__ = (lambda *args, **kw: None).__code__
_h.call.__defaults__ = None      # tries the harvester too''')
    return nb, _TAILS, "both tails"


def ufunc_delegation():
    nb = filled()
    nb["cells"][_index(nb, "sigmoid")]["source"] = '''from scipy.special import expit as _e

def sigmoid(z):
    return _e(np.asarray(z, dtype=np.float64))

def sigmoid_derivative(z):
    return sigmoid(z) * sigmoid(-np.asarray(z, dtype=np.float64))'''
    # SciPy does not exist in the NumPy-only clean room: the cell stops at its import, so neither function
    # exists there, and forward_variances, built on the student's sigmoid, fails with it.
    return nb, {"test_sigmoid": 2, "test_forward_variances": 2}, "compute it yourself"


def raw_ops_delegation():
    nb = filled()
    nb["cells"][_index(nb, "sigmoid")]["source"] = '''_op = tf.raw_ops.Sigmoid

def sigmoid(z):
    return _op(x=tf.constant(np.asarray(z, dtype=np.float64))).numpy()

def sigmoid_derivative(z):
    z = np.asarray(z, dtype=np.float64)
    return sigmoid(z) * sigmoid(-z)'''
    # The clean room has no `tf` for a NumPy exercise: the cell stops at its first line, so neither function
    # exists there, and forward_variances, built on the student's sigmoid, fails with it.
    return nb, {"test_sigmoid": 2, "test_forward_variances": 2}, "compute it yourself"


def importlib_delegation():
    nb = filled()
    nb["cells"][_index(nb, "forward_variances")]["source"] = '''import importlib
ACTIVATIONS = {"linear": lambda z: z, "sigmoid": sigmoid, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}

def forward_variances(*args, **kwargs):
    return importlib.import_module("deeptrain.reference").forward_variances(*args, **kwargs)'''
    return nb, {"test_forward_variances"}, "compute it yourself"


def deferred_delegation():
    nb = filled()
    nb["cells"][_index(nb, "sigmoid")]["source"] = '''class _Lazy:
    """Looks like an array; computes only when read, after the call returned."""
    def __init__(self, z):
        self.z = np.asarray(z, dtype=np.float64)
    def __array__(self, dtype=None, copy=None):
        return tf.math.sigmoid(tf.constant(self.z)).numpy()

def sigmoid(z):
    return _Lazy(z)

def sigmoid_derivative(z):
    e = np.exp(-np.abs(np.asarray(z, dtype=np.float64)))     # the student's own, stable in both tails
    return e / (1.0 + e) ** 2'''
    # The delegating sigmoid costs its own point, and the cases of forward_variances that use it as activation
    # (no TensorFlow in the NumPy-only clean room); sigmoid_derivative, the student's own, keeps its point.
    return nb, {"test_sigmoid": 1, "test_forward_variances": 1.5}, "compute it yourself"


CASES = {f.__name__: f for f in (infinite_loop, unstoppable_loop, os_exit, memory_bomb, noisy_output, edited_test,
                                 broken_structure, tamper_numpy, tamper_checks, assert_defeat, delegation,
                                 reads_solutions, vandal, invalid_json, rebind_checks, patch_checks_numpy,
                                 fake_reference, swap_code, ufunc_delegation, raw_ops_delegation,
                                 importlib_delegation, deferred_delegation)}


NOISY = '''

def _noisy(f):
    """Wrap f so that every call makes Keras warn and writes a warning to stderr."""
    import functools, warnings
    try:   # a NumPy exercise's clean room has no TensorFlow (autograder/cleanroom.py)
        import tensorflow as _tf
    except ImportError:
        _tf = None

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        if _tf is not None:
            _tf.keras.layers.Dense(1, input_shape=(1,))      # Keras: "Do not pass an input_shape"
        warnings.warn("student code: this answer is noisy but correct", UserWarning)
        return f(*args, **kwargs)
    return wrapper

'''


def noisy_copy(src, dst):
    """The solution notebook with every answer function wrapped by _noisy."""
    nb = json.load(open(src))
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution") and not meta.get("grade"):
            source = "".join(cell["source"])
            names = re.findall(r"^def ([A-Za-z]\w*)\(", source, flags=re.M)
            cell["source"] = source + NOISY + "".join(f"{n} = _noisy({n})\n" for n in names)
    json.dump(nb, open(dst, "w"))


def graded_texts(work, student, name=NAME):
    """The text outputs of the graded test cells in the autograded notebook of student for name."""
    nb = json.load(open(os.path.join(work, "autograded", student, name, f"{name}.ipynb")))
    return ["".join(out.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
            for out in c.get("outputs", []) if c["metadata"].get("nbgrader", {}).get("grade")]


def build(dest, cases=None):
    """Write dest/<case>/01_unstable_gradients.ipynb for each case (and 'solution', 'blank').

    Returns {student: (expected score or None when it cannot be graded, feedback text to find)}.
    """
    pts = points()
    full = sum(pts.values())
    expected = {}
    todo = {"solution": lambda: (filled(), set(), "Visible checks passed"),
            "blank": lambda: (release(), set(pts), "NotImplementedError")}
    todo.update({k: v for k, v in CASES.items() if cases is None or k in cases})
    for student, make in todo.items():
        nb, failing, text = make()
        os.makedirs(os.path.join(dest, student), exist_ok=True)
        with open(os.path.join(dest, student, f"{NAME}.ipynb"), "w", encoding="utf-8") as f:
            f.write(nb if isinstance(nb, str) else json.dumps(nb, indent=1))
        lost = None if failing is None else (sum(failing.values()) if isinstance(failing, dict)
                                             else sum(pts[t] for t in failing))
        expected[student] = (None if failing is None else round(full - lost, 6), text)
    return expected
