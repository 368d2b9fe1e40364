"""``dt.needs``: a demo that uses an exercise's answer, run on a notebook where it is not solved yet.

In the student release every answer is a stub that raises ``NotImplementedError``. A demo
cell further down that calls the stub (or uses a name that such a demo would have
defined) should not end in a red traceback: it should say which exercise to solve first::

    with dt.needs("exercise 2"):
        curves = {name: forward_variances(...) for name in ...}
        plot(curves)

or, for one value, ``curves = dt.needs("exercise 2", lambda: forward_variances(...))``.
"""


def _open_figures():
    """Numbers of matplotlib's open figures (none when matplotlib is not in use)."""
    import sys
    plt = sys.modules.get("matplotlib.pyplot")
    return set(plt.get_fignums()) if plt is not None else set()


def _close_figures_except(keep):
    """Close the figures a demo opened before it stopped, so that the notebook does not show
    them empty."""
    import sys
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        for num in set(plt.get_fignums()) - keep:
            plt.close(num)


class _Needs:
    """Context manager: swallow NotImplementedError / NameError from the block, print a hint."""

    def __init__(self, what):
        self.what = what
        self.missing = False     # True after the block stopped on an unsolved exercise
        self._figures = set()

    def __enter__(self):
        self._figures = _open_figures()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, (NotImplementedError, NameError)):
            self.missing = True
            _close_figures_except(self._figures)   # no empty axes under the message
            # An unsolved stub raises a bare NotImplementedError: its message says nothing more.
            detail = f" ({exc})" if issubclass(exc_type, NameError) else ""
            print(f"Solve {self.what} first: this demo uses your answer{detail}.")
            return True        # handled: the cell ends quietly
        return False           # anything else is a real error and propagates


def needs(what, fn=None):
    """Run a demo that needs ``what`` (e.g. "exercise 2") to be solved.

    With ``fn``: call it and return its result, or print "Solve <what> first ..." and
    return None when it raises NotImplementedError (an unsolved stub) or NameError (a
    name that an earlier demo, itself waiting for the exercise, did not define).
    Without ``fn``: return a context manager doing the same for a block of code; its
    ``missing`` attribute tells afterwards whether the block was cut short.
    Any other exception propagates: a bug in a solved exercise must still be seen.
    """
    guard = _Needs(what)
    if fn is None:
        return guard
    with guard:
        return fn()
    return None


# --- The student's session: short "not solved yet" messages and the progress summary ---------
#
# dt.setup() calls student_session() in a notebook (never while grading: nbgrader's autograde and
# Validate see the kernel exactly as before). From then on
# - a cell stopped by an unsolved stub (NotImplementedError) shows one line saying which function
#   to write, not a traceback; released test cells carry the `raises-exception` tag, so Run All
#   goes on to the end;
# - every cell's outcome is remembered by a fingerprint of its source, which is how
#   ``dt.progress`` (the last cell of each released notebook, added by autograder/release.py)
#   tells which exercises pass their visible checks.

import hashlib
import html

_RUNS = {}          # fingerprint of a cell's source -> (status, detail) of its last run
_SESSION = {"installed": False}
_STATUS_TEXT = {
    "passed": "passes its visible checks",
    "not solved": "not solved yet",
    "failing": "a visible check fails",
    "error": "stops with an error",
    "not run": "not run in this session",
}
_MARK = {"passed": "✓", "not solved": "·", "failing": "✗", "error": "✗", "not run": "–"}


