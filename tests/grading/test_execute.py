"""What ``ResilientExecute`` (autograder/execute.py) does with a notebook.

By default grading runs no kernel: every graded test cell of the course is judged by a verdict
(the clean room decides), so the notebook is not executed. A notebook with a graded cell that no
verdict judges is executed (the kernel's run then decides that cell, as in stock nbgrader). With
``run_notebook = True`` (``--run-notebooks``) every notebook is executed in the sandboxed kernel,
which survives what a hostile notebook does to it: these tests use small notebooks without
TensorFlow (a kernel start costs about a second, not a TensorFlow import), one per guarantee.
"""
import json
import os

import nbformat
import pytest
from traitlets.config import Config

from autograder import SOLUTIONS, assignments, kernel_hidden_paths, sandbox
from autograder.execute import ResilientExecute, graded_without_verdict

MiB = 1024 ** 2


def _nb(cells):
    """A notebook of (kind, source) cells: "answer" (an autograded answer cell), "test" (a graded test
    cell, grade_id test_N), "code" (a plain cell)."""
    out = []
    for i, (kind, source) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source)
        if kind == "answer":
            cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": f"answer_{i}",
                                         "locked": False, "schema_version": 3}
        elif kind == "test":
            cell.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": f"test_{i}", "points": 1,
                                         "locked": True, "schema_version": 3}
        out.append(cell)
    nb = nbformat.v4.new_notebook(cells=out)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _resources(tmp_path, notebook="99_nothing"):
    folder = tmp_path / "submitted"
    folder.mkdir(exist_ok=True)
    return {"metadata": {"path": str(folder)}, "nbgrader": {"notebook": notebook, "assignment": notebook}}


def _executor(tmp_path, **traits):
    config = Config()
    config.SandboxedKernelManager.hide = kernel_hidden_paths(str(tmp_path / "grading"))
    config.SandboxedKernelManager.expose_ro = [str(tmp_path)]
    config.SandboxedKernelManager.memory_limit = traits.pop("memory_limit", 3 * 1024 ** 3)
    return ResilientExecute(config=config, **traits)


def _text(cell):
    return "".join(o.get("text", "") + o.get("ename", "") + ": " + o.get("evalue", "") for o in cell.outputs)


from jupyter_client.manager import KernelManager  # noqa: E402


class _NoKernel(KernelManager):
    """A kernel manager that fails the test if a kernel is ever asked for."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("a kernel was started")


# --- the default: no kernel ------------------------------------------------------------------------

@pytest.mark.parametrize("name", assignments())
def test_every_graded_test_cell_of_the_course_is_judged_by_a_verdict(name):
    """The condition for not running the kernel holds for every module as the instructor wrote it."""
    nb = nbformat.read(os.path.join(SOLUTIONS, name, f"{name}.ipynb"), as_version=4)
    graded = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
              and not c.metadata["nbgrader"].get("solution")]
    assert graded, f"{name} has no autograded test cell"
    assert graded_without_verdict(nb, {"nbgrader": {"notebook": name}}) == []


def test_by_default_a_judged_notebook_is_not_executed(tmp_path):
    name = "01_unstable_gradients"
    nb = nbformat.read(os.path.join(SOLUTIONS, name, f"{name}.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    nb.cells.append(nbformat.v4.new_code_cell('print("ran in a kernel")'))
    resources = _resources(tmp_path, name)
    ex = ResilientExecute(kernel_manager_class=_NoKernel)
    out, resources = ex.preprocess(nb, resources)
    assert resources["deeptrain"]["kernel"] is False
    assert all(not c.get("outputs") for c in out.cells if c.cell_type == "code")


def test_a_graded_cell_without_a_verdict_is_still_executed(tmp_path):
    """A test cell no verdict judges (here: an unknown grade_id in module 01) gets its grade from the kernel's
    run, so the notebook is executed even with run_notebook off."""
    nb = _nb([("answer", "def f():\n    return 41 + 1"), ("test", "assert f() == 42\nprint('checked in the kernel')")])
    assert graded_without_verdict(nb, {"nbgrader": {"notebook": "01_unstable_gradients"}}) == ["test_1"]
    assert graded_without_verdict(nb, {"nbgrader": {"notebook": "99_nothing"}}) == ["test_1"]   # no verdicts at all
    ex = _executor(tmp_path, guard=False, timeout=60, notebook_timeout=120)
    assert ex.run_notebook is False
    out, resources = ex.preprocess(nb, _resources(tmp_path))   # (a module without rooms to warm up)
    assert resources["deeptrain"]["kernel"] is True
    assert "checked in the kernel" in _text(out.cells[1])


# --- run_notebook = True: the kernel survives the notebook -------------------------------------------

@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """One notebook whose cells end the kernel, ignore the interrupt, eat memory and loop, then one that
    must still run: executed with run_notebook on, a 3 s cell limit and a 600 MB memory cap."""
    tmp = tmp_path_factory.mktemp("hostile")
    nb = _nb([
        ("code", "x = 1"),
        ("test", "import os\nos._exit(3)"),
        ("test", "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n"
                 "        pass"),
        ("test", "hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))"),
        ("test", "while True:\n    pass"),
        ("test", "print('still running, x =', x)"),
    ])
    ex = _executor(tmp, guard=False, timeout=3, notebook_timeout=300, memory_limit=600 * MiB, run_notebook=True)
    out, resources = ex.preprocess(nb, _resources(tmp))
    return out, resources


@pytest.mark.slow
def test_run_notebook_executes_it(hostile):
    assert hostile[1]["deeptrain"]["kernel"] is True


@pytest.mark.slow
@pytest.mark.parametrize("index, expected", [(1, "KernelExited"), (2, "did not stop when interrupted"),
                                             (3, "MemoryLimit"), (4, "was interrupted")])
def test_a_cell_that_breaks_the_kernel_gets_an_error_and_the_rest_runs(hostile, index, expected):
    nb, _ = hostile
    assert expected in _text(nb.cells[index]), _text(nb.cells[index])
    assert "still running, x = 1" in _text(nb.cells[-1])


@pytest.mark.slow
def test_the_guard_puts_back_what_the_notebook_changed_in_numpy(tmp_path):
    nb = _nb([("code", "import numpy as np"),
              ("answer", "np.isclose = lambda *args, **kwargs: True\ndef f():\n    return 1"),
              ("test", "print('isclose says', np.isclose(1.0, 2.0))")])
    ex = _executor(tmp_path, timeout=120, notebook_timeout=300, run_notebook=True)
    out, _ = ex.preprocess(nb, _resources(tmp_path))
    text = _text(out.cells[2])
    assert text.startswith("[grader]") and "numpy.isclose" in text, text
    assert "isclose says False" in text, text


@pytest.mark.slow
def test_the_kernel_cannot_write_outside_its_scratch(tmp_path):
    """The file system of an executed notebook is read-only but for its folder and a private /tmp."""
    if not sandbox.bwrap_works()[0]:
        pytest.skip(f"no isolation here: {sandbox.bwrap_works()[1]}")
    target = tmp_path / "outside.txt"
    nb = _nb([("test", f"try:\n    open({str(target)!r}, 'w').write('x')\n    print('WROTE')\n"
                       f"except OSError as e:\n    print('refused', e.strerror)")])
    ex = _executor(tmp_path, guard=False, timeout=60, notebook_timeout=120, run_notebook=True)
    out, _ = ex.preprocess(nb, _resources(tmp_path))
    assert "refused" in _text(out.cells[0]) and not target.exists(), _text(out.cells[0])
