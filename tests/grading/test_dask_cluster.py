"""Grading through --scheduler on a real Dask cluster on localhost, with a worker killed mid-run.

A scheduler (``dask scheduler``) and two worker processes (``dask worker``, no nanny, one thread
each) are started from this environment; ``grade(..., scheduler=ADDRESS)`` (what ``--scheduler``
calls) grades four submissions of module 01: the solution and the untouched release, each
submitted by two students (identical jobs, which Dask must not merge into one); as soon as a
job is running, the worker running it is killed with SIGKILL. The job must be run again on the
other worker and every grade must still be right: full marks twice, zero twice. Then a worker
started from a copy of the course code with one line changed joins, and the command must refuse
to start, naming the difference.
"""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import corpus
from autograder import ROOT
from autograder.engine import VersionMismatch, compare_versions, versions
from autograder.grade import grade

pytestmark = pytest.mark.slow
BIN = os.path.dirname(sys.executable)


def _class(dest):
    """solution, blank, and their twins solution_b, blank_b (byte-identical notebooks)."""
    expected = corpus.build(str(dest), cases=())
    for student in ("solution", "blank"):
        shutil.copytree(dest / student, dest / f"{student}_b")
        expected[f"{student}_b"] = expected[student]
    return {s: e[0] for s, e in expected.items()}


def _env(root=ROOT):
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3",
               DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1")
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    return env


def _start_worker(scheduler_file, log, root=ROOT, name="w"):
    return subprocess.Popen([os.path.join(BIN, "dask"), "worker", "--scheduler-file", scheduler_file,
                             "--nthreads", "1", "--no-nanny", "--name", name, "--no-dashboard",
                             "--memory-limit", "0"],
                            cwd=root, env=_env(root), stdout=log, stderr=log)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    sfile = str(tmp / "scheduler.json")
    log = open(tmp / "cluster.log", "wb")
    procs = [subprocess.Popen([os.path.join(BIN, "dask"), "scheduler", "--scheduler-file", sfile, "--port", "0",
                               "--host", "127.0.0.1", "--no-dashboard"],
                              cwd=ROOT, env=_env(), stdout=log, stderr=log)]
    deadline = time.time() + 60
    while not os.path.exists(sfile) and time.time() < deadline:
        time.sleep(0.2)
    procs += [_start_worker(sfile, log, name=f"w{i}") for i in range(2)]
    from distributed import Client
    client = Client(scheduler_file=sfile, timeout="60s")
    client.wait_for_workers(2, timeout=60)
    yield client, sfile, procs, log, tmp
    client.close()
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    log.close()


def _kill_a_busy_worker(client, killed, stop):
    """Kill (SIGKILL) the first worker seen running a grading job; record (address, job key)."""
    pids = client.run(os.getpid)
    while not stop.is_set():
        for addr, keys in client.processing().items():
            if keys and any(str(k).startswith("grade-") for k in keys):
                time.sleep(2.0)   # well inside the job: its grader and kernel are running
                os.kill(pids[addr], signal.SIGKILL)
                killed.append((addr, list(keys)))
                return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def graded(cluster):
    client, sfile, procs, log, tmp = cluster
    subs = tmp / "subs"
    expected = _class(subs)
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=_kill_a_busy_worker, args=(client, killed, stop), daemon=True)
    killer.start()
    try:
        report = grade(str(subs), names=[corpus.NAME], grading=str(tmp / "grading"), timeout=60,
                       scheduler=client.scheduler.address, log=print, progress=False)
    finally:
        stop.set()
        killer.join(timeout=10)
    return report, expected, killed, client


def test_a_worker_was_killed_during_a_job(graded):
    report, expected, killed, client = graded
    assert killed, "no worker was seen running a job"
    assert len(client.scheduler_info()["workers"]) == 1


def test_every_grade_is_right_after_the_kill(graded):
    report, expected, killed, client = graded
    got = {o.student: (o.status, o.score) for o in report.outcomes}
    print(got, killed)
    assert {s: sc for s, (_, sc) in got.items()} == expected
    assert expected["solution"] > 0 and expected["blank"] == 0
    assert all(status == "graded" for status, _ in got.values()), got
    # The killed job was finished by the surviving worker.
    survivor = next(iter(client.scheduler_info()["workers"]))
    assert all(o.worker == survivor for o in report.outcomes if o.worker != killed[0][0])
    assert report.scheduler == client.scheduler.address


def test_a_worker_running_other_code_is_refused(cluster, graded, tmp_path):
    client, sfile, procs, log, tmp = cluster
    other = tmp_path / "checkout"
    shutil.copytree(os.path.join(ROOT, "autograder"), other / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(ROOT, "lib", "deeptrain"), other / "lib" / "deeptrain",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "lib" / "deeptrain" / "checks.py", "a") as f:
        f.write("\n# a change the instructor does not have\n")
    procs.append(_start_worker(sfile, log, root=str(other), name="stale"))
    client.wait_for_workers(2, timeout=60)
    subs = tmp_path / "subs"
    corpus.build(str(subs), cases=())
    with pytest.raises(VersionMismatch) as err:
        grade(str(subs), names=[corpus.NAME], grading=str(tmp_path / "grading"),
              scheduler=client.scheduler.address, log=print, progress=False)
    print(err.value)
    assert str(err.value).count("course code") == 1   # named, and only for the stale worker


def test_version_differences_are_named():
    mine = versions()
    theirs = dict(mine, numpy="1.0.0")
    lines = compare_versions(mine, {"tcp://10.0.0.2:4000": theirs, "tcp://10.0.0.3:4000": dict(mine)})
    assert lines == [f"tcp://10.0.0.2:4000: numpy 1.0.0 (here: {mine['numpy']})"]
    assert compare_versions(mine, {"w": dict(mine, **{"course commit": "other"})}) == []
