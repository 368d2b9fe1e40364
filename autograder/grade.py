"""Grade a whole class in one command: collect, pre-check, autograde on Dask, merge, export, report.

    python -m autograder grade SUBMISSIONS [--jobs N | --scheduler ADDRESS] [--assignments ...]

SUBMISSIONS is a folder (one folder per student) or an LMS zip. One module per stage, data passed
between them as plain values (``Options`` in, ``Outcome`` per notebook and a ``Report`` out,
autograder/outcome.py):

1. **collect** (autograder/collect.py): every student's notebooks, matched to the modules by the
   released notebooks' cell ids (course/); files that cannot be placed are listed with the reason.
   Only the modules someone submitted go further.
2. **templates** (autograder/templates.py, cached): ``nbgrader generate_assignment`` of those
   modules, once per release, in ``GRADING/.cache/``; the main gradebook defines them.
3. **cluster** (here, autograder/engine.py): a LocalCluster of ``--jobs`` single-threaded workers or
   the cluster at ``--scheduler``; a scheduler or worker that cannot import the course code, or
   runs other versions, is refused with one line naming the fix; the sandbox self-test.
4. **precheck** (autograder/precheck.py): each notebook against its release: unreadable files are
   graded by hand, duplicated/deleted/retyped graded cells repaired (a note tells the student),
   suspicious code flags the submission. What the journal (autograder/journal.py) records as graded
   with the same submission, release, options and code is not graded again (``--regrade``).
5. **execute** on the engine (autograder/engine.py, autograder/task.py: plain nbgrader autograde
   and generate_feedback in a private folder per job, kernels sandboxed); **merge**
   (autograder/merge.py, autograder/gradebook.py): results come back here and are merged one at a
   time, so any number of workers gives the grades of one.
6. **export** (autograder/export.py): grades.csv, grades_detail.csv, grades_canvas.csv,
   grades_moodle.csv from the gradebook (hand grades included); ``python -m autograder export``
   does this step alone after hand grading. **report** (autograder/report.py): report.html.

The working folder is plain nbgrader's (``submitted/``, ``autograded/``, ``feedback/``,
``gradebook.db``), so formgrader, ``nbgrader export`` or a re-run of one step work on the result.
"""
import contextlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nbformat

from . import assignments, grading_dir as default_grading_dir
from .collect import collect, release_ids, submitted_names
from .engine import VersionMismatch
from .journal import JOURNAL, journal_append, load_journal, outcome_from
from .outcome import Outcome, Report
from .precheck import prepare_submission
from .progress import Progress
from .templates import _sha, cached_templates, prepare_gradebook, release_keys  # noqa: F401 (re-exported)

__all__ = ["Options", "grade", "run", "Outcome", "Report", "JOURNAL", "load_journal", "release_keys"]


@dataclass
class Options:
    """Everything a grading run depends on, besides the submissions and the code."""
    names: list = None               # modules (default: every module; only the submitted ones are graded)
    grading: str = None              # working folder (default $DEEPTRAIN_GRADING_DIR or grading/)
    csv_path: str = None             # grades.csv (the other CSV files go beside it)
    jobs: int = 1                    # worker processes of the LocalCluster (ignored with a scheduler)
    scheduler: str = None            # a Dask scheduler's address (None: Dask's config, else local)
    security: object = None          # distributed.Security (TLS)
    regex: str = None                # LMS file-name regex with student_id and file_id groups
    lms: str = "auto"
    timeout: int = None              # seconds per cell
    notebook_timeout: int = None     # wall-clock seconds per notebook, restarts included
    memory_limit: int = None         # bytes of memory per kernel
    feedback: bool = True
    keep_work: bool = False
    settings: tuple = ()             # extra nbgrader config, "Class.trait=JSON"
    threads: int = 1                 # CPU threads per kernel, whatever the number of workers
    run_notebooks: bool = False      # also execute each notebook in the sandboxed kernel (outputs in feedback)
    regrade: bool = False            # grade again what the journal says is done
    class_report: bool = True
    progress: bool = None            # a live bar (None: when stdout is a terminal)
    roster: str = None               # LMS roster (a Canvas gradebook export) for the LMS files
    canvas_ids: str = None           # CSV of assignment,canvas_id
    include_pending: bool = False    # LMS files: write modules still waiting for hand grades


