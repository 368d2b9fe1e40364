"""Kernel side of grading: run the student's functions on the test inputs and hand over results.

During autograding, each test cell starts with a hidden part such as

    from deeptrain.harvest import collect
    collect("07.adam_adamw", globals())

It builds the exercise's inputs from fixed seeds (``deeptrain.harvest_cases``), calls the
student's functions on them, and displays what came back as one output of the private
mimetype ``MIME``: a JSON document with, per function and per case, the returned value (arrays
as base64 float64, never pickle), the original dtype and shape, the exception if one was
raised, whether the inputs were changed in place, and the warnings emitted.

Nothing here decides a grade, and nothing here imports ``deeptrain.reference`` (it is not in
the grading kernel's library). The grader rebuilds the same inputs in its own process, runs
``deeptrain.reference`` on them, and judges (``autograder/verdicts``). Whatever the kernel
changes here can only change what the grader receives, never how it judges.
"""
import base64
import copy
import json
import time
import traceback
import warnings

import numpy as np

MIME = "application/vnd.deeptrain.results+json"
MAX_ELEMENTS = 200_000      # per array; larger results are summarised, not sent
MAX_ITEMS = 5000            # per list or dict


# --- encoding -----------------------------------------------------------------------------

def encode(x, _depth=0):
    """A JSON-able description of x: arrays as base64 float64 with dtype and shape."""
    if _depth > 6:
        return {"type": type(x).__name__, "note": "nested too deeply"}
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return {"bool": bool(x)}
    if isinstance(x, str):
        return {"str": x[:2000]}
    if isinstance(x, dict):
        return {"dict": {str(k): encode(v, _depth + 1) for k, v in list(x.items())[:MAX_ITEMS]},
                "type": type(x).__name__}
    if isinstance(x, (list, tuple)):
        return {"list": [encode(v, _depth + 1) for v in list(x)[:MAX_ITEMS]], "type": type(x).__name__}
    try:
        a = np.asarray(x)
    except Exception as e:  # an object whose conversion fails
        return {"type": type(x).__name__, "error": f"{type(e).__name__}: {e}"[:500]}
    if a.dtype.kind not in "biuf":
        return {"type": type(x).__name__, "dtype": str(a.dtype)}
    if a.size > MAX_ELEMENTS:
        return {"type": type(x).__name__, "dtype": str(a.dtype), "shape": list(a.shape), "note": "too large"}
    data = np.ascontiguousarray(a, dtype="<f8")
    return {"array": base64.b64encode(data.tobytes()).decode("ascii"), "shape": list(a.shape),
            "dtype": str(a.dtype), "type": type(x).__name__}


def decode(v):
    """The inverse of encode for arrays, lists and dicts (other objects stay descriptions)."""
    if v is None:
        return None
    if not isinstance(v, dict):
        raise ValueError(f"not an encoded value: {type(v).__name__}")
    if "array" in v:
        raw = base64.b64decode(v["array"].encode("ascii"), validate=True)
        a = np.frombuffer(raw, dtype="<f8").astype(np.float64)
        return a.reshape(tuple(int(n) for n in v["shape"]))
    if "list" in v:
        return [decode(x) for x in v["list"]]
    if "dict" in v:
        return {k: decode(x) for k, x in v["dict"].items()}
    if "bool" in v:
        return bool(v["bool"])
    if "str" in v:
        return str(v["str"])
    return Opaque(v)


class Opaque:
    """A returned object that is no number, array, list or dict (its description)."""

    def __init__(self, info):
        self.info = info

    def __repr__(self):
        return f"<{self.info.get('type', 'object')}>"


# --- calling a function on one case -------------------------------------------------------

def _same(a, b):
    """True when b (a snapshot) still equals a, for arrays, lists, dicts and scalars."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b, equal_nan=True))
        except TypeError:
            return False
    try:
        return bool(a == b) or (a != a and b != b)
    except Exception:
        return a is b


_NOT_TRACKED = object()


def _snapshot(x):
    """A deep copy of plain data (arrays, numbers, lists, dicts); other objects (a Keras model)
    are not tracked for changes."""
    plain = (np.ndarray, np.generic, int, float, complex, bool, str, bytes, type(None), list, tuple, dict)
    if not isinstance(x, plain):
        return _NOT_TRACKED
    if isinstance(x, (list, tuple, dict)):
        items = x.values() if isinstance(x, dict) else x
        if any(_snapshot(v) is _NOT_TRACKED for v in items):
            return _NOT_TRACKED
    try:
        return copy.deepcopy(x)
    except Exception:
        return _NOT_TRACKED


def call(fn, *args, **kwargs):
    """Call fn(*args, **kwargs) and describe what happened (a JSON-able dict).

    Keys: "out" (encoded return value), "error" ("Type: message"), "mutated" (indices or
    names of arguments changed in place), "warnings" (up to 5 "Category: message"), and
    "seconds". Returns (record, value) where value is the raw return (None on error).
    """
    snapshot_args = [_snapshot(a) for a in args]
    snapshot_kw = {k: _snapshot(v) for k, v in kwargs.items()}
    record = {"out": None, "error": None, "mutated": [], "warnings": []}
    value = None
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
            try:
                value = fn(*args, **kwargs)
            except Exception as e:  # the student's error is a result like any other
                tb = traceback.extract_tb(e.__traceback__)
                where = f" (line {tb[-1].lineno})" if tb else ""
                record["error"] = f"{type(e).__name__}: {e}"[:600] + where
    record["seconds"] = time.perf_counter() - start
    record["warnings"] = [f"{w.category.__name__}: {w.message}"[:300] for w in caught[:5]]
    for i, (a, s) in enumerate(zip(args, snapshot_args)):
        if s is not _NOT_TRACKED and not _same(a, s):
            record["mutated"].append(i)
    for k, s in snapshot_kw.items():
        if s is not _NOT_TRACKED and not _same(kwargs[k], s):
            record["mutated"].append(k)
    if record["error"] is None:
        try:
            record["out"] = encode(value)
        except Exception as e:
            record["error"] = f"the returned value could not be read: {type(e).__name__}: {e}"[:600]
    return record, value


# --- entry points -------------------------------------------------------------------------

def run(exercise, functions):
    """Results of one exercise: {function: {case: record}} (the grader's side; see autograder/cases)."""
    from autograder import cases
    return cases.run(exercise, functions)


def collect(exercise, namespace=None, **functions):
    """Run the student's functions on the exercise's cases and display the results for the grader
    (in the kernel; transitional: the cases are the old fixed ones of deeptrain.harvest_cases)."""
    from . import harvest_cases
    names = harvest_cases.EXERCISES[exercise].functions
    found = {name: value for name, value in dict(namespace or {}).items() if name in names}
    found.update(functions)
    spec = harvest_cases.EXERCISES[exercise]
    results = {}
    for name in spec.functions:
        fn = found.get(name)
        if fn is None or not callable(fn):
            results[name] = {"__missing__": {"error": f"NameError: {name} is not defined (or not a function)",
                                              "out": None, "mutated": [], "warnings": []}}
            continue
        try:
            results[name] = spec.functions[name](fn, found)
        except Exception as e:
            results[name] = {"__runner__": {"error": f"{type(e).__name__}: {e}"[:600], "out": None,
                                            "mutated": [], "warnings": []}}
    payload = json.dumps({"exercise": exercise, "version": 1, "results": results})
    try:
        from IPython.display import display
        display({MIME: payload, "text/plain": f"[results of {exercise} handed to the grader]"}, raw=True)
    except ImportError:
        print(payload)
    return None
