"""make lab's working copy (deeptrain.workspace): made on first use, updated when untouched,
never overwriting a student's edits."""
import json

from deeptrain.workspace import STATE, UPDATE_SUFFIX, sync


def _release(folder, version):
    for name in ("01_a", "02_b"):
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / f"{name}.ipynb").write_text(json.dumps({"v": version, "nb": name}))
    (folder / "01_a" / ".ipynb_checkpoints").mkdir(exist_ok=True)
    (folder / "01_a" / ".ipynb_checkpoints" / "01_a-checkpoint.ipynb").write_text("{}")


def test_first_sync_copies_every_notebook_but_not_checkpoints(tmp_path):
    _release(tmp_path / "course", 1)
    actions = sync(tmp_path / "course", tmp_path / "work", log=lambda *_: None)
    assert actions == {"01_a/01_a.ipynb": "copied", "02_b/02_b.ipynb": "copied"}
    assert not (tmp_path / "work" / "01_a" / ".ipynb_checkpoints").exists()
    assert (tmp_path / "work" / STATE).is_file()


def test_untouched_notebooks_follow_the_release_and_edited_ones_are_kept(tmp_path):
    course, work = tmp_path / "course", tmp_path / "work"
    _release(course, 1)
    sync(course, work, log=lambda *_: None)
    edited = work / "01_a" / "01_a.ipynb"
    edited.write_text('{"my": "answers"}')
    _release(course, 2)
    said = []
    actions = sync(course, work, log=said.append)
    assert actions == {"01_a/01_a.ipynb": "kept", "02_b/02_b.ipynb": "updated"}
    assert edited.read_text() == '{"my": "answers"}'
    assert json.loads((work / "02_b" / "02_b.ipynb").read_text())["v"] == 2
    beside = work / "01_a" / f"01_a{UPDATE_SUFFIX}.ipynb"
    assert json.loads(beside.read_text())["v"] == 2 and any("kept" in s for s in said)
    # Nothing new: a second sync changes nothing and writes no second copy.
    beside.unlink()
    assert set(sync(course, work, log=lambda *_: None).values()) == {"current"}
    assert not beside.exists() and edited.read_text() == '{"my": "answers"}'


def test_a_deleted_notebook_comes_back(tmp_path):
    course, work = tmp_path / "course", tmp_path / "work"
    _release(course, 1)
    sync(course, work, log=lambda *_: None)
    (work / "02_b" / "02_b.ipynb").unlink()
    assert sync(course, work, log=lambda *_: None)["02_b/02_b.ipynb"] == "copied"


def _notebook(folder, version, cells):
    """A real notebook NN/NN.ipynb of the release `version`, cells given as (type, source)."""
    import nbformat
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                                          "language": "python"}, "course_version": version})
    for i, (kind, source) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        cell.id = f"cell-{i}"
        cell.metadata["nbgrader"] = {"grade": kind == "code", "points": 2.0, "grade_id": f"c{i}", "solution": False}
        cell.metadata["tags"] = ["raises-exception"] if kind == "code" else []
        cells[i] = cell
    nb.cells = cells
    (folder / "01_a").mkdir(parents=True, exist_ok=True)
    path = folder / "01_a" / "01_a.ipynb"
    path.write_text(json.dumps(nb, indent=1, sort_keys=True))
    return path


def _as_jupyterlab_saves_it(path, edit=None):
    """What opening, running and autosaving in JupyterLab does to a notebook: metadata rewritten
    (kernel spec, `points 2.0` -> `2`, new keys), outputs and execution counts, another JSON layout;
    `edit`, when given, changes the source of the first code cell as a student typing does."""
    nb = json.loads(path.read_text())
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.2", "mimetype": "text/x-python"}
    for n, cell in enumerate(nb["cells"]):
        cell["metadata"]["nbgrader"]["points"] = 2
        cell["metadata"]["trusted"] = True
        if cell["cell_type"] == "code":
            cell["execution_count"] = n + 1
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hello\n"]}]
            cell["source"] = cell["source"].splitlines(keepends=True)   # a list of lines, as saved
            if edit is not None:
                cell["source"] = edit
                edit = None
    path.write_text(json.dumps(nb, indent=2))                             # no sorted keys


