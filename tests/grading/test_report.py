"""The class report and the LMS grades CSV, from a hand-made run (no grading: fast).

Three students of one module: full marks, a partial score whose test cell reports two failed
checks (the per-check format of autograder/verdicts), an error-only test cell; one student
flagged, one failed, one missing. The report must count each check, group the same failure of
two students, list the flagged/failed/missing work, and the CSV must have Canvas's columns.
"""
import csv
import os

import nbformat

from autograder.grade import Outcome, Report
from autograder.report import class_report, module_stats, cell_results, write_lms_csv

NAME = "01_x"


def _cell(gid, outputs):
    c = nbformat.v4.new_code_cell("# test")
    c.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": gid, "points": 2}
    c.outputs = outputs
    return c


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _autograded(grading, student, outputs_a, outputs_b):
    nb = nbformat.v4.new_notebook(cells=[_cell("test_a", outputs_a), _cell("test_b", outputs_b)])
    d = os.path.join(grading, "autograded", student, NAME)
    os.makedirs(d)
    nbformat.write(nb, os.path.join(d, f"{NAME}.ipynb"))


def _grades(a, b):
    return [{"notebook": NAME, "cell": "test_a", "cell_type": "code", "max_score": 2, "auto_score": a,
             "manual_score": None},
            {"notebook": NAME, "cell": "test_b", "cell_type": "code", "max_score": 2, "auto_score": b,
             "manual_score": None}]


def _run(tmp_path):
    g = str(tmp_path)
    wrong = "f: f(x) differs from the formula [-1 points]\n      case x = 3: expected 0.5, got 0.25\n"
    _autograded(g, "ann", [_stream("f: 2 of 2 points\n  every check passed\n")], [_stream("Visible checks passed.\n")])
    _autograded(g, "bob", [_stream("f: 0 of 2 points\n  " + wrong + "  g: g returned None [-1 points]\n")],
                [nbformat.v4.new_output("error", ename="AssertionError",
                                        evalue="h([1, 2]): expected shape (2,), got (3,)", traceback=[])])
    _autograded(g, "cy", [_stream("f: 1 of 2 points\n  " + wrong.replace("0.25", "0.75"))],
                [_stream("Visible checks passed.\n")])
    report = Report(maxima={NAME: 4.0}, csv_path=os.path.join(g, "grades.csv"),
                    lms_csv_path=os.path.join(g, "grades_lms.csv"))
    report.outcomes = [
        Outcome("ann", NAME, "graded", 4, 4, cells=_grades(2, 2)),
        Outcome("bob", NAME, "flagged", 0, 4, cells=_grades(0, 0), review=["suspicious code: np.isclose"]),
        Outcome("cy", NAME, "graded", 3, 4, cells=_grades(1, 2)),
        Outcome("dan", NAME, "failed", message="cannot be graded automatically: not valid notebook JSON",
                review=["cannot be graded automatically: not valid notebook JSON"]),
        Outcome("eve", NAME, "missing", message="no submission"),
    ]
    return g, report


def test_per_check_output_is_parsed(tmp_path):
    g, _ = _run(tmp_path)
    res = cell_results(os.path.join(g, "autograded", "bob", NAME, f"{NAME}.ipynb"))
    assert res["test_a"]["verdict"] and [c for c, _ in res["test_a"]["fail"]] == [
        "f: f(x) differs from the formula", "g: g returned None"]
    assert res["test_b"]["errors"] == ["AssertionError: h([1, 2]): expected shape (2,), got (3,)"]


def test_pass_rates_and_grouped_failures(tmp_path):
    g, report = _run(tmp_path)
    s = module_stats(report, [NAME], g)[NAME]
    assert s["scores"] == [4, 0, 3]
    assert s["cells"]["test_a"] == {"points": 2, "full": 1, "partial": 1, "none": 1}
    checks = s["checks"]["test_a"]
    assert checks["f: f(x) differs from the formula"] == {"pass": 1, "fail": 2}   # ann passed, bob and cy failed
    assert checks["g: g returned None"] == {"pass": 2, "fail": 1}
    assert s["checks"]["test_b"]["h([1, 2])"] == {"pass": 2, "fail": 1}         # from the error message
    top = sorted(s["messages"].values(), key=lambda m: -m["count"])[0]
    assert top["count"] == 2 and sorted(top["students"]) == ["bob", "cy"]


def test_report_page_figures_and_lms_csv(tmp_path):
    g, report = _run(tmp_path)
    lines = []
    path = class_report(report, [NAME], g, log=lines.append)
    page = open(path, encoding="utf-8").read()
    for text in ("Score distributions", "data:image/png;base64,", "f: f(x) differs from the formula",
                 "Flagged for review (graded; a human should look): 1", "Failed to run (grade by hand): 1",
                 "Missing work: 1", "not valid notebook JSON", "bob, cy"):
        assert text in page, text
    assert os.path.getsize(os.path.join(g, "report", "scores.png")) > 5000
    assert os.path.getsize(os.path.join(g, "report", "pass_rates.png")) > 5000
    assert any("median 3/4" in line for line in lines), lines
    write_lms_csv(report, [NAME], report.lms_csv_path)
    rows = list(csv.reader(open(report.lms_csv_path)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{NAME} (4)", "Total (autograded)"]
    by = {r[0]: r for r in rows[1:]}
    assert by["cy"][5] == "3" and by["bob"][5] == "0" and by["dan"][5] == "" and by["eve"][5] == ""
