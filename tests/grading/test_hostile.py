"""Hostile and broken submissions each get the grade they deserve, readable feedback, and the
batch goes on (the corpus is tests/grading/corpus.py, generated from module 01).

Two batches. Every case is graded as by default (no kernel: the clean room runs the answer cells;
--jobs 2, the clean room's limits lowered to 10 s a case and 20 s a Keras exercise's runner); every test below reads its result. The cases
that act on a kernel (killing it, printing megabytes, planting files, patching numpy, hunting for
the solutions) are graded again with --run-notebooks (the notebook executed in
its sandboxed kernel: a 30 s cell limit, a 240 s notebook limit and a 1.5 GB memory cap): same
grades, and what the kernel did shows in the feedback. The kernel's own limits (endless loops, an
interrupt ignored, a memory bomb) are tested on small notebooks in tests/grading/test_execute.py.
"""
import html
import os
import re
import shutil
import site

import pytest

import corpus
from autograder import ROOT
from autograder.grade import grade

pytestmark = pytest.mark.slow
NAME = corpus.NAME
# Flagged: the score stands, a human should look (patching, IPython internals, reading course
# files, killing processes). Not flagged: honest work, broken structure, or code that is merely
# wrong in a heavy way (loops forever, eats memory). fake_reference is neither: what it changes in the
# kernel never reaches the clean room, so there is nothing to look at.
REVIEW = ("tamper_numpy", "tamper_checks", "assert_defeat", "reads_solutions", "delegation", "vandal", "os_exit",
          "rebind_checks", "swap_code", "ufunc_delegation", "raw_ops_delegation",
          "importlib_delegation", "deferred_delegation")
HONEST = ("solution", "blank", "noisy_output", "broken_structure", "infinite_loop", "unstoppable_loop",
          "memory_bomb", "edited_test")
# What the feedback says when no kernel runs, where the corpus names what the kernel reports (or a text that
# the feedback holds anyway, in the submission's own source): the clean room's account of the same fault.
FAST_TEXT = {
    "solution": "every check passed",
    "infinite_loop": "CaseTimeout: did not finish within 20 s",
    "unstoppable_loop": "CaseTimeout: did not finish within 10 s",
    "os_exit": "the process ended early",
    "memory_bomb": "MemoryError",
    "tamper_numpy": "sigmoid(z) differs from 1 / (1 + exp(-z))",
    "tamper_checks": "no value of layer_gradient_norms is right yet",
    "reads_solutions": "sigmoid is not defined (or not a function) after the answer cells ran",
    "assert_defeat": "sigmoid: not attempted",
    "noisy_output": "every check passed",
    "vandal": "every check passed",
}
# The cases graded again with --run-notebooks, and what their kernel's run shows in the feedback (none of it
# is in the submission's source).
KERNEL_TEXT = {
    "os_exit": "KernelExited",
    "noisy_output": "[stderr] debug: sigmoid called",
    "vandal": "Read-only file system",
    "tamper_numpy": "numpy.isclose",
    "reads_solutions": "solutions found: None",
}


def _planted_files():
    """Files the vandal case tries to create in the library and the environment."""
    dirs = site.getsitepackages() + [os.path.join(ROOT, "lib", "deeptrain")]
    return [p for p in (os.path.join(d, "sitecustomize.py") for d in dirs)
            if os.path.exists(p) and "pwned" in open(p).read()]


def _batch(tmp_path_factory, run_notebooks, cases=None, noisy_keras=False):
    assert not _planted_files(), "a previous run left a planted file"
    subs = tmp_path_factory.mktemp("corpus")
    expected = corpus.build(str(subs), cases=cases)
    if cases is not None:   # corpus.build always writes the solution and the blank too
        for student in ("solution", "blank"):
            shutil.rmtree(subs / student)
            del expected[student]
    if noisy_keras:         # the solution, its answers wrapped so that Keras warns and stderr is written
        (subs / "noisy_keras").mkdir()
        corpus.noisy_copy(os.path.join(ROOT, "solutions", NAME, f"{NAME}.ipynb"), subs / "noisy_keras" / f"{NAME}.ipynb")
    work = tmp_path_factory.mktemp("grading")
    settings = () if run_notebooks else ("JudgeResults.case_timeout=10", "JudgeResults.runner_timeout=20")
    report = grade(str(subs), names=[NAME], grading=str(work), jobs=2, timeout=30, notebook_timeout=240,
                   memory_limit=int(1.5 * 1024 ** 3), log=print, run_notebooks=run_notebooks, settings=settings)
    planted = _planted_files()
    for path in planted:  # never leave a planted file behind, even when the test fails
        os.remove(path)
    return {o.student: o for o in report.outcomes}, expected, report, work, planted


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Every case, graded as by default (no kernel)."""
    return _batch(tmp_path_factory, False)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The kernel's cases, and a correct answer that makes Keras warn, graded with --run-notebooks."""
    return _batch(tmp_path_factory, True, cases=list(KERNEL_TEXT), noisy_keras=True)


def _feedback(outcome):
    assert outcome.feedback, f"no feedback for {outcome.student}"
    return html.unescape(re.sub(r"<[^>]+>", "", open(outcome.feedback, encoding="utf-8").read()))


