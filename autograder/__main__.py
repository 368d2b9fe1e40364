"""python -m autograder: the instructor's command line.

  release [NN_topic ...]        regenerate course/ from solutions/
  check                         fail if course/ is not what solutions/ generates
  precheck SUBMISSIONS          collect and pre-check submissions, report problems, grade nothing
  grade SUBMISSIONS [--jobs N | --scheduler tcp://HOST:8786]
                                collect, pre-check, autograde on Dask, feedback, grades CSV,
                                class report (GRADING/report.html); resumable
  export [--roster FILE]        write the grades files again from the gradebook (after hand grading
                                in formgrader): grades.csv, grades_detail.csv, grades_canvas.csv,
                                grades_moodle.csv; grades nothing
  bundle [OUT]                  write the student bundle (notebooks, library without reference/)

SUBMISSIONS is a folder with one folder per student, or an LMS zip (Blackboard "attempt",
Canvas, Moodle file names, or --regex with nbgrader's named groups student_id and file_id).
The working folder is $DEEPTRAIN_GRADING_DIR or grading/ (plain nbgrader layout).
"""
import argparse
import os
import sys

from . import assignments


def _size(text):
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    text = str(text).strip().lower().rstrip("b")
    return int(float(text[:-1]) * units[text[-1]]) if text and text[-1] in units else int(text)


def _export_args(p):
    p.add_argument("--roster", default=None,
                   help="the LMS's roster: Canvas's gradebook export (Grades > Export), or a CSV with some of "
                        "Student, ID, SIS User ID, SIS Login ID, Section, Username, Email; matches student folders "
                        "to LMS users (and gives Canvas's assignment ids from its headers)")
    p.add_argument("--canvas-ids", default=None, help="CSV of assignment,canvas_id lines (Canvas assignment ids)")
    p.add_argument("--include-pending", action="store_true",
                   help="LMS files: write modules still waiting for hand grades (default: left empty)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("release", help="regenerate course/ from solutions/")
    p.add_argument("names", nargs="*", help=f"assignments (default: all of {assignments()})")
    sub.add_parser("check", help="fail if course/ is stale")
    for name, text in (("precheck", "collect and pre-check submissions (no grading)"),
                       ("grade", "autograde submissions (a folder, one folder per student, or an LMS zip)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("submissions")
        p.add_argument("--assignments", nargs="*", default=None)
        p.add_argument("--regex", default=None, help="LMS file-name regex with (?P<student_id>) and (?P<file_id>)")
        p.add_argument("--lms", default="auto", choices=["auto", "attempt", "canvas", "moodle", "folders"])
        if name == "grade":
            p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                           help=f"worker processes of the local Dask cluster (default: the number of CPUs, "
                                f"{os.cpu_count()}); ignored with --scheduler")
            p.add_argument("--scheduler", default=None,
                           help="a Dask scheduler's address (tcp://HOST:8786 or tls://...): grade on that cluster "
                                "(default: Dask's configuration or $DASK_SCHEDULER_ADDRESS, else a local cluster)")
            p.add_argument("--tls-ca-file", default=None, help="TLS: the certificate authority of the cluster")
            p.add_argument("--tls-cert", default=None, help="TLS: this client's certificate")
            p.add_argument("--tls-key", default=None, help="TLS: this client's private key")
            p.add_argument("--regrade", action="store_true",
                           help="grade again what an earlier run already graded (default: only what is new, "
                                "changed or not finished)")
            p.add_argument("--no-report", action="store_true", help="skip the class report (report.html)")
            p.add_argument("--csv", default=None, help="grades CSV (default GRADING/grades.csv)")
            p.add_argument("--grading", default=None, help="working folder (default $DEEPTRAIN_GRADING_DIR or grading/)")
            p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default 120)")
            p.add_argument("--notebook-timeout", type=int, default=None,
                           help="wall-clock seconds per notebook, kernel restarts included (default 600)")
            p.add_argument("--memory", default=None, help="memory cap per kernel, e.g. 3G (default 3G)")
            p.add_argument("--no-feedback", action="store_true")
            p.add_argument("--run-notebooks", action="store_true",
                           help="also execute every notebook in the sandboxed kernel, so that the feedback shows "
                                "the demos' outputs and the visible checks (slower; the grades are the same: the "
                                "clean room decides them either way)")
            p.add_argument("--keep-work", action="store_true", help="keep this run's working folder (GRADING/work-*)")
            _export_args(p)
    p = sub.add_parser("export", help="write the grades files from the gradebook (hand grades included); grades nothing")
    p.add_argument("--grading", default=None, help="working folder (default $DEEPTRAIN_GRADING_DIR or grading/)")
    p.add_argument("--assignments", nargs="*", default=None, help="modules (default: those with a submission)")
    p.add_argument("--csv", default=None, help="grades CSV (default GRADING/grades.csv; the others beside it)")
    _export_args(p)
    p = sub.add_parser("bundle", help="write what a class gets: course notebooks + library without reference/")
    p.add_argument("out", nargs="?", default="dist/deeptrain-course", help="output folder (default dist/deeptrain-course)")
    p.add_argument("--zip", action="store_true", help="also write OUT.zip")
    args = parser.parse_args(argv)

    if args.cmd == "release":
        from .release import release
        release(args.names or None)
    elif args.cmd == "check":
        from .release import stale
        bad = stale()
        if bad:
            print("course/ is stale for: " + ", ".join(bad) + " (run `python -m autograder release`)")
            return 1
        print("course/ is up to date")
    elif args.cmd == "export":
        from .export import main as export_main
        return export_main(args)
    elif args.cmd == "precheck":
        from .precheck import precheck_report
        return precheck_report(args.submissions, names=args.assignments, regex=args.regex, lms=args.lms)
    elif args.cmd == "grade":
        from .engine import VersionMismatch, security_from
        from .grade import grade
        try:
            report = grade(args.submissions, names=args.assignments, grading=args.grading, csv_path=args.csv,
                           jobs=args.jobs, regex=args.regex, lms=args.lms, timeout=args.timeout,
                           notebook_timeout=args.notebook_timeout,
                           memory_limit=_size(args.memory) if args.memory else None,
                           feedback=not args.no_feedback, keep_work=args.keep_work, scheduler=args.scheduler,
                           security=security_from(args.tls_ca_file, args.tls_cert, args.tls_key),
                           regrade=args.regrade, class_report=not args.no_report, roster=args.roster,
                           canvas_ids=args.canvas_ids, include_pending=args.include_pending,
                           run_notebooks=args.run_notebooks)
        except VersionMismatch as e:
            print(f"refused: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
        return 0 if all(o.status != "failed" for o in report.outcomes) else 1
    elif args.cmd == "bundle":
        from .bundle import bundle
        bundle(args.out, make_zip=args.zip)
    return 0


if __name__ == "__main__":
    sys.exit(main())
