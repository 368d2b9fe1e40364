"""`grade --jobs 2` gives exactly the grades of a serial run.

Four kinds of submission of module 01 (the solution's answers, the untouched release, one that
kills its kernel, one that patches numpy) are graded twice, serially and two at a time; every
cell's score, every status and every note must agree.
"""
import pytest

import corpus
from autograder.grade import grade

pytestmark = pytest.mark.slow
CASES = ("os_exit", "tamper_numpy")


def _run(tmp_path_factory, jobs):
    subs = tmp_path_factory.mktemp(f"subs{jobs}")
    corpus.build(str(subs), cases=CASES)
    report = grade(str(subs), names=[corpus.NAME], grading=str(tmp_path_factory.mktemp(f"grading{jobs}")),
                   jobs=jobs, timeout=60, log=print)
    return report


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return _run(tmp_path_factory, 1), _run(tmp_path_factory, 2)


def _grades(report):
    return {(o.student, o.assignment): (o.status, o.score, o.max_score,
                                        sorted((c["cell"], c["auto_score"]) for c in o.cells))
            for o in report.outcomes}


def test_serial_and_parallel_runs_give_identical_grades(runs):
    serial, parallel = runs
    assert _grades(serial) == _grades(parallel)
    assert len(serial.outcomes) == len(CASES) + 2


def test_serial_and_parallel_runs_report_the_same_events(runs):
    serial, parallel = runs
    notes = lambda r: {(o.student, o.assignment): (o.notes, o.review) for o in r.outcomes}  # noqa: E731
    assert notes(serial) == notes(parallel)


def test_the_mix_really_exercised_restarts_and_the_guard(runs):
    by = {o.student: o for o in runs[0].outcomes}
    assert any("KernelExited" in n or "kernel exited" in n for n in by["os_exit"].notes)
    assert any("numpy.isclose" in r for r in by["tamper_numpy"].review)
