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
