"""Grade a whole class in one command: collect, pre-check, autograde on Dask, feedback, CSV, report.

    python -m autograder grade SUBMISSIONS [--jobs N | --scheduler ADDRESS] [--assignments ...]

SUBMISSIONS is a folder (one folder per student) or an LMS zip (autograder/collect.py). Steps:

1. **Prepare** (cached): the assignments' templates (``nbgrader generate_assignment``: the clean
   gradebook holding every test cell, and the release notebooks) are built once per release and
   kept in ``GRADING/.cache/`` under a hash of the solutions, the course code and nbgrader's
   version; the sandbox self-test is cached per machine the same way (autograder/engine.py).
2. **Collect** every student's notebooks; files that cannot be placed are listed with the reason.
3. **Pre-check** each notebook against its release (autograder/precheck.py): unreadable files are
   reported and graded by hand; duplicated, deleted, retyped or edited graded cells are repaired
   and the student is told in a note at the top of the graded notebook; suspicious code (patching
   libraries, tracing hooks, reading course files) flags the submission for a human look.
4. **Autograde** each (student, assignment) as a self-contained job on Dask (autograder/engine.py):
   a LocalCluster of ``--jobs`` single-threaded worker processes, or the cluster at ``--scheduler``.
   Each job grades in a private folder on its worker with a copy of the clean gradebook, kernels
   sandboxed with per-cell and per-notebook time limits and a memory cap (autograder/sandbox.py,
   autograder/execute.py). Results come back to this process and are merged here one at a time:
   the autograded and feedback files are swapped in whole, the grades go into
   ``GRADING/gradebook.db`` in one transaction, and a line is appended to ``GRADING/journal.jsonl``.
   Merging order cannot change a grade: any number of workers gives the grades of one
   (tests/grading/test_parallel.py).
5. **Resume**: a job whose submission, release and options are unchanged and that the journal
   records as graded is not graded again (``regrade=True`` grades everything); an interrupted
   run is finished by running the same command again.
6. **Feedback** HTML per student and notebook (hidden tests and tracebacks removed), the
   **grades** (``grades.csv``: one row per student; ``grades_detail.csv``: one row per student and
   notebook, with notes; ``grades_lms.csv``: the layout Canvas's and Moodle's gradebook imports
   accept) and the **class report** ``report.html`` (autograder/report.py).

The main working folder is plain nbgrader's: ``submitted/``, ``autograded/``, ``feedback/`` and
``gradebook.db`` are where ``nbgrader`` expects them, so formgrader (written answers),
``nbgrader export`` or a re-run of one step work on the result.
"""
import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields

import nbformat

from . import COURSE_ID, ROOT, SOLUTIONS, assignments, grading_dir as default_grading_dir
from .collect import collect_folder, collect_zip
from .nb import nbgrader_env
from .precheck import precheck, scan

MARK = "[grader]"
JOURNAL = "journal.jsonl"


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
    worker: str = ""                 # the Dask worker that graded it
    resumed: bool = False            # taken from the journal of an earlier run, not graded now


@dataclass
class Report:
    outcomes: list = field(default_factory=list)
    unplaced: list = field(default_factory=list)
    seconds: float = 0.0
    csv_path: str = ""
    detail_csv_path: str = ""
    lms_csv_path: str = ""
    report_path: str = ""
    jobs: int = 1
    scheduler: str = ""                           # the cluster's address ("" for a LocalCluster)
    sandbox: str = ""                             # what isolation the kernels had (sandbox.self_test)
    maxima: dict = field(default_factory=dict)    # assignment -> autograded points available
    graded_now: int = 0                           # jobs graded in this run (the others were resumed)
    prepare_seconds: float = 0.0                  # before the first job was submitted
    grading_seconds: float = 0.0                  # from the first job submitted to the last merged
    merge_seconds: float = 0.0                    # spent merging results here (serial)

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


