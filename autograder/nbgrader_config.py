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

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from nbgrader.preprocessors import (  # noqa: E402
    IgnorePattern, LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    GetGrades, ClearHiddenTests)
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from autograder.preprocessors import (  # noqa: E402
    StderrToStdout, ShortenTestTracebacks, LimitOutputSize, DeduplicateIdsCleanly, JudgeResults)
from nbgrader.preprocessors import ClearOutput, OverwriteKernelspec, OverwriteCells  # noqa: E402
from autograder.execute import ResilientExecute  # noqa: E402

c = get_config()  # noqa: F821 (provided by traitlets when this file is loaded)

GRADING = os.environ.get("DEEPTRAIN_GRADING_DIR", os.path.join(ROOT, "grading"))
os.makedirs(GRADING, exist_ok=True)  # the gradebook database lives there

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "deeptrain"   # autograder.COURSE_ID
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
c.CourseDirectory.submitted_directory = os.path.relpath(os.path.join(GRADING, "submitted"), ROOT)
c.CourseDirectory.autograded_directory = os.path.relpath(os.path.join(GRADING, "autograded"), ROOT)
c.CourseDirectory.feedback_directory = os.path.relpath(os.path.join(GRADING, "feedback"), ROOT)
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(GRADING, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
# A single-machine course has no shared exchange; formgrader still checks that one exists, so
# give it a private one in the grading folder. A JupyterHub class sets $DEEPTRAIN_EXCHANGE to
# the shared exchange (deploy/README.md).
c.Exchange.root = os.environ.get("DEEPTRAIN_EXCHANGE") or os.path.join(GRADING, "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)

# Release: stubs students see in place of solutions.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograde: a missing test cell is put back from the gradebook (else its grade is left empty),
# stderr in a graded cell is not a failure (a correct answer whose library warns keeps its
# points), and a cell that runs too long is stopped.
c.OverwriteCells.add_missing_cells = True
# A duplicated graded cell must not fail the notebook (nbgrader issue 1941).
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIdsCleanly, OverwriteKernelspec, OverwriteCells,
                                      CheckCellMetadata]
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Autograde.autograde_preprocessors = [
    ResilientExecute,    # no kernel by default; else Execute that survives dead/hung kernels (autograder/execute.py)
    JudgeResults,        # the grade of each test cell, decided here from the clean room's results (autograder/cleanroom.py, verdicts)
    StderrToStdout,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    LimitOutputSize,     # LimitOutput counts lines; one 20 MB line stays 20 MB without this
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Feedback: never show hidden test source, not even through a traceback.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, ShortenTestTracebacks,
                                    CSSHTMLHeaderPreprocessor]
c.ClearHiddenTests.enforce_metadata = False
# The feedback page without nbconvert's second BeautifulSoup pass over it (a third of grading a notebook).
from autograder.feedback import FeedbackExporter  # noqa: E402
c.GenerateFeedback.exporter_class = FeedbackExporter

# Student code cannot make the grader hang, read the answers, or harm the next student
# (autograder/sandbox.py, autograder/execute.py). Every limit can be changed on the command
# line, e.g. `nbgrader autograde ... --ResilientExecute.notebook_timeout=300`.
# No grade depends on the notebook's run (the clean room decides): by default it is not executed at all.
# True (`python -m autograder grade --run-notebooks`) executes it in the sandboxed kernel, for feedback
# showing the demos' outputs and the visible checks. A notebook with a graded cell that no verdict judges
# is executed either way.
c.ResilientExecute.run_notebook = False
c.ResilientExecute.notebook_timeout = 600          # wall clock per notebook, restarts included
c.ResilientExecute.max_restarts = 3                # fresh kernels after a cell killed or hung one
c.SandboxedKernelManager.memory_limit = 3 * 1024 ** 3           # resident memory (watchdog)
c.SandboxedKernelManager.address_space_limit = 8 * 1024 ** 3    # RLIMIT_AS (TensorFlow maps ~2.2 GB)
c.SandboxedKernelManager.cpu_limit = 600                        # RLIMIT_CPU, seconds
# The kernel imports deeptrain from a copy whose reference/ has no source; the original is hidden.
c.SandboxedKernelManager.library = os.path.join(ROOT, "lib", "deeptrain")
# Hidden from the kernel (its own notebook folder stays visible): everything in the repository
# but the Python environment (solutions, tests, git history, the library's sources, the default
# and the current grading folders with their gradebooks and other students' work), and whatever
# $DEEPTRAIN_SANDBOX_HIDE lists. Files elsewhere that the grader's user can read stay readable.
from autograder import kernel_hidden_paths  # noqa: E402
c.SandboxedKernelManager.hide = kernel_hidden_paths(GRADING)
# Data the notebooks load stays readable wherever it is ($DEEPTRAIN_DATA may be in the repository).
c.SandboxedKernelManager.expose_ro = [p for p in [os.environ.get("DEEPTRAIN_DATA")] if p]

# Plain `nbgrader zip_collect ASSIGNMENT` reads GRADING/downloaded/ASSIGNMENT/archive/ and
# understands the Blackboard "attempt" file names (python -m autograder grade ZIP knows more).
c.ZipCollectApp.downloaded_directory = os.path.relpath(os.path.join(GRADING, "downloaded"), ROOT)
c.FileNameCollectorPlugin.named_regexp = r".+_(?P<student_id>[^_]+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>.+)"
