"""Collecting submissions (folder, LMS zips) and pre-checking them, without running anything.

Fast: no kernel starts. The release and solution of module 01 are the material; nbgrader's own
preprocessors are the oracle for "this notebook would stop stock autograde".
"""
import copy
import io
import json
import os
import zipfile

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import SchemaTooOldError
from nbgrader.preprocessors import CheckCellMetadata, DeduplicateIds

import corpus
from autograder import COURSE, SOLUTIONS, assignments
from autograder.collect import collect_folder, collect_zip, match_name
from autograder.precheck import precheck, scan, scan_source
from autograder.preprocessors import DeduplicateIdsCleanly

NAME = corpus.NAME
NAMES = [NAME, "02_initialization", "07_optimizers"]


def _bytes(nb):
    return json.dumps(nb).encode()


@pytest.fixture(scope="module")
def release_nb():
    return nbformat.read(os.path.join(COURSE, NAME, f"{NAME}.ipynb"), as_version=4)


@pytest.fixture(scope="module")
def ids(release_nb):
    return {NAME: {c.metadata.get("nbgrader", {}).get("grade_id") for c in release_nb.cells} - {None}}


def _grade_ids(nb):
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]


# --- names and folders -------------------------------------------------------------------

@pytest.mark.parametrize("filename, expected", [
    ("01_unstable_gradients.ipynb", (NAME, 0)),
    ("01_unstable_gradients (1).ipynb", (NAME, 1)),
    ("01_unstable_gradients-Copy1.ipynb", (NAME, 1)),
    ("01-Unstable-Gradients.ipynb", (NAME, 1)),
    ("unstable_gradients.ipynb", (NAME, 1)),
    ("7_optimizers.ipynb", ("07_optimizers", 1)),
    ("Untitled.ipynb", (None, None)),
])
def test_file_names_browsers_and_jupyter_mangle_are_still_matched(filename, expected):
    assert match_name(filename, NAMES) == expected


def test_folder_collection_places_renamed_and_unnamed_notebooks_and_reports_the_rest(tmp_path, ids):
    good = _bytes(corpus.filled())
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "01_unstable_gradients (2).ipynb").write_bytes(good)
    (tmp_path / "bob" / "work").mkdir(parents=True)
    (tmp_path / "bob" / "work" / "Untitled.ipynb").write_bytes(good)               # found by its cells
    (tmp_path / "bob" / "notes.pdf").write_bytes(b"%PDF")
    (tmp_path / "cat" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "cat" / ".ipynb_checkpoints" / "01_unstable_gradients-checkpoint.ipynb").write_bytes(good)
    (tmp_path / "cat" / "01_unstable_gradients.ipynb").write_bytes(good)
    (tmp_path / "cat" / "01_unstable_gradients_old.ipynb").write_bytes(good)       # a second file
    (tmp_path / "stray.ipynb").write_bytes(good)
    col = collect_folder(str(tmp_path), [NAME], ids)
    assert sorted(col.students) == ["ann", "bob", "cat"]
    assert all(NAME in col.files[s] for s in ("ann", "bob", "cat"))
    assert col.files["bob"][NAME].rank == 2 and "graded cells" in col.files["bob"][NAME].note
    assert col.files["cat"][NAME].source.endswith("/cat/01_unstable_gradients.ipynb")  # exact name wins
    reasons = {os.path.basename(src): why for src, why in col.unplaced}
    assert set(reasons) == {"notes.pdf", "stray.ipynb", "01_unstable_gradients_old.ipynb"}, reasons
    assert "not a notebook" in reasons["notes.pdf"] and "student's folder" in reasons["stray.ipynb"]


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return str(path)


def test_blackboard_attempt_zip_keeps_the_newest_attempt_and_its_timestamp(tmp_path, ids):
    old, new = _bytes(corpus.release()), _bytes(corpus.filled())
    path = _zip(tmp_path / "lms.zip", {
        "dl_ann_attempt_2024-01-30-15-00-00_01_unstable_gradients.ipynb": old,
        "dl_ann_attempt_2024-02-01-09-30-00_01_unstable_gradients.ipynb": new,
        "dl_bob_attempt_2024-01-31-10-00-00_01_unstable_gradients.ipynb": new,
        "dl_bob_attempt_2024-01-31-10-00-00_readme.txt": b"hello",
        "random.ipynb": new,
    })
    col = collect_zip(path, [NAME], ids)
    assert sorted(col.files) == ["ann", "bob"]
    assert col.files["ann"][NAME].data == new and col.files["ann"][NAME].timestamp == "2024-02-01 09:30:00"
    reasons = " | ".join(why for _, why in col.unplaced)
    assert "another file of ann" in reasons and "not a notebook" in reasons and "convention" in reasons


