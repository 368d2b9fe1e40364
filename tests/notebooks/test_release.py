"""course/ is exactly what `python -m autograder release` generates from solutions/."""
import json
import os

import pytest

from autograder import COURSE, SOLUTIONS, assignments
from autograder.release import stale

pytestmark = pytest.mark.slow


def test_every_module_has_a_solution_and_a_release():
    names = assignments()
    assert names, "no solutions/NN_topic/NN_topic.ipynb found"
    for name in names:
        assert os.path.isfile(os.path.join(COURSE, name, f"{name}.ipynb")), f"course/{name} is missing"


def test_course_release_is_in_sync_with_solutions():
    assert stale() == [], "course/ is stale: run `python -m autograder release` and commit course/"


@pytest.mark.parametrize("name", assignments())
def test_release_has_no_solution_hidden_test_or_output(name):
    nb = json.load(open(os.path.join(COURSE, name, f"{name}.ipynb")))
    text = "".join("".join(c["source"]) for c in nb["cells"])
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("name", assignments())
def test_solution_notebook_has_graded_cells_and_a_written_question(name):
    nb = json.load(open(os.path.join(SOLUTIONS, name, f"{name}.ipynb")))
    meta = [c["metadata"].get("nbgrader", {}) for c in nb["cells"]]
    tests = [m for m in meta if m.get("grade") and not m.get("solution")]
    written = [m for m in meta if m.get("grade") and m.get("solution")]
    assert tests, f"{name} has no autograded test cell"
    assert 1 <= len(written) <= 3, f"{name} should hold 1-3 written questions, has {len(written)}"
    ids = [m["grade_id"] for m in meta if "grade_id" in m]
    assert len(ids) == len(set(ids)), f"{name} has duplicated grade_ids"


# --- the release's finish for students (autograder/release.py, _for_students) ---

def _release(name):
    return json.load(open(os.path.join(COURSE, name, f"{name}.ipynb"), encoding="utf-8"))


def _is_test(cell):
    meta = cell["metadata"].get("nbgrader", {})
    return cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution")


@pytest.mark.parametrize("name", assignments())
def test_run_all_goes_past_test_cells_and_only_test_cells(name):
    """JupyterLab and nbclient go on after a cell tagged raises-exception; nbgrader ignores tags."""
    for cell in _release(name)["cells"]:
        tagged = "raises-exception" in cell["metadata"].get("tags", [])
        assert tagged == bool(_is_test(cell)), (cell.get("id"), cell["metadata"])


@pytest.mark.parametrize("name", assignments())
def test_static_figures_travel_inside_the_notebook(name):
    import base64
    import re
    nb = _release(name)
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        assert "](figures/" not in text, f"{name}: a figure linked as a file, not attached: {text[:200]}"
        for att in re.findall(r"\]\(attachment:([^)]+)\)", text):
            data = base64.b64decode(cell["attachments"][att]["image/png"])
            assert data.startswith(b"\x89PNG"), att
            assert data == open(os.path.join(COURSE, name, "figures", att), "rb").read(), \
                f"{name}: attachment {att} differs from figures/{att}"


@pytest.mark.parametrize("name", assignments())
def test_the_last_cell_summarises_every_exercise_by_its_test_cell(name):
    import ast
    from deeptrain.exercises import fingerprint
    nb = _release(name)
    last = nb["cells"][-1]
    assert last["id"] == "deeptrain-progress" and last["cell_type"] == "code"
    call = ast.parse("".join(last["source"])).body[0].value
    assert ast.unparse(call.func) == "dt.progress"
    listed = list(ast.literal_eval(call.args[0]).values())
    assert listed == [fingerprint(c["source"]) for c in nb["cells"] if _is_test(c)]


@pytest.mark.parametrize("name", assignments())
def test_the_finish_is_stable(name):
    import copy
    from autograder.release import _for_students
    nb = _release(name)
    assert _for_students(copy.deepcopy(nb), os.path.join(COURSE, name)) == nb


HALF = ("01_unstable_gradients",)


