"""Calling a student's function on one case and describing what happened, as JSON.

Used by the clean room (``autograder/room.py``, a fresh sandboxed process that runs only the
submission's answer cells) and by the grader's process, which runs ``deeptrain.reference`` on the
same inputs (``autograder/cases``). ``call`` returns a record: the returned value (arrays as base64
float64 with dtype and shape, never pickle), the exception if one was raised, whether the inputs
were changed in place, the warnings emitted. Nothing here decides a grade.

Every function of the standard library, NumPy and builtins this module relies on is bound here
when it is imported, before any student code runs: a student's answer cell that replaces
``json.dumps``, ``copy.deepcopy``, ``np.asarray``, ``np.array_equal``, ``warnings.catch_warnings``
or ``builtins.isinstance`` changes nothing here (reaching this module's own names is tampering
with the grader's code, which the static scan flags).
"""
import base64
import builtins
import copy
import json
import time
import traceback
import warnings

import numpy as np

MIME = "application/vnd.deeptrain.results+json"
MAX_ELEMENTS = 200_000      # per array; larger results are summarised, not sent
MAX_ITEMS = 5000            # per list or dict

# Bound once, at import (see the module's docstring).
_isinstance, _type, _str, _bool, _int, _len, _list, _dict, _zip, _enumerate, _any, _all, _repr = (
    builtins.isinstance, builtins.type, builtins.str, builtins.bool, builtins.int, builtins.len, builtins.list,
    builtins.dict, builtins.zip, builtins.enumerate, builtins.any, builtins.all, builtins.repr)
_Exception = builtins.Exception
_asarray, _ascontiguousarray, _array_equal, _shape = np.asarray, np.ascontiguousarray, np.array_equal, np.shape
_ndarray, _generic, _bool_, _errstate = np.ndarray, np.generic, np.bool_, np.errstate
_b64encode, _b64decode, _deepcopy, _perf = base64.b64encode, base64.b64decode, copy.deepcopy, time.perf_counter
_catch_warnings, _simplefilter, _extract_tb = warnings.catch_warnings, warnings.simplefilter, traceback.extract_tb
_tobytes = np.ndarray.tobytes


# --- encoding -----------------------------------------------------------------------------

def encode(x, _depth=0):
    """A JSON-able description of x: arrays as base64 float64 with dtype and shape."""
    if _depth > 6:
        return {"type": _type(x).__name__, "note": "nested too deeply"}
    if x is None:
        return None
    if _isinstance(x, (_bool, _bool_)):
        return {"bool": _bool(x)}
    if _isinstance(x, _str):
        return {"str": _str.__str__(x)[:2000]}
    if _isinstance(x, _dict):
        return {"dict": {_str(k): encode(v, _depth + 1) for k, v in _list(_dict.items(x))[:MAX_ITEMS]},
                "type": _type(x).__name__}
    if _isinstance(x, (_list, tuple)):
        return {"list": [encode(v, _depth + 1) for v in _list(x)[:MAX_ITEMS]], "type": _type(x).__name__}
    try:
        a = _asarray(x)
    except _Exception as e:  # an object whose conversion fails
        return {"type": _type(x).__name__, "error": f"{_type(e).__name__}: {e}"[:500]}
    if a.dtype.kind not in "biuf":
        return {"type": _type(x).__name__, "dtype": _str(a.dtype)}
    if a.size > MAX_ELEMENTS:
        return {"type": _type(x).__name__, "dtype": _str(a.dtype), "shape": _list(a.shape), "note": "too large"}
    data = _ascontiguousarray(a, dtype="<f8")
    return {"array": _b64encode(_tobytes(data)).decode("ascii"), "shape": [_int(n) for n in a.shape],
            "dtype": _str(a.dtype), "type": _type(x).__name__}


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
    if _isinstance(a, _dict) or _isinstance(b, _dict):
        return (_isinstance(a, _dict) and _isinstance(b, _dict) and _dict.keys(a) == _dict.keys(b)
                and _all(_same(a[k], b[k]) for k in a))
    if _isinstance(a, (_list, tuple)) or _isinstance(b, (_list, tuple)):
        return (_isinstance(a, (_list, tuple)) and _isinstance(b, (_list, tuple)) and _len(a) == _len(b)
                and _all(_same(x, y) for x, y in _zip(a, b)))
    if _isinstance(a, _ndarray) or _isinstance(b, _ndarray):
        try:
            return _shape(a) == _shape(b) and _bool(_array_equal(a, b, equal_nan=True))
        except TypeError:
            return False
    try:
        return _bool(a == b) or (a != a and b != b)
    except _Exception:
        return a is b


