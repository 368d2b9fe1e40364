"""The student bundle: what a class gets. ``python -m autograder bundle [OUT] [--zip]``.

OUT/
  README.md            set-up and submission instructions
  Makefile             ``make lab``: the same set-up command as the course repository
  etc/jupyter/         the Jupyter settings ``make lab`` uses (etc/jupyter/README.md)
  pyproject.toml       installs the ``deeptrain`` library (``pip install -e .``) and its dependencies
  requirements.txt     the same dependencies, for ``pip install -r``
  environment.yml      the same, for conda
  course/NN_topic/NN_topic.ipynb   the released notebooks (no solutions, no hidden tests)
  lib/deeptrain/       the library without ``reference/`` (the ground truth of grading)

The notebooks' visible checks need nothing that is left out (tests/grading/test_bundle.py runs
one against the bundle). Nothing of solutions/, tests/, autograder/ or the gradebook is copied.
"""
import os
import re
import shutil
import zipfile

from . import COURSE, ROOT, assignments

# Instructor and CI tools that students do not need. nbgrader stays: its Validate button is
# how students run their checks the way the grader will.
_INSTRUCTOR_ONLY = ("pytest", "pytest-xdist", "nbval", "playwright", "jupyterhub", "dask")


def _dependencies():
    """The runtime dependency list of record: environment.yml's pip section, minus instructor tools."""
    deps, in_pip = [], False
    with open(os.path.join(ROOT, "environment.yml"), encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if s.startswith("- pip:"):
                in_pip = True
                continue
            if in_pip and s.startswith("- "):
                dep = s[2:].strip()
                name = re.split(r"[<>=!~;\s\[]", dep, maxsplit=1)[0]
                if dep != "-e ." and name not in _INSTRUCTOR_ONLY:
                    deps.append(dep)
            elif in_pip and s and not s.startswith("#"):
                in_pip = False
    return deps


README = """# Training Deep Neural Networks: student bundle

Eight Jupyter notebooks (in `course/`) and the small library they import (`lib/deeptrain`).

## Set up and open (one command)

```bash
make lab
```

It creates `.venv` (Python 3.11 or 3.12), installs the `deeptrain` library with JupyterLab and
nbgrader's Validate button, gets Fashion-MNIST when it is missing (the Debian package
`dataset-fashion-mnist` when you may install packages, else the Keras download), copies the
notebooks to `work/` and opens JupyterLab there.

With conda instead: `conda env create -f environment.yml && conda activate deeptrain-student`,
then `make lab PYTHON=python` (or `jupyter lab` in `work/` after
`python -m deeptrain.workspace course work`).

**Your work lives in `work/`.** `course/` is the pristine release. When your instructor gives
you a new version of the bundle, copy your `work/` into it and run `make lab` again: new and
untouched notebooks are updated, a notebook you edited is never overwritten (the new version
appears beside it as `NN_topic (course update).ipynb`).

## Work and submit

Open `work/NN_topic/NN_topic.ipynb` in order and start each from its first cell. Write your
code between the stubs of each exercise and run the cell after it: its visible checks print
`Visible checks passed.` More tests run when your work is graded. Written questions go in the
cells marked `YOUR ANSWER HERE`.

Submit each notebook under its own name (`01_unstable_gradients.ipynb`, ...), saved from
Jupyter. Do not delete, copy or retype the exercise and test cells: the grader puts them back,
but it tells your instructor.
"""


MAKEFILE = """# `make lab`: set up .venv, get the data, open JupyterLab on work/ (your copy of course/).
PYTHON ?= python3
BIN    := .venv/bin
STAMP  := .venv/.deeptrain-installed
export TF_CPP_MIN_LOG_LEVEL := 3
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab setup
$(STAMP): pyproject.toml
\t@test -x $(BIN)/python || $(PYTHON) -m venv .venv
\t$(BIN)/python -m pip install --quiet --upgrade pip
\t$(BIN)/python -m pip install --quiet -e .
\t@touch $(STAMP)

setup: $(STAMP)
\t@$(BIN)/python -m deeptrain.data --fetch

lab: setup
\t@$(BIN)/python -m deeptrain.workspace course work
\tPATH="$(abspath $(BIN)):$$PATH" JUPYTER_CONFIG_PATH="$(CURDIR)/etc/jupyter" $(BIN)/jupyter lab \\
\t    --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/work $(LAB_FLAGS)
"""

# A student's JupyterLab: etc/jupyter/ with etc/jupyter/student/ over it, as `make lab` uses them
# (Validate stays; formgrader, the Create Assignment panel, the Nbgrader menu and the exchange
# panels are off; the bundle's own files are out of sight). See etc/jupyter/README.md.
def _merged(name):
    """The JSON file etc/jupyter/name with etc/jupyter/student/name merged over it (dicts merged
    key by key, as Jupyter merges its config folders)."""
    import json

    def merge(base, over):
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    out = {}
    for folder in (os.path.join(ROOT, "etc", "jupyter"), os.path.join(ROOT, "etc", "jupyter", "student")):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                merge(out, json.load(f))
    return out


def _jupyter_settings(folder):
    """Write the student edition of etc/jupyter/ (see the repository's etc/jupyter/README.md)."""
    import json
    os.makedirs(os.path.join(folder, "labconfig"), exist_ok=True)
    for name in ("jupyter_server_config.json", os.path.join("labconfig", "page_config.json")):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            json.dump(_merged(name), f, indent=2)


def bundle(out, make_zip=False, log=print):
    """Write the student bundle into the folder out (replaced if it exists). Returns out."""
    out = os.path.abspath(out)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", ".*")
    # The released notebooks only (course/NN_topic/), never solutions.
    for name in assignments():
        src = os.path.join(COURSE, name)
        if os.path.isfile(os.path.join(src, f"{name}.ipynb")):
            shutil.copytree(src, os.path.join(out, "course", name), ignore=ignore)
        else:
            log(f"warning: {name} has no release in course/ (run `python -m autograder release`)")
    # The library without reference/.
    lib = os.path.join(ROOT, "lib", "deeptrain")
    shutil.copytree(lib, os.path.join(out, "lib", "deeptrain"),
                    ignore=lambda d, names: set(ignore(d, names)) | ({"reference"} if os.path.samefile(d, lib) else set()))
    deps = _dependencies()
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        version = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M).group(1)
    dep_lines = "".join(f'    "{d}",\n' for d in deps)
    with open(os.path.join(out, "pyproject.toml"), "w", encoding="utf-8") as f:
        f.write(f'''[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "deeptrain"
version = "{version}"
description = "Training Deep Neural Networks: the course library (student edition)"
requires-python = ">=3.11,<3.13"
dependencies = [
{dep_lines}]

[tool.setuptools]
package-dir = {{ "" = "lib" }}

[tool.setuptools.packages.find]
where = ["lib"]
''')
    with open(os.path.join(out, "requirements.txt"), "w", encoding="utf-8") as f:
        f.write("# pip install -r requirements.txt && pip install -e .\n" + "".join(d + "\n" for d in deps))
    with open(os.path.join(out, "environment.yml"), "w", encoding="utf-8") as f:
        f.write("name: deeptrain-student\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - pip\n"
                "  - pip:\n" + "".join(f"      - {d}\n" for d in deps) + "      - -e .\n")
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(README)
    with open(os.path.join(out, "Makefile"), "w", encoding="utf-8") as f:
        f.write(MAKEFILE)
    _jupyter_settings(os.path.join(out, "etc", "jupyter"))
    if make_zip:
        base = out.rstrip(os.sep)
        with zipfile.ZipFile(base + ".zip", "w", zipfile.ZIP_DEFLATED) as z:
            for dirpath, _, files in os.walk(out):
                for fn in sorted(files):
                    path = os.path.join(dirpath, fn)
                    z.write(path, os.path.join(os.path.basename(base), os.path.relpath(path, out)))
        log(f"wrote {base}.zip")
    log(f"wrote the student bundle to {out}: {len(assignments())} notebook(s), lib/deeptrain without reference/")
    return out
