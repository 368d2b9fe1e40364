"""Grading through --scheduler on a real Dask cluster on localhost, with a worker killed mid-run.

A scheduler (``dask scheduler``) and two worker processes (``dask worker``, no nanny, one thread
each) are started from this environment; ``grade(..., scheduler=ADDRESS)`` (what ``--scheduler``
calls) grades four submissions of module 01: the solution and the untouched release, each
submitted by two students (identical jobs, which Dask must not merge into one); as soon as a
job is running, the worker running it is killed with SIGKILL. The job must be run again on the
other worker and every grade must still be right: full marks twice, zero twice. Then a worker
started from a copy of the course code with one line changed joins, and the command must refuse
to start, naming the difference.

README's two cluster lines are then run as written (only ``$COURSE``, ``SCHEDULER`` and, for a free
port, ``8786`` filled in) from a folder outside the checkout, without PYTHONPATH, and two
notebooks are graded through them; a worker that cannot import the course code is refused with
one line naming the fix.
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
from autograder.grade import CourseCodeMissing, check_course_code, grade

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
    """The cluster's environment: no PYTHONPATH (the course code is installed in the environment),
    except for a worker started from another copy of the course code, which must load that copy."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1")
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    env.pop("PYTHONPATH", None)
    if root != ROOT:
        env["PYTHONPATH"] = root
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


# --- README's commands, as written --------------------------------------------------------------

def _readme_cluster_lines():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = text[text.index("**A cluster for a large class**"):]
    block = block[block.index("```bash") + 7:]
    lines = [line.split("#")[0].strip() for line in block[:block.index("```")].splitlines()]
    return [line for line in lines if line]


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port, timeout=90):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on port {port}")


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


BARE_WORKER = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]   # the course code's finder
sys.path[:] = [p for p in sys.path if p and (not p.startswith(%r) or "/.venv/" in p)]
from distributed.cli.dask_worker import main
sys.argv = ["dask-worker", "tcp://127.0.0.1:%d", "--nthreads", "1", "--no-nanny", "--name", "bare",
            "--memory-limit", "0", "--no-dashboard"]
main()
"""


def test_readme_cluster_commands_work_as_written(tmp_path):
    scheduler_line, worker_line = _readme_cluster_lines()
    assert "dask scheduler" in scheduler_line and "dask worker" in worker_line and "PYTHONPATH" not in worker_line
    port = _free_port()
    fill = {"$COURSE": ROOT, "tcp://SCHEDULER:": "tcp://127.0.0.1:", ":8786": f":{port}", "--port 8786": f"--port {port}"}
    for a, b in fill.items():
        scheduler_line, worker_line = scheduler_line.replace(a, b), worker_line.replace(a, b)
    elsewhere = tmp_path / "elsewhere"          # not the checkout: nothing found by chance in the cwd
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DASK_SCHEDULER_ADDRESS")}
    log = open(tmp_path / "cluster.log", "wb")
    procs = []
    try:
        for line in (scheduler_line, worker_line):    # the scheduler first, then the worker, as one would
            procs.append(subprocess.Popen(["bash", "-c", line], cwd=elsewhere, env=env, stdout=log, stderr=log,
                                          start_new_session=True))
            _wait_for_port(port)
        from distributed import Client
        with Client(f"tcp://127.0.0.1:{port}", timeout="60s") as client:
            client.wait_for_workers(1, timeout=90)
            subs = tmp_path / "subs"
            expected = corpus.build(str(subs), cases=())
            report = grade(str(subs), names=[corpus.NAME], grading=str(tmp_path / "grading"), timeout=60,
                           scheduler=f"tcp://127.0.0.1:{port}", log=print, progress=False, class_report=False)
            got = {o.student: (o.status, o.score) for o in report.outcomes}
            assert got == {s: ("graded", e[0]) for s, e in expected.items()}, \
                open(tmp_path / "cluster.log").read()[-3000:]
            # A worker whose Python cannot import the course code (as from another environment) joins:
            # refused before any job, in one line naming the fix.
            procs.append(subprocess.Popen([sys.executable, "-c", BARE_WORKER % (ROOT, port)], cwd=elsewhere, env=env,
                                          stdout=log, stderr=log, start_new_session=True))
            client.wait_for_workers(len(client.scheduler_info()["workers"]) + 1, timeout=90)
            with pytest.raises(CourseCodeMissing) as err:
                check_course_code(client)
        message = str(err.value)
        print(message)
        assert "\n" not in message and "cannot import the course code" in message and "make setup" in message
        assert "the scheduler" not in message and message.count("tcp://") == 1
    finally:
        _stop(procs)
        log.close()
