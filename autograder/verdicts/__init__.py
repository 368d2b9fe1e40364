"""Hidden tests as plain Python: results from the student's kernel -> points and messages.

The student's kernel only runs the student's functions on the exercise's inputs
(``deeptrain.harvest``) and hands over what came back. Everything that decides a grade is here,
in the grader's own process: the same inputs are rebuilt (``deeptrain.harvest_cases``),
``deeptrain.reference`` is run on them, and each check compares.

One module per notebook (``autograder/verdicts/m01.py`` ...) defines, per test cell, a
``Verdict``: the exercise id, the reference functions, and an ordered list of ``Check``s. A
check belongs to one graded function, is worth some points, and says one thing to the student
when it fails (the rule or the likely mistake), followed by the first case that broke it.
Checks are ordered so that the one naming a mistake comes before the generic comparison.

``judge(verdict, results)`` returns a ``Judgement`` (points earned, messages). pytest runs it
directly against the reference and known-wrong implementations (tests/grading/test_verdicts.py).
"""
import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from deeptrain import harvest
from autograder import cases as harvest_cases


@dataclass
class Check:
    function: str                      # the graded function this check is about
    points: float
    message: str                       # what the student reads: the rule, or the likely mistake
    test: Callable                     # test(got, want) -> list of failure details ("case: what")
    name: str = ""                     # short id used by the test of the tests
    rule: bool = None                  # a rule (dtype, inputs unchanged, no warnings): counts only with a value

    def __post_init__(self):
        if self.rule is None:
            self.rule = self.name in RULES


# Checks of a stated rule rather than of a value. They earn their points only when at least one value
# check of the same function passed: a stub or a constant that happens to return float64 earns nothing.
RULES = {"dtype", "float64", "float", "unchanged", "in_place", "overflow"}


@dataclass
class Verdict:
    exercise: str                      # deeptrain.harvest_cases id, e.g. "07.adam_adamw"
    cell: str                          # grade_id of the notebook's test cell
    reference: dict                    # function name -> reference implementation
    checks: list
    forbidden: dict = field(default_factory=dict)   # function -> names it must not use (delegation)
    scorer: Callable = None            # scorer(verdict, results, delegated) -> Judgement, instead of the checks

    @property
    def functions(self):
        return list(harvest_cases.EXERCISES[self.exercise].functions)

    @property
    def points(self):
        return round(sum(c.points for c in self.checks), 6)

    def function_points(self):
        out = {}
        for c in self.checks:
            out[c.function] = out.get(c.function, 0) + c.points
        return out


@dataclass
class Judgement:
    score: float
    max_score: float
    failures: list                     # (check, detail)
    flagged: list = field(default_factory=list)   # reasons a human should look
    raised_everywhere: dict = field(default_factory=dict)   # function -> its error, when no case returned
    summary: str = ""                  # a line the student reads even with full points (the capstone's accuracy)
    review: list = field(default_factory=list)    # more reasons for a human look (the capstone's wall-clock cap)

    def messages(self):
        lines, said = [], set()
        for check, detail in self.failures:
            if check.function in self.raised_everywhere:
                if check.function not in said:   # one line: the per-check hints would only mislead
                    said.add(check.function)
                    lost = sum(c.points for c, _ in self.failures if c.function == check.function)
                    lines.append(f"{check.function}: raised an error on every case, so no check could pass "
                                 f"[-{lost:g} points]\n    {self.raised_everywhere[check.function]}")
                continue
            lines.append(f"{check.function}: {check.message} [-{check.points:g} point{'s' if check.points != 1 else ''}]"
                         + (f"\n    {detail}" if detail else ""))
        return lines


_EXPECTED = {}


def expected(verdict):
    """The reference's results on the exercise's inputs (computed once per process)."""
    if verdict.exercise not in _EXPECTED:
        _EXPECTED[verdict.exercise] = harvest.run(verdict.exercise, verdict.reference)
    return _EXPECTED[verdict.exercise]


