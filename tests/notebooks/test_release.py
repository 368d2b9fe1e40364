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