_NOT_TRACKED = object()


def _snapshot(x):
    """A deep copy of plain data (arrays, numbers, lists, dicts); other objects (a Keras model)
    are not tracked for changes."""
    plain = (_ndarray, _generic, _int, float, complex, _bool, _str, bytes, _type(None), _list, tuple, _dict)
    if not _isinstance(x, plain):
        return _NOT_TRACKED
    if _isinstance(x, (_list, tuple, _dict)):
        items = _dict.values(x) if _isinstance(x, _dict) else x
        if _any(_snapshot(v) is _NOT_TRACKED for v in items):
            return _NOT_TRACKED
    try:
        return _deepcopy(x)
    except _Exception:
        return _NOT_TRACKED


def call(fn, *args, **kwargs):
    """Call fn(*args, **kwargs) and describe what happened (a JSON-able dict).

    Keys: "out" (encoded return value), "error" ("Type: message"), "mutated" (indices or
    names of arguments changed in place), "warnings" (up to 5 "Category: message"), and
    "seconds". Returns (record, value) where value is the raw return (None on error).
    """
    snapshot_args = [_snapshot(a) for a in args]
    snapshot_kw = {k: _snapshot(v) for k, v in _dict.items(kwargs)}
    record = {"out": None, "error": None, "mutated": [], "warnings": []}
    value = None
    start = _perf()
    with _catch_warnings(record=True) as caught:
        _simplefilter("always")
        with _errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
            try:
                value = fn(*args, **kwargs)
            except _Exception as e:  # the student's error is a result like any other
                tb = _extract_tb(e.__traceback__)
                where = f" (line {tb[-1].lineno})" if tb else ""
                record["error"] = f"{_type(e).__name__}: {e}"[:600] + where
    record["seconds"] = _perf() - start
    record["warnings"] = [f"{w.category.__name__}: {w.message}"[:300] for w in _list(caught)[:5]]
    for i, (a, s) in _enumerate(_zip(args, snapshot_args)):
        if s is not _NOT_TRACKED and not _same(a, s):
            record["mutated"].append(i)
    for k, s in _dict.items(snapshot_kw):
        if s is not _NOT_TRACKED and not _same(kwargs[k], s):
            record["mutated"].append(k)
    if record["error"] is None:
        try:
            record["out"] = encode(value)
        except _Exception as e:
            record["error"] = f"the returned value could not be read: {_type(e).__name__}: {e}"[:600]
    return record, value


# --- entry points -------------------------------------------------------------------------

def run(exercise, functions):
    """Results of one exercise: {function: {case: record}} (the grader's side; see autograder/cases)."""
    from autograder import cases
    return cases.run(exercise, functions)


def collect(exercise, namespace=None, **functions):
    """Does nothing; kept so that the test cells of released notebooks stay valid.

    Test cells start with a hidden ``collect("NN.exercise", globals())``. The grader reads nothing
    from the student's kernel: it runs the submission's answer cells again in a clean room of its
    own (``autograder/cleanroom.py``) on inputs drawn from a secret, and judges what comes back.
    The line only marks the test cell that holds an exercise's verdict.
    """
    return None
