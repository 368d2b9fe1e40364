"""Editing notebooks as text goes through jupytext (percent format); the .ipynb stays the source.

The round trip a contributor makes, `jupytext --to py:percent NB -o T.py`, edit, then
`jupytext --update --to ipynb T.py -o NB`, must give back every cell with its source, its
nbgrader metadata (grade ids, points, locks) and the notebook's outputs.
"""
import glob
import json
import os
import subprocess
import sys

import pytest

# The repository root (not imported from conftest: tests/browser has a conftest of its own,
# and which one `import conftest` finds depends on collection order).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "solutions", "*", "*.ipynb")))
JUPYTEXT = [sys.executable, "-m", "jupytext", "--quiet"]


def _round_trip(path, tmp_path, edit=None):
    text, copy = tmp_path / "nb.py", tmp_path / "nb.ipynb"
    copy.write_bytes(open(path, "rb").read())
    subprocess.run(JUPYTEXT + ["--to", "py:percent", str(copy), "-o", str(text)], check=True)
    if edit:
        text.write_text(edit(text.read_text()))
    subprocess.run(JUPYTEXT + ["--update", "--to", "ipynb", str(text), "-o", str(copy)], check=True)
    return json.load(open(path)), json.load(open(copy)), text.read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_percent_round_trip_keeps_cells_nbgrader_metadata_and_outputs(path, tmp_path):
    before, after, text = _round_trip(path, tmp_path)
    assert "# %%" in text
    assert len(before["cells"]) == len(after["cells"])
    for a, b in zip(before["cells"], after["cells"]):
        assert a["cell_type"] == b["cell_type"]
        assert "".join(a["source"]) == "".join(b["source"])
        assert a["metadata"].get("nbgrader") == b["metadata"].get("nbgrader")
        assert a.get("outputs") == b.get("outputs")


def test_an_edit_made_in_the_text_lands_in_the_notebook(tmp_path):
    path = NOTEBOOKS[0]
    marker = "# an edit made in the text file"
    _, after, _ = _round_trip(path, tmp_path, edit=lambda t: t.replace("import deeptrain as dt",
                                                                        f"{marker}\nimport deeptrain as dt", 1))
    assert any(marker in "".join(c["source"]) for c in after["cells"])
