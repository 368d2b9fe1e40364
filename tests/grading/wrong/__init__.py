"""Known-wrong (and differently-right) implementations of the autograded exercises: the test of the tests.

Each WRONG entry is (exercise id, function, implementation, the checks it must fail, a phrase the
first message must contain). One fault, one deduction: an implementation with one mistake fails exactly one
check (the one naming it); WHOLE marks a function right nowhere (it loses all its points in one message);
implementations with several mistakes are listed in their module's SEVERAL with the reason. tests/grading/test_verdicts.py runs every entry through the exercise's
verdict, with the reference for the other functions, and asserts that exactly those checks fail
(so the points lost are exactly theirs, and no other function loses anything). RIGHT entries are
correct answers written differently from the reference: they keep every point.
"""
WHOLE = "the whole function"     # `failing` of a function that is right nowhere: it loses all its points

from . import w01, w02, w03, w04, w05, w06, w07, w08, w10

MODULES = (w01, w02, w03, w04, w05, w06, w07, w08, w10)
WRONG = [entry for m in MODULES for entry in m.WRONG]
RIGHT = [entry for m in MODULES for entry in m.RIGHT]
# Implementations with more than one mistake (each mistake costs its own check): {impl: why}.
SEVERAL = {impl: why for m in MODULES for impl, why in getattr(m, "SEVERAL", {}).items()}
