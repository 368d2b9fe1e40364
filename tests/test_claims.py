"""dt.claim: silent when the sentence holds; a note for a student when it does not; a failure
under the tests (tests/conftest.py sets DEEPTRAIN_STRICT_CLAIMS, which notebook kernels inherit)."""
import os
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import deeptrain as dt
from deeptrain.claims import STRICT_ENV, ClaimError

FALSE_CLAIM = 'import deeptrain as dt\ndt.claim("Adam beats SGD by 5 points", 0.81 - 0.79 >= 0.05, adam=0.81, sgd=0.79)\nprint("went on")'


def test_a_claim_that_holds_prints_nothing(capsys, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    dt.claim("1 is less than 2", 1 < 2, one=1, two=2)
    assert capsys.readouterr().out == ""


def test_a_false_claim_notes_the_numbers_and_goes_on_for_a_student(capsys, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    dt.claim("Adam beats SGD by 5 points", 0.81 - 0.79 >= 0.05, adam=0.81, sgd=0.79)
    out = capsys.readouterr().out
    assert "Adam beats SGD by 5 points" in out and "adam = 0.81" in out and "sgd = 0.79" in out
    assert "does not hold" in out


def test_a_false_claim_raises_under_the_tests():
    assert os.environ.get(STRICT_ENV) == "1", "tests/conftest.py must set DEEPTRAIN_STRICT_CLAIMS"
    with pytest.raises(ClaimError, match="adam=0.81"):
        dt.claim("Adam beats SGD by 5 points", False, adam=0.81, sgd=0.79)


def _run(env):
    """A one-cell notebook with a false claim, in a kernel started as nbval starts one (it
    inherits this process's environment, here replaced by env)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FALSE_CLAIM)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=60, kernel_name="python3").execute(env=env)   # the kernel's whole environment
    return nb.cells[0].outputs


@pytest.mark.skipif(sys.platform == "win32", reason="kernel environments differ")
def test_a_notebook_kernel_fails_on_a_false_claim_under_pytest_and_only_notes_otherwise():
    with pytest.raises(CellExecutionError, match="ClaimError"):
        _run(dict(os.environ))
    outputs = _run({k: v for k, v in os.environ.items() if k != STRICT_ENV})
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "does not hold in this run" in text and "adam = 0.81" in text and "went on" in text, outputs
    assert not any(o.output_type == "error" or o.get("name") == "stderr" for o in outputs), outputs
