"""Grading jobs on Dask: a LocalCluster on this machine, or any cluster through its scheduler address.

One code path for one machine and a cluster (``dask.distributed``):

- ``open_client(scheduler=None, jobs=2)``: without an address (and no ``scheduler-address`` in
  Dask's configuration or ``DASK_SCHEDULER_ADDRESS``), a ``LocalCluster`` of ``jobs``
  single-threaded worker processes, started and stopped with the context; with one, a client of
  that cluster (TLS settings passed as a ``distributed.security.Security``).
- ``check_versions(client)``: refuses workers whose Python packages that matter (nbgrader,
  TensorFlow, NumPy, Dask, ...) or whose course code (``autograder/``, ``lib/deeptrain/``)
  differ from the instructor's, naming what differs.
- ``run_jobs(client, jobs, template, on_result)``: submits every job (``pure=False`` and a unique
  key, so identical submissions are never merged), and hands each result to ``on_result`` in the
  instructor's process as it arrives, which merges it serially. A worker that dies during a job
  gets the job retried on another worker (the scheduler's ``allowed-failures``, set to 1 for a
  LocalCluster); a second death records the job "failed" with the reason.

A job is self-contained: student, assignment, the pre-checked notebook's bytes, the submission
time, the nbgrader options; the clean template gradebook (which holds the assignment's test
cells) is scattered once to every worker. On the worker, ``run_job`` grades it in a private
folder through a grader subprocess (autograder/task.py ``serve``): Dask has no per-task timeout,
does not count a child kernel's memory and runs tasks in daemonic processes, so the limits
(wall clock, memory, sandbox) live in that subprocess and its sandboxed kernel. The subprocess
stays warm between the jobs of one worker (nbgrader's import, about 3 s of CPU, is paid once
per worker), is killed with its kernel when a job overruns its wall-clock limit, and dies with
its worker (``PR_SET_PDEATHSIG``). The result carries the grades, the autograded notebook and
the feedback HTML as bytes: nothing is shared through the file system.
"""
import atexit
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:   # a worker started elsewhere still finds the course code it was given
    sys.path.insert(0, ROOT)

# Packages whose versions change a grade or the way a job runs: refused at start when they differ.
PACKAGES = ("nbgrader", "nbconvert", "nbclient", "ipykernel", "jupyter_client", "tensorflow", "tensorflow-cpu",
            "keras", "numpy", "dask", "distributed")


class VersionMismatch(RuntimeError):
    """The workers do not run what the instructor runs."""


# --- what a machine runs ------------------------------------------------------------------

# Modules of autograder/ that only the instructor's process runs: they do not change a grade.
CLIENT_ONLY = ("grade.py", "report.py", "engine.py", "__main__.py", "bundle.py", "collect.py", "formgrader.py",
               "release.py")


def code_hash(root=ROOT, grading_only=False):
    """sha256 of the course code a job runs: autograder/ and lib/deeptrain/ (Python files and the
    nbgrader configuration), independent of where the checkout is. grading_only: without the
    instructor-side modules (CLIENT_ONLY), i.e. what decides a grade."""
    h = hashlib.sha256()
    for top in ("autograder", os.path.join("lib", "deeptrain")):
        base = os.path.join(root, top)
        for dirpath, dirnames, files in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for fn in sorted(files):
                if grading_only and dirpath == os.path.join(root, "autograder") and fn in CLIENT_ONLY:
                    continue
                if fn.endswith(".py"):
                    p = os.path.join(dirpath, fn)
                    h.update(os.path.relpath(p, root).encode() + b"\0")
                    with open(p, "rb") as f:
                        h.update(f.read() + b"\0")
    return h.hexdigest()


def git_commit(root=ROOT):
    """The checkout's commit (read from .git, without running git), or ''."""
    try:
        head = open(os.path.join(root, ".git", "HEAD")).read().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            path = os.path.join(root, ".git", ref)
            if os.path.exists(path):
                return open(path).read().strip()
            for line in open(os.path.join(root, ".git", "packed-refs")):
                if line.strip().endswith(" " + ref):
                    return line.split()[0]
            return ""
        return head
    except OSError:
        return ""


def versions():
    """What this process runs: Python, the packages of PACKAGES (absent ones as None), the course code."""
    from importlib import metadata
    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["course code"] = code_hash()[:12]
    out["course commit"] = git_commit()[:12] or None
    return out


def compare_versions(mine, theirs_by_worker):
    """Lines naming each difference between mine and each worker's versions() (empty: all agree).
    The commit is informative only: the code hash decides (a README change does not matter)."""
    lines = []
    for worker, theirs in sorted(theirs_by_worker.items()):
        for key in mine:
            if key == "course commit":
                continue
            if mine[key] != theirs.get(key):
                extra = ""
                if key == "course code":
                    extra = (f" (commits: here {mine.get('course commit') or '?'}, "
                             f"worker {theirs.get('course commit') or '?'})")
                lines.append(f"{worker}: {key} {theirs.get(key)} (here: {mine[key]}){extra}")
    return lines


