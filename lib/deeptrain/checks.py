"""Student-facing checks: clear failure messages, a numeric gradient check, and a
delegation guard (``no_delegation``) for notebooks and demos.

The hidden tests no longer run in the student's kernel: it only hands results over
(``deeptrain.harvest``) and the grader judges them in its own process (``autograder/verdicts``),
where delegation is found by reading the student's code. Nothing here decides a grade.

Nothing here imports ``deeptrain.reference`` (it is not in the student bundle) or
TensorFlow (the guard resolves TensorFlow names only when asked to).
"""
import contextlib
import importlib
import inspect
import sys
import types

import numpy as np

__all__ = ["assert_close", "assert_shape", "numeric_gradient", "relative_error",
           "assert_gradient_matches", "no_delegation", "DelegationError"]


def _describe(x):
    a = np.asarray(x)
    return f"shape {a.shape}, dtype {a.dtype}"


def assert_shape(actual, shape, name="result"):
    """Fail with a message naming the expected and returned shapes."""
    got = np.shape(actual)
    if tuple(got) != tuple(shape):
        raise AssertionError(f"{name}: expected shape {tuple(shape)}, got {tuple(got)}")


def assert_close(actual, expected, rtol=1e-7, atol=0.0, name="result"):
    """Like ``np.testing.assert_allclose``, with a message a student can act on.

    Says what was expected and what came back: shapes, dtypes, how many entries differ,
    and the first differing entry with both values.
    """
    if actual is None:
        raise AssertionError(f"{name}: your function returned None (did you forget `return`?)")
    try:
        a = np.asarray(actual, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{name}: expected an array of numbers, got {type(actual).__name__}") from None
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{name}: expected {_describe(expected)}, got {_describe(actual)}")
    if np.isnan(a).any() and not np.isnan(e).any():
        first = tuple(int(i) for i in np.argwhere(np.isnan(a))[0])
        raise AssertionError(f"{name}: got NaN at index {first} (expected {e[first]:.10g}); "
                             "look for an overflow or a division by zero")
    bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at index {first}" if a.ndim else ""
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {a.size} values differ (rtol={rtol:g}, atol={atol:g}); "
            f"first{where}: expected {e[first]:.10g}, got {a[first]:.10g}")


def numeric_gradient(f, x, eps=1e-6):
    """Central-difference gradient of a scalar function f at x (float64 array of any shape).

    Returns an array of x's shape: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for each i.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        f_plus = float(f(x))
        flat[i] = old - eps
        f_minus = float(f(x))
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """max |a - b| / max(|a| + |b|, tiny): the gradient-check measure (CS231n style)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)))


def assert_gradient_matches(analytic, numeric, tol=1e-7, name="gradient"):
    """Fail unless the analytic and numeric gradients agree to a relative error below tol."""
    assert_shape(analytic, np.shape(numeric), name)
    err = relative_error(analytic, numeric)
    if err > tol:
        raise AssertionError(f"{name}: relative error {err:.2e} against the numeric gradient "
                             f"(must be below {tol:.0e})")


# --- the delegation guard ---------------------------------------------------------------

class DelegationError(AssertionError):
    """The student's function called the implementation it was asked to write."""


def _resolve(target):
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        try:
            obj = importlib.import_module(module_name)
        except ImportError:
            module_path, _, last = module_name.rpartition(".")
            obj = getattr(importlib.import_module(module_path), last)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
        return obj
    return target


def _code_objects(obj, seen=None):
    """Code objects of a function (and what it wraps), or of every function in a module tree."""
    seen = set() if seen is None else seen
    codes, builtins = set(), set()
    if id(obj) in seen:
        return codes, builtins
    seen.add(id(obj))
    if isinstance(obj, types.ModuleType):
        prefix = obj.__name__
        for name, mod in list(sys.modules.items()):
            if mod is not None and (name == prefix or name.startswith(prefix + ".")):
                for value in list(vars(mod).values()):
                    defined_here = getattr(value, "__module__", None) == name
                    if defined_here and (isinstance(value, types.FunctionType) or inspect.isclass(value)):
                        c, b = _code_objects(value, seen)
                        codes |= c
                        builtins |= b
        return codes, builtins
    if isinstance(obj, (types.BuiltinFunctionType, np.ufunc)):
        builtins.add(obj)
        return codes, builtins
    if inspect.isclass(obj):
        for value in vars(obj).values():
            if isinstance(value, (types.FunctionType, staticmethod, classmethod)):
                c, b = _code_objects(getattr(value, "__func__", value), seen)
                codes |= c
                builtins |= b
        return codes, builtins
    func = getattr(obj, "__func__", obj)
    wrapped = False
    for attr in ("__wrapped__", "python_function", "_python_function"):
        inner = getattr(func, attr, None)
        if inner is not None and inner is not func:
            c, b = _code_objects(inner, seen)
            codes |= c
            builtins |= b
            wrapped = True
    # A decorator's wrapper code (TensorFlow's dispatch and traceback wrappers, Keras'
    # tracking wrapper) is shared by every function it decorates: watching it would flag
    # tf.exp as a call to tf.math.sigmoid. Watch the wrapped function only.
    code = getattr(func, "__code__", None)
    if code is not None and not wrapped:
        codes.add(code)
    return codes, builtins


def _label(target):
    if isinstance(target, str):
        return target
    return getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target))


_SKIP_OPS = {"CACHE", "PRECALL", "PUSH_NULL", "KW_NAMES", "NOP", "RESUME", "EXTENDED_ARG", "COPY_FREE_VARS",
             "MAKE_CELL"}