def test_attempt_zip_in_student_first_order_takes_the_varying_part_as_the_student(tmp_path, ids):
    nb = _bytes(corpus.filled())
    path = _zip(tmp_path / "lms.zip", {
        f"{s}_dl_attempt_2024-01-30-15-00-00_01_unstable_gradients.ipynb": nb for s in ("ann", "bob", "cat")})
    assert sorted(collect_zip(path, [NAME], ids).files) == ["ann", "bob", "cat"]


def test_canvas_moodle_nested_zips_and_a_custom_regex(tmp_path, ids):
    nb = _bytes(corpus.filled())
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("homework/01_unstable_gradients.ipynb", nb)
    canvas = collect_zip(_zip(tmp_path / "c.zip", {
        "doeann_1234_5678_01_unstable_gradients-1.ipynb": nb,
        "roebob_late_1235_5679_submission.zip": inner.getvalue()}), [NAME], ids)
    assert sorted(canvas.files) == ["doeann", "roebob"]
    moodle = collect_zip(_zip(tmp_path / "m.zip", {
        "Ann Doe_1234_assignsubmission_file_/01_unstable_gradients.ipynb": nb}), [NAME], ids)
    assert list(moodle.files) == ["Ann_Doe"]
    custom = collect_zip(_zip(tmp_path / "x.zip", {"HW1-ann-01_unstable_gradients.ipynb": nb}), [NAME], ids,
                         regex=r"HW1-(?P<student_id>[a-z]+)-(?P<file_id>.+)")
    assert list(custom.files) == ["ann"]


# --- pre-check and repair ------------------------------------------------------------------

def test_nbgrader_issue_1941_duplicated_cell_stops_stock_autograde(release_nb):
    """The oracle: stock DeduplicateIds + CheckCellMetadata reject a duplicated graded cell."""
    nb = copy.deepcopy(release_nb)
    i = _grade_ids(nb).index("test_sigmoid")
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]
    nb.cells.append(copy.deepcopy(cells[i]))
    nb, _ = DeduplicateIds().preprocess(nb, {})
    with pytest.raises((ValidationError, SchemaTooOldError)):   # "Outdated schema version: 0"
        CheckCellMetadata().preprocess(nb, {})


def test_duplicated_cells_are_repaired_and_pass_nbgraders_own_validation(release_nb):
    nb = corpus.filled()
    i = next(k for k, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == "sigmoid")
    nb["cells"][i + 2:i + 2] = copy.deepcopy(nb["cells"][i:i + 2])       # answer and test cell twice
    pc = precheck(_bytes(nb), release_nb)
    assert pc.nb is not None and len(pc.problems) == 2
    assert _grade_ids(pc.nb) == _grade_ids(release_nb)
    MetadataValidator().validate_nb(pc.nb)                             # what stopped stock nbgrader
    # The extra answer copy stays as plain code: the student's code still runs top to bottom.
    assert sum("def sigmoid(" in c.source for c in pc.nb.cells if c.cell_type == "code") == 2


def test_plain_nbgrader_sanitize_step_survives_a_duplicate_too(release_nb):
    nb = copy.deepcopy(release_nb)
    nb.cells.append(copy.deepcopy(next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))))
    nb, _ = DeduplicateIdsCleanly().preprocess(nb, {})
    CheckCellMetadata().preprocess(nb, {})


def test_deleted_and_retyped_cells_are_put_back_in_place(release_nb):
    nb = corpus.filled()
    nb["cells"] = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")
                   not in ("test_forward_variances", "forward_variances")]
    for c in nb["cells"]:
        gid = c["metadata"].get("nbgrader", {}).get("grade_id")
        if gid == "test_sigmoid":
            c["cell_type"] = "markdown"
            del c["outputs"], c["execution_count"]
        if gid == "q_sigmoid_stops":
            c["cell_type"], c["outputs"], c["execution_count"] = "code", [], None
    pc = precheck(_bytes(nb), release_nb)
    assert _grade_ids(pc.nb) == _grade_ids(release_nb)
    types = {c.metadata["nbgrader"]["grade_id"]: c.cell_type for c in pc.nb.cells if "nbgrader" in c.metadata}
    assert types["test_sigmoid"] == "code" and types["q_sigmoid_stops"] == "markdown"
    text = " ".join(pc.problems)
    assert "deleted" in text and "changed to a markdown cell" in text and "changed to a code cell" in text


