"""The grades out of nbgrader's gradebook: complete, with the true maxima, in files an LMS imports.

    python -m autograder export [--grading DIR] [--roster FILE] [--canvas-ids FILE] [--include-pending]

reads ``GRADING/gradebook.db`` through nbgrader's ``Gradebook`` API (autograded points, the hand
grades entered in formgrader, and each assignment's maxima) and the grading journal (statuses:
flagged, failed, missing; notes), and writes, without grading anything again:

- ``grades.csv``: one row per student: each module's points (autograded + hand-graded), the
  total, the true maximum, and a status naming what is flagged, failed, missing or still waiting
  for a hand grade;
- ``grades_detail.csv``: one row per student and module: autograded and hand-graded points
  apart, their maxima, how many answers wait for a hand grade, notes, why it needs review;
- ``grades_canvas.csv``: the layout of Canvas's own gradebook export (``Student, ID, SIS User ID,
  SIS Login ID, Section``, one column per module, a ``Points Possible`` row; no total, which
  Canvas would create as an assignment). A module column is headed by its name, which Canvas
  matches to an assignment of that name or creates, or ``name (canvas id)`` when the id is known
  (``--canvas-ids`` or a Canvas export given as ``--roster``);
- ``grades_moodle.csv``: Moodle's "Import grades from CSV": an identifier (``Username``, and
  ``Email address`` when the roster has it) and one column per grade item.

A module still waiting for a hand grade is left empty in the LMS files (the LMS shows it
ungraded) unless ``--include-pending``. ``--roster`` (Canvas's gradebook export, or any CSV with
some of ``Student, ID, SIS User ID, SIS Login ID, Section, Username, Email``) matches a student
folder name to the LMS's user (by SIS login, SIS user id, Canvas id, username or e-mail); without
it the folder name is written as SIS login and user id.

Every value of every CSV written here is neutralised for spreadsheets (``safe``): a student
controls their folder and file names, and a cell starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return would run as a formula in Excel or LibreOffice.

``nbgrader export --exporter autograder.export.CanvasExporter --to FILE`` (or
``MoodleExporter``) writes the same LMS file from nbgrader's own command.
"""
import csv
import io
import json
import os
import re
from dataclasses import dataclass, field

GRADED = ("graded", "flagged")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
POINTS_POSSIBLE = "    Points Possible"     # the second row of Canvas's gradebook export, as Canvas writes it


# --- values a spreadsheet never runs ------------------------------------------------------------

