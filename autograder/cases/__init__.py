"""The judged inputs of every autograded exercise, and how each graded function is run on them.

One module per course module (``mNN.py``, beside ``autograder/verdicts/mNN.py``), plus ``keras.py``
(Dense stacks described in NumPy, built in Keras in the clean room). Each module registers its
exercises with ``exercise("NN.name", function=runner, ...)``; a runner is
``runner(fn, functions) -> {case label: record}`` where ``record`` is what ``deeptrain.harvest.call``
returns. ``cases(table)`` makes the usual runner from a table function returning
``[(label, args, kwargs), ...]``.

Used twice, with the same key: in the clean room (``autograder/cleanroom.py``), which runs the
student's functions, and in the grader's process (``autograder/verdicts``), which runs
``deeptrain.reference`` on the same inputs. Nothing here imports ``deeptrain.reference``, and
this package must import with nothing but NumPy and ``harvest.py`` (the clean room of a NumPy
exercise has nothing else).

Random inputs: every random value comes from ``case_rng(*key)``, e.g.
``case_rng("01.sigmoid", "sigmoid", 101)`` (exercise, function or purpose, a seed or a case label).
Without a key (``use_key(None)``: the tests of the tests, the public examples) it is
``np.random.default_rng(seed)`` with the key's last element, so the inputs are fixed and known. In
grading, ``use_key(K)`` with ``K = submission_key(secret, digest)`` (the grading folder's secret,
the submission's answer cells): every draw is then ``default_rng(HMAC(K, key))``, so nobody knows
the inputs before grading, re-grading the same submission draws the same inputs, and a changed
submission draws new ones (inputs a function showed in its feedback are worth nothing for the next
submission). Labels never depend on the key when a check selects the case by its label.
"""
import hashlib
import hmac
import importlib
import pkgutil
from dataclasses import dataclass, field

import numpy as np

try:
    from deeptrain.harvest import call, encode
except ImportError:            # the clean room: harvest.py sits beside this package
    from harvest import call, encode


@dataclass
class Exercise:
    functions: dict = field(default_factory=dict)


EXERCISES = {}
_KEY = {"key": None}


def exercise(name, **runners):
    EXERCISES[name] = Exercise(dict(runners))


# --- the secret-derived random numbers ---------------------------------------------------------

def submission_key(secret, digest):
    """The key of one submission: HMAC(secret, digest of its answer cells) (bytes)."""
    if isinstance(secret, str):
        secret = bytes.fromhex(secret)
    return hmac.new(secret, b"deeptrain-submission\0" + digest.encode(), hashlib.sha256).digest()


def use_key(key):
    """Draw the inputs from key (bytes, hex, or None for the public fixed seeds); returns the old one."""
    old = _KEY["key"]
    _KEY["key"] = bytes.fromhex(key) if isinstance(key, str) else key
    return old


def current_key():
    return _KEY["key"]


def case_rng(*key):
    """A NumPy Generator for one case (or one table of cases): key = (exercise, function, seed or label)."""
    secret = _KEY["key"]
    if secret is None:
        seed = key[-1]
        if not isinstance(seed, (int, np.integer)):
            seed = int.from_bytes(hashlib.sha256(repr(key).encode()).digest()[:8], "little")
        return np.random.default_rng(int(seed))
    digest = hmac.new(secret, repr(tuple(str(k) for k in key)).encode(), hashlib.sha256).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


# --- runners ------------------------------------------------------------------------------------

def isolated(label, thunk, steps=False):
    """Run thunk() (a case's whole work, returning a JSON-able record, or {label: record} when
    steps) in a way chosen by the clean room: in a fresh forked process per case there (no state
    crosses cases: no cache, no memory of earlier calls), in-process elsewhere."""
    return _ISOLATE["run"](label, thunk, steps)


_ISOLATE = {"run": lambda label, thunk, steps: thunk()}


def cases(table):
    """A runner calling fn on each (label, args, kwargs) of table (a function returning the list)."""
    def runner(fn, functions):
        out = {}
        for label, args, kwargs in table():
            out[label] = isolated(label, lambda: call(fn, *args, **kwargs)[0])
        return out
    runner.per_case = True      # the clean room runs each case in a fresh process
    return runner


def trajectory_runner(paths):
    """A runner for optimizer steps: paths() gives (label, theta0, grad_fn, n_steps, hparams).

    Each step feeds the state the function itself returned; records "label, step k" with the
    new theta as output (and whether theta, grad or state were changed in place).
    """
    def one_path(label, theta0, grad_fn, n, hp, fn):
        out = {}
        theta, state = np.array(theta0, dtype=np.float64), None
        for k in range(1, n + 1):
            grad = grad_fn(theta)
            record, value = call(fn, theta, grad, state, **hp)
            if record["error"] is None:
                try:
                    new_theta, state = value
                    theta = np.array(new_theta, dtype=np.float64)
                    record["out"] = {"list": [record["out"]["list"][0]], "type": "theta"}
                    record["state_type"] = type(state).__name__
                except Exception as e:  # not a pair, or theta is not numeric
                    record["error"] = f"could not read (theta, state) from what it returned: {type(e).__name__}: {e}"
                    record["out"] = None
            out[f"{label}, step {k}"] = record
            if record["error"] is not None:
                break
        return out

    def runner(fn, functions):
        out = {}
        for label, theta0, grad_fn, n, hp in paths():
            out.update(isolated(label, lambda: one_path(label, theta0, grad_fn, n, hp, fn), steps=True))
        return out
    runner.per_case = True
    return runner


def run(exercise_id, functions):
    """Results of one exercise: {function: {case: record}}. functions: name -> callable (the
    student's, or the reference in the grader's process)."""
    spec = EXERCISES[exercise_id]
    results = {}
    for name in spec.functions:
        fn = functions.get(name)
        if fn is None or not callable(fn):
            results[name] = {"__missing__": {"error": f"NameError: {name} is not defined (or not a function)",
                                              "out": None, "mutated": [], "warnings": []}}
            continue
        try:
            results[name] = spec.functions[name](fn, functions)
        except Exception as e:  # a runner stopped by an odd return value: what was collected stands
            results[name] = {"__runner__": {"error": f"{type(e).__name__}: {e}"[:600], "out": None,
                                            "mutated": [], "warnings": []}}
    return results


def functions_of(exercise_id):
    return list(EXERCISES[exercise_id].functions)


def _load_all():
    """Import every mNN module of this package (a new module only has to add its file)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("m") and info.name[1:].isdigit():
            importlib.import_module(f"{__name__}.{info.name}")


_load_all()
