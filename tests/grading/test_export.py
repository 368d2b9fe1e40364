"""Grades out of the gradebook (autograder/export.py): complete, with the true maxima, in files
Canvas and Moodle import as they document them; nothing a spreadsheet would run as a formula.

No grading here (fast): a gradebook is made with nbgrader's own Gradebook API, two modules with
autograded code cells and a written answer, as ``python -m autograder grade`` leaves it; a hand
grade is then entered through the same API (what formgrader does) and must reach the next export.

Canvas's layout, from its documentation ("How do I export grades in the Gradebook?", "How do I
import grades in the Gradebook?"): the export's header is ``Student, ID, SIS User ID, SIS Login
ID, Section``, then one column per assignment headed ``Name (assignment id)``, then read-only
computed columns (Current/Final Points/Score); its second row is ``    Points Possible`` with each
assignment's points (``(read only)`` under computed columns); on import, a column whose header is
not an existing assignment becomes a new assignment, read-only columns are ignored, and a student
row is matched by ID, else SIS User ID / SIS Login ID. ``fixtures/canvas_gradebook_export.csv`` is
such an export (the course's modules already created in Canvas, with their ids, plus the "Test
Student" Canvas adds to every course). Moodle's "Import grades from CSV" (Grades > Import > CSV
file): a header row, a column that identifies the user mapped to username, e-mail or ID number,
and one column per grade item (mapped to an existing item or a new one); an empty cell imports
nothing.
"""
import csv
import os

import pytest

from autograder import COURSE_ID
from autograder import export as E
from autograder.outcome import Outcome

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "canvas_gradebook_export.csv")
M1, M7 = "01_unstable_gradients", "07_optimizers"
HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


@pytest.fixture(scope="module", autouse=True)
def _alembic_on_path():
    """nbgrader creates a gradebook by running `alembic` from PATH: this environment's."""
    import sys
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + old
    yield
    os.environ["PATH"] = old


def _module(gb, name, code_points, written_points):
    gb.add_assignment(name)
    gb.add_notebook(name, name)
    for i, p in enumerate(code_points):
        gb.add_grade_cell(f"test_{i}", name, name, max_score=p, cell_type="code")
    gb.add_grade_cell("written", name, name, max_score=written_points, cell_type="markdown")
    gb.add_solution_cell("written", name, name)


def _submit(gb, name, student, autos, written=None):
    """written: None (answered, waits for a hand grade) or a number (graded)."""
    gb.update_or_create_student(student)
    sub = gb.add_submission(name, student)
    for nb in sub.notebooks:
        for g in nb.grades:
            if g.cell_type == "code":
                g.auto_score = autos[int(g.name.split("_")[1])]
                g.needs_manual_grade = False
            else:
                g.auto_score = None if written is None else 0
                g.needs_manual_grade = written is None
    gb.db.commit()


@pytest.fixture(scope="module")
def _made(tmp_path_factory, _alembic_on_path):
    """The gradebook, made once (nbgrader's creation runs alembic: seconds); each test gets a copy."""
    from nbgrader.api import Gradebook
    tmp_path = tmp_path_factory.mktemp("made")
    with Gradebook("sqlite:///" + str(tmp_path / "gradebook.db"), COURSE_ID) as gb:
        _module(gb, M1, [3, 4], 2)
        _module(gb, M7, [10, 8], 2)
        _submit(gb, M1, "ada", [3, 4])                 # full autograded, written answer waiting
        _submit(gb, M1, "cbabbage", [1.5, 4], 0)       # written answer left blank: 0, nothing waits
        _submit(gb, M7, "ada", [10, 2], 0)
        _submit(gb, M1, "ghopper", [0, 0], 0)
    return str(tmp_path / "gradebook.db")


@pytest.fixture
def grading(_made, tmp_path):
    import shutil
    shutil.copy(_made, tmp_path / "gradebook.db")
    return str(tmp_path)


