"""One grading job in its own process and working folder: ``python -m autograder.task ...``.

Each Dask worker of the grader (autograder/engine.py) keeps one ``serve`` process and hands it
its jobs, one at a time, each in a private working folder (its own copy of the gradebook,
submitted/autograded/feedback folders), so jobs never write the same SQLite database; the
instructor's process merges the results into the main gradebook, one at a time. A separate
process, not the worker itself, because the limits of a job (wall clock: the process is killed;
the sandboxed kernel's memory and CPU) must not take the worker down, and Dask workers are
daemonic (no multiprocessing inside a task). Inside, it is plain nbgrader: the same ``Autograde``
and ``GenerateFeedback`` converters and the course configuration that ``nbgrader autograde`` and
``nbgrader generate_feedback`` use, run through ``nbgrader.apps.NbGraderAPI`` so that one Python
start-up serves both steps.

  python -m autograder.task grade DIR ASSIGNMENT STUDENT [--no-feedback] [--set Class.trait=JSON ...]
  python -m autograder.task generate DIR RELEASE_DIR ASSIGNMENT ...
  python -m autograder.task serve          (jobs as JSON lines on stdin; used by engine.run_job)

``grade`` writes DIR/result.json: success, error, per-cell grades, the feedback file.
"""
import argparse
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _api(grading_dir, settings=()):
    os.environ["DEEPTRAIN_GRADING_DIR"] = os.path.abspath(grading_dir)
    import warnings   # the judgement's JSON output (autograder/judgement.py) has no HTML form: no news
    warnings.filterwarnings("ignore", message=r".*mimetype\(s\).*deeptrain\.judgement", category=UserWarning)
    from traitlets.config.loader import PyFileConfigLoader
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    cfg = PyFileConfigLoader("nbgrader_config.py", path=HERE).load_config()
    for item in settings:
        key, _, value = item.partition("=")
        cls, _, trait = key.partition(".")
        cfg[cls][trait] = json.loads(value)
    coursedir = CourseDirectory(config=cfg)
    return NbGraderAPI(coursedir=coursedir, config=cfg)


def grades(db_url, assignment, student):
    """Per-cell grades of one submission, from a gradebook."""
    from nbgrader.api import Gradebook
    from autograder import COURSE_ID
    out = []
    with Gradebook(db_url, COURSE_ID) as gb:
        sub = gb.find_submission(assignment, student)
        for nb in sub.notebooks:
            comments = {c.name: c.auto_comment for c in nb.comments}
            for g in nb.grades:
                out.append({"notebook": nb.name, "cell": g.name, "cell_type": g.cell_type,
                            "max_score": g.max_score, "auto_score": g.auto_score,
                            "manual_score": g.manual_score, "needs_manual_grade": g.needs_manual_grade,
                            "auto_comment": comments.get(g.name)})
        late = sum(nb.late_submission_penalty or 0 for nb in sub.notebooks)
        return out, (sub.timestamp.isoformat() if sub.timestamp else None), late


def grade_one(grading_dir, assignment, student, feedback=True, settings=()):
    start = time.time()
    result = {"assignment": assignment, "student": student, "success": False}
    try:
        api = _api(grading_dir, settings)
        r = api.autograde(assignment, student, force=True, create=True)
        result["success"] = bool(r.get("success"))
        result["error"] = r.get("error") or ""
        result["log"] = (r.get("log") or "")[-20000:]
        if result["success"]:
            result["grades"], result["timestamp"], result["late_penalty"] = grades(
                api.coursedir.db_url, assignment, student)
            if feedback:
                f = api.generate_feedback(assignment, student, force=True)
                html = os.path.join(api.coursedir.format_path(api.coursedir.feedback_directory, student, assignment),
                                    f"{assignment}.html")
                result["feedback"] = html if f.get("success") and os.path.exists(html) else ""
                if result["feedback"]:      # math that renders with no network (MathJax inline)
                    from autograder.formgrader import offline_mathjax_file
                    offline_mathjax_file(html)
                if not f.get("success"):
                    result["feedback_error"] = (f.get("error") or f.get("log") or "")[-4000:]
    except BaseException:
        result["error"] = traceback.format_exc()
    result["seconds"] = time.time() - start
    with open(os.path.join(grading_dir, "result.json"), "w") as f:
        json.dump(result, f)
    return result


def generate(grading_dir, release_dir, names):
    api = _api(grading_dir, [f'CourseDirectory.release_directory={json.dumps(os.path.abspath(release_dir))}'])
    failed = []
    for name in names:
        r = api.generate_assignment(name, force=True, create=True)
        if not r.get("success"):
            failed.append(name)
            sys.stderr.write(f"generate_assignment {name} failed:\n{r.get('error') or r.get('log')}\n")
    return failed


PROTOCOL = "@@deeptrain-task@@ "


def serve():
    """Grade jobs read from stdin, one JSON object a line, in this process (nbgrader is imported
    once); answer each with a PROTOCOL line holding the result. Used by autograder/engine.py.

    The clean room's servers of the kinds $DEEPTRAIN_ROOM_PREWARM lists (comma-separated) start at once,
    and those a job needs start when it arrives, before nbgrader's import in the first job: each is then
    started once per worker (autograder/cleanroom.py keeps them warm for every job of this process). The
    grade command lists only the cheap NumPy room: a worker whose first jobs need no TensorFlow does not
    import it while the worker that took the capstone does (the longest job: its replay runs in a child of
    the TensorFlow room's server, autograder/verdicts/m09.py), so that import, on the run's critical path,
    does not share the cores with another."""
    from autograder.cleanroom import kinds_for, prewarm
    kinds = [k for k in os.environ.get("DEEPTRAIN_ROOM_PREWARM", "").split(",") if k]
    if kinds:
        prewarm(kinds)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        prewarm(kinds_for([job["assignment"]]))
        result = grade_one(job["dir"], job["assignment"], job["student"], job.get("feedback", True),
                           job.get("settings", ()))
        sys.stdout.write(PROTOCOL + json.dumps({"dir": job["dir"], "success": result["success"]}) + "\n")
        sys.stdout.flush()
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m autograder.task", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grade")
    g.add_argument("dir")
    g.add_argument("assignment")
    g.add_argument("student")
    g.add_argument("--no-feedback", action="store_true")
    g.add_argument("--set", action="append", default=[], help="Class.trait=JSON value (nbgrader config)")
    r = sub.add_parser("generate")
    r.add_argument("dir")
    r.add_argument("release_dir")
    r.add_argument("names", nargs="+")
    sub.add_parser("serve", help="grade jobs read from stdin (JSON lines)")
    args = p.parse_args(argv)
    if args.cmd == "serve":
        return serve()
    if args.cmd == "grade":
        result = grade_one(args.dir, args.assignment, args.student, not args.no_feedback, args.set)
        return 0 if result["success"] else 1
    return 1 if generate(args.dir, args.release_dir, args.names) else 0


if __name__ == "__main__":
    sys.exit(main())
