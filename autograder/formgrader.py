"""Get the gradebook ready before a server that shows formgrader starts (``make lab``,
``make formgrader``).

Why: formgrader creates or upgrades ``gradebook.db`` on its first API call by running
``alembic`` by name. A server started without the environment's ``bin`` on PATH fails there
(``FileNotFoundError: 'alembic'``), the page hangs on "Loading", and the half-made database
(tables, no ``alembic_version``) then makes ``nbgrader db upgrade`` fail too. Preparing the
database here, with this environment's nbgrader, removes that first-use failure, and a
database that cannot be used gets a message saying what to do instead of a hang.
"""
import argparse
import os
import sqlite3
import sys

from . import grading_dir
from .nb import run_nbgrader

# nbgrader tables that hold work: a gradebook with rows in these is never deleted.
_DATA_TABLES = ("student", "submitted_assignment", "grade", "comment")


class GradebookError(RuntimeError):
    """The gradebook exists but cannot be used or upgraded."""


def _tables(path):
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _holds_work(path, tables):
    with sqlite3.connect(path) as db:
        return any(db.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() for t in _DATA_TABLES if t in tables)


def prepare(grading=None, log=print):
    """Create or upgrade GRADING/gradebook.db so that formgrader works on first use.

    A database left without ``alembic_version`` by an earlier failed start and holding no
    work is recreated; one that holds work, or is not SQLite, raises GradebookError naming
    the file and the way out. Returns the database path.
    """
    grading = os.path.abspath(grading or grading_dir())
    os.makedirs(grading, exist_ok=True)
    path = os.path.join(grading, "gradebook.db")
    if os.path.exists(path):
        try:
            tables = _tables(path)
        except sqlite3.DatabaseError as e:
            raise GradebookError(f"{path} is not an SQLite gradebook ({e}). Move it away and start again: "
                                 "formgrader creates a new, empty one.") from None
        if tables and "alembic_version" not in tables:
            if _holds_work(path, tables):
                raise GradebookError(
                    f"{path} has no alembic_version table, so nbgrader cannot upgrade it, and it holds "
                    "grades. Back it up, then either add the version by hand (`alembic stamp`) or move it "
                    "away and regrade with `python -m autograder grade`.")
            log(f"{path} was left half-made by an earlier failed start and holds no work: recreating it")
            os.remove(path)
    result = run_nbgrader(["db", "upgrade"], grading_dir=grading, timeout=300)
    if result.returncode != 0:
        raise GradebookError(f"`nbgrader db upgrade` failed on {path}:\n{result.stdout}{result.stderr}")
    return path


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m autograder.formgrader", description=__doc__.splitlines()[0])
    p.add_argument("--grading", help="the grading folder (default: $DEEPTRAIN_GRADING_DIR or grading/)")
    args = p.parse_args(argv)
    try:
        path = prepare(args.grading)
    except GradebookError as e:
        print(f"formgrader: {e}", file=sys.stderr)
        return 1
    print(f"formgrader: gradebook ready at {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
