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

One fault, one deduction (issue 19). A single mistake loses the points of the one check that
names it, never those of several; and nothing earns points for doing nothing:

- **The function first.** A function that is missing, delegates, raised NotImplementedError on
  every case ("not attempted") or another error on every case ("crashed") loses all its points
  in one line: none of its checks could say anything more.
- **Named faults explain what follows from them.** A check that names one precise fault carries
  that fault as code (``Check.variant``: the reference with exactly that mistake). When it fails,
  every other failed check of the function is judged again against the variant's results: those
  that pass there failed only because of the named fault, and are "not counted" (they deduct
  nothing and are not shown as failures; the judgement keeps them as data with counted=False).
  A second, different fault does not match the variant, so it still costs its own check.
- **Refinements are judged on a right base.** A check with ``after=(names)`` (precision in a
  tail, an edge case of a formula) is judged only when those checks passed; when the base is
  wrong it is not judged, and deducts nothing: a wrong formula is one fault, not three.
- **Rules are judged by values, on their own, but are worth something only on real work.**
  Rule checks (dtype, return type, inputs left unchanged, overflow judged on the tail values)
  never look at warnings the function could silence. Their points count when the function is
  right somewhere: one of its value checks passed, or its mistake was recognised exactly by a
  named fault. A stub, a constant or a pass-through passes no value check and matches no named
  fault: it earns nothing (its rule checks are counted as failed, "earns its points once a value
  is right", reported on the same line as the function's first failure).
- Values returned in float32 are compared at float32 precision: the dtype check names that
  mistake, the value checks do not pay for it a second time.
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
    rule: bool = None                  # a rule (dtype, inputs unchanged, overflow): counts only with a value
    variant: Callable = None           # the named fault as code: the function with exactly this mistake
    after: tuple = ()                  # judged only when these checks (of the same function) passed
    diagnosis: bool = False            # fails when the results ARE the variant's (test: the cases it looks at)

    def __post_init__(self):
        if self.rule is None:
            self.rule = self.name in RULES or self.diagnosis
        if isinstance(self.after, str):
            self.after = (self.after,)


# Checks of a stated rule rather than of a value. They earn their points only when the function is right
# somewhere (a value check passed, or its fault was recognised): a stub or a constant earns nothing.
RULES = {"dtype", "float64", "float", "unchanged", "in_place", "overflow", "returns_model"}


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


WITHHELD = "earns its points"      # the detail of a check not failed but withheld (the function is right nowhere)
STATUSES = ("passed", "partial", "wrong", "not attempted", "crashed", "delegated", "missing")


@dataclass
class Judgement:
    score: float
    max_score: float
    failures: list                     # (check, detail): the checks whose points were lost, in the order to read
    flagged: list = field(default_factory=list)   # reasons a human should look
    raised_everywhere: dict = field(default_factory=dict)   # function -> its error, when no case returned
    summary: str = ""                  # a line the student reads even with full points (the capstone's accuracy)
    review: list = field(default_factory=list)    # more reasons for a human look (the capstone's wall-clock cap)
    explained: list = field(default_factory=list)  # (check, detail): failed, not counted (explained, not judged)
    status: dict = field(default_factory=dict)     # function -> one of STATUSES

    def messages(self):
        """One line per counted failure, the fault first; a function that earned nothing gets one line."""
        lines, said = [], set()
        for check, detail in self.failures:
            fn = check.function
            whole = self.status.get(fn) in ("not attempted", "crashed", "missing", "delegated")
            if fn in said:
                continue
            if whole or self.status.get(fn) == "wrong":
                said.add(fn)
                lost = sum(c.points for c, _ in self.failures if c.function == fn)
                if self.status.get(fn) == "not attempted":
                    lines.append(f"{fn}: not attempted (raised NotImplementedError on every case) [-{lost:g} points]")
                elif self.status.get(fn) == "crashed":
                    lines.append(f"{fn}: raised an error on every case, so no check could pass "
                                 f"[-{lost:g} points]\n    {self.raised_everywhere.get(fn, detail)}")
                elif whole:
                    lines.append(f"{fn}: {detail} [-{lost:g} points]")
                else:   # wrong: the first failed value check names it, the whole function's points
                    own = [(c, d) for c, d in self.failures if c.function == fn]
                    failed = [(c, d) for c, d in own if not str(d).startswith(WITHHELD)] or own
                    check, detail = next(((c, d) for c, d in failed if not c.rule), failed[0])
                    lines.append(f"{fn}: {check.message} [-{lost:g} points: no value of {fn} is right yet]"
                                 + (f"\n    {detail}" if detail else ""))
                continue
            lines.append(f"{fn}: {check.message} [-{check.points:g} point{'s' if check.points != 1 else ''}]"
                         + (f"\n    {detail}" if detail else ""))
        return lines

    def as_data(self, verdict):
        """The judgement as JSON-able data (mimetype application/vnd.deeptrain.judgement+json)."""
        points = verdict.function_points()
        lost = {}
        for check, _ in self.failures:
            lost[check.function] = lost.get(check.function, 0) + check.points
        functions = {}
        for fn in verdict.functions:
            mx = round(points.get(fn, 0), 6)
            score = round(max(0.0, mx - lost.get(fn, 0)), 6)
            status = self.status.get(fn) or ("passed" if score >= mx else "wrong" if score <= 0 else "partial")
            functions[fn] = {"status": status, "score": score, "max_score": mx}

        def row(check, detail, counted):
            return {"function": check.function, "check": check.name, "points": check.points,
                    "message": check.message, "detail": detail or "", "counted": counted}
        return {"exercise": verdict.exercise, "cell": verdict.cell, "score": self.score, "max_score": self.max_score,
                "functions": functions,
                "failures": [row(c, d, True) for c, d in self.failures] + [row(c, d, False) for c, d in self.explained],
                "flagged": list(self.flagged), "review": list(self.review)}


_EXPECTED = {}


def expected(verdict):
    """The reference's results on the exercise's inputs, drawn with the current key
    (``autograder.cases.use_key``: the submission's in grading); computed once per process and key."""
    cache = (verdict.exercise, harvest_cases.current_key())
    if cache not in _EXPECTED:
        if len(_EXPECTED) > 256:      # a grading process sees one key per submission
            _EXPECTED.clear()
        _EXPECTED[cache] = harvest.run(verdict.exercise, verdict.reference)
    return _EXPECTED[cache]


def judge(verdict, results, delegated=None):
    """Points earned by the student's results (a {function: {case: record}} dict).

    delegated: {function: reason} for functions the static scan found delegating: each of
    their checks fails with the reason (the submission is also flagged).
    See the module's docstring for how one fault costs one check.
    """
    delegated = delegated or {}
    if verdict.scorer is not None:       # the capstone: its points come from training its recipe again
        return verdict.scorer(verdict, results, delegated)
    want = expected(verdict)
    results = results if isinstance(results, dict) else {}
    failures, explained, status, raised = [], [], {}, {}
    score = 0.0
    for fn in verdict.functions:
        checks = [c for c in verdict.checks if c.function == fn]
        got = results.get(fn)
        whole = None
        if fn in delegated:
            status[fn], whole = "delegated", f"not graded: {delegated[fn]}"
        elif not isinstance(got, dict) or not got:
            status[fn], whole = "missing", f"no results for {fn} reached the grader"
        elif _missing(got):
            status[fn], whole = "missing", _missing(got)[0]
        else:
            records = list(got.values())
            errors = [r.get("error") if isinstance(r, dict) else "a garbled record" for r in records]
            if records and all(errors):
                raised[fn] = errors[0]
                attempted = not all(str(e).startswith("NotImplementedError") for e in errors)
                status[fn] = "crashed" if attempted else "not attempted"
                whole = f"case {next(iter(got))}: raised {errors[0]}"
        if whole is not None:
            failures += [(c, whole) for c in checks]
            continue
        fn_failures, fn_explained, right = _judge_function(verdict, fn, checks, got, want.get(fn) or {})
        failures += fn_failures
        explained += fn_explained
        score += sum(c.points for c in checks) - sum(c.points for c, _ in fn_failures)
        if not right:
            status[fn] = "wrong"
    order = {id(c): i for i, c in enumerate(verdict.checks)}
    failures.sort(key=lambda f: order[id(f[0])])
    return Judgement(round(score, 6), verdict.points, failures,
                     [f"{fn}: {why}" for fn, why in delegated.items() if fn in verdict.functions], raised,
                     explained=explained, status=status)


def _judge_function(verdict, fn, checks, got, want):
    """(counted failures, explained failures, right somewhere) of one function that returned somewhere."""
    outcome = {}                              # check name -> problems ([] = passed, None = not judged)
    for check in sorted(checks, key=lambda c: bool(c.after)):     # the bases before their refinements
        if any(outcome.get(name) != [] for name in check.after):
            outcome[check.name] = None        # its base failed: a refinement is not judged on a wrong base
            continue
        outcome[check.name] = _diagnose(verdict, fn, check, got, want) if check.diagnosis else _run(check, got, want)
    failed = [c for c in checks if outcome[c.name]]
    judged_values = [c for c in checks if not c.rule and outcome[c.name] is not None]
    explained, why, recognised = [], {}, False
    for named in [c for c in failed if c.variant is not None]:
        if named.name in why:
            continue
        for variant in _variant_results(verdict, fn, named):
            for other in failed:
                if other is not named and other.name not in why and not _run(other, got, variant):
                    why[other.name] = named
            # recognised: the results are exactly the named fault's, on every value check judged
            recognised = recognised or all(not _run(c, got, variant) for c in judged_values + [named])
    for c in checks:
        if outcome[c.name] is None:
            explained.append((c, "not judged: " + ", ".join(a for a in c.after if outcome.get(a) != []) + " failed"))
        elif c.name in why:
            explained.append((c, f"not counted: explained by '{why[c.name].message}'"))
    passed = [c for c in checks if outcome[c.name] == []]
    if not (any(not c.rule for c in passed) or recognised):
        # right nowhere (a stub, a constant, a wrong formula): nothing of the function earns points
        failures = [(c, outcome[c.name][0]) for c in failed if c.name not in why]
        failures += [(c, f"{WITHHELD} once a value of {fn} is right") for c in checks
                     if outcome[c.name] == [] or c.name in why or outcome[c.name] is None]
        return failures, [], False
    return [(c, outcome[c.name][0]) for c in failed if c.name not in why], explained, True


def _diagnose(verdict, fn, check, got, want):
    """A diagnosis: [] unless the results are exactly one of the named fault's variants (on the cases where it shows)."""
    for variant in _variant_results(verdict, fn, check):
        shows = [c for c in want if c in variant and _run(check, variant, {c: want[c]})]   # the fault changes these
        if shows and not _run(check, got, {c: variant[c] for c in shows}):
            return [f"case {shows[0]}: your results are exactly those of this mistake"]
    return []


def diagnosis(fn, points, message, variant, name, cases=None, rtol=1e-9, atol=0.0, part=None, label=None):
    """A check that names one fault: it fails when the results equal those of `variant` (the function with
    exactly that mistake) on the cases where the mistake shows, and explains the other checks it broke."""
    return Check(fn, points, message, matches(cases, rtol=rtol, atol=atol, part=part, label=label), name,
                 variant=variant, diagnosis=True)


_VARIANTS = {}


def _variant_results(verdict, fn, check):
    """[results of each variant of the named fault] on the exercise's inputs (computed once per process)."""
    key = (verdict.exercise, fn, check.name, harvest_cases.current_key())   # the inputs' key (INTEGRITY)
    if key not in _VARIANTS:
        if len(_VARIANTS) > 4096:
            _VARIANTS.clear()
        variants = check.variant if isinstance(check.variant, (list, tuple)) else [check.variant]
        _VARIANTS[key] = []
        for variant in variants:
            functions = dict(verdict.reference)
            functions[fn] = variant
            try:
                _VARIANTS[key].append(harvest.run(verdict.exercise, functions).get(fn) or {})
            except Exception:   # a variant that cannot run on some input explains nothing
                pass
    return _VARIANTS[key]


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
        if want.ndim == 0 and got.size == 1:   # a number returned in a 1-element array: the return-type check says it
            got = got.reshape(())
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
            r, a = (max(rtol, 1e-6), max(atol, 1e-30)) if _low_precision(g.get("out")) else (rtol, atol)
            d = compare(_arrays(gv), _arrays(out(want[case], part)), r, a)
            if d:
                yield f"case {case}: {label + ': ' if label else ''}{d}"
                return
    return test


def _low_precision(enc, depth=0):
    """True when a returned array is float32/float16: its values are judged at that precision (the
    dtype check names the mistake; the value checks do not pay for it again)."""
    if not isinstance(enc, dict) or depth > 6:
        return False
    if enc.get("dtype") in ("float32", "float16"):
        return True
    inner = enc.get("list") or list((enc.get("dict") or {}).values())
    return any(_low_precision(x, depth + 1) for x in inner)


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