@dataclass
class Plan:
    """What the stages before the jobs decided."""
    names: list                      # modules graded (submitted)
    grading: str
    work: str                        # this run's scratch folder
    collection: object = None
    template: bytes = b""            # the clean template gradebook
    release_nbs: dict = field(default_factory=dict)
    keys: dict = field(default_factory=dict)
    fresh: bool = False              # a new gradebook: an earlier journal means nothing
    settings: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    nb_limit: float = 780.0


def grade(submissions, log=print, **options):
    """Autograde every student's notebooks (keyword arguments: the fields of Options); returns a
    Report. Never stops on one bad submission."""
    return run(submissions, Options(**options), log)


def run(submissions, opts, log=print):
    start = time.time()
    grading = os.path.abspath(opts.grading or default_grading_dir())
    os.makedirs(grading, exist_ok=True)
    report = Report(jobs=opts.jobs)
    names = list(opts.names or assignments())
    plan = Plan(names, grading, tempfile.mkdtemp(prefix="work-", dir=grading))
    try:
        _collect(plan, submissions, opts, report, log, explicit=bool(opts.names))
        if plan.names:
            _grade(plan, submissions, opts, report, log, start)
        else:
            log("nothing to grade: no notebook of these modules was submitted")
    finally:
        if not opts.keep_work:
            shutil.rmtree(plan.work, ignore_errors=True)
    _export(plan, opts, report, log)
    report.seconds = time.time() - start
    summary(report, log)
    if opts.class_report:
        from .report import class_report
        try:
            report.report_path = class_report(report, plan.names, grading, log=log)
        except Exception as e:   # a broken report never costs the grades
            log(f"WARNING: the class report could not be written: {type(e).__name__}: {e}")
    return report


# --- 1. collect ---------------------------------------------------------------------------------

def _collect(plan, submissions, opts, report, log, explicit):
    col = plan.collection = collect(submissions, plan.names, release_ids(plan.names), regex=opts.regex,
                                    lms=opts.lms)
    report.unplaced = [f"{src}: {why}" for src, why in col.unplaced]
    for line in report.unplaced:
        log(f"could not place {line}")
    submitted = submitted_names(col, plan.names)
    skipped = [n for n in plan.names if n not in submitted]
    if skipped:
        log(f"not submitted by anyone, not prepared{' (though asked for)' if explicit else ''}: {', '.join(skipped)}")
    plan.names = submitted


# --- 2. templates ---------------------------------------------------------------------------------

def _templates(plan, report, log):
    t0 = time.time()
    log(f"preparing {len(plan.names)} assignment(s): {', '.join(plan.names)}")
    template_dir, plan.keys, cached = cached_templates(plan.names, plan.grading, log)
    plan.fresh = prepare_gradebook(plan.grading, template_dir, plan.keys, log)
    with open(os.path.join(template_dir, "gradebook.db"), "rb") as f:
        plan.template = f.read()
    plan.release_nbs = {n: nbformat.read(os.path.join(template_dir, "release", n, f"{n}.ipynb"), as_version=4)
                        for n in plan.names}
    report.maxima = {n: _points(nb, "code") for n, nb in plan.release_nbs.items()}
    log(f"  assignments ready ({time.time() - t0:.1f} s, {'cached' if cached else 'built'})")


def _points(nb, kind):
    return float(sum(c.metadata["nbgrader"].get("points", 0) for c in nb.cells
                     if c.cell_type == kind and c.metadata.get("nbgrader", {}).get("grade")))


