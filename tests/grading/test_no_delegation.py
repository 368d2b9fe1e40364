"""The delegation guard (deeptrain.checks.no_delegation) catches calls and copies, not students.

Fast: no notebook runs. The oracle is deeptrain.reference.gradients.sigmoid, a documented
reference function, and the student stand-ins below.
"""
import importlib
import inspect
import json
import os
import pkgutil
import sys
import threading
import types

import numpy as np
import pytest

from autograder import assignments
from deeptrain import checks, reference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
Z = np.linspace(-3, 3, 7)
TARGETS = ("deeptrain.reference", "deeptrain.kernels")


def own_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def guarded(fn):
    """Run fn(Z) under the guard; the DelegationError message, or None when it passes."""
    try:
        with checks.no_delegation(*TARGETS, what="sigmoid"):
            fn(Z)
    except checks.DelegationError as e:
        return str(e)
    return None


def test_own_implementation_passes_the_guard():
    assert guarded(own_sigmoid) is None


def test_calling_the_reference_through_an_alias_is_caught():
    from deeptrain.reference import sigmoid as s
    assert "called deeptrain.reference" in guarded(s)


def test_exec_of_the_reference_source_is_caught_as_a_copy():
    ns = {"np": np}
    exec(inspect.getsource(reference.gradients.sigmoid), ns)
    assert "a copy of deeptrain.reference" in guarded(ns["sigmoid"])


def test_a_renamed_code_object_of_the_reference_is_caught_as_a_copy():
    copy = types.FunctionType(reference.sigmoid.__code__.replace(co_name="mine"), {"np": np})
    assert "a copy of deeptrain.reference" in guarded(copy)


def test_calling_the_reference_from_another_thread_is_caught():
    def threaded(z):
        out = []
        t = threading.Thread(target=lambda: out.append(reference.sigmoid(z)))
        t.start()
        t.join()
        return out[0]
    assert "called deeptrain.reference" in guarded(threaded)


def test_switching_the_profiler_off_inside_the_block_is_caught():
    def sneaky(z):
        hook = sys.getprofile()
        sys.setprofile(None)
        try:
            return reference.sigmoid(z)
        finally:
            sys.setprofile(hook)
    assert "switched off" in guarded(sneaky)


def test_nested_guards_restore_each_other():
    def inner_guard(z):
        with checks.no_delegation("numpy:exp", what="inner"):
            pass
        return own_sigmoid(z)
    assert guarded(inner_guard) is None
    assert sys.getprofile() is None


def test_undocumented_one_liner_equal_to_a_library_helper_is_not_a_copy():
    # reference.gradients has an undocumented `_relu`; a student's identical lambda is their own.
    mine = lambda z: np.maximum(z, 0.0)  # noqa: E731
    try:
        with checks.no_delegation("deeptrain.reference", what="relu"):
            mine(Z)
    except checks.DelegationError as e:  # pragma: no cover - the failure message is the point
        pytest.fail(str(e))


def _library_fingerprints():
    out = {}
    packages = [importlib.import_module("deeptrain.reference")]
    kernels = importlib.import_module("deeptrain.kernels")
    for info in pkgutil.iter_modules(kernels.__path__):
        try:
            packages.append(importlib.import_module(f"deeptrain.kernels.{info.name}"))
        except Exception:  # a topic still being written; the reference is what grading uses
            pass
    for mod in packages:
        codes, _ = checks._code_objects(mod)
        for code in codes:
            doc = checks._quick_key(code)[-1]
            if doc and len(doc) >= 20:
                out[checks._fingerprint(code)] = f"{mod.__name__}:{code.co_name}"
    return out


def _walk(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _walk(const)


@pytest.mark.parametrize("name", assignments())
def test_no_solution_answer_looks_like_a_copy_of_the_library(name):
    """A solution function with a library function's fingerprint would score 0 as a 'copy'."""
    path = os.path.join(ROOT, "solutions", name, f"{name}.ipynb")
    library = _library_fingerprints()
    nb = json.load(open(path, encoding="utf-8"))
    clashes = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or not cell["metadata"].get("nbgrader", {}).get("solution"):
            continue
        try:
            top = compile("".join(cell["source"]), "cell", "exec")
        except SyntaxError:
            continue
        for code in _walk(top):
            fp = checks._fingerprint(code)
            if code.co_name != "<module>" and fp in library:
                clashes.append(f"{code.co_name} == {library[fp]}")
    assert not clashes, f"{os.path.basename(path)}: answers identical to the library: {clashes}"