def _sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def release_keys(names):
    """{assignment: hash of what its template depends on}: the source notebook, the nbgrader
    configuration and nbgrader's version. A cached template is rebuilt when this changes."""
    from importlib import metadata
    parts = [metadata.version("nbgrader")]
    for fn in ("nbgrader_config.py", "preprocessors.py"):
        with open(os.path.join(ROOT, "autograder", fn), "rb") as f:
            parts.append(f.read())
    common = _sha(*parts)
    out = {}
    for n in names:
        with open(os.path.join(SOLUTIONS, n, f"{n}.ipynb"), "rb") as f:
            out[n] = _sha(common, n, f.read())
    return out


def generate_templates(names, dirs, release_dir, log=print):
    """nbgrader generate_assignment of every assignment into each grading folder of dirs (in parallel)."""
    import subprocess
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


def cached_templates(names, grading, log=print):
    """The folder holding the clean template gradebook (gradebook.db) and release/NAME/NAME.ipynb
    for names, built once per release key in GRADING/.cache/ and reused by later runs."""
    keys = release_keys(names)
    key = _sha(*sorted(f"{n}={k}" for n, k in keys.items()))[:20]
    cache = os.path.join(grading, ".cache")
    final = os.path.join(cache, f"templates-{key}")
    if os.path.isfile(os.path.join(final, "gradebook.db")):
        return final, keys, True
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="building-", dir=cache)
    try:
        generate_templates(names, [os.path.join(tmp, "grading")], os.path.join(tmp, "release"), log)
        os.makedirs(final + ".new", exist_ok=True)
        shutil.move(os.path.join(tmp, "grading", "gradebook.db"), os.path.join(final + ".new", "gradebook.db"))
        shutil.move(os.path.join(tmp, "release"), os.path.join(final + ".new", "release"))
        for old in os.listdir(cache):      # earlier releases' templates are of no further use
            if old.startswith("templates-") and not old.endswith(".new"):
                shutil.rmtree(os.path.join(cache, old), ignore_errors=True)
        os.replace(final + ".new", final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(final + ".new", ignore_errors=True)
    return final, keys, False


def prepare_gradebook(grading, template_dir, keys, log=print):
    """Make GRADING/gradebook.db define every assignment of keys as released now: a new gradebook
    is the template itself; an existing one gets generate_assignment for the assignments whose
    release changed since (recorded in GRADING/.cache/gradebook-release.json). Returns True when
    the gradebook is new (an earlier run's journal then means nothing)."""
    db = os.path.join(grading, "gradebook.db")
    state_path = os.path.join(grading, ".cache", "gradebook-release.json")
    fresh = not os.path.exists(db)
    state = {}
    if fresh:
        shutil.copy(os.path.join(template_dir, "gradebook.db"), db + ".tmp")
        os.replace(db + ".tmp", db)
    else:
        with contextlib.suppress(OSError, ValueError):
            state = json.load(open(state_path))
        stale = sorted(n for n, k in keys.items() if state.get(n) != k)
        if stale:
            log(f"  updating the gradebook's definition of {', '.join(stale)}")
            with tempfile.TemporaryDirectory(prefix="deeptrain-release-") as rel:
                generate_templates(stale, [grading], rel, log)
    state.update(keys)
    os.makedirs(os.path.dirname(state_path), exist_ok=True)
    with open(state_path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(state_path + ".tmp", state_path)
    return fresh


def merge_into(gradebook, result):
    """Copy one job's autograded grades into the main gradebook (as nbgrader's SaveAutoGrades
    does), in one transaction: an interruption leaves the gradebook as it was before this job.
    gradebook: an open nbgrader Gradebook (one for the whole run: opening one costs more than a
    merge), or its URL."""
    import warnings
    from datetime import datetime
    from nbgrader.api import Gradebook
    if isinstance(gradebook, str):
        with Gradebook(gradebook, COURSE_ID) as gb:
            return merge_into(gb, result)
    gb = gradebook
    student, assignment = result["student"], result["assignment"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes inside nbgrader's own API
        try:
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
        except BaseException:
            gb.db.rollback()
            raise


KERNEL_EVENTS = ("CellTimeout", "KernelDied", "KernelExited", "MemoryLimit", "CPULimit", "NotebookTimeout", "NotRun")
_KERNEL_EVENT = re.compile(r"^(%s): (.+)$" % "|".join(KERNEL_EVENTS))


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
            text = "".join(out.get("text", "")) if isinstance(out.get("text"), list) else str(out.get("text", ""))
            if out.get("output_type") == "stream" and text.startswith(MARK):
                review.append(f"{where}: {text[len(MARK):].strip()}")
            elif out.get("output_type") == "stream":
                # A kernel event a test cell reports as its code's output (autograder/verdicts).
                for line in text.splitlines():
                    m = _KERNEL_EVENT.match(line)
                    if m and f"{where}: {m.group(2)}" not in notes:
                        notes.append(f"{where}: {m.group(2)}")
            if out.get("output_type") == "error" and out.get("ename") in KERNEL_EVENTS:
                if f"{where}: {out['evalue']}" not in notes:
                    notes.append(f"{where}: {out['evalue']}")
    return notes, review


def _swap_in(files, dest, scratch):
    """Replace folder dest by one holding files ({relative path: bytes}), without a moment where
    dest holds a mix of old and new files."""
    new = os.path.join(scratch, uuid.uuid4().hex)
    for rel, data in files.items():
        p = os.path.join(new, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    old = os.path.join(scratch, uuid.uuid4().hex)
    if os.path.isdir(dest):
        os.replace(dest, old)
    if files:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(new, ignore_errors=True)


# --- the journal (resume) -------------------------------------------------------------------

def load_journal(grading):
    """{(student, assignment): entry} of the jobs earlier runs finished (the last entry wins; a
    line cut short by an interruption is ignored)."""
    done = {}
    path = os.path.join(grading, JOURNAL)
    if not os.path.exists(path):
        return done
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
                done[(entry["student"], entry["assignment"])] = entry
            except (ValueError, KeyError, TypeError):
                continue
    return done


def _journal_append(grading, key, outcome):
    line = json.dumps({"student": outcome.student, "assignment": outcome.assignment, "key": key,
                       "outcome": asdict(outcome)}) + "\n"
    with open(os.path.join(grading, JOURNAL), "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _outcome_from(entry):
    known = {f.name for f in fields(Outcome)}
    o = Outcome(**{k: v for k, v in entry["outcome"].items() if k in known})
    o.resumed = True
    return o


# --- progress -------------------------------------------------------------------------------

class Progress:
    """Counts, rate and time left, as one line per finished job (any log) and, on a terminal,
    a live bar (rich)."""

    def __init__(self, total, log, live=None):
        self.total, self.log, self.done, self.t0 = total, log, 0, time.time()
        self.bar = None
        if live is None:
            live = log is print and sys.stdout.isatty()
        if live and total:
            try:
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
                self.bar = RichProgress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                                        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
                self.task = self.bar.add_task("grading", total=total)
                self.bar.start()
            except Exception:
                self.bar = None

    def eta(self):
        if not self.done:
            return "?"
        left = (time.time() - self.t0) / self.done * (self.total - self.done)
        return f"{int(left // 60)}m{int(left % 60):02d}s"

    def tick(self, line):
        self.done += 1
        text = f"[{self.done}/{self.total}, {self.eta()} left] {line}"
        if self.bar is not None:
            self.bar.console.print(text, highlight=False, markup=False)
            self.bar.update(self.task, completed=self.done)
        else:
            self.log(text)

    def close(self):
        if self.bar is not None:
            self.bar.stop()


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
          settings=(), threads=1, scheduler=None, security=None, regrade=False, class_report=True,
          progress=None):
    """Autograde every student's notebooks; returns a Report. Never stops on one bad submission.

    jobs: worker processes of the LocalCluster (ignored with a scheduler). scheduler: a Dask
    scheduler address (None: Dask's configuration, else a LocalCluster); security: a
    distributed Security (TLS). timeout: seconds per cell; notebook_timeout: wall-clock seconds
    per notebook (restarts included); memory_limit: bytes of resident memory per kernel (None:
    the configured defaults). settings: extra nbgrader config, "Class.trait=JSON". threads: CPU
    threads of each kernel (NumPy, TensorFlow), the same whatever jobs is, so that runs on any
    number of workers compute alike. regrade: grade again what the journal says is done.
    class_report: write report.html. progress: a live bar (None: when stdout is a terminal).
    """
    start = time.time()
    names = list(names or assignments())
    grading = os.path.abspath(grading or default_grading_dir())
    os.makedirs(grading, exist_ok=True)
    work = tempfile.mkdtemp(prefix="work-", dir=grading)
    report = Report(jobs=jobs)
    try:
        _grade(report, submissions, names, grading, work, log, jobs, regex, lms, timeout, notebook_timeout,
               memory_limit, feedback, settings, threads, scheduler, security, regrade, progress, start)
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    report.csv_path = csv_path or os.path.join(grading, "grades.csv")
    out_dir = os.path.dirname(os.path.abspath(report.csv_path))
    report.detail_csv_path = os.path.join(out_dir, "grades_detail.csv")
    report.lms_csv_path = os.path.join(out_dir, "grades_lms.csv")
    write_csv(report, names, report.csv_path)
    write_detail_csv(report, report.detail_csv_path)
    from .report import write_lms_csv
    write_lms_csv(report, names, report.lms_csv_path)
    report.seconds = time.time() - start
    summary(report, log)
    if class_report:
        from .report import class_report as make_report
        try:
            report.report_path = make_report(report, names, grading, log=log)
        except Exception as e:   # a broken report never costs the grades
            log(f"WARNING: the class report could not be written: {type(e).__name__}: {e}")
    return report


def _sandbox_check(client, log):
    """The sandbox self-test on every worker (cached per machine); the weakest answer wins."""
    from .engine import worker_self_test
    answers = client.run(worker_self_test)
    bad = {w: a for w, a in answers.items() if not a[0]}
    ok, text = (False, next(iter(bad.values()))[1]) if bad else (True, next(iter(answers.values()))[1])
    if bad and len(bad) < len(answers):
        text += f" (on {len(bad)} of {len(answers)} workers: {', '.join(sorted(bad))})"
    return ok, text


def _grade(report, submissions, names, grading, work, log, jobs, regex, lms, timeout, notebook_timeout,
           memory_limit, feedback, settings, threads, scheduler, security, regrade, progress, start):
    from .engine import check_versions, dashboard_link, open_client, prewarm, run_jobs, scheduler_address

    report.scheduler = scheduler_address(scheduler) or ""
    stack = contextlib.ExitStack()
    starter = ThreadPoolExecutor(1)
    # The cluster starts while the templates are prepared.
    client_f = starter.submit(stack.enter_context, open_client(scheduler, jobs, security, log))
    try:
        # 1. Templates (cached per release) and the main gradebook's assignment definitions.
        t0 = time.time()
        log(f"preparing {len(names)} assignment(s): {', '.join(names)}")
        template_dir, keys, cached = cached_templates(names, grading, log)
        fresh = prepare_gradebook(grading, template_dir, keys, log)
        with open(os.path.join(template_dir, "gradebook.db"), "rb") as f:
            template = f.read()
        release_nbs = {n: nbformat.read(os.path.join(template_dir, "release", n, f"{n}.ipynb"), as_version=4)
                       for n in names}
        report.maxima = {n: float(sum(c.metadata["nbgrader"].get("points", 0) for c in nb.cells
                                      if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")))
                         for n, nb in release_nbs.items()}
        log(f"  assignments ready ({time.time() - t0:.1f} s, {'cached' if cached else 'built'})")

        client = client_f.result()
        where = report.scheduler or f"a local cluster of {jobs} worker process(es)"
        nworkers = len(client.scheduler_info().get("workers", {}))
        log(f"cluster: {where}, {nworkers} worker(s)" + (f", dashboard {dashboard_link(client)}"
                                                         if dashboard_link(client) else ""))
        check_versions(client)

        # The sandbox, tried once per machine as the jobs will use it: the summary says what protects the grader.
        ok, report.sandbox = _sandbox_check(client, log)
        launcher_broken = report.sandbox.startswith("the sandbox launcher failed")
        if launcher_broken:   # kernels cannot start at all: grade unsandboxed rather than fail everyone
            report.sandbox += "; grading WITHOUT the sandbox (time limits still apply)"
        log(("sandbox: " if ok else "WARNING, sandbox: ") + report.sandbox)

        opts = list(settings)
        if launcher_broken:
            opts.append("SandboxedKernelManager.sandbox=false")
        if timeout:
            opts.append(f"Execute.timeout={int(timeout)}")
        if notebook_timeout:
            opts.append(f"ResilientExecute.notebook_timeout={int(notebook_timeout)}")
        if memory_limit:
            opts.append(f"SandboxedKernelManager.memory_limit={int(memory_limit)}")
        nb_limit = (notebook_timeout or 600) + 180
        # One thread per kernel whatever the number of workers: the same arithmetic everywhere, and
        # no oversubscription when several kernels share a machine.
        env = {var: str(threads) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                             "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
        env["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")
        env["DEEPTRAIN_SANDBOX_HIDE"] = os.pathsep.join(
            [work, grading, os.path.abspath(submissions)]
            + [p for p in os.environ.get("DEEPTRAIN_SANDBOX_HIDE", "").split(os.pathsep) if p])
        client.run(prewarm, env)   # the workers' graders import nbgrader while we pre-check

        # 2. Collect, 3. pre-check, and what an earlier run already graded.
        col = collect(submissions, names, release_nbs, regex=regex, lms=lms)
        report.unplaced = [f"{src}: {why}" for src, why in col.unplaced]
        for line in report.unplaced:
            log(f"could not place {line}")
        journal = {} if fresh else load_journal(grading)
        if fresh and os.path.exists(os.path.join(grading, JOURNAL)):
            os.replace(os.path.join(grading, JOURNAL), os.path.join(grading, JOURNAL + ".old"))
        submitted = os.path.join(grading, "submitted")
        originals = os.path.join(grading, "originals")
        # What a grade depends on besides the notebook and its release: the options and the code
        # that grades (autograder/ but the instructor-side modules, lib/deeptrain/).
        from .engine import code_hash
        options = json.dumps([opts, feedback, threads, code_hash(grading_only=True)])
        todo, outcomes, resumed = [], {}, 0
        for student in sorted(col.students):
            for name in names:
                out = outcomes[(student, name)] = Outcome(student, name, max_score=report.maxima.get(name, 0.0))
                cand = col.files.get(student, {}).get(name)
                if cand is None:
                    out.status, out.message = "missing", "no submission"
                    continue
                key = _sha(cand.data, keys[name], cand.timestamp or "", options)
                entry = journal.get((student, name))
                if (not regrade and entry and entry.get("key") == key
                        and entry["outcome"].get("status") in ("graded", "flagged")):
                    outcomes[(student, name)] = _outcome_from(entry)
                    resumed += 1
                    continue
                for sub in ("submitted", "autograded", "feedback"):
                    shutil.rmtree(os.path.join(grading, sub, student, name), ignore_errors=True)
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
                with open(os.path.join(dest, f"{name}.ipynb"), "rb") as f:
                    data = f.read()
                todo.append({"student": student, "assignment": name, "notebook": data, "key": key,
                             "timestamp": cand.timestamp or None, "feedback": feedback, "settings": opts,
                             "limit": nb_limit, "env": env})
        report.outcomes = [outcomes[k] for k in sorted(outcomes)]
        n_pre = sum(bool(o.notes) for o in report.outcomes if not o.resumed)
        log(f"{len(col.students)} student(s), {len(todo)} notebook(s) to grade"
            + (f", {resumed} already graded (journal; --regrade to grade them again)" if resumed else "")
            + f", {n_pre} repaired or renamed, {report.count('failed')} unreadable, "
              f"{report.count('missing')} missing")

        # 4. The jobs, merged here one at a time as they finish.
        db_url = "sqlite:///" + os.path.join(grading, "gradebook.db")
        scratch = os.path.join(work, "swap")
        os.makedirs(scratch, exist_ok=True)
        bar = Progress(len(todo), log, live=progress)

        def finish(job, result):
            t_merge = time.time()
            student, name = job["student"], job["assignment"]
            out = outcomes[(student, name)]
            out.seconds = float(result.get("seconds") or 0.0)
            out.worker = result.get("worker", "")
            if result.get("wall_clock_exceeded"):
                out.status = "failed"
                out.message = f"stopped after {nb_limit} s (wall-clock limit of a notebook): grade by hand"
                out.review.append(out.message)
            elif not result.get("success"):
                out.status = "failed"
                err = (result.get("error") or "").strip().splitlines()
                out.message = ("" if result.get("worker_died") or "cluster" in (err or [""])[0]
                               else "nbgrader could not grade it: ") + (err[-1] if err else "unknown error")
                if result.get("log") or result.get("error"):   # nbgrader's own account, for the instructor
                    log_path = os.path.join(grading, "logs", student, f"{name}.log")
                    os.makedirs(os.path.dirname(log_path), exist_ok=True)
                    with open(log_path, "w", encoding="utf-8") as f:
                        f.write((result.get("error") or "") + "\n" + (result.get("log") or ""))
                    out.message += f" (log: {os.path.relpath(log_path, grading)})"
                out.review.append(out.message)
            else:
                for sub in ("autograded", "feedback"):
                    _swap_in(result.get("files", {}).get(sub, {}), os.path.join(grading, sub, student, name),
                             scratch)
                merge_into(gradebook, result)
                out.cells = result.get("grades", [])
                code = [g for g in out.cells if g["cell_type"] == "code"]
                out.score = float(sum((g["manual_score"] if g["manual_score"] is not None else g["auto_score"]) or 0
                                      for g in code))
                out.max_score = float(sum(g["max_score"] for g in code))
                out.manual_max = float(sum(g["max_score"] for g in out.cells if g["cell_type"] != "code"))
                html = os.path.join(grading, "feedback", student, name, f"{name}.html")
                out.feedback = html if result.get("feedback") and os.path.exists(html) else ""
                notes, review = _runtime_notes(os.path.join(grading, "autograded", student, name, f"{name}.ipynb"))
                out.notes += notes
                out.review += review
                out.status = "flagged" if out.review else "graded"
                out.message = "; ".join(out.review[:1] + out.notes[:2])
            _journal_append(grading, job["key"], out)
            report.graded_now += 1
            report.merge_seconds += time.time() - t_merge
            score = f" {out.score:g}/{out.max_score:g}" if out.status in ("graded", "flagged") else ""
            bar.tick(f"{student} {name}: {out.status}{score} ({out.seconds:.1f} s)"
                     + (f" - {out.message}" if out.message else ""))

        report.prepare_seconds = time.time() - start
        log(f"grading {len(todo)} notebook(s) on {nworkers} worker(s)")
        t_jobs = time.time()
        from nbgrader.api import Gradebook
        gradebook = Gradebook(db_url, COURSE_ID)
        try:
            run_jobs(client, todo, template, finish)
            report.grading_seconds = time.time() - t_jobs
        except KeyboardInterrupt:
            log(f"interrupted after {report.graded_now} of {len(todo)} notebook(s); the journal keeps them: "
                "run the same command again to grade the rest")
            raise
        finally:
            bar.close()
            gradebook.close()
    finally:
        starter.shutdown(wait=True)
        stack.close()


def summary(report, log=print):
    g, fl, fa, mi = (report.count(s) for s in ("graded", "flagged", "failed", "missing"))
    if report.sandbox:
        log(f"kernels ran in a sandbox: {report.sandbox}")
    where = f"on {report.scheduler}" if report.scheduler else f"with {report.jobs} local worker(s)"
    log(f"done in {report.seconds:.1f} s {where}: {g} graded, {fl} flagged for review "
        f"(graded), {fa} failed to run, {mi} missing, {len(report.unplaced)} file(s) not placed")
    log(f"  {report.graded_now} graded in this run: grading phase {report.grading_seconds:.1f} s, "
        f"merged in {report.merge_seconds:.1f} s; {sum(o.resumed for o in report.outcomes)} "
        "taken from the journal")
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
