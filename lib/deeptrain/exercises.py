"""``dt.needs``: a demo that uses an exercise's answer, run on a notebook where it is not solved yet.

In the student release every answer is a stub that raises ``NotImplementedError``. A demo
cell further down that calls the stub (or uses a name that such a demo would have
defined) should not end in a red traceback: it should say which exercise to solve first::

    with dt.needs("exercise 2"):
        curves = {name: forward_variances(...) for name in ...}
        plot(curves)

or, for one value, ``curves = dt.needs("exercise 2", lambda: forward_variances(...))``.
"""


class _Needs:
    """Context manager: swallow NotImplementedError / NameError from the block, print a hint."""

    def __init__(self, what):
        self.what = what
        self.missing = False     # True after the block stopped on an unsolved exercise

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, (NotImplementedError, NameError)):
            self.missing = True
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
