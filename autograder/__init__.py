"""Instructor tools for the course: release, grade, feedback, export (on top of nbgrader).

Run ``python -m autograder --help``. Every step is also reachable as plain nbgrader from
the repository root (its ``nbgrader_config.py`` loads ``autograder/nbgrader_config.py``).
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
COURSE_ID = "deeptrain"   # nbgrader's course id (CourseDirectory.course_id)
SOLUTIONS = os.path.join(ROOT, "solutions")
COURSE = os.path.join(ROOT, "course")


def assignments():
    """Assignment ids (NN_topic), in course order: the folders of solutions/ holding NN_topic.ipynb."""
    if not os.path.isdir(SOLUTIONS):
        return []
    return sorted(d for d in os.listdir(SOLUTIONS)
                  if os.path.isfile(os.path.join(SOLUTIONS, d, f"{d}.ipynb")))


def grading_dir():
    """The working folder (submitted, autograded, feedback, gradebook): $DEEPTRAIN_GRADING_DIR or grading/."""
    return os.environ.get("DEEPTRAIN_GRADING_DIR", os.path.join(ROOT, "grading"))


def kernel_hidden_paths(grading):
    """What a grading kernel must not see: everything in the repository but the Python environment
    (solutions, tests, git history, the library's sources, grading folders), the grading folder in
    use, and the paths listed in $DEEPTRAIN_SANDBOX_HIDE (os.pathsep-separated)."""
    import sys
    keep = set()
    if sys.prefix.startswith(ROOT + os.sep):
        keep.add(os.path.relpath(sys.prefix, ROOT).split(os.sep)[0])
    extra = [p for p in os.environ.get("DEEPTRAIN_SANDBOX_HIDE", "").split(os.pathsep) if p]
    return sorted(set([os.path.join(ROOT, p) for p in os.listdir(ROOT) if p not in keep]
                      + [os.path.abspath(grading)] + extra))
