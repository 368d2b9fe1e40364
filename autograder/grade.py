"""Grade a whole class in one command: collect, pre-check, autograde in parallel, feedback, CSV.

    python -m autograder grade SUBMISSIONS [--jobs N] [--assignments ...] [--csv PATH]

SUBMISSIONS is a folder (one folder per student) or an LMS zip (autograder/collect.py). Steps:

1. **Collect** every student's notebooks; files that cannot be placed are listed with the reason.
2. **Pre-check** each notebook against its release (autograder/precheck.py): unreadable files are
   reported and graded by hand; duplicated, deleted, retyped or edited graded cells are repaired
   and the student is told in a note at the top of the graded notebook; suspicious code (patching
   libraries, tracing hooks, reading course files) flags the submission for a human look.
3. **Autograde** each (student, assignment) as its own job (autograder/task.py), ``--jobs`` at a
   time, in worker processes that import nbgrader once. A job has a private working folder with
   a copy of a clean gradebook, so jobs never share a SQLite writer; results are merged into the main gradebook (``grading/gradebook.db``)
   one at a time, in the order the jobs finish, which cannot change a grade: a serial and a
   parallel run give the same grades (tests/grading/test_parallel.py). Kernels run sandboxed
   (autograder/sandbox.py) with per-cell and per-notebook time limits and a memory cap, and the
   integrity guard undoes tampering before each test (autograder/execute.py). A job that still
   overruns its wall-clock limit is killed and reported; the batch goes on.
4. **Feedback** HTML per student and notebook (hidden tests and tracebacks removed) and the
   **grades**: ``grades.csv`` (one row per student: each notebook's autograded score, total,
   maximum, status) and ``grades_detail.csv`` (one row per student and notebook, with notes).

The main working folder is plain nbgrader's: ``submitted/``, ``autograded/``, ``feedback/`` and
``gradebook.db`` are where ``nbgrader`` expects them, so formgrader (written answers),
``nbgrader export`` or a re-run of one step work on the result.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import nbformat

from . import COURSE_ID, ROOT, assignments, grading_dir as default_grading_dir
from .collect import collect_folder, collect_zip
from .nb import nbgrader_env
from .precheck import precheck, scan

MARK = "[grader]"


@dataclass
class Outcome:
    student: str
    assignment: str
    status: str = "pending"          # graded | flagged (graded, needs a look) | failed | missing
    score: float = 0.0               # autograded points
    max_score: float = 0.0           # autograded maximum
    message: str = ""
    feedback: str = ""
    notes: list = field(default_factory=list)    # repairs and runtime events (the student sees them too)
    review: list = field(default_factory=list)   # why a human should look (instructor only)
    manual_max: float = 0.0          # points of written answers, graded by hand in formgrader
    cells: list = field(default_factory=list)    # per-cell grades
    seconds: float = 0.0


@dataclass
class Report:
    outcomes: list = field(default_factory=list)
    unplaced: list = field(default_factory=list)
    seconds: float = 0.0
    csv_path: str = ""
    detail_csv_path: str = ""
    jobs: int = 1
    sandbox: str = ""                             # what isolation the kernels had (sandbox.self_test)
    maxima: dict = field(default_factory=dict)    # assignment -> autograded points available

    def count(self, status):
        return sum(o.status == status for o in self.outcomes)


# --- helpers ------------------------------------------------------------------------------

def _release_ids(release_nbs):
    return {name: {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}
            for name, nb in release_nbs.items()}


def _note_cell(notes):
    text = (f"**{MARK} Notes from the grader.** Your notebook was repaired before grading:\n\n"
            + "\n".join(f"- {n}" for n in notes))
    return nbformat.v4.new_markdown_cell(text)


class _Worker:
    """A ``python -m autograder.task serve`` process: grades jobs one after the other, so that
    nbgrader's start-up (about 3 s of CPU) is paid once per worker, not once per notebook.
    A job over its wall-clock limit kills the worker (and, through the sandbox launchers, its
    kernel); the next job starts a fresh one. Workers are recycled every ``recycle`` jobs."""

    recycle = 20

    def __init__(self, env, log_path):
        self.env, self.log_path, self.proc, self.done = env, log_path, None, 0

    def _start(self):
        self.close()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.task", "serve"], cwd=ROOT, env=self.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     start_new_session=True)
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
            try:
                os.killpg(self.proc.pid, 9)
            except (OSError, ProcessLookupError):
                pass
        self.proc = None
        self.log.close()

    def run(self, job, timeout):
        """True: the job finished (result.json written); False: the worker died; None: timed out."""
        import select
        from .task import PROTOCOL
        if self.proc is None or self.proc.poll() is not None or self.done >= self.recycle:
            self._start()
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


def generate_templates(names, dirs, release_dir, log=print):
    """nbgrader generate_assignment of every assignment into each grading folder of dirs (in parallel)."""
    env = nbgrader_env()
    procs = []
    for d in dirs:
        os.makedirs(d, exist_ok=True)
        e = dict(env, DEEPTRAIN_GRADING_DIR=d)
        rel = release_dir if d == dirs[0] else tempfile.mkdtemp(prefix="deeptrain-release-")
        procs.append((d, rel, subprocess.Popen([sys.executable, "-m", "autograder.task", "generate", d, rel, *names],
                                               cwd=ROOT, env=e, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT)))
    for d, rel, p in procs:
        out, _ = p.communicate()
        if rel != release_dir:
            shutil.rmtree(rel, ignore_errors=True)
        if p.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed in {d}:\n{out.decode(errors='replace')[-3000:]}")


def merge_into(db_url, result):
    """Copy one job's autograded grades into the main gradebook (as nbgrader's SaveAutoGrades does)."""
    import warnings
    from datetime import datetime
    from nbgrader.api import Gradebook
    student, assignment = result["student"], result["assignment"]
    with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes inside nbgrader's own API
        gb.update_or_create_student(student)
        ts = result.get("timestamp")
        kw = {"timestamp": datetime.fromisoformat(ts)} if ts else {}
        sub = gb.update_or_create_submission(assignment, student, **kw)
        cells = {(g["notebook"], g["cell"]): g for g in result.get("grades", [])}
        for nb in sub.notebooks:
            for grade in nb.grades:
                g = cells.get((nb.name, grade.name))
                if g is None:
                    continue
                grade.auto_score = g["auto_score"]
                grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
            for comment in nb.comments:
                g = cells.get((nb.name, comment.name))
                if g is not None:
                    comment.auto_comment = g.get("auto_comment")
        gb.db.commit()


def _runtime_notes(autograded_path):
    """[grader] notes the execution left in the autograded notebook, and kernel events."""
    notes, review = [], []
    try:
        nb = nbformat.read(autograded_path, as_version=4)
    except Exception:
        return notes, review
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id") if "nbgrader" in cell.metadata else None
        where = f"cell {gid}" if gid else "a cell"
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and str(out.get("text", "")).startswith(MARK):
                review.append(f"{where}: {out['text'][len(MARK):].strip()}")
            if out.get("output_type") == "error" and out.get("ename") in (
                    "CellTimeout", "KernelDied", "KernelExited", "MemoryLimit", "CPULimit", "NotebookTimeout",
                    "NotRun"):
                notes.append(f"{where}: {out['evalue']}")
    return notes, review


# --- the command --------------------------------------------------------------------------

def collect(submissions, names, release_nbs, regex=None, lms="auto"):
    ids = _release_ids(release_nbs)
    if os.path.isfile(submissions) and submissions.lower().endswith(".zip"):
        return collect_zip(submissions, names, ids, regex=regex, lms=lms)
    if not os.path.isdir(submissions):
        raise FileNotFoundError(f"no such folder or zip: {submissions}")
    return collect_folder(submissions, names, ids)


def grade(submissions, names=None, grading=None, csv_path=None, log=print, jobs=1, regex=None, lms="auto",
          timeout=None, notebook_timeout=None, memory_limit=None, feedback=True, keep_work=False,
          settings=(), threads=1):
    """Autograde every student's notebooks; returns a Report. Never stops on one bad submission.

    jobs: jobs at once. timeout: seconds per cell; notebook_timeout: wall-clock seconds per notebook
    (restarts included); memory_limit: bytes of resident memory per kernel (None: the configured
    defaults). settings: extra nbgrader config, "Class.trait=JSON". threads: CPU threads of each
    kernel (NumPy, TensorFlow), the same whatever jobs is, so that serial and parallel runs compute alike.
    """
    start = time.time()
    names = list(names or assignments())
    grading = os.path.abspath(grading or default_grading_dir())
    os.makedirs(grading, exist_ok=True)
    work = tempfile.mkdtemp(prefix="work-", dir=grading)
    report = Report(jobs=jobs)
    try:
        _grade(report, submissions, names, grading, work, log, jobs, regex, lms, timeout, notebook_timeout,
               memory_limit, feedback, settings, threads)
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    report.csv_path = csv_path or os.path.join(grading, "grades.csv")
    report.detail_csv_path = os.path.join(os.path.dirname(os.path.abspath(report.csv_path)), "grades_detail.csv")
    write_csv(report, names, report.csv_path)
    write_detail_csv(report, report.detail_csv_path)
    report.seconds = time.time() - start
    summary(report, log)
    return report


def _grade(report, submissions, names, grading, work, log, jobs, regex, lms, timeout, notebook_timeout,
           memory_limit, feedback, settings, threads):
    # 1. Templates: a clean gradebook for the jobs, and the main gradebook's assignment definitions.
    release_dir = os.path.join(work, "release")
    template = os.path.join(work, "template")
    t0 = time.time()
    previous_hide = os.environ.get("DEEPTRAIN_SANDBOX_HIDE")
    sandbox_hide = [work, grading, os.path.abspath(submissions)] + [
        p for p in (previous_hide or "").split(os.pathsep) if p]
    log(f"preparing {len(names)} assignment(s): {', '.join(names)}")
    fresh = not os.path.exists(os.path.join(grading, "gradebook.db"))
    generate_templates(names, [template] if fresh else [template, grading], release_dir, log)
    if fresh:  # a new main gradebook is the clean template itself
        shutil.copy(os.path.join(template, "gradebook.db"), os.path.join(grading, "gradebook.db"))
    release_nbs = {n: nbformat.read(os.path.join(release_dir, n, f"{n}.ipynb"), as_version=4) for n in names}
    report.maxima = {n: float(sum(c.metadata["nbgrader"].get("points", 0) for c in nb.cells
                                  if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")))
                     for n, nb in release_nbs.items()}
    log(f"  assignments ready ({time.time() - t0:.1f} s)")
    from .sandbox import build_kernel_library
    kernel_lib = build_kernel_library(os.path.join(ROOT, "lib", "deeptrain"), os.path.join(work, "kernel-lib"))

    # The sandbox, tried once as the jobs will use it: the summary says what protects the grader.
    from . import kernel_hidden_paths
    from .sandbox import self_test
    os.environ["DEEPTRAIN_SANDBOX_HIDE"] = os.pathsep.join(sandbox_hide)
    try:
        ok, report.sandbox = self_test(kernel_hidden_paths(grading))
    finally:
        os.environ.pop("DEEPTRAIN_SANDBOX_HIDE", None)
        if previous_hide is not None:
            os.environ["DEEPTRAIN_SANDBOX_HIDE"] = previous_hide
    # A launcher that cannot start kernels at all would fail every notebook: grade unsandboxed.
    launcher_broken = report.sandbox.startswith("the sandbox launcher failed")
    if launcher_broken:
        report.sandbox += "; grading WITHOUT the sandbox (time limits still apply)"
    log(("sandbox: " if ok else "WARNING, sandbox: ") + report.sandbox)

    # 2. Collect and pre-check.
    col = collect(submissions, names, release_nbs, regex=regex, lms=lms)
    report.unplaced = [f"{src}: {why}" for src, why in col.unplaced]
    for line in report.unplaced:
        log(f"could not place {line}")
    submitted = os.path.join(grading, "submitted")
    originals = os.path.join(grading, "originals")
    for student in col.students:   # this run's assignments only: earlier runs' other modules stay
        for name in names:
            shutil.rmtree(os.path.join(submitted, student, name), ignore_errors=True)
            for sub in ("autograded", "feedback"):
                shutil.rmtree(os.path.join(grading, sub, student, name), ignore_errors=True)
    todo, outcomes = [], {}
    for student in sorted(col.students):
        for name in names:
            out = outcomes[(student, name)] = Outcome(student, name, max_score=report.maxima.get(name, 0.0))
            cand = col.files.get(student, {}).get(name)
            if cand is None:
                out.status, out.message = "missing", "no submission"
                continue
            if cand.note:
                out.notes.append(cand.note)
            pc = precheck(cand.data, release_nbs[name])
            os.makedirs(os.path.join(originals, student), exist_ok=True)
            with open(os.path.join(originals, student, f"{name}.ipynb"), "wb") as f:
                f.write(cand.data)
            if pc.nb is None:
                out.status, out.message = "failed", f"cannot be graded automatically: {pc.fatal}"
                out.review.append(out.message)
                continue
            out.notes += pc.problems
            if pc.foreign:
                out.review.append("no graded cell of this assignment was in the file")
            out.review += [f"suspicious code: {s}" for s in scan(pc.nb, release_nbs[name])]
            if pc.problems:
                pc.nb.cells.insert(0, _note_cell(pc.problems))
            dest = os.path.join(submitted, student, name)
            os.makedirs(dest, exist_ok=True)
            nbformat.write(pc.nb, os.path.join(dest, f"{name}.ipynb"))
            if cand.timestamp:
                with open(os.path.join(dest, "timestamp.txt"), "w") as f:
                    f.write(cand.timestamp)
            todo.append((student, name))
    report.outcomes = [outcomes[k] for k in sorted(outcomes)]
    n_pre = sum(bool(o.notes) for o in report.outcomes)
    log(f"{len(col.students)} student(s), {len(todo)} notebook(s) to grade, {n_pre} repaired or renamed, "
        f"{report.count('failed')} unreadable, {report.count('missing')} missing")

    # 3. Jobs.
    opts = list(settings)
    if launcher_broken:
        opts.append("SandboxedKernelManager.sandbox=false")
    if timeout:
        opts.append(f"Execute.timeout={int(timeout)}")
    if notebook_timeout:
        opts.append(f"ResilientExecute.notebook_timeout={int(notebook_timeout)}")
    if memory_limit:
        opts.append(f"SandboxedKernelManager.memory_limit={int(memory_limit)}")
    nb_limit = notebook_timeout or 600
    env = nbgrader_env()
    env["DEEPTRAIN_KERNEL_LIB"] = kernel_lib
    # One thread per kernel whatever --jobs is: the same arithmetic in a serial and a parallel run,
    # and no oversubscription when several kernels run at once.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                "TF_NUM_INTEROP_THREADS"):
        env[var] = str(threads)
    env["DEEPTRAIN_SANDBOX_HIDE"] = os.pathsep.join(sandbox_hide)
    db_url = "sqlite:///" + os.path.join(grading, "gradebook.db")
    lock = threading.Lock()
    done = [0]

    local, workers = threading.local(), []

    def job(student, name):
        t0 = time.time()
        tdir = os.path.join(work, "jobs", f"{student}--{name}")
        os.makedirs(os.path.join(tdir, "submitted", student), exist_ok=True)
        shutil.copy(os.path.join(template, "gradebook.db"), os.path.join(tdir, "gradebook.db"))
        shutil.copytree(os.path.join(submitted, student, name), os.path.join(tdir, "submitted", student, name))
        if not hasattr(local, "worker"):
            with lock:
                local.worker = _Worker(env, os.path.join(work, f"worker-{len(workers)}.log"))
                workers.append(local.worker)
        finished = local.worker.run({"dir": tdir, "assignment": name, "student": student,
                                     "feedback": feedback, "settings": opts}, nb_limit + 180)
        try:
            with open(os.path.join(tdir, "result.json")) as f:
                result = json.load(f)
        except (OSError, ValueError):
            result = {"success": False, "error": "the grading process died" if finished is False else ""}
        result["wall_clock_exceeded"] = finished is None
        return tdir, result, time.time() - t0

    def finish(student, name, tdir, result, seconds):
        out = outcomes[(student, name)]
        out.seconds = seconds
        if result.get("wall_clock_exceeded"):
            out.status = "failed"
            out.message = f"stopped after {nb_limit + 180} s (wall-clock limit of a notebook): grade by hand"
            out.review.append(out.message)
        elif not result.get("success"):
            out.status = "failed"
            err = (result.get("error") or "").strip().splitlines()
            out.message = "nbgrader could not grade it: " + (err[-1] if err else "unknown error")
            out.review.append(out.message)
        else:
            with lock:
                merge_into(db_url, result)
            out.cells = result.get("grades", [])
            code = [g for g in out.cells if g["cell_type"] == "code"]
            out.score = float(sum((g["manual_score"] if g["manual_score"] is not None else g["auto_score"]) or 0
                                  for g in code))
            out.max_score = float(sum(g["max_score"] for g in code))
            out.manual_max = float(sum(g["max_score"] for g in out.cells if g["cell_type"] != "code"))
            for sub in ("autograded", "feedback"):
                src = os.path.join(tdir, sub, student, name)
                dst = os.path.join(grading, sub, student, name)
                if os.path.isdir(src):
                    shutil.rmtree(dst, ignore_errors=True)
                    shutil.copytree(src, dst)
            html = os.path.join(grading, "feedback", student, name, f"{name}.html")
            out.feedback = html if result.get("feedback") and os.path.exists(html) else ""
            notes, review = _runtime_notes(os.path.join(grading, "autograded", student, name, f"{name}.ipynb"))
            out.notes += notes
            out.review += review
            out.status = "flagged" if out.review else "graded"
            out.message = "; ".join(out.review[:1] + out.notes[:2])
        done[0] += 1
        score = f" {out.score:g}/{out.max_score:g}" if out.status in ("graded", "flagged") else ""
        log(f"[{done[0]}/{len(todo)}] {student} {name}: {out.status}{score} ({seconds:.1f} s)"
            + (f" - {out.message}" if out.message else ""))

    log(f"grading {len(todo)} notebook(s) with {jobs} job(s) at a time")
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(job, s, n): (s, n) for s, n in todo}
            for fut in as_completed(futures):
                s, n = futures[fut]
                try:
                    tdir, result, seconds = fut.result()
                except Exception as e:  # the grader's own failure on one job never stops the batch
                    tdir, result, seconds = "", {"success": False, "error": repr(e)}, 0.0
                finish(s, n, tdir, result, seconds)
                if tdir:
                    shutil.rmtree(tdir, ignore_errors=True)
    finally:
        for w in workers:
            w.close()


def summary(report, log=print):
    g, fl, fa, mi = (report.count(s) for s in ("graded", "flagged", "failed", "missing"))
    if report.sandbox:
        log(f"kernels ran in a sandbox: {report.sandbox}")
    log(f"done in {report.seconds:.1f} s with {report.jobs} job(s): {g} graded, {fl} flagged for review "
        f"(graded), {fa} failed to run, {mi} missing, {len(report.unplaced)} file(s) not placed")
    for o in report.outcomes:
        if o.status in ("flagged", "failed"):
            log(f"  {o.status}: {o.student} {o.assignment}: " + " | ".join(o.review[:3]))
    log(f"grades in {report.csv_path} (details: {report.detail_csv_path})")


def write_csv(report, names, path):
    """One row per student: autograded score of each assignment, then the total."""
    by_student, maxima = {}, dict(report.maxima)
    for o in report.outcomes:
        by_student.setdefault(o.student, {})[o.assignment] = o
        if o.max_score:
            maxima[o.assignment] = o.max_score
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student"] + list(names) + ["total", "max_total", "status"])
        for student in sorted(by_student):
            row = by_student[student]
            scores = [row[a].score if a in row else 0.0 for a in names]
            status = ";".join(f"{a}:{row[a].status}" for a in names if a in row and row[a].status != "graded")
            w.writerow([student] + [f"{s:g}" for s in scores] + [f"{sum(scores):g}",
                       f"{sum(maxima.get(a, 0) for a in names):g}", status or "ok"])


def write_detail_csv(report, path):
    """One row per student and notebook: status, score, maximum, written-answer points, notes."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "status", "score", "max_score", "written_max", "seconds",
                    "message", "notes", "review", "feedback"])
        for o in report.outcomes:
            w.writerow([o.student, o.assignment, o.status, f"{o.score:g}", f"{o.max_score:g}", f"{o.manual_max:g}",
                        f"{o.seconds:.1f}", o.message, " | ".join(o.notes), " | ".join(o.review), o.feedback])


