"""The class report, from a hand-made run (no grading: fast).

Three students of one module: full marks, a partial score whose test cell carries its judgement as
data (two failed checks, one function not attempted; autograder/judgement.py), an error-only test
cell; one student flagged, one failed, one missing; a second module nobody submitted. The report
must read the judgement (not the printed text), count each check and each failure once per
student, tell not attempted from crashed from wrong, group the same failure of two students, list
the flagged/failed/missing work, and leave out the module nobody submitted.
"""
import os

import nbformat

from autograder.grade import Outcome, Report
from autograder.judgement import output as judgement_output
from autograder.report import class_report, module_stats, cell_results

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


def _failure(fn, check, message, detail, points=1, counted=True):
    return {"function": fn, "check": check, "points": points, "message": message, "detail": detail,
            "counted": counted}


def _judged(score, functions, failures):
    """The test cell's outputs as JudgeResults leaves them: points, judgement data, then the text,
    which here says something else on purpose (the report must not read it)."""
    data = {"exercise": "01.x", "cell": "test_a", "score": score, "max_score": 2,
            "functions": {fn: {"status": st, "score": sc, "max_score": 1} for fn, (st, sc) in functions.items()},
            "failures": failures, "flagged": [], "review": []}
    return [nbformat.v4.new_output("execute_result", data={"text/plain": f"{score:g}"}, execution_count=1),
            judgement_output(data), _stream("f: text the report must not parse [-9 points]\n")]


def _run(tmp_path):
    g = str(tmp_path)
    formula = _failure("f", "value", "f(x) differs from the formula", "case x = 3: expected 0.5, got 0.25")
    _autograded(g, "ann", _judged(2, {"f": ("passed", 1), "g": ("passed", 1)}, []),
                [_stream("Visible checks passed.\n")])
    _autograded(g, "bob", _judged(0, {"f": ("wrong", 0), "g": ("not attempted", 0)},
                                  [formula, formula,   # the same check twice: counted once
                                   _failure("g", "value", "g returned None", "not attempted"),
                                   _failure("f", "unchanged", "f changed its input", "not counted: no value",
                                            counted=False)]),
                [nbformat.v4.new_output("error", ename="AssertionError",
                                        evalue="h([1, 2]): expected shape (2,), got (3,)", traceback=[])])
    _autograded(g, "cy", _judged(1, {"f": ("wrong", 0), "g": ("partial", 0.5)},
                                 [dict(formula, detail="case x = 3: expected 0.5, got 0.75"),
                                  _failure("g", "list", "g returns a list", "got a tuple", points=0.5)]),
                [_stream("Visible checks passed.\n")])
    report = Report(maxima={NAME: 4.0, "02_nobody": 5.0}, csv_path=os.path.join(g, "grades.csv"),
                    lms_csv_path=os.path.join(g, "grades_canvas.csv"))
    report.outcomes = [
        Outcome("ann", NAME, "graded", 4, 4, cells=_grades(2, 2)),
        Outcome("bob", NAME, "flagged", 0, 4, cells=_grades(0, 0), review=["suspicious code: np.isclose"]),
        Outcome("cy", NAME, "graded", 3, 4, cells=_grades(1, 2)),
        Outcome("dan", NAME, "failed", message="cannot be graded automatically: not valid notebook JSON",
                review=["cannot be graded automatically: not valid notebook JSON"]),
        Outcome("eve", NAME, "missing", message="no submission"),
    ] + [Outcome(s, "02_nobody", "missing", message="no submission") for s in ("ann", "bob", "cy", "dan", "eve")]
    return g, report


def test_judgement_is_read_as_data(tmp_path):
    g, _ = _run(tmp_path)
    res = cell_results(os.path.join(g, "autograded", "bob", NAME, f"{NAME}.ipynb"))
    assert res["test_a"]["verdict"] and [c for c, _ in res["test_a"]["fail"]] == [
        "f: f(x) differs from the formula", "f: f(x) differs from the formula", "g: not attempted"]
    assert res["test_a"]["judgement"]["functions"]["g"]["status"] == "not attempted"
    assert res["test_b"]["errors"] == ["AssertionError: h([1, 2]): expected shape (2,), got (3,)"]


def test_pass_rates_and_grouped_failures(tmp_path):
    g, report = _run(tmp_path)
    s = module_stats(report, [NAME], g)[NAME]
    assert s["scores"] == [4, 0, 3]
    assert s["cells"]["test_a"] == {"points": 2, "full": 1, "partial": 1, "none": 1}
    checks = s["checks"]["test_a"]
    assert checks["f: f(x) differs from the formula"] == {"pass": 1, "fail": 2}   # ann passed, bob and cy failed
    assert checks["g: not attempted"] == {"pass": 2, "fail": 1}                 # one failure, not one per check
    assert "f: f changed its input" not in checks                               # not counted: no failure
    assert checks["g: g returns a list"] == {"pass": 1, "fail": 1}    # ann passed, cy failed; bob's g was not judged
    assert s["checks"]["test_b"]["h([1, 2])"] == {"pass": 2, "fail": 1}         # from the error message
    top = sorted(s["messages"].values(), key=lambda m: -m["count"])[0]
    assert top["count"] == 2 and sorted(top["students"]) == ["bob", "cy"]       # bob once, though listed twice
    assert s["functions"][("test_a", "g")] == {"passed": 1, "partial": 1, "not attempted": 1}
    assert s["functions"][("test_a", "f")] == {"passed": 1, "wrong": 2}


def test_report_page_figures_and_lms_csv(tmp_path):
    g, report = _run(tmp_path)
    lines = []
    path = class_report(report, [NAME], g, log=lines.append)
    page = open(path, encoding="utf-8").read()
    for text in ("Score distributions", "data:image/png;base64,", "f: f(x) differs from the formula",
                 "Flagged for review (graded; a human should look): 1", "Failed to run (grade by hand): 1",
                 "Missing work: 1", "not valid notebook JSON", "bob, cy", "not attempted"):
        assert text in page, text
    assert "02_nobody" not in page                                  # nobody submitted it: not shown
    assert "text the report must not parse" not in page
    assert os.path.getsize(os.path.join(g, "report", "scores.png")) > 5000
    assert os.path.getsize(os.path.join(g, "report", "pass_rates.png")) > 5000
    assert any("median 3/4" in line for line in lines), lines


def test_judgement_data_does_not_change_nbgrader_score():
    """nbgrader's determine_grade reads the execute_result (the points) and nothing of the judgement's
    display_data, whatever score that data claims; an error output would still score 0."""
    from nbgrader.utils import determine_grade
    cell = _cell("test_a", _judged(1.5, {"f": ("partial", 0.5)}, []))
    cell.outputs[1]["data"]["application/vnd.deeptrain.judgement+json"]["score"] = 0
    assert determine_grade(cell) == (1.5, 2)
    cell.outputs = cell.outputs[1:] + cell.outputs[:1]          # the data first: still the number
    assert determine_grade(cell) == (1.5, 2)
    cell.outputs.append(nbformat.v4.new_output("error", ename="E", evalue="", traceback=[]))
    cell.outputs.insert(0, cell.outputs.pop())
    assert determine_grade(cell) == (0, 2)
