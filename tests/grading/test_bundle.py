"""The student bundle holds what a class needs and nothing of the grading, and its notebooks run.

`python -m autograder bundle OUT` is built into a temporary folder; each course notebook, with the
solution's answers typed in, runs against the bundle's library alone (PYTHONPATH=OUT/lib, so the
installed deeptrain and its reference/ are out of reach) and every visible check passes.
"""
import os
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import COURSE, ROOT, SOLUTIONS, assignments

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "deeptrain-course"
    subprocess.run([sys.executable, "-m", "autograder", "bundle", str(out), "--zip"], cwd=ROOT, check=True)
    return out


def _files(folder):
    return {os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs}


def _released():
    return [n for n in assignments() if os.path.exists(os.path.join(COURSE, n, f"{n}.ipynb"))]


def test_bundle_has_notebooks_library_and_setup_but_no_grading_material(bundle):
    files = _files(bundle)
    for name in _released():
        assert f"course/{name}/{name}.ipynb" in files
    assert {"README.md", "pyproject.toml", "requirements.txt", "environment.yml", "lib/deeptrain/__init__.py",
            "lib/deeptrain/checks.py"} <= files
    assert not any(f.startswith("lib/deeptrain/reference") or "solutions" in f or "autograder" in f
                   or f.endswith((".pyc", ".db")) for f in files), files
    text = "".join(open(os.path.join(bundle, f), errors="replace").read() for f in files if f.endswith(".ipynb"))
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    requirements = open(bundle / "requirements.txt").read()
    assert "nbgrader" in requirements, "students need nbgrader for the Validate button"
    assert not any(tool in requirements for tool in ("pytest", "nbval", "playwright", "jupyterhub"))
    assert {"Makefile", "etc/jupyter/jupyter_server_config.json", "etc/jupyter/labconfig/page_config.json"} <= files
    assert "deeptrain.workspace course work" in open(bundle / "Makefile").read()
    assert os.path.exists(str(bundle) + ".zip")


def _filled(name, bundle):
    """The bundle's release of `name` with the solution's answers in place of the stubs."""
    nb = nbformat.read(os.path.join(bundle, "course", name, f"{name}.ipynb"), as_version=4)
    sol = nbformat.read(os.path.join(SOLUTIONS, name, f"{name}.ipynb"), as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in sol.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    nb.cells.append(nbformat.v4.new_code_cell(
        "import importlib.util, deeptrain\n"
        "print('LIBRARY', deeptrain.__file__)\n"
        "print('REFERENCE', importlib.util.find_spec('deeptrain.reference') is not None)"))
    return nb


@pytest.mark.parametrize("name", _released())
def test_course_notebook_runs_against_the_bundle_alone_and_passes_its_visible_checks(bundle, name, tmp_path):
    nb = _filled(name, bundle)
    env = dict(os.environ, PYTHONPATH=str(bundle / "lib"), NBGRADER_EXECUTION="validate",
               TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(bundle / "course" / name)}})
    client.execute(env=env)
    tests = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    assert tests
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{cell.metadata.get('nbgrader', {}).get('grade_id')}: {errors[0]['ename']}: {errors[0]['evalue']}"
    for cell in tests:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "Visible checks passed." in text, cell.metadata["nbgrader"]["grade_id"]
    last = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert f"LIBRARY {bundle}" in last and "REFERENCE False" in last, last
