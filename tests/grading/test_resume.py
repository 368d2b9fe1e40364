"""An interrupted grading run is finished by running the same command again.

``python -m autograder grade`` (one worker) is interrupted with SIGINT (Ctrl-C) as soon as its
journal records a first graded notebook; the same command run again grades only the rest, and
the gradebook and grades.csv end with every grade right (the solution twice, full marks; the
untouched release, zero). A journal line cut short by a crash is
ignored (that notebook is graded again).
"""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import corpus
from autograder import ROOT
from autograder.grade import JOURNAL, load_journal



def _class(dest):
    """solution, blank and solution_b (a twin of solution): grades without doubt, 7, 0, 7."""
    expected = corpus.build(str(dest), cases=())
    shutil.copytree(dest / "solution", dest / "solution_b")
    expected["solution_b"] = expected["solution"]
    return expected


def _snapshot(dest):
    """A copy of the grader's code and module 01's source: the two runs must grade with the same
    code, even while someone edits the checkout (a change of grading code rightly regrades)."""
    for part in ("autograder", os.path.join("lib", "deeptrain"), os.path.join("solutions", corpus.NAME)):
        shutil.copytree(os.path.join(ROOT, part), os.path.join(dest, part),
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return str(dest)


def _command(subs, grading):
    return [sys.executable, "-m", "autograder", "grade", str(subs), "--grading", str(grading), "--jobs", "1",
            "--assignments", corpus.NAME, "--timeout", "60"]


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    return env


@pytest.mark.slow
def test_interrupted_run_is_resumed_without_grading_twice(tmp_path):
    subs, grading = tmp_path / "subs", tmp_path / "grading"
    expected = _class(subs)
    root = _snapshot(tmp_path / "checkout")
    journal = grading / JOURNAL
    # Ctrl-C as an instructor's terminal delivers it: pytest-xdist's workers ignore SIGINT, and a
    # child inherits an ignored signal (Python then never raises KeyboardInterrupt), so the
    # grader starts with SIGINT's default disposition, as from a shell.
    first = subprocess.Popen(_command(subs, grading), cwd=root, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 600
    while time.time() < deadline and first.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 1:
            first.send_signal(signal.SIGINT)
            break
        time.sleep(0.1)
    out1, _ = first.communicate(timeout=180)
    print(out1)
    assert first.returncode == 130, "the first run should have been interrupted"
    assert "run the same command again" in out1
    done_first = load_journal(str(grading))
    assert 1 <= len(done_first) < len(expected)

    second = subprocess.run(_command(subs, grading), cwd=root, env=_env(), capture_output=True, text=True,
                            timeout=900)
    print(second.stdout, second.stderr[-3000:])
    assert second.returncode == 0
    rest = len(expected) - len(done_first)
    assert f"{rest} notebook(s) to grade, {len(done_first)} already graded" in second.stdout
    progress = [line for line in second.stdout.splitlines() if line.startswith("[")]
    assert len(progress) == rest                                        # one line per graded job
    for student, _ in done_first:                                       # ... and none for the journal's
        assert not any(f"] {student} {corpus.NAME}:" in line for line in progress)

    with open(grading / "grades.csv") as f:
        rows = {r["student"]: float(r[corpus.NAME]) for r in csv.DictReader(f)}
    assert rows == {s: e[0] for s, e in expected.items()}
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(grading / "gradebook.db"), "deeptrain") as gb:
        scores = {s: gb.find_submission(corpus.NAME, s).score for s in expected}
    assert scores == {s: e[0] for s, e in expected.items()}


def test_a_journal_line_cut_short_is_ignored(tmp_path):
    whole = {"student": "ann", "assignment": "01_x", "key": "k", "outcome": {"status": "graded"}}
    (tmp_path / JOURNAL).write_text(json.dumps(whole) + "\n" + json.dumps(dict(whole, student="bob"))[:40])
    assert list(load_journal(str(tmp_path))) == [("ann", "01_x")]
