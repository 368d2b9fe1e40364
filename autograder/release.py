"""Regenerate course/ (the student release) from solutions/ with nbgrader generate_assignment.

What nbgrader generates is then finished for the student (``_for_students``), without touching
anything nbgrader grades (sources and grading metadata of graded cells stay as generated):

- each test cell gets the ``raises-exception`` tag: Run All on an unsolved notebook goes on past
  it (JupyterLab and nbclient honour the tag; nbgrader's autograde and Validate record the error
  as before, so grades are unchanged);
- a markdown image ``figures/NAME.png`` becomes a cell attachment, so the figure shows wherever the
  notebook is (work/, the bundle, a download, nbviewer) without its figures/ folder;
- a last cell, ``dt.progress(...)``, summarises which exercises pass their visible checks.
"""
import base64
import json
import os
import re
import tempfile

from . import COURSE, assignments
from .nb import run_nbgrader


def generate(names, release_dir=COURSE, grading_dir=None):
    """Run generate_assignment for names (one assignment id, or a list) into release_dir/NAME/. Raises on failure.

    One nbgrader process for all of them when they are the whole course (nbgrader reads the
    assignment id as a glob): its start-up and gradebook checks cost about 3 s a process, so the
    course's ten releases take 7 s instead of 32 s.
    """
    names = [names] if isinstance(names, str) else list(names)
    pattern = "[0-9][0-9]_*" if len(names) > 1 and sorted(names) == assignments() else None
    for ids in ([pattern] if pattern else names):
        result = run_nbgrader(["generate_assignment", ids, "--force",
                               f"--CourseDirectory.release_directory={os.path.abspath(release_dir)}"],
                              grading_dir=grading_dir)
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {ids} failed:\n{result.stdout}{result.stderr}")
    for name in names:
        path = os.path.join(release_dir, name, f"{name}.ipynb")
        if not os.path.isfile(path):
            raise RuntimeError(f"nbgrader generate_assignment wrote no {path}")
        _normalise(path)


RAISES = "raises-exception"
PROGRESS_ID = "deeptrain-progress"
_FIGURE = re.compile(r"\]\((figures/([A-Za-z0-9_.-]+\.png))\)")


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_test_cell(cell):
    meta = _nbgrader(cell)
    return cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution")


def _text(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _exercises(nb):
    """{label: fingerprint of the test cell}: the label names the functions the answer cell
    before the test cell defines (its grade_id when it defines none)."""
    from deeptrain.exercises import fingerprint

    out, names = {}, []
    for cell in nb["cells"]:
        meta = _nbgrader(cell)
        if cell["cell_type"] == "code" and meta.get("solution"):
            names = re.findall(r"^def (\w+)\(", _text(cell), re.M)
        elif _is_test_cell(cell):
            label = ", ".join(names) or meta.get("grade_id", f"exercise {len(out) + 1}")
            out[label] = fingerprint(_text(cell))
            names = []
    return out


def _lines(text):
    return text.splitlines(keepends=True)


def _progress_cells(exercises):
    body = "".join(f"    {label!r}: {fp!r},\n" for label, fp in exercises.items())
    markdown = {"cell_type": "markdown", "id": PROGRESS_ID + "-intro", "metadata": {"deeptrain": {"progress": True}},
                "source": _lines("## Where you stand\n\nWhich exercises pass their visible checks, as their test cells last "
                          "ran (run the notebook from the top, or any test cell, then this cell). The hidden tests "
                          "run only when your work is graded.")}
    code = {"cell_type": "code", "id": PROGRESS_ID, "execution_count": None, "outputs": [],
            "metadata": {"deeptrain": {"progress": True}},
            "source": _lines("dt.progress({   # exercise: its test cell (added to the release; not graded)\n"
                             + body + "})")}
    return [markdown, code]


def _for_students(nb, folder):
    """The release-time finish described in the module docstring. nb: the notebook dict, edited in
    place; folder: where the notebook and its figures/ are."""
    for cell in nb["cells"]:
        if _is_test_cell(cell):
            tags = cell["metadata"].setdefault("tags", [])
            if RAISES not in tags:
                tags.append(RAISES)
        elif cell["cell_type"] == "markdown":
            text = _text(cell)
            for link, name in _FIGURE.findall(text):
                path = os.path.join(folder, link)
                if not os.path.isfile(path):
                    continue
                with open(path, "rb") as f:
                    data = base64.b64encode(f.read()).decode("ascii")
                cell.setdefault("attachments", {})[name] = {"image/png": data}
                text = text.replace(f"]({link})", f"](attachment:{name})")
            if text != _text(cell):
                cell["source"] = text.splitlines(keepends=True)
    exercises = _exercises(nb)
    if exercises and not any(c.get("id") == PROGRESS_ID for c in nb["cells"]):
        nb["cells"] += _progress_cells(exercises)
    return nb


def _normalise(path):
    """The student's finish (``_for_students``), then stable JSON (sorted keys, fixed indent) so
    that a regenerated release diffs cleanly."""
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    _for_students(nb, os.path.dirname(path))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(nb, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def release(names=None, release_dir=COURSE, grading_dir=None, log=print):
    """Regenerate the releases of the given assignments (default: all of solutions/)."""
    names = names or assignments()
    generate(names, release_dir=release_dir, grading_dir=grading_dir)
    for name in names:
        log(f"released {name} -> {os.path.relpath(os.path.join(release_dir, name))}")
    return names


def stale(names=None):
    """Assignments whose committed course/ release differs from what solutions/ generates."""
    names = names or assignments()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        release(names, release_dir=os.path.join(tmp, "course"), grading_dir=os.path.join(tmp, "grading"),
                log=lambda *_: None)
        for name in names:
            fresh = os.path.join(tmp, "course", name)
            committed = os.path.join(COURSE, name)
            if not os.path.isdir(committed) or _tree(fresh) != _tree(committed):
                out.append(name)
    return out


def _tree(folder):
    """relpath -> bytes of the files a release consists of.

    Hidden files and folders (JupyterLab's ``.ipynb_checkpoints/``, editor swap files) are
    by-products of opening the release, not part of it, and never make it stale.
    """
    files = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for fn in (f for f in filenames if not f.startswith(".")):
            p = os.path.join(dirpath, fn)
            with open(p, "rb") as f:
                files[os.path.relpath(p, folder)] = f.read()
    return files
