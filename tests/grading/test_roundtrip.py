"""The grading round trip on every module.

Three students submit the whole course: the solutions (full autograded marks), the
untouched release (zero), and the solutions with code that makes TensorFlow warn and
writes a warning to stderr while the tests run (still full marks). Graded as by default:
the clean room runs the answer cells, no notebook is executed in a kernel. (The noisy copy of
module 01 graded with --run-notebooks is in test_hostile.py's kernel batch.)
"""
import os

import pytest

from corpus import graded_texts, noisy_copy
from autograder import COURSE, SOLUTIONS, assignments
from autograder.grade import grade

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = tmp_path_factory.mktemp("submissions")
    for student in ("solution", "blank", "noisy"):
        (subs / student).mkdir()
    for name in assignments():
        src = os.path.join(SOLUTIONS, name, f"{name}.ipynb")
        (subs / "solution" / f"{name}.ipynb").write_bytes(open(src, "rb").read())
        (subs / "blank" / f"{name}.ipynb").write_bytes(open(os.path.join(COURSE, name, f"{name}.ipynb"), "rb").read())
        noisy_copy(src, subs / "noisy" / f"{name}.ipynb")
    work = tmp_path_factory.mktemp("grading")
    report = grade(str(subs), grading=str(work), log=print, jobs=2)
    return {(o.student, o.assignment): o for o in report.outcomes}, work


@pytest.mark.parametrize("name", assignments())
def test_solution_scores_every_autograded_point(graded, name):
    o = graded[0][("solution", name)]
    assert o.status == "graded", o.message
    assert o.max_score > 0 and o.score == o.max_score, f"{name}: {o.score}/{o.max_score}"


@pytest.mark.parametrize("name", assignments())
def test_untouched_release_scores_zero(graded, name):
    o = graded[0][("blank", name)]
    assert o.status == "graded", o.message
    assert o.score == 0 and o.max_score > 0


@pytest.mark.parametrize("name", assignments())
def test_correct_answer_that_warns_keeps_full_marks(graded, name):
    outcomes, work = graded
    o = outcomes[("noisy", name)]
    assert o.status == "graded", o.message
    assert o.score == o.max_score, f"{name}: {o.score}/{o.max_score}"


def test_by_default_no_notebook_ran_in_a_kernel(graded):
    """The visible checks print "Visible checks passed." when a kernel runs them: nothing of them is in
    the graded notebooks, only the verdicts (points and messages)."""
    outcomes, work = graded
    for name in assignments():
        texts = graded_texts(work, "solution", name)
        assert texts and any("points" in t for t in texts), name
        assert not any("Visible checks passed" in t or "Output of the code in this cell" in t for t in texts), name


def test_feedback_never_shows_hidden_tests(graded):
    outcomes, work = graded
    for (student, name), o in outcomes.items():
        html = open(o.feedback).read() if o.feedback else ""
        assert o.feedback, f"no feedback for {student}/{name}"
        assert "BEGIN HIDDEN TESTS" not in html and "no_delegation" not in html, f"{student}/{name}"


def test_grades_csv_lists_every_student_with_totals(graded):
    outcomes, work = graded
    rows = open(os.path.join(work, "grades.csv")).read().splitlines()
    assert rows[0].startswith("student,") and rows[0].split(",")[-3:] == ["total", "max_total", "status"]
    assert sorted(r.split(",")[0] for r in rows[1:]) == ["blank", "noisy", "solution"]
