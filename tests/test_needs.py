"""dt.needs: demos on an unsolved release print which exercise to solve, and hide no real bug."""
import pytest

import deeptrain as dt


def _stub():
    raise NotImplementedError()


def test_needs_prints_the_exercise_for_an_unsolved_stub(capsys):
    assert dt.needs("exercise 2", _stub) is None
    assert "Solve exercise 2 first" in capsys.readouterr().out


def test_needs_as_block_catches_a_name_an_earlier_demo_did_not_define(capsys):
    with dt.needs("exercise 4") as guard:
        undefined_name_from_a_skipped_demo  # noqa: B018,F821
        raise AssertionError("not reached")
    assert guard.missing
    assert "Solve exercise 4 first" in capsys.readouterr().out


def test_needs_returns_the_result_and_prints_nothing_when_solved(capsys):
    assert dt.needs("exercise 1", lambda: 41 + 1) == 42
    with dt.needs("exercise 1") as guard:
        pass
    assert not guard.missing
    assert capsys.readouterr().out == ""


def test_needs_lets_other_errors_through():
    with pytest.raises(ZeroDivisionError):
        dt.needs("exercise 1", lambda: 1 / 0)
    with pytest.raises(ValueError):
        with dt.needs("exercise 1"):
            raise ValueError("a bug in a solved exercise")


# --- the student's session: "not solved yet" in one line, Run All to the end, dt.progress ---

import os  # noqa: E402
import re  # noqa: E402
import types  # noqa: E402

from deeptrain import exercises  # noqa: E402


def _ran(source, exc=None):
    """What IPython hands a post_run_cell hook."""
    return types.SimpleNamespace(info=types.SimpleNamespace(raw_cell=source), error_in_exec=exc,
                                 error_before_exec=None)


@pytest.mark.parametrize("exc, status", [(None, "passed"), (NotImplementedError(), "not solved"),
                                         (AssertionError("sigmoid(0) should be 0.5, got 0.4"), "failing"),
                                         (ValueError("shapes (3,) and (4,) differ"), "error"),
                                         (NameError("name 'sigmoid' is not defined"), "not run")])
def test_progress_reports_each_exercise_as_its_test_cell_last_ran(capsys, monkeypatch, exc, status):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setattr(exercises, "_RUNS", {})
    exercises._record(_ran("check(sigmoid)\n", exc))
    exercises._record(_ran("some other cell", None))
    dt.progress({"sigmoid": exercises.fingerprint("check(sigmoid)   \n\n"), "never_run": "0" * 12})
    out = capsys.readouterr().out
    assert re.search(rf"sigmoid +{exercises._STATUS_TEXT[status]}", out), out
    assert re.search(r"never_run +not run in this session", out), out
    if exc is not None and status in ("failing", "error"):
        assert str(exc) in out
    assert f"{int(status == 'passed')} of 2 pass their visible checks" in out


def test_progress_shows_nothing_while_grading(capsys, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert dt.progress({"sigmoid": "0" * 12}) is None
    assert capsys.readouterr().out == ""
    assert exercises.student_session(shell=object()) is False   # no hook, no handler while grading


def test_in_a_kernel_a_stub_says_not_solved_yet_and_progress_counts_the_checks():
    """A real kernel (nbclient, which like JupyterLab honours `raises-exception`): the unsolved
    stub's test cell shows one line and the run goes on; a failing check shows its message;
    the last cell summarises."""
    import nbformat
    from nbclient import NotebookClient

    fp = exercises.fingerprint
    cells = ["import deeptrain as dt\ndt.exercises.student_session()",
             "def f():\n    raise NotImplementedError()",
             "f()",
             "assert 1 == 2, 'one is not two'",
             "x = 1",
             f"dt.progress({{'f': {fp('f()')!r}, 'g': {fp(chr(10).join(['assert 1 == 2, ' + repr('one is not two')]))!r},"
             f" 'h': {fp('x = 1')!r}}})"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cell in nb.cells[2:4]:
        cell.metadata["tags"] = ["raises-exception"]
    env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
    NotebookClient(nb, timeout=60, kernel_name="python3").execute(env=env)   # the kernel's whole environment
    stub = nb.cells[2].outputs
    assert [o.output_type for o in stub] == ["error"] and len(stub[0].traceback) == 1, stub
    assert "Not solved yet" in stub[0].traceback[0] and "`f` still raises NotImplementedError" in stub[0].traceback[0]
    summary = nb.cells[-1].outputs[0].data
    assert re.search(r"f +not solved yet", summary["text/plain"]), summary
    assert re.search(r"g +a visible check fails: one is not two", summary["text/plain"]), summary
    assert re.search(r"h +passes its visible checks", summary["text/plain"]), summary
    assert "deeptrain-progress-passed" in summary["text/html"]


def test_a_demo_cut_short_leaves_no_empty_figure(capsys):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    before = set(plt.get_fignums())
    with dt.needs("exercise 1"):
        fig, ax = plt.subplots()
        _stub()
    assert set(plt.get_fignums()) == before
    with dt.needs("exercise 1"):
        fig, ax = plt.subplots()          # a solved demo keeps its figure
    assert fig.number in plt.get_fignums()
    plt.close(fig)
