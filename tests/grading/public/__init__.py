"""Real public implementations of the optimizers, batch norm and dropout, as adapters: the test of the messages.

One file per source. Each file names the source (URL) and the fault it is known for, and rewrites the
algorithm in our own words behind the exercise's signature (their code is not copied here): what is
kept is exactly what the source computes -- its formula, its constants, its conventions -- so that the
verdict sees what a student who followed that source would hand in.

Each entry of PUBLIC is (exercise id, function, implementation, the check that must name the fault first -- or
a tuple of the checks its several faults cost, in order --, a phrase of the first message); check None means
the source is right for our contract and keeps every point.
tests/grading/test_verdicts.py judges every entry.
"""
from . import cs231n, d2l, deeplearning_ai, jax_example_libraries, ml_from_scratch, pytorch

SOURCES = (cs231n, d2l, deeplearning_ai, jax_example_libraries, ml_from_scratch, pytorch)
PUBLIC = [entry for m in SOURCES for entry in m.PUBLIC]
