"""tools/nbsrc.py: notebook -> text -> notebook keeps every cell and its nbgrader metadata."""
import glob
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "solutions", "*", "*.ipynb")))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_text_round_trip_preserves_cells_and_nbgrader_metadata(path, tmp_path):
    tool = os.path.join(ROOT, "tools", "nbsrc.py")
    subprocess.run([sys.executable, tool, "to-src", path, str(tmp_path / "nb.txt")], check=True)
    subprocess.run([sys.executable, tool, "build", str(tmp_path / "nb.txt"), str(tmp_path / "nb.ipynb")], check=True)
    before, after = json.load(open(path)), json.load(open(tmp_path / "nb.ipynb"))
    assert len(before["cells"]) == len(after["cells"])
    for a, b in zip(before["cells"], after["cells"]):
        assert a["cell_type"] == b["cell_type"]
        assert "".join(a["source"]).rstrip() == "".join(b["source"]).rstrip()
        assert a["metadata"].get("nbgrader") == b["metadata"].get("nbgrader")


def test_unknown_cell_kind_is_a_clear_error(tmp_path):
    (tmp_path / "bad.txt").write_text("#%% solutoin id=x\npass\n")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "nbsrc.py"), "build", str(tmp_path / "bad.txt"),
                        str(tmp_path / "bad.ipynb")], capture_output=True, text=True)
    assert r.returncode != 0 and "unknown cell kind 'solutoin'" in r.stderr