def precheck_report(submissions, names=None, regex=None, lms="auto", log=print):
    """Collect and pre-check without grading; print what is wrong per student. Returns 0, or 1 if
    some file is unreadable or unplaced."""
    names = list(names or assignments())
    from .release import generate
    with tempfile.TemporaryDirectory() as tmp:
        for n in names:
            generate(n, release_dir=os.path.join(tmp, "release"), grading_dir=os.path.join(tmp, "grading"))
        release_nbs = {n: nbformat.read(os.path.join(tmp, "release", n, f"{n}.ipynb"), as_version=4) for n in names}
    col = collect(submissions, names, release_nbs, regex=regex, lms=lms)
    bad = 0
    for student in sorted(col.students):
        lines = []
        for name in names:
            cand = col.files.get(student, {}).get(name)
            if cand is None:
                lines.append(f"  {name}: missing")
                continue
            pc = precheck(cand.data, release_nbs[name])
            if pc.nb is None:
                bad += 1
                lines.append(f"  {name}: CANNOT BE GRADED AUTOMATICALLY: {pc.fatal}")
                continue
            for text in ([cand.note] if cand.note else []) + pc.problems:
                lines.append(f"  {name}: repaired: {text}")
            review = scan(pc.nb, release_nbs[name])
            for text in review:
                lines.append(f"  {name}: review: {text}")
            if not cand.note and not pc.problems and not review:
                lines.append(f"  {name}: ok")
        log(f"{student}:")
        for line in lines:
            log(line)
    for src, why in col.unplaced:
        bad += 1
        log(f"not placed: {src}: {why}")
    return 1 if bad else 0
