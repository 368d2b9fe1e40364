"""What grading one (student, module) gives, and what a whole run gives: plain values passed
between the stages (collect, precheck, execute on the engine, merge, export, report)."""
from dataclasses import dataclass, field

GRADED = ("graded", "flagged")


@dataclass
class Outcome:
    student: str
    assignment: str
    status: str = "pending"          # graded | flagged (graded, needs a look) | failed | missing
    score: float = 0.0               # autograded points
    max_score: float = 0.0           # autograded maximum
    message: str = ""
    feedback: str = ""
    notes: list = field(default_factory=list)    # repairs and runtime events (the student sees them too)
    review: list = field(default_factory=list)   # why a human should look (instructor only)
    manual_max: float = 0.0          # points of written answers, graded by hand in formgrader
    cells: list = field(default_factory=list)    # per-cell grades
    seconds: float = 0.0
    worker: str = ""                 # the Dask worker that graded it
    resumed: bool = False            # taken from the journal of an earlier run, not graded now


@dataclass
class Report:
    outcomes: list = field(default_factory=list)
    unplaced: list = field(default_factory=list)
    seconds: float = 0.0
    csv_path: str = ""
    detail_csv_path: str = ""
    lms_csv_path: str = ""                        # grades_canvas.csv
    moodle_csv_path: str = ""
    report_path: str = ""
    jobs: int = 1
    scheduler: str = ""                           # the cluster's address ("" for a LocalCluster)
    sandbox: str = ""                             # what isolation the kernels had (sandbox.self_test)
    maxima: dict = field(default_factory=dict)    # assignment -> autograded points available
    written_maxima: dict = field(default_factory=dict)   # assignment -> points of written answers (by hand)
    graded_now: int = 0                           # jobs graded in this run (the others were resumed)
    prepare_seconds: float = 0.0                  # before the first job was submitted
    grading_seconds: float = 0.0                  # from the first job submitted to the last merged
    merge_seconds: float = 0.0                    # spent merging results here (serial)

    def count(self, status):
        return sum(o.status == status for o in self.outcomes)

