"""nbgrader configuration mapping nbgrader onto the course layout.

solutions/NN_topic/NN_topic.ipynb  source (instructor notebooks: solutions + hidden tests)
course/NN_topic/NN_topic.ipynb     release (what students get; committed)
grading/                           working folder: submitted, autograded, feedback, gradebook.db
                                   (git-ignored)

Used by ``python -m autograder`` and, through the repository's top-level
``nbgrader_config.py``, by plain ``nbgrader`` commands run from the repository root.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from nbgrader.preprocessors import (  # noqa: E402
    Execute, IgnorePattern, LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    GetGrades, ClearHiddenTests)
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from autograder.preprocessors import StderrToStdout, ShortenTestTracebacks  # noqa: E402

c = get_config()  # noqa: F821 (provided by traitlets when this file is loaded)

GRADING = os.environ.get("DEEPTRAIN_GRADING_DIR", os.path.join(ROOT, "grading"))
os.makedirs(GRADING, exist_ok=True)  # the gradebook database lives there

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "deeptrain"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
c.CourseDirectory.submitted_directory = os.path.relpath(os.path.join(GRADING, "submitted"), ROOT)
c.CourseDirectory.autograded_directory = os.path.relpath(os.path.join(GRADING, "autograded"), ROOT)
c.CourseDirectory.feedback_directory = os.path.relpath(os.path.join(GRADING, "feedback"), ROOT)
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(GRADING, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# Release: stubs students see in place of solutions.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograde: a missing test cell is put back from the gradebook (else its grade is left empty),
# stderr in a graded cell is not a failure (a correct answer whose library warns keeps its
# points), and a cell that runs too long is stopped.
c.OverwriteCells.add_missing_cells = True
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Autograde.autograde_preprocessors = [
    Execute,
    StderrToStdout,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Feedback: never show hidden test source, not even through a traceback.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, ShortenTestTracebacks,
                                    CSSHTMLHeaderPreprocessor]
c.ClearHiddenTests.enforce_metadata = False
