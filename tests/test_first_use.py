"""First contact: the release check ignores Jupyter's by-products, formgrader's gradebook is
ready before the server starts, the data fetch tries what it may."""
import os
import shutil
import sqlite3
import subprocess

import pytest

from autograder import COURSE, assignments
from autograder import formgrader
from autograder.release import _tree
from deeptrain import data


def test_release_tree_ignores_checkpoints_and_hidden_files(tmp_path):
    name = assignments()[0]
    shutil.copytree(os.path.join(COURSE, name), tmp_path / name)
    clean = _tree(tmp_path / name)
    (tmp_path / name / ".ipynb_checkpoints").mkdir()
    (tmp_path / name / ".ipynb_checkpoints" / f"{name}-checkpoint.ipynb").write_text("{}")
    (tmp_path / name / f".{name}.ipynb.swp").write_text("x")
    assert _tree(tmp_path / name) == clean
    (tmp_path / name / f"{name}.ipynb").write_text("{}")   # a real edit is still seen
    assert _tree(tmp_path / name) != clean


@pytest.mark.slow
def test_formgrader_prepare_creates_then_keeps_a_usable_gradebook(tmp_path):
    path = formgrader.prepare(tmp_path / "grading", log=lambda *_: None)
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alembic_version", "assignment", "student"} <= tables
    assert formgrader.prepare(tmp_path / "grading", log=lambda *_: None) == path   # idempotent


@pytest.mark.slow
def test_formgrader_prepare_recreates_a_half_made_empty_gradebook(tmp_path):
    (tmp_path / "g").mkdir()
    with sqlite3.connect(tmp_path / "g" / "gradebook.db") as db:   # what a failed first start left
        db.execute("CREATE TABLE student (id VARCHAR(128) PRIMARY KEY)")
    said = []
    path = formgrader.prepare(tmp_path / "g", log=said.append)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
    assert said and "half-made" in said[0]


def test_formgrader_prepare_refuses_a_broken_gradebook_that_holds_grades(tmp_path):
    with sqlite3.connect(tmp_path / "gradebook.db") as db:
        db.execute("CREATE TABLE student (id VARCHAR(128) PRIMARY KEY)")
        db.execute("INSERT INTO student VALUES ('ann')")
    with pytest.raises(formgrader.GradebookError, match="holds grades"):
        formgrader.prepare(tmp_path, log=lambda *_: None)
    assert (tmp_path / "gradebook.db").exists()   # never deleted


def test_formgrader_prepare_names_a_file_that_is_not_sqlite(tmp_path):
    (tmp_path / "gradebook.db").write_text("not a database")
    with pytest.raises(formgrader.GradebookError, match="not an SQLite gradebook"):
        formgrader.prepare(tmp_path, log=lambda *_: None)


class _Ran:
    def __init__(self, code=0):
        self.returncode = code


def test_fetch_installs_the_debian_package_as_root(monkeypatch, tmp_path):
    calls = []
    found = iter([None, ("Debian package", tmp_path)])
    monkeypatch.setattr(data, "find_data_dir", lambda: next(found))
    monkeypatch.setattr(data.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(data.os, "geteuid", lambda: 0)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path)
    def run(cmd, **kw):
        calls.append(cmd)
        if cmd[:2] == ["apt-get", "install"]:
            for name in data.FILES.values():
                (tmp_path / name).write_bytes(b"")
        return _Ran()
    monkeypatch.setattr(data.subprocess, "run", run)
    monkeypatch.setattr(data, "_download", lambda: pytest.fail("no download when the package installs"))
    assert data.fetch(log=lambda *_: None) == tmp_path
    assert calls[0] == ["apt-get", "install", "-y", "-q", data.DEBIAN_PACKAGE]


def test_fetch_without_root_or_sudo_downloads_and_never_prompts(monkeypatch, tmp_path):
    found = iter([None, ("Keras cache", tmp_path)])
    monkeypatch.setattr(data, "find_data_dir", lambda: next(found))
    monkeypatch.setattr(data.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(data.os, "geteuid", lambda: 1000)
    calls = []
    def run(cmd, **kw):
        calls.append(cmd)
        return _Ran(1)   # `sudo -n true` fails: sudo would ask for a password
    monkeypatch.setattr(data.subprocess, "run", run)
    downloaded = []
    monkeypatch.setattr(data, "_download", lambda: downloaded.append(1))
    assert data.fetch(log=lambda *_: None) == tmp_path
    assert calls == [["sudo", "-n", "true"]] and downloaded == [1]


def test_fetch_when_nothing_works_is_the_clear_error(monkeypatch):
    monkeypatch.setattr(data, "find_data_dir", lambda: None)
    monkeypatch.setattr(data, "_apt_prefix", lambda: None)
    monkeypatch.setenv("DEEPTRAIN_NO_DOWNLOAD", "1")
    with pytest.raises(data.DataNotFoundError, match="dataset-fashion-mnist"):
        data.fetch(log=lambda *_: None)


def test_make_lab_and_test_fetch_the_data():
    text = open(os.path.join(os.path.dirname(COURSE), "Makefile")).read()
    assert "deeptrain.data --fetch" in text
    r = subprocess.run(["make", "-n", "lab"], cwd=os.path.dirname(COURSE), capture_output=True, text=True)
    assert "deeptrain.workspace course work" in r.stdout and "JUPYTER_CONFIG_PATH" in r.stdout