def judge(verdict, results, delegated=None):
    """Points earned by the student's results (a {function: {case: record}} dict).

    delegated: {function: reason} for functions the static scan found delegating: each of
    their checks fails with the reason (the submission is also flagged).
    """
    delegated = delegated or {}
    if verdict.scorer is not None:       # the capstone: its points come from training its recipe again
        return verdict.scorer(verdict, results, delegated)
    want = expected(verdict)
    failures, passed = [], []
    for check in verdict.checks:
        fn = check.function
        if fn in delegated:
            failures.append((check, f"not graded: {delegated[fn]}"))
            continue
        got = (results or {}).get(fn)
        if not isinstance(got, dict) or not got:
            failures.append((check, f"no results for {fn} reached the grader"))
            continue
        problems = _missing(got) or _run(check, got, want[fn])
        if problems:
            failures.append((check, problems[0]))
        else:
            passed.append(check)
    with_value = {c.function for c in passed if not c.rule}
    for check in [c for c in passed if c.rule and c.function not in with_value]:
        passed.remove(check)
        failures.append((check, "not counted: no check of the values passed"))
    # The failures that say what is wrong first, in check order; rule checks not counted last.
    failures.sort(key=lambda f: (f[1].startswith("not counted"), verdict.checks.index(f[0])))
    score = round(sum(c.points for c in passed), 6)
    raised = {}
    for fn in verdict.functions:
        got = (results or {}).get(fn)
        records = list(got.values()) if isinstance(got, dict) else []
        if records and all(isinstance(r, dict) and r.get("error") for r in records) and fn not in delegated:
            raised[fn] = records[0]["error"]
    # One message per function is enough to act on for "no results" and delegation.
    return Judgement(score, verdict.points, failures,
                     [f"{fn}: {why}" for fn, why in delegated.items() if fn in verdict.functions], raised)


def _missing(got):
    for key in ("__missing__", "__runner__"):
        if key in got:
            return [got[key].get("error") or "it could not be run"]
    return []


def _run(check, got, want):
    try:
        return list(check.test(got, want))
    except Exception as e:  # a garbled record: the check fails, it never crashes the grader
        return [f"the results could not be read ({type(e).__name__}: {e})"]


def for_notebook(name):
    """{grade_id: Verdict} of a notebook (e.g. "07_optimizers"), {} when it has none."""
    try:
        module = importlib.import_module(f"{__name__}.m{name[:2]}")
    except ImportError:
        return {}
    return {v.cell: v for v in module.VERDICTS}


# --- building blocks for checks --------------------------------------------------------------

def _fmt(x):
    return f"{x:.10g}"


def describe(value):
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(value)[:8]}"
    return repr(value)[:80]


def compare(got, want, rtol, atol, where=""):
    """None if got matches want (decoded values), else what differs (one line)."""
    if want is None:
        return None if got is None else f"{where}expected None, got {describe(got)}"
    if isinstance(want, np.ndarray):
        if isinstance(got, list):       # a list of numbers: judged by its values (the dtype check sees the type)
            try:
                got = np.array(got, dtype=np.float64)
            except (TypeError, ValueError):
                pass
        if not isinstance(got, np.ndarray):
            return f"{where}expected {describe(want)}, got {describe(got)}"
        if got.shape != want.shape:
            return f"{where}expected shape {want.shape}, got shape {got.shape}"
        if np.isnan(got).any() and not np.isnan(want).any():
            i = tuple(int(k) for k in np.argwhere(np.isnan(got))[0])
            return f"{where}got NaN at index {i} (expected {_fmt(want[i])}): an overflow, or 0/0?"
        bad = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        if bad.any():
            i = tuple(int(k) for k in np.argwhere(bad)[0])
            at = f" at index {i}" if want.ndim else ""
            return (f"{where}{int(bad.sum())} of {want.size} values differ; first{at}: "
                    f"expected {_fmt(want[i])}, got {_fmt(got[i])}")
        return None
    if isinstance(want, list):
        if not isinstance(got, list):
            return f"{where}expected a list/tuple of {len(want)}, got {describe(got)}"
        if len(got) != len(want):
            return f"{where}expected {len(want)} items, got {len(got)}"
        for k, (g, w) in enumerate(zip(got, want)):
            d = compare(g, w, rtol, atol, f"{where}item {k}: ")
            if d:
                return d
        return None
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"{where}expected a dict, got {describe(got)}"
        for k, w in want.items():
            if k not in got:
                return f"{where}key {k!r} is missing"
            d = compare(got[k], w, rtol, atol, f"{where}[{k!r}]: ")
            if d:
                return d
        return None
    return None if got == want else f"{where}expected {want!r}, got {describe(got)}"


def out(record, part=None):
    """The decoded return value of a record (part: a function picking a piece of it)."""
    value = harvest.decode(record["out"])
    return value if part is None else part(value)


def _select(cases, record_cases):
    if cases is None:
        return list(record_cases)
    if callable(cases):
        return [c for c in record_cases if cases(c)]
    return [c for c in record_cases if c in cases]