def _half_solved(name, finished):
    """The release of name with the first answer cell solved, the second answered wrongly (a
    function returning zeros), the rest left as stubs; `finished` False strips the students'
    finish (tags, progress cells, attached figures) back to nbgrader's own release."""
    import copy
    import re
    nb = copy.deepcopy(_release(name))
    sol = json.load(open(os.path.join(SOLUTIONS, name, f"{name}.ipynb"), encoding="utf-8"))
    answers = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in sol["cells"]
               if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")}
    n = 0
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution"):
            n += 1
            if n == 1:
                cell["source"] = answers[meta["grade_id"]]
            elif n == 2:
                cell["source"] = re.sub(r"# YOUR CODE HERE\n(\s*)raise NotImplementedError\(\)",
                                        r"# YOUR CODE HERE\n\1return np.zeros(3)", "".join(cell["source"]))
    if not finished:
        nb["cells"] = [c for c in nb["cells"] if not c.get("id", "").startswith("deeptrain-progress")]
        for cell in nb["cells"]:
            cell["metadata"].pop("tags", None)
            for att in cell.pop("attachments", {}):
                cell["source"] = "".join(cell["source"]).replace(f"attachment:{att}", f"figures/{att}")
    return nb


def test_the_students_finish_changes_no_grade(tmp_path):
    """The same half-solved answers in nbgrader's own release and in the finished one (tags,
    progress cell, attached figures) get the same score in every graded cell."""
    from nbgrader.api import Gradebook
    from autograder.grade import grade

    subs = tmp_path / "subs"
    for student, finished in (("plain", False), ("finished", True)):
        (subs / student).mkdir(parents=True)
        for name in HALF:
            json.dump(_half_solved(name, finished), open(subs / student / f"{name}.ipynb", "w"))
    report = grade(str(subs), grading=str(tmp_path / "grading"), log=lambda *_: None, jobs=2, names=list(HALF))
    outcomes = {(o.student, o.assignment): o for o in report.outcomes}
    with Gradebook(f"sqlite:///{tmp_path / 'grading' / 'gradebook.db'}") as gb:
        for name in HALF:
            per_cell = {}
            for student in ("plain", "finished"):
                assert outcomes[(student, name)].status == "graded", outcomes[(student, name)].message
                nb = gb.find_submission_notebook(name, name, student)
                per_cell[student] = {g.name: (g.score, g.max_score) for g in nb.grades}
            assert per_cell["plain"] == per_cell["finished"], name
            scores = [s or 0 for s, _ in per_cell["plain"].values()]
            assert 0 < sum(scores) < sum(m or 0 for _, m in per_cell["plain"].values()), (name, per_cell["plain"])


def test_the_bundle_gives_students_the_settings_of_make_lab(tmp_path):
    """The bundle's etc/jupyter is make lab's two folders merged: Validate stays, formgrader
    (server and lab), the Create Assignment panel, the Nbgrader menu and the exchange panels are off."""
    from autograder.bundle import _jupyter_settings
    _jupyter_settings(str(tmp_path))
    server = json.load(open(tmp_path / "jupyter_server_config.json"))["ServerApp"]["jpserver_extensions"]
    assert server == {"nbgrader.server_extensions.assignment_list": False,
                      "nbgrader.server_extensions.course_list": False,
                      "nbgrader.server_extensions.formgrader": False,
                      "nbgrader.server_extensions.validate_assignment": False,   # served by:
                      "deeptrain.validate_server": True}
    off = json.load(open(tmp_path / "labconfig" / "page_config.json"))["disabledExtensions"]
    assert {f"@jupyter/nbgrader:{p}" for p in ("formgrader", "create-assignment", "menu", "assignment-list",
                                                "course-list")} <= {k for k, v in off.items() if v}
    assert not off.get("@jupyter/nbgrader:validate-assignment")
    hidden = json.load(open(tmp_path / "jupyter_server_config.json"))["ContentsManager"]["hide_globs"]
    assert "solutions" in hidden
