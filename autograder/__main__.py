"""python -m autograder: the instructor's command line.

  release [NN_topic ...]      regenerate course/ from solutions/
  check                       fail if course/ is not what solutions/ generates
  grade DIR [--csv PATH]      autograde DIR/<student>/.../NN_topic.ipynb, write feedback and a CSV
"""
import argparse
import sys

from . import assignments


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("release", help="regenerate course/ from solutions/")
    p.add_argument("names", nargs="*", help=f"assignments (default: all of {assignments()})")
    sub.add_parser("check", help="fail if course/ is stale")
    p = sub.add_parser("grade", help="autograde a folder of submissions (one folder per student)")
    p.add_argument("submissions")
    p.add_argument("--assignments", nargs="*", default=None)
    p.add_argument("--csv", default=None, help="where to write the grades CSV (default grading/grades.csv)")
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
    elif args.cmd == "grade":
        from .grade import grade
        report = grade(args.submissions, names=args.assignments, csv_path=args.csv)
        return 0 if all(o.status != "failed" for o in report.outcomes) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