def matches(cases=None, rtol=1e-7, atol=0.0, part=None, label=None):
    """Test: the returned values (or part of them) equal the reference's on the chosen cases."""
    def test(got, want):
        for case in _select(cases, want):
            g = got.get(case)
            if g is None:
                yield f"case {case}: not run (an earlier step failed?)"
                return
            if g.get("error"):
                yield f"case {case}: raised {g['error']}"
                return
            try:
                gv = out(g, part)
            except Exception:
                yield f"case {case}: returned {describe(out(g))}, not the {label or 'value'} expected"
                return
            d = compare(_arrays(gv), _arrays(out(want[case], part)), rtol, atol)
            if d:
                yield f"case {case}: {label + ': ' if label else ''}{d}"
                return
    return test


def _arrays(v):
    """Numbers become 0-d arrays so that a Python float and an np.float64 compare alike."""
    if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        return np.asarray(v, dtype=np.float64)
    if isinstance(v, list):
        return [_arrays(x) for x in v]
    if isinstance(v, dict):
        return {k: _arrays(x) for k, x in v.items()}
    return v


def no_errors(cases=None):
    def test(got, want):
        for case in _select(cases, want):
            if got.get(case, {}).get("error"):
                yield f"case {case}: raised {got[case]['error']}"
                return
    return test


def no_warnings(cases=None, category="RuntimeWarning"):
    """Test: no warning of this category (NumPy's overflow, divide and invalid warnings are
    RuntimeWarnings); a library's own warnings, or the student's, are not a failure."""
    def test(got, want):
        for case in _select(cases, want):
            w = [x for x in got.get(case, {}).get("warnings") or [] if x.startswith(category + ":")]
            if w:
                yield f"case {case}: {w[0]}"
                return
    return test


def _returned(got, cases, want):
    """(cases that returned normally, the first error) among the chosen cases.

    Rule checks (dtype, inputs unchanged, return type) look only at the cases where the function
    returned: a case that raised already costs the value checks' points. A function that raised on
    every case passes no rule check (a stub earns nothing).
    """
    chosen = _select(cases, want)
    ok = [c for c in chosen if c in got and not got[c].get("error")]
    first = next((f"case {c}: raised {got[c]['error']}" for c in chosen if c in got and got[c].get("error")),
                 "no case was run")
    return ok, (None if ok else first)


def unchanged_inputs(cases=None, names=None):
    """Test: no argument was changed in place (names: {index: argument name} for the message)."""
    def test(got, want):
        ok, error = _returned(got, cases, want)
        if error:
            yield error
            return
        for case in ok:
            m = got[case].get("mutated") or []
            if m:
                which = ", ".join(str((names or {}).get(i, i)) for i in m)
                yield f"case {case}: your function changed its argument(s) {which} in place"
                return
    return test


def dtype(kind="float64", cases=None, part=None):
    """Test: the returned array (or part of it) has this dtype."""
    def test(got, want):
        ok, error = _returned(got, cases, want)
        if error:
            yield error
            return
        for case in ok:
            enc = got[case].get("out")
            try:
                enc = enc if part is None else part(enc)
            except (KeyError, IndexError, TypeError):
                yield f"case {case}: did not return what the docstring describes"
                return
            if not isinstance(enc, dict) or enc.get("dtype") != kind:
                got_kind = (enc.get("dtype") or enc.get("type")) if isinstance(enc, dict) else type(enc).__name__
                yield f"case {case}: returned dtype {got_kind}, expected {kind}"
                return
    return test


def returns_type(types, cases=None):
    """Test: the returned object's Python type name is one of types (e.g. ("float",))."""
    def test(got, want):
        ok, error = _returned(got, cases, want)
        if error:
            yield error
            return
        for case in ok:
            enc = got[case].get("out")
            t = enc.get("type") if isinstance(enc, dict) else type(enc).__name__
            if t not in types:
                yield f"case {case}: returned a {t}, expected {' or '.join(types)}"
                return
    return test


def raises(error, cases=None):
    """Test: the function raised `error` (a name such as "ValueError") on the chosen cases."""
    def test(got, want):
        for case in _select(cases, want):
            e = got.get(case, {}).get("error") or ""
            if not e.startswith(error + ":"):
                yield f"case {case}: expected {error}, " + (f"got {e}" if e else "nothing was raised")
                return
    return test


def enc_item(k):
    """part= for dtype(): item k of an encoded tuple/list."""
    return lambda enc: enc["list"][k]
