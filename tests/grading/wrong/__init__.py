"""Known-wrong (and differently-right) implementations of the autograded exercises: the test of the tests.

Each WRONG entry is (exercise id, function, implementation, the checks it must fail, a phrase the
first message must contain). tests/grading/test_verdicts.py runs every entry through the exercise's
verdict, with the reference for the other functions, and asserts that exactly those checks fail
(so the points lost are exactly theirs, and no other function loses anything). RIGHT entries are
correct answers written differently from the reference: they keep every point.
"""
from . import w01, w02, w03, w04, w05, w06, w07, w08

MODULES = (w01, w02, w03, w04, w05, w06, w07, w08)
WRONG = [entry for m in MODULES for entry in m.WRONG]
RIGHT = [entry for m in MODULES for entry in m.RIGHT]
