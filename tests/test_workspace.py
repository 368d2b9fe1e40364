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
