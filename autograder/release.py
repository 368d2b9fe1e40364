"""Regenerate course/ (the student release) from solutions/ with nbgrader generate_assignment."""
import json
import os
import tempfile

from . import COURSE, assignments
from .nb import run_nbgrader


def generate(assignment, release_dir=COURSE, grading_dir=None):
    """Run generate_assignment for one assignment into release_dir/assignment/. Raises on failure."""
    result = run_nbgrader(["generate_assignment", assignment, "--force",
                           f"--CourseDirectory.release_directory={os.path.abspath(release_dir)}"],
                          grading_dir=grading_dir)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{result.stdout}{result.stderr}")
    _normalise(os.path.join(release_dir, assignment, f"{assignment}.ipynb"))


def _normalise(path):
    """Stable JSON (sorted keys, fixed indent) so that a regenerated release diffs cleanly."""
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(nb, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def release(names=None, release_dir=COURSE, grading_dir=None, log=print):
    """Regenerate the releases of the given assignments (default: all of solutions/)."""
    names = names or assignments()
    for name in names:
        generate(name, release_dir=release_dir, grading_dir=grading_dir)
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
