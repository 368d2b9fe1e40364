"""Autograde a folder of submissions, write feedback HTML and a grades CSV.

Submissions are laid out one folder per student; inside it, each notebook is placed by its
file name (``01_unstable_gradients.ipynb`` anywhere below the student's folder).
"""
import csv
import glob
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from . import assignments, grading_dir as default_grading_dir
from .nb import run_nbgrader
from .release import generate


@dataclass
class Outcome:
    student: str
    assignment: str
    status: str = "pending"          # graded | failed | missing
    score: float = 0.0
    max_score: float = 0.0
    message: str = ""
    feedback: str = ""


@dataclass
class Report:
    outcomes: list = field(default_factory=list)
    unplaced: list = field(default_factory=list)
    seconds: float = 0.0
    csv_path: str = ""


def collect_folder(submissions, submitted_dir, names):
    """Copy DIR/student/**/NN_topic.ipynb to submitted/student/NN_topic/NN_topic.ipynb.

    Returns (placed: dict student -> set of assignments, unplaced: list of paths).
    """
    placed, unplaced = {}, []
    for student in sorted(os.listdir(submissions)):
        sdir = os.path.join(submissions, student)
        if not os.path.isdir(sdir) or student.startswith("."):
            continue
        placed.setdefault(student, set())
        for path in sorted(glob.glob(os.path.join(sdir, "**", "*.ipynb"), recursive=True)):
            if ".ipynb_checkpoints" in path:
                continue
            name = os.path.splitext(os.path.basename(path))[0]
            if name not in names:
                unplaced.append(path)
                continue
            dest = os.path.join(submitted_dir, student, name)
            os.makedirs(dest, exist_ok=True)
            shutil.copy(path, os.path.join(dest, f"{name}.ipynb"))
            placed[student].add(name)
    return placed, unplaced


def read_scores(grading, student, assignment):
    """(score, max_score) of the autograded cells of one submission, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + os.path.join(grading, "gradebook.db")) as gb:
        sub = gb.find_submission_notebook(assignment, assignment, student)
        score = sum(g.score for g in sub.grades if g.auto_score is not None or g.manual_score is not None)
        auto_max = sum(g.max_score for g in sub.grades if g.cell_type == "code")
        return float(score), float(auto_max)


def grade(submissions, names=None, grading=None, csv_path=None, log=print):
    """Autograde every student's notebooks; returns a Report. Never stops on one bad submission."""
    start = time.time()
    names = names or assignments()
    grading = os.path.abspath(grading or default_grading_dir())
    os.makedirs(grading, exist_ok=True)
    submitted = os.path.join(grading, "submitted")
    shutil.rmtree(submitted, ignore_errors=True)
    placed, unplaced = collect_folder(submissions, submitted, names)
    report = Report(unplaced=unplaced)
    for path in unplaced:
        log(f"could not place {path} (no assignment of that name)")

    # The gradebook needs each assignment's source cells (to restore locked cells).
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            generate(name, release_dir=tmp, grading_dir=grading)

    jobs = [(s, a) for s in sorted(placed) for a in names]
    for i, (student, assignment) in enumerate(jobs, 1):
        out = Outcome(student, assignment)
        if assignment not in placed[student]:
            out.status, out.message = "missing", "no submission"
        else:
            result = run_nbgrader(["autograde", assignment, "--student", student, "--force"],
                                  grading_dir=grading)
            if result.returncode != 0:
                out.status = "failed"
                out.message = (result.stdout + result.stderr).strip().splitlines()[-1:] or [""]
                out.message = out.message[0]
            else:
                out.status = "graded"
                out.score, out.max_score = read_scores(grading, student, assignment)
                fb = run_nbgrader(["generate_feedback", assignment, "--student", student, "--force"],
                                  grading_dir=grading)
                html = os.path.join(grading, "feedback", student, assignment, f"{assignment}.html")
                out.feedback = html if fb.returncode == 0 and os.path.exists(html) else ""
        report.outcomes.append(out)
        log(f"[{i}/{len(jobs)}] {student} {assignment}: {out.status}"
            + (f" {out.score:g}/{out.max_score:g}" if out.status == "graded" else f" ({out.message})"))

    report.csv_path = csv_path or os.path.join(grading, "grades.csv")
    write_csv(report, names, report.csv_path)
    report.seconds = time.time() - start
    graded = sum(o.status == "graded" for o in report.outcomes)
    failed = sum(o.status == "failed" for o in report.outcomes)
    missing = sum(o.status == "missing" for o in report.outcomes)
    log(f"done in {report.seconds:.1f} s: {graded} graded, {failed} failed to run, {missing} missing; "
        f"grades in {report.csv_path}")
    return report


def write_csv(report, names, path):
    """One row per student: score of each assignment, then the total (autograded points)."""
    by_student = {}
    maxima = {}
    for o in report.outcomes:
        by_student.setdefault(o.student, {})[o.assignment] = o
        if o.max_score:
            maxima[o.assignment] = o.max_score
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student"] + [f"{a}" for a in names] + ["total", "max_total", "status"])
        for student in sorted(by_student):
            row = by_student[student]
            scores = [row[a].score if a in row else 0.0 for a in names]
            status = ";".join(f"{a}:{row[a].status}" for a in names if a in row and row[a].status != "graded")
            w.writerow([student] + [f"{s:g}" for s in scores] + [f"{sum(scores):g}",
                       f"{sum(maxima.get(a, 0) for a in names):g}", status or "ok"])
