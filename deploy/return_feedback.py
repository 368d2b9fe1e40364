"""Return the feedback of `python -m autograder grade` to the students through nbgrader's exchange.

    python deploy/return_feedback.py ASSIGNMENT FEEDBACK_DIR [--submitted DIR]

FEEDBACK_DIR is the ``feedback/`` folder of the grading run (``--grading DIR`` of
``python -m autograder grade``: DIR/feedback/STUDENT/ASSIGNMENT/ASSIGNMENT.html). nbgrader's
``release_feedback`` files each report under a hash of the submission's secret, which
``nbgrader submit`` wrote and ``nbgrader collect`` copied into
``grading/submitted/STUDENT/ASSIGNMENT/`` (with ``timestamp.txt``); this script copies those two
files next to each report, then runs ``nbgrader release_feedback`` on FEEDBACK_DIR with the hub's
exchange ($DEEPTRAIN_EXCHANGE when set). Students then use *Fetch Feedback* as usual.
"""
import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def attach_secrets(assignment, feedback, submitted, log=print):
    """Copy timestamp.txt and submission_secret.txt from each collected submission next to its report.
    Returns the students whose feedback can be released."""
    ready = []
    for student in sorted(os.listdir(feedback)):
        report_dir = os.path.join(feedback, student, assignment)
        source = os.path.join(submitted, student, assignment)
        if not os.path.isdir(report_dir):
            continue
        if not os.path.isfile(os.path.join(source, "submission_secret.txt")):
            log(f"skipped {student}: no collected submission with a secret in {source}")
            continue
        for name in ("timestamp.txt", "submission_secret.txt"):
            shutil.copy(os.path.join(source, name), os.path.join(report_dir, name))
        ready.append(student)
    return ready


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("assignment")
    p.add_argument("feedback", help="the grading run's feedback/ folder")
    p.add_argument("--submitted", default=os.path.join(ROOT, "grading", "submitted"),
                   help="where nbgrader collect put the submissions (default: grading/submitted)")
    args = p.parse_args(argv)
    feedback = os.path.abspath(args.feedback)
    ready = attach_secrets(args.assignment, feedback, os.path.abspath(args.submitted))
    print(f"{len(ready)} report(s) to release: {', '.join(ready)}")
    if not ready:
        return 1
    cmd = ["nbgrader", "release_feedback", args.assignment,
           f"--CourseDirectory.feedback_directory={feedback}"]
    if os.environ.get("DEEPTRAIN_EXCHANGE"):
        cmd.append(f"--Exchange.root={os.environ['DEEPTRAIN_EXCHANGE']}")
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