def _outcomes():
    o = [Outcome("ada", M1, "graded"), Outcome("cbabbage", M1, "flagged", review=["suspicious code: x"]),
         Outcome("ghopper", M1, "graded"), Outcome("ada", M7, "graded"),
         Outcome("cbabbage", M7, "failed", message="cannot be graded automatically: not valid notebook JSON"),
         Outcome("ghopper", M7, "missing", message="no submission")]
    return o


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_complete_grades_with_true_maxima_and_pending_hand_grades(grading):
    done = E.export(grading, names=[M1, M7], outcomes=_outcomes(), log=print)
    rows = {r[0]: r for r in _rows(done.csv)}
    assert rows["student"] == ["student", M1, M7, "total", "max_total", "status"]
    assert rows["ada"][1:5] == ["7", "12", "19", "29"]            # 9 + 20 points available, not 7 + 18
    assert "1 answer(s) wait for a hand grade" in rows["ada"][5]
    assert rows["cbabbage"][1:3] == ["5.5", "0"] and f"{M7}:failed" in rows["cbabbage"][5]
    assert f"{M7}:missing" in rows["ghopper"][5]
    detail = {(r["student"], r["assignment"]): r for r in csv.DictReader(open(done.detail))}
    ada = detail[("ada", M1)]
    assert (ada["auto_score"], ada["auto_max"], ada["written_score"], ada["written_max"], ada["pending_hand_grades"],
            ada["score"], ada["max_score"]) == ("7", "7", "0", "2", "1", "7", "9")
    # Canvas and Moodle: a module that waits for a hand grade is left empty (the LMS keeps it ungraded).
    canvas = {r[0]: r for r in _rows(done.canvas)}
    assert canvas["ada"][5:] == ["", "12"] and canvas["cbabbage"][5:] == ["5.5", ""]


def test_a_hand_grade_entered_through_the_gradebook_api_reaches_the_next_export(grading):
    from nbgrader.api import Gradebook
    before = E.export(grading, names=[M1, M7], outcomes=_outcomes(), log=print)
    canvas_before = open(before.canvas).read()
    with Gradebook("sqlite:///" + os.path.join(grading, "gradebook.db"), COURSE_ID) as gb:   # what formgrader does
        g = gb.find_grade("written", M1, M1, "ada")
        g.manual_score = 1.5
        g.needs_manual_grade = False
        gb.db.commit()
    after = E.export(grading, names=[M1, M7], outcomes=_outcomes(), log=print)
    assert open(after.canvas).read() != canvas_before
    assert {r[0]: r for r in _rows(after.csv)}["ada"][1:6] == ["8.5", "12", "20.5", "29", "ok"]
    assert {r[0]: r for r in _rows(after.canvas)}["ada"][5] == "8.5"
    assert {r[0]: r for r in _rows(after.moodle)}["ada"][1] == "8.5"