def check_versions(client):
    """Raise VersionMismatch naming every difference between this process and the workers."""
    mine = versions()
    theirs = client.run(versions)
    if not theirs:
        raise VersionMismatch("the cluster has no workers")
    diff = compare_versions(mine, theirs)
    sched = client.get_versions(check=False).get("scheduler", {}).get("packages", {})
    for key in ("dask", "distributed"):
        if sched.get(key) and sched.get(key) != mine[key]:
            diff.append(f"scheduler: {key} {sched.get(key)} (here: {mine[key]})")
    if diff:
        raise VersionMismatch("the workers do not run what this machine runs; grades could differ. "
                              "Differences:\n  " + "\n  ".join(diff)
                              + "\nStart every worker from the same environment and the course checkout "
                                "at the same commit.")
    return mine


# --- the cluster ----------------------------------------------------------------------------

def scheduler_address(explicit=None):
    """The scheduler to use: explicit, else Dask's configuration (``scheduler-address``, e.g.
    $DASK_SCHEDULER_ADDRESS), else None (a LocalCluster)."""
    if explicit:
        return explicit
    import dask
    return dask.config.get("scheduler-address", None)


def security_from(tls_ca_file=None, tls_cert=None, tls_key=None):
    """A Security object for TLS when files are given, else None (Dask's configuration applies)."""
    if not (tls_ca_file or tls_cert or tls_key):
        return None
    from distributed.security import Security
    return Security(tls_ca_file=tls_ca_file, tls_client_cert=tls_cert, tls_client_key=tls_key,
                    require_encryption=True)


@contextlib.contextmanager
def open_client(scheduler=None, jobs=2, security=None, log=print):
    """A distributed.Client: of the cluster at `scheduler` (or Dask's configuration), or of a
    LocalCluster of `jobs` single-threaded worker processes that lives as long as the context."""
    import logging
    import dask
    from distributed import Client, LocalCluster
    address = scheduler_address(scheduler)
    if address:
        kw = {"security": security} if security is not None else {}
        client = Client(address, timeout="30s", **kw)
        try:
            failures = client.run_on_scheduler(
                lambda: __import__("dask").config.get("distributed.scheduler.allowed-failures"))
            if failures != 1:
                log(f"note: the scheduler retries a job whose worker died {failures} time(s) "
                    "(start it with DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 to retry once)")
        except Exception:
            pass
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.run(stop_grader)   # the cluster stays; this run's graders go
            client.close()
        return
    # A job whose worker dies is run again once, then reported (KilledWorker).
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.worker.daemon": True,
                          "distributed.admin.system-monitor.gil.enabled": False}):
        # Any free port for the scheduler's HTTP server (and the dashboard, when bokeh is installed).
        cluster = LocalCluster(n_workers=max(1, int(jobs)), threads_per_worker=1, processes=True,
                               memory_limit=0, dashboard_address=":0", silence_logs=logging.ERROR,
                               host="127.0.0.1")
        client = Client(cluster)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.run(stop_grader)
        client.close()
        cluster.close()


def dashboard_link(client):
    """The dashboard's address, or '' when the scheduler serves none."""
    try:
        served = client.run_on_scheduler(lambda: __import__("importlib.util").util.find_spec("bokeh") is not None)
        if served and "dashboard" in (client.scheduler_info().get("services") or {}):
            return client.dashboard_link
    except Exception:
        pass
    return ""


# --- on the worker -------------------------------------------------------------------------

_STATE = {"root": None, "grader": None, "lib": None}
_LOCK = threading.Lock()


def _root():
    """This worker process's private folder for job folders (hidden from kernels)."""
    if _STATE["root"] is None:
        _STATE["root"] = tempfile.mkdtemp(prefix="deeptrain-jobs-")
        atexit.register(shutil.rmtree, _STATE["root"], True)
    return _STATE["root"]


def _kernel_lib():
    """The kernel's copy of lib/deeptrain (without reference/), built once per worker process."""
    if _STATE["lib"] is None:
        from .sandbox import build_kernel_library
        _STATE["lib"] = build_kernel_library(os.path.join(ROOT, "lib", "deeptrain"),
                                             os.path.join(_root(), "kernel-lib"))
    return _STATE["lib"]