# --- 3. the cluster -------------------------------------------------------------------------------

class CourseCodeMissing(VersionMismatch):
    """A Dask scheduler or worker cannot import the course code (the command refuses to start)."""


# A lambda, so that Dask sends it by value (cloudpickle): it must run where autograder is absent.
_imports_course_code = lambda: __import__("importlib.util").util.find_spec("autograder") is not None  # noqa: E731


def check_course_code(client):
    """Raise CourseCodeMissing (one line naming the fix) when the scheduler or a worker cannot
    import ``autograder``: without it the scheduler cannot read the task graph and the workers
    cannot run a job. The probe is sent by value, so it runs where the course code is absent."""
    where = [] if client.run_on_scheduler(_imports_course_code) else ["the scheduler"]
    where += sorted(w for w, ok in client.run(_imports_course_code).items() if not ok)
    if where:
        raise CourseCodeMissing(
            f"{', '.join(where)} cannot import the course code (autograder): start `dask scheduler` and "
            "`dask worker` with the course environment's dask (.venv/bin/dask after `make setup`, which "
            "installs the checkout with `pip install -e .`)")


def _sandbox_check(client, log):
    """The sandbox self-test on every worker (cached per machine); the weakest answer wins."""
    from .engine import worker_self_test
    answers = client.run(worker_self_test)
    bad = {w: a for w, a in answers.items() if not a[0]}
    ok, text = (False, next(iter(bad.values()))[1]) if bad else (True, next(iter(answers.values()))[1])
    if bad and len(bad) < len(answers):
        text += f" (on {len(bad)} of {len(answers)} workers: {', '.join(sorted(bad))})"
    return ok, text