def test_canvas_file_has_the_layout_of_canvas_export(grading):
    """Read back as Canvas reads its own export: the identity columns, assignment columns (no fake
    id, no derived column that would become an assignment), the Points Possible row."""
    sample = _rows(FIXTURE)
    done = E.export(grading, names=[M1, M7], outcomes=_outcomes(), log=print)
    ours = _rows(done.canvas)
    assert ours[0][:5] == sample[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert ours[0][5:] == [M1, M7]                                   # names only: Canvas matches or creates
    assert ours[1][0] == sample[1][0] == "    Points Possible" and ours[1][1:5] == ["", "", "", ""]
    assert ours[1][5:] == ["9", "20"]
    assert not any(h.lower().startswith(("total", "current", "final")) for h in ours[0])
    assert {r[3] for r in ours[2:]} == {"ada", "cbabbage", "ghopper"}  # no roster: the folder name as login


def test_canvas_roster_gives_ids_and_assignment_ids(grading):
    """Canvas's own export as the roster: each student's Canvas ID, SIS ids and section, and each
    module's assignment id in its header, as Canvas writes them; a folder not in the roster is left out."""
    outcomes = _outcomes() + [Outcome("stranger", M1, "missing")]
    lines = []
    done = E.export(grading, names=[M1, M7], outcomes=outcomes, roster=FIXTURE, log=lines.append)
    ours = _rows(done.canvas)
    sample = _rows(FIXTURE)
    assert ours[0] == sample[0][:7]                                  # 01_unstable_gradients (7301), 07_optimizers (7307)
    by = {r[3]: r for r in ours[2:]}
    assert by["ada"][:5] == ["Lovelace, Ada", "40123", "S1001", "ada", "Section 1"]
    assert sorted(by) == ["ada", "cbabbage", "ghopper"]
    assert any("stranger" in line and "not in the roster" in line for line in lines)


def test_moodle_file_has_an_identifier_and_one_column_per_grade_item(grading, tmp_path):
    roster = tmp_path / "moodle_roster.csv"
    roster.write_text("Username,Email address\nada,ada@uni.example\ncbabbage,cb@uni.example\nghopper,gh@uni.example\n")
    done = E.export(grading, names=[M1, M7], outcomes=_outcomes(), roster=str(roster), include_pending=True,
                    log=print)
    rows = _rows(done.moodle)
    assert rows[0] == ["Username", "Email address", M1, M7]
    by = {r[0]: r for r in rows[1:]}
    assert by["ada"] == ["ada", "ada@uni.example", "7", "12"]       # --include-pending: written as it stands
    assert by["ghopper"] == ["ghopper", "gh@uni.example", "0", ""]   # missing: empty, imports nothing
    for r in rows[1:]:                                              # every grade a number or empty
        assert all(v == "" or float(v) >= 0 for v in r[2:])


def test_no_csv_cell_starts_a_formula(tmp_path):
    """Student ids come from folder and file names: each value a spreadsheet would run is neutralised
    in grades.csv, grades_detail.csv and both LMS files (and the check can fail: raw csv would not)."""
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + str(tmp_path / "gradebook.db"), COURSE_ID) as gb:
        _module(gb, M1, [3], 1)
        for s in HOSTILE:
            _submit(gb, M1, s, [1], 0)
    outcomes = [Outcome(s, M1, "flagged", review=["=cmd|' /C calc'!A0"], message="-1+1") for s in HOSTILE]
    done = E.export(str(tmp_path), names=[M1], outcomes=outcomes, log=print)
    for path in (done.csv, done.detail, done.canvas, done.moodle):
        cells = [c for r in _rows(path) for c in r]
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))], path
        assert any(c == "'=HYPERLINK(\"http://x\",\"y\")" for c in cells), path
    assert E.safe("-2+3") == "'-2+3" and E.safe(0.5) == "0.5" and E.safe("ada") == "ada"
    raw = tmp_path / "raw.csv"                     # the test would see an unprotected writer
    csv.writer(open(raw, "w", newline="")).writerows([[s] for s in HOSTILE])
    assert any(c.startswith("=") for r in _rows(raw) for c in r)


def test_nbgrader_export_plugin_writes_the_same_canvas_file(grading, tmp_path):
    """`nbgrader export --exporter autograder.export.CanvasExporter` (called as nbgrader calls it)."""
    from nbgrader.api import Gradebook
    plugin = E.CanvasExporter(to=str(tmp_path / "plugin.csv"), assignment=[M1, M7])
    with Gradebook("sqlite:///" + os.path.join(grading, "gradebook.db"), COURSE_ID) as gb:
        plugin.export(gb)
    ours = _rows(E.export(grading, names=[M1, M7], outcomes=[o for o in _outcomes() if o.status != "failed"],
                          log=print).canvas)
    theirs = _rows(tmp_path / "plugin.csv")
    assert theirs[:2] == ours[:2]
    assert {r[3]: r[5:] for r in theirs[2:]} == {"ada": ["", "12"], "cbabbage": ["5.5", ""], "ghopper": ["0", ""]}


def test_export_command_reads_gradebook_and_journal(grading):
    from autograder.__main__ import main
    from autograder.journal import journal_append
    for o in _outcomes():
        journal_append(grading, "k", o)
    assert main(["export", "--grading", grading]) == 0
    rows = {r[0]: r for r in _rows(os.path.join(grading, "grades.csv"))}
    assert rows["student"][1:3] == [M1, M7] and f"{M7}:failed" in rows["cbabbage"][-1]
    assert os.path.exists(os.path.join(grading, "grades_canvas.csv"))