def safe(value):
    """A CSV cell: numbers as plain text, strings that a spreadsheet would run as a formula
    prefixed with an apostrophe (OWASP's advice for CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:g}"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def write_rows(path, rows):
    """Write rows (lists of values) to path as CSV, every cell through safe(), atomically."""
    buf = io.StringIO()
    w = csv.writer(buf)
    for row in rows:
        w.writerow([safe(v) for v in row])
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", newline="", encoding="utf-8") as f:
        f.write(buf.getvalue())
    os.replace(path + ".tmp", path)
    return path


# --- the grades ---------------------------------------------------------------------------------

@dataclass
class ModuleGrade:
    student: str
    assignment: str
    status: str = "missing"          # graded | flagged | failed | missing
    auto: float = 0.0                # points of autograded (code) cells, a manual override included
    written: float = 0.0             # points of written answers (graded by hand)
    pending: int = 0                 # answers still waiting for a hand grade
    message: str = ""
    notes: list = field(default_factory=list)
    review: list = field(default_factory=list)
    feedback: str = ""
    seconds: float = 0.0

    @property
    def score(self):
        return round(self.auto + self.written, 6)

    @property
    def complete(self):
        return self.status in GRADED and not self.pending


@dataclass
class Grades:
    names: list                                         # modules, in course order
    maxima: dict                                        # module -> (autograded max, hand-graded max)
    rows: dict = field(default_factory=dict)            # (student, module) -> ModuleGrade

    @property
    def students(self):
        return sorted({s for s, _ in self.rows})

    def max_total(self, name):
        return round(sum(self.maxima.get(name, (0.0, 0.0))), 6)

    def get(self, student, name):
        return self.rows.get((student, name)) or ModuleGrade(student, name)


def read_gradebook(gradebook, names=None, students=None):
    """Grades from an open nbgrader Gradebook: (names, maxima, {(student, module): ModuleGrade}).
    names: the modules (default: every assignment with a submission)."""
    known = {a.name: a for a in gradebook.assignments}
    if names is None:
        names = sorted(n for n, a in known.items() if a.submissions)
    maxima, rows = {}, {}
    for name in names:
        a = known.get(name)
        if a is None:
            maxima[name] = (0.0, 0.0)
            continue
        maxima[name] = (float(a.max_code_score or 0), float(a.max_written_score or 0))
        for sub in a.submissions:
            if students and sub.student_id not in students:
                continue
            g = rows[(sub.student_id, name)] = ModuleGrade(sub.student_id, name, "graded")
            for nb in sub.notebooks:
                for grade in nb.grades:
                    if grade.cell_type == "code":
                        g.auto += float(grade.score or 0)
                    else:
                        g.written += float(grade.score or 0)
                    g.pending += bool(grade.needs_manual_grade)
            g.auto, g.written = round(g.auto, 6), round(g.written, 6)
    return list(names), maxima, rows


def gather(grading, names=None, outcomes=None):
    """Grades of the gradebook in grading, with the statuses of outcomes (autograder.grade's
    Outcome list; default: the grading journal). A module that has no submission in the
    gradebook keeps its outcome's status (failed, missing) and no points."""
    from nbgrader.api import Gradebook
    from . import COURSE_ID
    if outcomes is None:
        from .journal import load_journal, outcome_from
        outcomes = [outcome_from(e) for e in load_journal(grading).values()]
    if names is None and outcomes:
        from . import assignments
        order = {n: i for i, n in enumerate(assignments())}
        names = sorted({o.assignment for o in outcomes}, key=lambda n: (order.get(n, 999), n))
    db = os.path.join(grading, "gradebook.db")
    if os.path.exists(db):
        with Gradebook("sqlite:///" + db, COURSE_ID) as gb:
            names, maxima, rows = read_gradebook(gb, names)
    else:
        names, maxima, rows = list(names or []), {n: (0.0, 0.0) for n in names or []}, {}
    for o in outcomes:
        if o.assignment not in names:
            continue
        g = rows.setdefault((o.student, o.assignment), ModuleGrade(o.student, o.assignment))
        g.status = o.status
        if o.status not in GRADED:        # failed or missing now: an earlier run's points do not count
            g.auto, g.written, g.pending = 0.0, 0.0, 0
        g.message, g.notes, g.review = o.message, list(o.notes), list(o.review)
        g.feedback, g.seconds = o.feedback, o.seconds
        if maxima.get(o.assignment, (0, 0)) == (0, 0) and o.max_score:
            maxima[o.assignment] = (float(o.max_score), float(o.manual_max))
    return Grades(names, maxima, rows)


# --- grades.csv, grades_detail.csv -----------------------------------------------------------------

def _status(g):
    if g.status in GRADED and g.pending:
        return f"{g.assignment}:{g.status}, {g.pending} answer(s) wait for a hand grade"
    return "" if g.status == "graded" else f"{g.assignment}:{g.status}"


def write_grades_csv(grades, path):
    """One row per student: each module's points (autograded + hand-graded), the total, the true
    maximum, and what is not final (flagged, failed, missing, waiting for a hand grade)."""
    rows = [["student"] + grades.names + ["total", "max_total", "status"]]
    max_total = round(sum(grades.max_total(n) for n in grades.names), 6)
    for s in grades.students:
        marks = [grades.get(s, n) for n in grades.names]
        status = "; ".join(t for t in map(_status, marks) if t)
        rows.append([s] + [g.score for g in marks] + [round(sum(g.score for g in marks), 6), max_total,
                                                      status or "ok"])
    return write_rows(path, rows)


def write_detail_csv(grades, path):
    """One row per student and module: status, autograded and hand-graded points and maxima."""
    rows = [["student", "assignment", "status", "score", "max_score", "auto_score", "auto_max",
             "written_score", "written_max", "pending_hand_grades", "seconds", "message", "notes", "review",
             "feedback"]]
    for s in grades.students:
        for n in grades.names:
            g = grades.get(s, n)
            auto_max, written_max = grades.maxima.get(n, (0.0, 0.0))
            rows.append([s, n, g.status, g.score, grades.max_total(n), g.auto, auto_max, g.written, written_max,
                         g.pending, f"{g.seconds:.1f}", g.message, " | ".join(g.notes), " | ".join(g.review),
                         g.feedback])
    return write_rows(path, rows)


# --- the roster and the LMS files ---------------------------------------------------------------