def test_opening_running_and_autosaving_is_not_editing_an_update_replaces_the_notebook(tmp_path):
    course, work = tmp_path / "course", tmp_path / "work"
    _notebook(course, 1, [("markdown", "# Module"), ("code", "x = 1\nprint(x)")])
    sync(course, work, log=lambda *_: None)
    _as_jupyterlab_saves_it(work / "01_a" / "01_a.ipynb")
    _notebook(course, 2, [("markdown", "# Module, corrected"), ("code", "x = 1\nprint(x)")])
    said = []
    assert sync(course, work, log=said.append) == {"01_a/01_a.ipynb": "updated"}, said
    assert json.loads((work / "01_a" / "01_a.ipynb").read_text())["metadata"]["course_version"] == 2
    assert not (work / "01_a" / f"01_a{UPDATE_SUFFIX}.ipynb").exists()


def test_a_typed_cell_is_an_edit_the_notebook_is_kept_and_the_update_written_beside_it(tmp_path):
    course, work = tmp_path / "course", tmp_path / "work"
    _notebook(course, 1, [("markdown", "# Module"), ("code", "x = 1\nprint(x)")])
    sync(course, work, log=lambda *_: None)
    mine = work / "01_a" / "01_a.ipynb"
    _as_jupyterlab_saves_it(mine, edit="x = 2  # my answer\nprint(x)")
    _notebook(course, 2, [("markdown", "# Module, corrected"), ("code", "x = 1\nprint(x)")])
    assert sync(course, work, log=lambda *_: None) == {"01_a/01_a.ipynb": "kept"}
    assert "my answer" in mine.read_text()
    beside = json.loads((work / "01_a" / f"01_a{UPDATE_SUFFIX}.ipynb").read_text())
    assert beside["metadata"]["course_version"] == 2


def test_an_added_cell_counts_as_an_edit(tmp_path):
    course, work = tmp_path / "course", tmp_path / "work"
    _notebook(course, 1, [("code", "x = 1")])
    sync(course, work, log=lambda *_: None)
    mine = work / "01_a" / "01_a.ipynb"
    nb = json.loads(mine.read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "my notes", "id": "n"})
    mine.write_text(json.dumps(nb))
    _notebook(course, 2, [("code", "x = 1  # v2")])
    assert sync(course, work, log=lambda *_: None) == {"01_a/01_a.ipynb": "kept"}


def test_a_state_of_the_older_format_still_tells_untouched_from_edited(tmp_path):
    course, work = tmp_path / "course", tmp_path / "work"
    _notebook(course, 1, [("code", "x = 1")])
    sync(course, work, log=lambda *_: None)
    state = json.loads((work / STATE).read_text())
    (work / STATE).write_text(json.dumps({k: v["sha256"] for k, v in state.items()}))
    _notebook(course, 2, [("code", "x = 2")])
    assert sync(course, work, log=lambda *_: None) == {"01_a/01_a.ipynb": "updated"}


def test_figures_are_copied_with_the_notebook(tmp_path):
    course, work = tmp_path / "course", tmp_path / "work"
    _release(course, 1)
    (course / "01_a" / "figures").mkdir()
    (course / "01_a" / "figures" / "f.png").write_bytes(b"\x89PNG")
    sync(course, work, log=lambda *_: None)
    assert (work / "01_a" / "figures" / "f.png").read_bytes() == b"\x89PNG"
    # A working copy made before figures were copied gets them on the next sync.
    import shutil
    shutil.rmtree(work / "01_a" / "figures")
    sync(course, work, log=lambda *_: None)
    assert (work / "01_a" / "figures" / "f.png").is_file()