def fingerprint(source):
    """A short hash of a cell's source, white space at line ends and blank edges left out."""
    text = "".join(source) if isinstance(source, list) else str(source)
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip("\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _outcome(exc):
    """(status, detail) of a cell that raised exc (None: it ran to the end)."""
    if exc is None:
        return "passed", ""
    if isinstance(exc, NotImplementedError):
        return "not solved", ""
    if isinstance(exc, NameError):
        return "not run", f"run the exercise's cell first ({_first_line(exc)})"
    if isinstance(exc, AssertionError):
        return "failing", _first_line(exc)
    return "error", f"{type(exc).__name__}: {_first_line(exc)}".rstrip(": ")


def _record(result):
    """IPython post_run_cell hook: remember how the cell ended."""
    info = getattr(result, "info", None)
    raw = getattr(info, "raw_cell", None)
    if not raw or not raw.strip():
        return
    exc = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
    _RUNS[fingerprint(raw)] = _outcome(exc)


def _stub_function(tb):
    """The name of the function whose stub raised (the innermost frame), or None."""
    name = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name != "<module>":
            name = code.co_name
        tb = tb.tb_next
    return name


def _not_solved_message(shell, etype, value, tb, tb_offset=None):
    """IPython custom exception handler: one line instead of a traceback for an unsolved stub."""
    name = _stub_function(tb)
    what = f"`{name}` still raises NotImplementedError" if name else "this cell reached an unsolved stub"
    detail = f" ({value})" if str(value) else ""
    stb = [f"\x1b[1mNot solved yet:\x1b[0m {what}{detail}. Write it in its exercise cell (in place of "
           "`raise NotImplementedError()`), run that cell, then run this one again."]
    # IPython leaves the display to a custom handler: show the line as the cell's error output
    # (the cell still counts as failed; the kernel's reply says so).
    shell._showtraceback(etype, value, stb)
    return stb


def student_session(shell=None):
    """Install the two helpers above in the running IPython kernel (once). Returns True when
    installed, False outside IPython or while grading."""
    from ._setup import is_grading
    if is_grading():
        return False
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    if not _SESSION["installed"]:
        shell.events.register("post_run_cell", _record)
        shell.set_custom_exc((NotImplementedError,), _not_solved_message)
        _SESSION["installed"] = True
    return True


class Progress:
    """The summary ``dt.progress`` shows: one row per exercise (HTML in a notebook, text elsewhere)."""

    def __init__(self, rows, session):
        self.rows, self.session = rows, session

    def _footer(self):
        if not self.session:
            return ("Run the notebook from its first cell (`tf = dt.setup()`) to see which exercises pass: "
                    "this session has not recorded any check.")
        return ("Visible checks only: more tests run when your work is graded. "
                "Written answers are graded by hand.")

    def __str__(self):
        width = max((len(label) for label, _, _ in self.rows), default=0)
        lines = ["Your exercises, as their test cells last ran in this session:"]
        for label, status, detail in self.rows:
            lines.append(f"  {_MARK[status]} {label:<{width}}  {_STATUS_TEXT[status]}" + (f": {detail}" if detail else ""))
        passed = sum(status == "passed" for _, status, _ in self.rows)
        lines.append(f"{passed} of {len(self.rows)} pass their visible checks. {self._footer()}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        colour = {"passed": "#1a7f37", "failing": "#b42318", "error": "#b42318"}
        rows = "".join(
            f"<tr class='deeptrain-progress-{status.replace(' ', '-')}'>"
            f"<td style='color:{colour.get(status, '#666')};font-weight:bold;text-align:left'>{_MARK[status]}</td>"
            f"<td style='text-align:left'><code>{html.escape(label)}</code></td>"
            f"<td style='text-align:left'>{html.escape(_STATUS_TEXT[status])}{(': ' + html.escape(detail)) if detail else ''}</td></tr>"
            for label, status, detail in self.rows)
        passed = sum(status == "passed" for _, status, _ in self.rows)
        return (f"<div class='deeptrain-progress'><p><b>Your exercises</b>, as their test cells last ran in this "
                f"session: {passed} of {len(self.rows)} pass their visible checks.</p>"
                f"<table>{rows}</table><p><small>{html.escape(self._footer())}</small></p></div>")


def progress(exercises):
    """Summarise each exercise as its test cell last ran in this session.

    exercises: {label: fingerprint of the exercise's test cell} (autograder/release.py writes it
    into the last cell of each released notebook). Shows, for each, whether it passes its visible
    checks, is not solved yet, fails a check (with the message) or stops with an error; the hidden
    tests are not run. Shows nothing while grading. Returns None.
    """
    from ._setup import is_grading
    if is_grading():
        return None
    rows = [(label, *_RUNS.get(fp, ("not run", ""))) for label, fp in exercises.items()]
    summary = Progress(rows, session=_SESSION["installed"] or bool(_RUNS))
    try:
        from IPython import get_ipython
        from IPython.display import display
        if get_ipython() is not None:
            display(summary)
            return None
    except ImportError:
        pass
    print(summary)
    return None
