"""Grading on a Dask LocalCluster of two workers gives exactly the grades of a one-worker run,
and a second run of the same command grades nothing again (the journal).

Four kinds of submission of module 01 (the solution's answers, the untouched release, one that
ends its process on some inputs, one that patches numpy) are graded twice, on one worker and on
two (as by default: the clean room runs the answer cells, no kernel); every cell's score and
message, every status and every note must agree, and each must be the grade the corpus says the
submission deserves.
"""
import json
import os

import pytest

import corpus
from autograder.engine import code_hash
from autograder.grade import grade, release_keys

pytestmark = pytest.mark.slow
CASES = ("os_exit", "tamper_numpy")


def _run(tmp_path_factory, jobs):
    subs = tmp_path_factory.mktemp(f"subs{jobs}")
    expected = corpus.build(str(subs), cases=CASES)
    grading = tmp_path_factory.mktemp(f"grading{jobs}")
    report = grade(str(subs), names=[corpus.NAME], grading=str(grading), jobs=jobs, timeout=60, log=print)
    return report, expected, subs, grading


def _code():
    """What the journal's keys depend on besides the submissions (grading code, module 01's release)."""
    return code_hash(grading_only=True), release_keys([corpus.NAME])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    serial = _run(tmp_path_factory, 1)
    code = _code()
    return serial, _run(tmp_path_factory, 2) + (code,)


def _grades(report):
    return {(o.student, o.assignment): (o.status, o.score, o.max_score,
                                        sorted((c["cell"], c["auto_score"]) for c in o.cells))
            for o in report.outcomes}


def test_one_and_two_workers_give_identical_grades(runs):
    (serial, expected, *_), (parallel, *_) = runs
    print({k: v[:3] for k, v in _grades(serial).items()})
    assert _grades(serial) == _grades(parallel)
    assert len(serial.outcomes) == len(CASES) + 2
    # ... and right, not merely the same: full marks and zero where there is no doubt (the hostile
    # cases' partial credit is the verdicts' business, tests/grading/test_hostile.py).
    by = {o.student: o for o in parallel.outcomes}
    assert by["solution"].score == expected["solution"][0] == by["solution"].max_score > 0
    assert by["blank"].score == expected["blank"][0] == 0


def test_two_workers_really_shared_the_work(runs):
    _, (parallel, *_) = runs
    assert len({o.worker for o in parallel.outcomes}) == 2, [o.worker for o in parallel.outcomes]
    assert parallel.graded_now == len(parallel.outcomes)


def test_one_and_two_workers_report_the_same_events(runs):
    (serial, *_), (parallel, *_) = runs
    notes = lambda r: {(o.student, o.assignment): (o.notes, o.review) for o in r.outcomes}  # noqa: E731
    assert notes(serial) == notes(parallel)


def _messages(grading):
    """{(student, test cell): the verdict's messages} of the autograded notebooks."""
    out = {}
    for student in os.listdir(os.path.join(grading, "autograded")):
        path = os.path.join(grading, "autograded", student, corpus.NAME, f"{corpus.NAME}.ipynb")
        for cell in json.load(open(path))["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if gid and cell["cell_type"] == "code" and cell["metadata"]["nbgrader"].get("grade"):
                out[(student, gid)] = ["".join(o.get("text", "")) for o in cell.get("outputs", [])
                                       if o.get("output_type") == "stream"]
    return out


def test_one_and_two_workers_write_the_same_messages(runs):
    (_, _, _, serial), (_, _, _, parallel, _) = runs
    assert _messages(str(serial)) == _messages(str(parallel))


def test_the_mix_really_exercised_process_deaths_and_flags(runs):
    by = {o.student: o for o in runs[0][0].outcomes}
    ended = _messages(str(runs[0][3]))[("os_exit", "test_sigmoid")]
    assert by["os_exit"].score < by["os_exit"].max_score and any("ended early" in t for t in ended), ended
    assert any("os._exit" in r for r in by["os_exit"].review)
    assert any("np.isclose" in r for r in by["tamper_numpy"].review)


def test_running_again_grades_nothing_and_keeps_every_grade(runs):
    """The journal: an unchanged class is not graded twice, and the outcomes come back whole."""
    _, (parallel, _, subs, grading, code) = runs
    again = grade(str(subs), names=[corpus.NAME], grading=str(grading), jobs=2, timeout=60, log=print)
    if _code() != code:   # someone edited the grading code or the release meanwhile: all graded again
        assert again.graded_now == len(again.outcomes)
        pytest.skip("the checkout changed during the test: everything was rightly graded again")
    assert again.graded_now == 0
    assert all(o.resumed for o in again.outcomes)
    assert _grades(again) == _grades(parallel)
    assert open(again.csv_path).read() == open(parallel.csv_path).read()