def _cluster_ready(client, plan, submissions, opts, report, log):
    """Check the cluster, decide the nbgrader settings and the kernels' environment."""
    from .engine import check_versions, dashboard_link, prewarm
    where = report.scheduler or f"a local cluster of {opts.jobs} worker process(es)"
    nworkers = len(client.scheduler_info().get("workers", {}))
    link = dashboard_link(client)
    log(f"cluster: {where}, {nworkers} worker(s)" + (f", dashboard {link}" if link else ""))
    check_course_code(client)
    check_versions(client)
    ok, report.sandbox = _sandbox_check(client, log)
    broken = report.sandbox.startswith("the sandbox launcher failed")
    if broken:   # kernels cannot start at all: grade unsandboxed rather than fail everyone
        report.sandbox += "; grading WITHOUT the sandbox (time limits still apply)"
    log(("sandbox: " if ok else "WARNING, sandbox: ") + report.sandbox)
    plan.settings = list(opts.settings) + (["SandboxedKernelManager.sandbox=false"] if broken else [])
    for value, trait in ((opts.timeout, "Execute.timeout"), (opts.notebook_timeout, "ResilientExecute.notebook_timeout"),
                         (opts.memory_limit, "SandboxedKernelManager.memory_limit")):
        if value:
            plan.settings.append(f"{trait}={int(value)}")
    if opts.run_notebooks:   # the grades are the same; the feedback shows every cell's outputs (and costs a kernel)
        plan.settings.append("ResilientExecute.run_notebook=true")
    from .cleanroom import grading_secret   # the judged inputs' secret travels as a setting, never to a kernel
    plan.settings.append(f"JudgeResults.secret={json.dumps(grading_secret(plan.grading))}")
    plan.nb_limit = (opts.notebook_timeout or 600) + 180
    # One thread per kernel whatever the number of workers: the same arithmetic everywhere.
    env = {var: str(opts.threads) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                              "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
    env["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")
    env["DEEPTRAIN_SANDBOX_HIDE"] = os.pathsep.join(
        [plan.work, plan.grading, os.path.abspath(submissions)]
        + [p for p in os.environ.get("DEEPTRAIN_SANDBOX_HIDE", "").split(os.pathsep) if p])
    # The workers' NumPy rooms start with their graders; a TensorFlow room with the first job that needs one
    # (autograder/task.py serve).
    env["DEEPTRAIN_ROOM_PREWARM"] = "numpy"
    plan.env = env
    client.run(prewarm, env)   # the workers' graders import nbgrader while we pre-check
    return nworkers


# --- 4. precheck and resume -----------------------------------------------------------------------

def _plan_jobs(plan, opts, report, log):
    """The jobs to run and every (student, module)'s Outcome (missing, failed, or taken from the journal)."""
    from .engine import code_hash
    grading = plan.grading
    journal = {} if plan.fresh else load_journal(grading)
    if plan.fresh and os.path.exists(os.path.join(grading, JOURNAL)):
        os.replace(os.path.join(grading, JOURNAL), os.path.join(grading, JOURNAL + ".old"))
    # What a grade depends on besides the notebook and its release: the options and the grading code.
    options = json.dumps([plan.settings, opts.feedback, opts.threads, code_hash(grading_only=True)])
    todo, outcomes = [], {}
    col = plan.collection
    for student in sorted(col.students):
        for name in plan.names:
            out = outcomes[(student, name)] = Outcome(student, name, max_score=report.maxima.get(name, 0.0))
            cand = col.files.get(student, {}).get(name)
            if cand is None:
                out.status, out.message = "missing", "no submission"
                continue
            key = _sha(cand.data, plan.keys[name], cand.timestamp or "", options)
            entry = journal.get((student, name))
            if (not opts.regrade and entry and entry.get("key") == key
                    and entry["outcome"].get("status") in ("graded", "flagged")):
                outcomes[(student, name)] = outcome_from(entry)
                continue
            for sub in ("submitted", "autograded", "feedback"):
                shutil.rmtree(os.path.join(grading, sub, student, name), ignore_errors=True)
            data = prepare_submission(out, cand, plan.release_nbs[name], grading)
            if data is not None:
                todo.append({"student": student, "assignment": name, "notebook": data, "key": key,
                             "timestamp": cand.timestamp or None, "feedback": opts.feedback,
                             "settings": plan.settings, "limit": plan.nb_limit, "env": plan.env})
    todo.sort(key=lambda job: job_rank(job["assignment"]))
    report.outcomes = [outcomes[k] for k in sorted(outcomes)]
    resumed = sum(o.resumed for o in report.outcomes)
    n_pre = sum(bool(o.notes) for o in report.outcomes if not o.resumed)
    log(f"{len(col.students)} student(s), {len(todo)} notebook(s) to grade"
        + (f", {resumed} already graded (journal; --regrade to grade them again)" if resumed else "")
        + f", {n_pre} repaired or renamed, {report.count('failed')} unreadable, {report.count('missing')} missing")
    return todo, outcomes


def job_rank(name):
    """Sort key of a module's jobs ("NN_topic"). The longest first (the capstone's replay trains three times):
    a class's last job is then a short one. Next the modules that need no TensorFlow room: the other workers
    take them while the capstone's worker imports TensorFlow (autograder/task.py serve starts a worker's
    TensorFlow room with its first job that needs one), so that import has a core to itself."""
    from .cleanroom import REPLAYED, kinds_for
    return (name[:2] not in {e.split(".")[0] for e in REPLAYED}, "tensorflow" in kinds_for([name]))


# --- 5. execute on the engine, merge here ---------------------------------------------------------

def _open_gradebook(grading, class_report):
    """The main gradebook, opened (nbgrader's import: about 2 s of CPU, and SQLAlchemy's); then, for the class
    report, matplotlib imported. Runs in a thread while the first jobs run: nothing is merged before one ends."""
    from nbgrader.api import Gradebook
    from . import COURSE_ID
    gradebook = Gradebook("sqlite:///" + os.path.join(grading, "gradebook.db"), COURSE_ID)
    if class_report:
        with contextlib.suppress(Exception):   # the report imports it again, and says so if it fails
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot  # noqa: F401
    return gradebook


def _run_jobs(client, plan, todo, outcomes, opts, report, log, nworkers):
    from .engine import run_jobs
    from .merge import MergeContext, apply_result
    scratch = os.path.join(plan.work, "swap")
    os.makedirs(scratch, exist_ok=True)
    bar = Progress(len(todo), log, live=opts.progress)
    opener = ThreadPoolExecutor(1)
    opening = opener.submit(_open_gradebook, plan.grading, opts.class_report)
    ctx = []

    def finish(job, result):
        t = time.time()
        if not ctx:
            ctx.append(MergeContext(plan.grading, scratch, opening.result(), plan.nb_limit))
        out = apply_result(outcomes[(job["student"], job["assignment"])], result, ctx[0])
        journal_append(plan.grading, job["key"], out)
        report.graded_now += 1
        report.merge_seconds += time.time() - t
        score = f" {out.score:g}/{out.max_score:g}" if out.status in ("graded", "flagged") else ""
        bar.tick(f"{out.student} {out.assignment}: {out.status}{score} ({out.seconds:.1f} s)"
                 + (f" - {out.message}" if out.message else ""))

    log(f"grading {len(todo)} notebook(s) on {nworkers} worker(s)")
    t_jobs = time.time()
    try:
        run_jobs(client, todo, plan.template, finish)
        report.grading_seconds = time.time() - t_jobs
    except KeyboardInterrupt:
        log(f"interrupted after {report.graded_now} of {len(todo)} notebook(s); the journal keeps them: "
            "run the same command again to grade the rest")
        raise
    finally:
        bar.close()
        opener.shutdown(wait=True)
        if opening.exception() is None:
            opening.result().close()


def _grade(plan, submissions, opts, report, log, start):
    from .engine import open_client, scheduler_address
    report.scheduler = scheduler_address(opts.scheduler) or ""
    stack = contextlib.ExitStack()
    starter = ThreadPoolExecutor(1)
    # The cluster starts while the templates are prepared.
    client_f = starter.submit(stack.enter_context, open_client(opts.scheduler, opts.jobs, opts.security, log))
    try:
        _templates(plan, report, log)
        client = client_f.result()
        nworkers = _cluster_ready(client, plan, submissions, opts, report, log)
        todo, outcomes = _plan_jobs(plan, opts, report, log)
        report.prepare_seconds = time.time() - start
        _run_jobs(client, plan, todo, outcomes, opts, report, log, nworkers)
    finally:
        starter.shutdown(wait=True)
        stack.close()


# --- 6. export and summary ------------------------------------------------------------------------

def _export(plan, opts, report, log):
    from .export import export
    done = export(plan.grading, names=plan.names, outcomes=report.outcomes, csv_path=opts.csv_path,
                  roster=opts.roster, canvas_ids=opts.canvas_ids, include_pending=opts.include_pending,
                  log=lambda line: None if line.startswith("grades: ") else log(line))   # summary() names the files
    report.csv_path, report.detail_csv_path = done.csv, done.detail
    report.lms_csv_path, report.moodle_csv_path = done.canvas, done.moodle
    report.written_maxima = {n: m[1] for n, m in done.grades.maxima.items()}
    return done


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
    written = sum(getattr(report, "written_maxima", {}).values())
    log(f"grades in {report.csv_path} (details: {report.detail_csv_path}; for an LMS: {report.lms_csv_path}, "
        f"{report.moodle_csv_path})" + (f"; {written:g} points of written answers are graded by hand in "
                                        "formgrader, then `python -m autograder export`" if written else ""))


def precheck_report(*args, **kwargs):
    """Kept for callers of the old layout: autograder.precheck.precheck_report."""
    from .precheck import precheck_report as _report
    return _report(*args, **kwargs)