_CANVAS_ID = re.compile(r"^(?P<name>.*\S)\s*\((?P<id>\d+)\)\s*$")
_KEYS = {"student": "Student", "name": "Student", "id": "ID", "sis user id": "SIS User ID",
         "sis login id": "SIS Login ID", "section": "Section", "username": "Username", "email": "Email",
         "email address": "Email", "e-mail": "Email"}


@dataclass
class Roster:
    people: list = field(default_factory=list)         # dicts with Student, ID, SIS User ID, ... Email
    canvas_ids: dict = field(default_factory=dict)     # module name -> Canvas assignment id

    def find(self, student):
        """The roster entry a student folder name stands for (SIS login, SIS user id, Canvas id,
        username, e-mail or its local part, case-insensitive), or None."""
        want = student.strip().lower()
        for key in ("SIS Login ID", "SIS User ID", "Username", "ID", "Email"):
            for p in self.people:
                v = (p.get(key) or "").strip().lower()
                if v and (v == want or (key == "Email" and v.split("@")[0] == want)):
                    return p
        return None


def read_roster(path=None, canvas_ids=None):
    """A Roster from a CSV (Canvas's gradebook export, or any CSV with some of the roster columns)
    and an optional CSV of ``assignment,canvas_id`` lines. A Canvas export's assignment headers
    (``Name (12345)``) give the Canvas ids too."""
    roster = Roster()
    if path:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            cols = {i: _KEYS.get(h.strip().lower()) for i, h in enumerate(header)}
            for i, h in enumerate(header):
                m = _CANVAS_ID.match(h)
                if m and not cols.get(i):
                    roster.canvas_ids[m.group("name")] = m.group("id")
            for row in reader:
                if not row or row[0].strip() in ("Points Possible", "Student, Test"):
                    continue
                person = {cols[i]: v for i, v in enumerate(row) if cols.get(i)}
                if any(person.values()):
                    roster.people.append(person)
    if canvas_ids:
        with open(canvas_ids, newline="", encoding="utf-8-sig") as f:
            for row in csv.reader(f):
                if len(row) >= 2 and row[1].strip().isdigit():
                    roster.canvas_ids[row[0].strip()] = row[1].strip()
    return roster


def _lms_value(g, include_pending):
    if g.status not in GRADED or (g.pending and not include_pending):
        return ""                      # an empty cell: the LMS leaves the grade as it is (ungraded)
    return g.score


def write_canvas_csv(grades, path, roster=None, include_pending=False, log=print):
    """Canvas's gradebook layout (its export, which its import reads back): identity columns,
    one column per module, the Points Possible row. Students the roster lacks are left out and
    named. Returns (path, students left out)."""
    roster = roster or Roster()
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    header += [f"{n} ({roster.canvas_ids[n]})" if n in roster.canvas_ids else n for n in grades.names]
    rows = [header, [POINTS_POSSIBLE, "", "", "", ""] + [grades.max_total(n) for n in grades.names]]
    left_out = []
    for s in grades.students:
        p = roster.find(s) if roster.people else {"Student": s, "SIS User ID": s, "SIS Login ID": s}
        if p is None:
            left_out.append(s)
            continue
        rows.append([p.get("Student") or s, p.get("ID", ""), p.get("SIS User ID", ""), p.get("SIS Login ID", ""),
                     p.get("Section", "")] + [_lms_value(grades.get(s, n), include_pending) for n in grades.names])
    if left_out:
        log(f"not in the roster, left out of {os.path.basename(path)}: {', '.join(left_out)}")
    return write_rows(path, rows), left_out


def write_moodle_csv(grades, path, roster=None, include_pending=False, log=print):
    """Moodle's "Import grades from CSV": Username (and Email address when known) to identify the
    user, one column per grade item (named as the module). Returns (path, students left out)."""
    roster = roster or Roster()
    email = any(p.get("Email") for p in roster.people)
    rows = [["Username"] + (["Email address"] if email else []) + list(grades.names)]
    left_out = []
    for s in grades.students:
        p = roster.find(s) if roster.people else {}
        if p is None:
            left_out.append(s)
            continue
        user = p.get("Username") or p.get("SIS Login ID") or s
        rows.append([user] + ([p.get("Email", "")] if email else [])
                    + [_lms_value(grades.get(s, n), include_pending) for n in grades.names])
    if left_out:
        log(f"not in the roster, left out of {os.path.basename(path)}: {', '.join(left_out)}")
    return write_rows(path, rows), left_out


# --- the command --------------------------------------------------------------------------------