@pytest.mark.parametrize("student", ["solution", "blank"] + list(corpus.CASES))
def test_each_submission_gets_the_grade_it_deserves(batch, student):
    outcomes, expected, *_ = batch
    o = outcomes[student]
    score, text = expected[student]
    print(f"{student}: {o.status} {o.score:g}/{o.max_score:g} | notes: {o.notes} | review: {o.review}")
    if score is None:
        assert o.status == "failed" and text in o.message, o.message
        return
    assert o.status in ("graded", "flagged"), o.message
    assert (o.score, o.max_score) == (pytest.approx(score, abs=1e-9), sum(corpus.points().values())), \
        f"{o.score}/{o.max_score}"


@pytest.mark.parametrize("student", ["solution", "blank"] + [c for c in corpus.CASES if c != "invalid_json"])
def test_feedback_says_what_happened(batch, student):
    outcomes, expected, *_ = batch
    assert FAST_TEXT.get(student, expected[student][1]) in _feedback(outcomes[student])


@pytest.mark.parametrize("student", ["vandal", "noisy_output", "reads_solutions"])
def test_by_default_no_cell_of_the_notebook_ran(batch, student):
    """What these notebooks print when they run is nowhere in the feedback: no kernel executed them."""
    text = _feedback(batch[0][student])
    assert KERNEL_TEXT[student] not in text and "Output of the code in this cell" not in text


@pytest.mark.parametrize("student", list(KERNEL_TEXT))
def test_with_run_notebooks_the_grade_is_the_same_and_the_feedback_shows_the_kernels_run(executed, student):
    outcomes, expected, *_ = executed
    o = outcomes[student]
    assert o.status in ("graded", "flagged"), o.message
    assert o.score == pytest.approx(expected[student][0], abs=1e-9), f"{o.score}/{o.max_score}"
    assert KERNEL_TEXT[student] in _feedback(o) and "Output of the code in this cell (not graded)" in _feedback(o)


@pytest.mark.parametrize("student", [s for s in KERNEL_TEXT if s in REVIEW])
def test_with_run_notebooks_cheating_attempts_are_flagged_too(executed, student):
    o = executed[0][student]
    assert o.status == "flagged" and o.review, (o.status, o.review)


def test_with_run_notebooks_stderr_is_relabelled_and_a_warning_answer_keeps_full_marks(executed):
    """The visible checks' stderr shows in the test cells, relabelled; Keras' own warning is silenced
    by dt.setup(); the answer that warns keeps every point."""
    outcomes, _, _, work, _ = executed
    o = outcomes["noisy_keras"]
    assert o.status == "graded" and o.score == o.max_score > 0, (o.status, o.score, o.max_score, o.message)
    texts = corpus.graded_texts(work, "noisy_keras")
    assert any("[stderr]" in t and "noisy but correct" in t for t in texts), texts
    assert not any("input_shape" in t for t in texts), "the Keras warning should be silenced by dt.setup()"


def test_with_run_notebooks_the_guard_reports_what_it_put_back(executed):
    assert any("numpy.isclose" in r for r in executed[0]["tamper_numpy"].review), executed[0]["tamper_numpy"].review


@pytest.mark.parametrize("student", REVIEW)
def test_cheating_attempts_are_flagged_for_review(batch, student):
    o = batch[0][student]
    assert o.status == "flagged" and o.review, (o.status, o.review)


@pytest.mark.parametrize("student", HONEST)
def test_honest_or_merely_broken_work_is_not_flagged(batch, student):
    o = batch[0][student]
    assert o.status == "graded", o.review


def test_repairs_are_reported_to_the_student_and_the_instructor(batch):
    o = batch[0]["broken_structure"]
    notes = " ".join(o.notes)
    for word in ("appeared 2 times", "deleted", "raw", "points"):
        assert word in notes, notes
    assert "Notes from the grader" in _feedback(o)


def test_unreadable_file_fails_alone_and_names_the_problem(batch):
    o = batch[0]["invalid_json"]
    assert o.status == "failed" and "not valid notebook JSON" in o.message and o.review


def test_feedback_never_shows_hidden_tests(batch, executed):
    for o in list(batch[0].values()) + list(executed[0].values()):
        if o.feedback:
            text = open(o.feedback, encoding="utf-8").read()
            assert "BEGIN HIDDEN TESTS" not in text and "no_delegation" not in text, o.student
            assert "collect(" not in text and "deeptrain.harvest" not in text, o.student


def test_megabytes_of_output_are_cut_in_the_graded_notebook_and_feedback(executed):
    o, work = executed[0]["noisy_output"], executed[3]
    graded = os.path.join(work, "autograded", "noisy_output", NAME, f"{NAME}.ipynb")
    assert os.path.getsize(graded) < 2_000_000 and os.path.getsize(o.feedback) < 3_000_000


def test_kernel_could_not_plant_files_in_the_library_or_environment(batch, executed):
    assert not batch[4] and not executed[4], f"planted: {batch[4] + executed[4]}"


def test_grades_csv_lists_every_case(batch):
    outcomes, _, report, work, _ = batch
    rows = open(report.csv_path).read().splitlines()
    assert sorted(r.split(",")[0] for r in rows[1:]) == sorted(outcomes)
    detail = open(report.detail_csv_path).read()
    assert "flagged" in detail and "failed" in detail


def test_main_gradebook_holds_every_graded_submission(batch):
    from nbgrader.api import Gradebook
    outcomes, _, _, work, _ = batch
    with Gradebook("sqlite:///" + os.path.join(work, "gradebook.db")) as gb:
        for o in outcomes.values():
            if o.status in ("graded", "flagged"):
                sub = gb.find_submission_notebook(NAME, NAME, o.student)
                auto = sum(g.score for g in sub.grades if g.cell_type == "code")
                assert auto == o.score, o.student
