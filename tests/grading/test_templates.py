"""The assignments' template cache (autograder/templates.py): built once per release key, reused,
pruned in a grading folder of its own, kept for every set of modules in a shared folder.

nbgrader's generate_assignment is replaced by a stand-in that writes the two things a template
holds (gradebook.db and release/NAME/NAME.ipynb) and counts its calls: what is tested here is the
cache, not nbgrader.
"""
import os
import threading

import pytest

from autograder import templates

A, B = "01_unstable_gradients", "02_initialization"


class Builds(list):
    """The stand-in's calls (tuples of names); barrier: parties that must arrive before any builds."""
    barrier = None


@pytest.fixture
def builds(monkeypatch):
    calls = Builds()

    def fake_generate(names, dirs, release_dir, log=print):
        calls.append(tuple(names))
        if calls.barrier is not None:
            calls.barrier.wait(timeout=20)
        for d in dirs:
            os.makedirs(d, exist_ok=True)
            open(os.path.join(d, "gradebook.db"), "w").write(",".join(names))
        for n in names:
            os.makedirs(os.path.join(release_dir, n), exist_ok=True)
            open(os.path.join(release_dir, n, f"{n}.ipynb"), "w").write("{}")

    monkeypatch.setattr(templates, "generate_templates", fake_generate)
    return calls


def test_a_grading_folder_builds_once_and_keeps_only_the_latest_templates(builds, tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPTRAIN_TEMPLATE_CACHE", raising=False)
    first, _, cached = templates.cached_templates([A], str(tmp_path))
    assert not cached and open(os.path.join(first, "gradebook.db")).read() == A
    again, _, cached = templates.cached_templates([A], str(tmp_path))
    assert cached and again == first and builds == [(A,)]
    other, _, _ = templates.cached_templates([A, B], str(tmp_path))
    left = sorted(d for d in os.listdir(tmp_path / ".cache") if d.startswith("templates-"))
    assert left == [os.path.basename(other)], "the earlier templates of this grading folder were not pruned"


def test_a_shared_cache_keeps_every_set_of_modules_for_every_grading_folder(builds, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPTRAIN_TEMPLATE_CACHE", str(tmp_path / "shared"))
    one, _, _ = templates.cached_templates([A], str(tmp_path / "g1"))
    two, _, _ = templates.cached_templates([A, B], str(tmp_path / "g2"))
    again, _, cached = templates.cached_templates([A], str(tmp_path / "g3"))
    assert cached and again == one and os.path.isfile(os.path.join(two, "gradebook.db"))
    assert builds == [(A,), (A, B)]
    assert not os.path.exists(tmp_path / "g1" / ".cache"), "a shared cache writes nothing in the grading folder"


def test_two_processes_building_the_same_templates_at_once_both_get_whole_ones(builds, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPTRAIN_TEMPLATE_CACHE", str(tmp_path / "shared"))
    builds.barrier = threading.Barrier(2)      # both builders start before either finishes
    got = []
    workers = [threading.Thread(target=lambda: got.append(templates.cached_templates([A], str(tmp_path / g))))
               for g in ("g1", "g2")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert len(got) == 2 and builds == [(A,), (A,)]
    assert got[0][0] == got[1][0] and open(os.path.join(got[0][0], "gradebook.db")).read() == A
    assert os.listdir(tmp_path / "shared") == [os.path.basename(got[0][0])], "a builder's leftovers remain"