@dataclass
class Exported:
    grades: Grades
    csv: str
    detail: str
    canvas: str
    moodle: str
    left_out: list = field(default_factory=list)

    @property
    def pending(self):
        return [g for g in self.grades.rows.values() if g.status in GRADED and g.pending]


def export(grading, names=None, outcomes=None, csv_path=None, roster=None, canvas_ids=None,
           include_pending=False, log=print):
    """Write the four CSV files from the gradebook (and journal) in grading; returns Exported.
    csv_path: grades.csv's path (the others go beside it)."""
    grades = gather(grading, names, outcomes)
    csv_path = csv_path or os.path.join(grading, "grades.csv")
    out = os.path.dirname(os.path.abspath(csv_path))
    r = read_roster(roster, canvas_ids)
    canvas, left = write_canvas_csv(grades, os.path.join(out, "grades_canvas.csv"), r, include_pending, log)
    moodle, _ = write_moodle_csv(grades, os.path.join(out, "grades_moodle.csv"), r, include_pending, log)
    done = Exported(grades, write_grades_csv(grades, csv_path), write_detail_csv(grades, os.path.join(
        out, "grades_detail.csv")), canvas, moodle, left)
    waiting = done.pending
    if waiting:
        log(f"{len(waiting)} notebook(s) wait for hand grades (formgrader), left empty in the LMS files"
            + (" (written with --include-pending)" if include_pending else "") + ": "
            + ", ".join(f"{g.student} {g.assignment} ({g.pending})" for g in waiting[:10])
            + (" ..." if len(waiting) > 10 else ""))
    log(f"grades: {done.csv} (details {os.path.basename(done.detail)}; for an LMS: "
        f"{os.path.basename(canvas)}, {os.path.basename(moodle)})")
    return done


# --- nbgrader's own command: nbgrader export --exporter autograder.export.CanvasExporter ---------

def _plugin_export(plugin, gradebook, writer, default):
    names = [str(a) for a in plugin.assignment] or None
    students = {str(s) for s in plugin.student} or None
    names, maxima, rows = read_gradebook(gradebook, names, students)
    grades = Grades(names, maxima, rows)
    for s in gradebook.students:                     # students without a submission: an empty row
        if students is None or s.id in students:
            for n in names:
                grades.rows.setdefault((s.id, n), ModuleGrade(s.id, n))
    dest = plugin.to or default
    writer(grades, dest, read_roster(plugin.roster or None, plugin.canvas_ids or None), plugin.include_pending,
           plugin.log.info)
    plugin.log.info("Exported grades to %s", dest)


try:
    from nbgrader.plugins.export import ExportPlugin as _ExportPlugin
    from traitlets import Bool as _Bool, Unicode as _Unicode

    class _LMSExporter(_ExportPlugin):
        roster = _Unicode("", help="Canvas gradebook export or roster CSV to match students").tag(config=True)
        canvas_ids = _Unicode("", help="CSV of assignment,canvas_id lines").tag(config=True)
        include_pending = _Bool(False, help="write scores still waiting for hand grades").tag(config=True)

    class CanvasExporter(_LMSExporter):
        """``nbgrader export --exporter autograder.export.CanvasExporter [--to FILE]``: Canvas's layout."""

        def export(self, gradebook):
            _plugin_export(self, gradebook, write_canvas_csv, "grades_canvas.csv")

    class MoodleExporter(_LMSExporter):
        """``nbgrader export --exporter autograder.export.MoodleExporter [--to FILE]``: Moodle's CSV import."""

        def export(self, gradebook):
            _plugin_export(self, gradebook, write_moodle_csv, "grades_moodle.csv")
except ImportError:      # nbgrader absent: the CSV writers still work
    pass


def main(args, log=print):
    """`python -m autograder export`: args from __main__'s parser."""
    from . import grading_dir
    grading = os.path.abspath(args.grading or grading_dir())
    if not os.path.exists(os.path.join(grading, "gradebook.db")):
        log(f"no gradebook in {grading}: grade first (python -m autograder grade SUBMISSIONS)")
        return 1
    export(grading, names=args.assignments or None, csv_path=args.csv, roster=args.roster,
           canvas_ids=args.canvas_ids, include_pending=args.include_pending, log=log)
    return 0


def dumps(grades):
    """The grades as JSON (for tests and scripts)."""
    return json.dumps({f"{s}/{n}": [g.status, g.auto, g.written, g.pending] for (s, n), g in grades.rows.items()})