def _die_with_parent():
    """In the grader subprocess: SIGKILL when the worker that started it dies (Linux)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
    except Exception:
        pass
    os.setsid()   # its own process group: a timeout kills it and its kernel at once


class _Grader:
    """``python -m autograder.task serve`` owned by one Dask worker: grades that worker's jobs one
    after the other (a Dask worker runs one task at a time), so nbgrader is imported once per
    worker. Restarted after a death, a timeout, a change of environment, or every `recycle` jobs."""

    recycle = 40

    def __init__(self, env):
        self.env, self.proc, self.done = env, None, 0
        self.key = json.dumps(env, sort_keys=True)

    def start(self):
        self.close()
        self.log = open(os.path.join(_root(), "grader.log"), "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.task", "serve"], cwd=ROOT, env=self.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     preexec_fn=_die_with_parent)
        self.done = 0

    def close(self, kill=False):
        if self.proc is None:
            return
        try:
            if kill:
                os.killpg(self.proc.pid, 9)
            else:
                self.proc.stdin.close()
            self.proc.wait(timeout=None if kill else 30)
        except (OSError, subprocess.TimeoutExpired, ProcessLookupError):
            with contextlib.suppress(OSError, ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=10)
        self.proc = None
        self.log.close()

    def run(self, job, timeout):
        """True: the job finished (result.json written); False: the grader died; None: timed out."""
        import select
        from .task import PROTOCOL
        if self.proc is None or self.proc.poll() is not None or self.done >= self.recycle:
            self.start()
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            self.close(kill=True)
            return False
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close(kill=True)
                return None
            ready, _, _ = select.select([self.proc.stdout], [], [], min(remaining, 1.0))
            if ready:
                line = self.proc.stdout.readline().decode(errors="replace")
                if not line:
                    self.close(kill=True)
                    return False
                if line.startswith(PROTOCOL):
                    self.done += 1
                    return True
            elif self.proc.poll() is not None:
                self.close(kill=True)
                return False


def _grader_env(extra):
    """The grader subprocess's environment: this worker's, the course's nbgrader settings, the
    run's settings (threads, paths to hide), and this worker's job folder hidden from kernels."""
    from .nb import nbgrader_env
    env = nbgrader_env()
    env.update(extra or {})
    env["DEEPTRAIN_KERNEL_LIB"] = _kernel_lib()
    env["DEEPTRAIN_SANDBOX_HIDE"] = os.pathsep.join(
        [_root()] + [p for p in env.get("DEEPTRAIN_SANDBOX_HIDE", "").split(os.pathsep) if p])
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _grader(extra_env):
    env = _grader_env(extra_env)
    g = _STATE["grader"]
    if g is None or g.key != json.dumps(env, sort_keys=True):
        if g is not None:
            g.close()
        g = _STATE["grader"] = _Grader(env)
    return g


def prewarm(extra_env):
    """Start this worker's grader subprocess now (its imports overlap the instructor's pre-checks)."""
    if not _LOCK.acquire(blocking=False):   # a job is running: it starts the grader itself
        return False
    try:
        g = _grader(extra_env)
        if g.proc is None or g.proc.poll() is not None:
            g.start()
    finally:
        _LOCK.release()
    return True


def stop_grader():
    """Stop this worker's grader subprocess (end of a run). Runs in the worker's event loop: it
    never waits for a job's lock (a job still running then sees its grader gone and fails)."""
    g, _STATE["grader"] = _STATE["grader"], None
    if g is not None:
        g.close(kill=True)
    return True


def worker_self_test():
    """(ok, description) of the sandbox on this worker's machine, as its kernels will have it
    (autograder/sandbox.py self_test). Cached per machine in ~/.cache/deeptrain (or
    $XDG_CACHE_HOME) under a hash of the launcher's source, the kernel release, the user and the
    interpreter: the probe costs a few seconds and only changes when one of those does."""
    from . import kernel_hidden_paths
    from .sandbox import self_test
    with open(os.path.join(HERE, "sandbox.py"), "rb") as f:
        key = hashlib.sha256(f.read() + repr((os.uname(), os.getuid(), sys.executable, shutil.which("bwrap"))).encode()).hexdigest()[:20]
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "deeptrain")
    path = os.path.join(cache, f"sandbox-{key}.json")
    with contextlib.suppress(OSError, ValueError, TypeError):
        ok, text = json.load(open(path))
        return bool(ok), str(text)
    ok, text = self_test(kernel_hidden_paths(_root()))
    if not text.startswith("the sandbox launcher failed"):   # a passing failure is not remembered
        with contextlib.suppress(OSError):
            os.makedirs(cache, exist_ok=True)
            tmp = f"{path}.{os.getpid()}"
            with open(tmp, "w") as f:
                json.dump([ok, text], f)
            os.replace(tmp, path)
    return ok, text