def test_edited_points_and_unknown_metadata_are_restored_or_removed(release_nb):
    nb = corpus.filled()
    for c in nb["cells"]:
        meta = c["metadata"].get("nbgrader", {})
        if meta.get("grade_id") == "test_sigmoid":
            meta["points"] = 100
    nb["cells"].append({"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "bonus", "grade": True,
                        "points": 50, "solution": False, "locked": False}}, "source": "pass",
                        "outputs": [], "execution_count": None})
    pc = precheck(_bytes(nb), release_nb)
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"].get("points") for c in pc.nb.cells
              if "nbgrader" in c.metadata}
    assert points["test_sigmoid"] == 2 and "bonus" not in points


@pytest.mark.parametrize("mangle, fatal", [
    (lambda b: b[: len(b) // 2], True),                       # truncated upload
    (lambda b: b"\xef\xbb\xbf" + b, False),                     # byte-order mark
    (lambda b: b + b"\n}\n", False),                           # garbage after the JSON
    (lambda b: b"", True),
    (lambda b: zipfile.ZipFile.__name__.encode() and b"PK\x03\x04junk", True),
])
def test_unreadable_files_are_reported_and_fixable_ones_read(release_nb, mangle, fatal):
    pc = precheck(mangle(_bytes(corpus.filled())), release_nb)
    assert (pc.nb is None) == fatal and (bool(pc.fatal) == fatal)


def test_old_nbformat_3_notebook_is_converted(release_nb):
    v3 = nbformat.convert(nbformat.reads(json.dumps(corpus.filled()), as_version=4), 3)
    pc = precheck(nbformat.writes(v3, version=3).encode(), release_nb)
    assert pc.nb is not None and pc.nb.nbformat == 4 and any("nbformat 3" in p for p in pc.problems)


@pytest.mark.parametrize("name", assignments())
def test_released_and_solution_notebooks_pass_the_precheck_untouched(name):
    path = os.path.join(COURSE, name, f"{name}.ipynb")
    if not os.path.exists(path):
        pytest.skip(f"{name} has no release yet (python -m autograder release {name})")
    release = nbformat.read(path, as_version=4)
    for folder in (COURSE, SOLUTIONS):
        with open(os.path.join(folder, name, f"{name}.ipynb"), "rb") as f:
            pc = precheck(f.read(), release)
        assert pc.nb is not None and not pc.problems, (folder, pc.problems)
        assert not scan(pc.nb, release), (folder, scan(pc.nb, release))


@pytest.mark.parametrize("code, flagged", [
    ("np.isclose = lambda *a, **k: True", True),
    ("from deeptrain import checks\nchecks.assert_close.__code__ = f.__code__", True),
    ("import sys as s\ns.settrace(f)", True),
    ("get_ipython().input_transformers_cleanup.append(f)", True),
    ("import os\nos._exit(0)", True),
    ("open('/srv/course/solutions/01/01.ipynb')", True),
    ("from deeptrain.reference import sigmoid", True),
    ("model.compile(optimizer='sgd', loss='mse')", False),
    ("layer.trainable = False", False),
    ("plt.rcParams['figure.dpi'] = 100", False),
    ("import warnings\nwarnings.warn('slow')", False),
])
def test_scan_flags_tampering_but_not_ordinary_keras_code(code, flagged):
    assert bool(scan_source(code)) == flagged, scan_source(code)


def test_only_submitted_modules_are_prechecked_fast(tmp_path):
    """`precheck` reads the releases of course/ (no nbgrader generate_assignment: main 569514d
    spent 81 s here under load, 121-220 s on a 6-file class) and only for the modules someone
    submitted; collecting tells which those are (grade builds templates for them only)."""
    import time
    from autograder.collect import collect, submitted_names
    from autograder.precheck import precheck_report
    for student, name in (("ann", NAME), ("bob", "07_optimizers"), ("cy", NAME)):
        folder = tmp_path / "subs" / student
        folder.mkdir(parents=True)
        data = open(os.path.join(COURSE, name, f"{name}.ipynb"), "rb").read()
        (folder / ("Untitled.ipynb" if student == "cy" else f"{name}.ipynb")).write_bytes(data)
    col = collect(str(tmp_path / "subs"), assignments())
    assert submitted_names(col, assignments()) == [NAME, "07_optimizers"]
    lines = []
    start = time.time()
    assert precheck_report(str(tmp_path / "subs"), log=lines.append) == 0
    seconds = time.time() - start
    print(lines, f"{seconds:.2f} s")
    assert seconds < 2.0 * 3, f"precheck took {seconds:.1f} s for 3 notebooks"   # about a second a notebook, under load
    assert not any("02_initialization" in line for line in lines)                  # not submitted: not listed
    assert lines[:3] == ["ann:", f"  {NAME}: ok", "  07_optimizers: missing"]
    assert any(line.startswith(f"  {NAME}: repaired: file named 'Untitled.ipynb'") for line in lines)