def _quick_key(code):
    """Names, local names, argument counts and docstring: equal for a function and its copies."""
    doc = code.co_consts[0] if code.co_consts and isinstance(code.co_consts[0], str) else None
    return (code.co_names, code.co_varnames, code.co_argcount, code.co_kwonlyargcount, doc)


def _fingerprint(code):
    """What a copy of a function keeps: its instructions and constants (the docstring too).

    Not its name, file or line numbers: ``exec(inspect.getsource(f))`` or
    ``f.__code__.replace(co_name=...)`` give a new code object with the same fingerprint.
    Instructions are compared by name and argument, not as raw bytes: the same source compiles
    to slightly different bytes in a module and alone (method-call and cache details).
    """
    import dis
    ops = []
    for ins in dis.get_instructions(code):
        if ins.opname in _SKIP_OPS:
            continue
        op = "LOAD_ATTR" if ins.opname == "LOAD_METHOD" else ins.opname
        if "JUMP" in op or op in ("FOR_ITER", "SEND"):
            ops.append((op,))
        elif isinstance(ins.argval, types.CodeType):
            ops.append((op, _fingerprint(ins.argval)))
        else:
            ops.append((op, type(ins.argval).__name__, repr(ins.argval)))
    return _quick_key(code), tuple(ops)


# sys.setprofile raises an audit event: a guard that is switched off inside its block notices.
_GUARDS = []
_AUDIT_INSTALLED = []


class _GuardState:
    def __init__(self, thread):
        self.thread, self.internal, self.tampered = thread, False, False


def _audit(event, args):
    if event == "sys.setprofile" and _GUARDS:
        import threading
        state = _GUARDS[-1]
        if not state.internal and threading.get_ident() == state.thread:
            state.tampered = True


def _set_profile(state, func):
    state.internal = True
    try:
        sys.setprofile(func)
    finally:
        state.internal = False


@contextlib.contextmanager
def no_delegation(*targets, what="your function"):
    """Fail if code run inside the block calls any of ``targets``, or a copy of one.

    targets: functions, classes, modules (every function in the module and its submodules),
    or import strings such as ``"deeptrain.reference"`` or ``"tensorflow.math:sigmoid"``.
    Works on aliases too (``from deeptrain.reference import sigmoid as s``), because it
    watches which code runs (``sys.setprofile``, in threads started inside the block too)
    rather than replacing names; and on copies of documented functions
    (``exec(inspect.getsource(f))``, ``types.FunctionType(f.__code__.replace(...), ...)``),
    because it also compares the instructions, constants (docstring included) and names of the
    code that runs with the targets'. Undocumented one-liners are matched by identity only: a
    student's ``lambda z: np.maximum(z, 0.0)`` may well equal a library's.
    Raises DelegationError after the block when a forbidden function ran, or when code inside
    the block switched the check off (``sys.setprofile``).
    """
    import threading

    codes, builtins, labels = set(), set(), {}
    for target in targets:
        try:
            obj = _resolve(target)
        except (ImportError, AttributeError):
            continue  # a library that is not installed cannot be delegated to
        c, b = _code_objects(obj)
        for code in c:
            labels[code] = _label(target)
        for fn in b:
            labels[id(fn)] = _label(target)
        codes |= c
        builtins |= {id(fn) for fn in b}
    fingerprints, quick = {}, set()
    for code in codes:
        if _quick_key(code)[-1] is None or len(_quick_key(code)[-1]) < 20:
            continue  # copies are recognised by the docstring they keep: a bare lambda may be anyone's
        try:
            fingerprints.setdefault(_fingerprint(code), labels[code])
            quick.add(_quick_key(code))
        except Exception:  # an exotic constant: identity matching still applies
            pass
    seen = {}   # id(code) -> (code, label or None): each code object is examined once
    called = []

    def match(code):
        hit = seen.get(id(code))
        if hit is None or hit[0] is not code:
            label = labels.get(code) if code in codes else None
            if label is None and _quick_key(code) in quick:
                try:
                    label = fingerprints.get(_fingerprint(code))
                except Exception:
                    label = None
                if label is not None:
                    label = f"a copy of {label}"
            hit = seen[id(code)] = (code, label)
        return hit[1]

    def profiler(frame, event, arg):
        if event == "call":
            label = match(frame.f_code)
            if label is not None:
                called.append(label)
        elif event == "c_call" and id(arg) in builtins:
            called.append(labels[id(arg)])

    if not _AUDIT_INSTALLED:
        sys.addaudithook(_audit)
        _AUDIT_INSTALLED.append(True)
    state = _GuardState(threading.get_ident())
    _GUARDS.append(state)
    previous = sys.getprofile()
    previous_threads = getattr(threading, "_profile_hook", None)
    threading.setprofile(profiler)
    _set_profile(state, profiler)
    try:
        yield
    finally:
        still_on = sys.getprofile() is profiler
        _set_profile(state, previous)
        threading.setprofile(previous_threads)
        for i in range(len(_GUARDS) - 1, -1, -1):
            if _GUARDS[i] is state:
                del _GUARDS[i]
                break
    if state.tampered or not still_on:
        raise DelegationError(f"while {what} ran, the delegation check was switched off (sys.setprofile): "
                              "graded code must not change the interpreter's profiling hooks")
    if called:
        raise DelegationError(f"{what} called {called[0]}: this exercise asks you to implement "
                              "it yourself, not to call a library version")