def _read_tree(folder):
    """{relative path: bytes} of every file under folder."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for fn in files:
            p = os.path.join(dirpath, fn)
            with open(p, "rb") as f:
                out[os.path.relpath(p, folder)] = f.read()
    return out


def run_job(job, template):
    """Grade one job on this worker; returns a plain dict (see task.grade_one) plus
    ``files``: {"autograded"|"feedback": {relative path: bytes}}, ``worker`` and ``seconds``.

    job: {"student", "assignment", "notebook": bytes, "timestamp": str or None, "feedback": bool,
    "settings": [Class.trait=JSON ...], "limit": wall-clock seconds, "env": {VAR: value}}.
    template: the clean gradebook (bytes) that holds the assignment's cells and tests.
    """
    t0 = time.time()
    student, name = job["student"], job["assignment"]
    with _LOCK:
        tdir = tempfile.mkdtemp(prefix="job-", dir=_root())
        try:
            with open(os.path.join(tdir, "gradebook.db"), "wb") as f:
                f.write(template)
            dest = os.path.join(tdir, "submitted", student, name)
            os.makedirs(dest)
            with open(os.path.join(dest, f"{name}.ipynb"), "wb") as f:
                f.write(job["notebook"])
            if job.get("timestamp"):
                with open(os.path.join(dest, "timestamp.txt"), "w") as f:
                    f.write(job["timestamp"])
            finished = _grader(job.get("env")).run(
                {"dir": tdir, "assignment": name, "student": student, "feedback": job.get("feedback", True),
                 "settings": job.get("settings", [])}, job["limit"])
            try:
                with open(os.path.join(tdir, "result.json")) as f:
                    result = json.load(f)
            except (OSError, ValueError):
                result = {"success": False,
                          "error": "the grading process died" if finished is False else ""}
            result["wall_clock_exceeded"] = finished is None
            result["files"] = {sub: _read_tree(os.path.join(tdir, sub, student, name))
                               for sub in ("autograded", "feedback")}
        finally:
            shutil.rmtree(tdir, ignore_errors=True)
    result.update(student=student, assignment=name, seconds=time.time() - t0, worker=_worker_name())
    return result


def _worker_name():
    try:
        from distributed import get_worker
        return get_worker().address
    except Exception:
        return f"pid {os.getpid()}"


def noop(job, template=None):
    """A job that does nothing: measures the scheduler's own cost per job."""
    return {"student": job["student"], "assignment": job["assignment"], "success": True}


# --- submitting -----------------------------------------------------------------------------

def _key(job):
    """A key unique to this submission of this job (never deduplicated with an identical one)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{job['student']}-{job['assignment']}")
    return f"grade-{safe}-{uuid.uuid4().hex[:12]}"


def _slots(client):
    """How many jobs the cluster runs at once: its workers' threads (at least 1)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:    # noqa: BLE001 (a cluster between workers: one job at a time until they come)
        return 1


def run_jobs(client, jobs, template, on_result, fn=run_job):
    """Run every job on the cluster and call on_result(job, result) in this process as each
    finishes (in completion order). A job whose worker died twice, or that the cluster lost,
    gets a result with success False and the reason. template: the clean gradebook (bytes),
    scattered once to every worker.

    Jobs start in their order, as many at a time as the cluster has threads, the next one when one
    ends (``as_completed.add``): Dask places a task with a dependency (the template) on a worker as
    soon as it is submitted, so a job submitted ahead would wait behind a busy worker's long job (the
    capstone's replay) until work stealing moved it, a second or more later, and the order the grade
    command chose (autograder/grade.py job_rank) would be lost. Its queuing (worker-saturation)
    applies to tasks without dependencies only."""
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker
    if not jobs:
        return
    shared = client.scatter(template, broadcast=True, hash=False)
    waiting, futures = list(reversed(jobs)), {}
    running = as_completed()
    slots, checked = _slots(client), time.monotonic()

    def start_more():
        nonlocal slots, checked
        if time.monotonic() - checked > 5:      # workers join and leave a cluster
            slots, checked = _slots(client), time.monotonic()
        while waiting and len(futures) < slots:
            job = waiting.pop()
            fut = client.submit(fn, job, shared, key=_key(job), pure=False)
            futures[fut] = job
            running.add(fut)

    start_more()
    try:
        for fut in running:
            job = futures.pop(fut)
            start_more()      # before the merge: the worker that is free gets its next job at once
            try:
                result = fut.result()
            except KilledWorker as e:
                result = {"success": False, "worker_died": True,
                          "error": f"the worker grading it died twice (killed or out of memory): {e}"}
            except (FutureCancelledError, Exception) as e:   # the cluster's failure, not the student's
                result = {"success": False, "error": f"the cluster could not run it: {type(e).__name__}: {e}"}
            finally:
                fut.release()
            on_result(job, result)
    finally:
        for fut in list(futures):
            fut.cancel()
