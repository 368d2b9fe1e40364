"""Grading throughput on Dask, against stock ``nbgrader autograde`` run serially, and a projection.

    python -m bench.bench_grading [--repeats N] [--no-write]      (or: python -m bench grading)

Measured on this machine, one student's whole course (the solution of every module: one notebook per
folder of solutions/, 10 with module 10):

- **ours**: ``python -m autograder grade`` (the whole command: cluster start, cached templates,
  pre-check, grading, merge, CSVs, report) with ``--jobs 2`` and ``--jobs 1``; the template cache
  warm (an earlier run built it) and ``--regrade`` so that every notebook is graded; also with
  ``--jobs 2`` on modules 01-09 only (the notebooks the budget is set for) and with ``--run-notebooks``
  (every notebook executed in its sandboxed kernel as well: what grading cost before it stopped
  doing so);
- **stock**: ``nbgrader autograde NN --student s`` for each module, one after the other, with the
  course's configuration (the same sandbox and limits) and ``--ResilientExecute.run_notebook=True``
  (each notebook executed in its kernel, as stock nbgrader does), the gradebook already prepared; measured
  interleaved with ours (ours, stock, ours, ...) so that a busy spell hits both;
- **scheduler overhead per job**: 400 jobs that do nothing, each carrying a 60 kB notebook, through
  the same submit/merge path (``engine.run_jobs``) on a LocalCluster of 2 workers;
- **projection** for 1,000 students x M modules (M = the notebooks measured) on W workers (one core each):
  ``T(W) = fixed + max(ceil(1000 M / W) * t_job, 1000 M * (overhead + merge))`` where t_job is the mean
  wall time of one notebook on a worker (from the 2-worker run: both cores busy), overhead the
  no-op figure and merge the instructor's serial merge time per job (gradebook, files, journal):
  the instructor's process merges one job at a time, which bounds any cluster.

The machine may be shared: the load average is printed with every figure.
"""
import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import Row, write_block  # noqa: E402

TARGET_S = 25.0          # the budget: one student's modules 01-09 with 2 workers (issue 18: at most 25 s)
TARGET_MODULES = 9       # ... for this many notebooks (01-09); the bench grades every module as well
STOCK_MEASURED_S = 97.5  # stock nbgrader, serial, when the target was set
BEGIN, END = "<!-- bench_grading: begin -->", "<!-- bench_grading: end -->"
_RESULTS = {}


def _load():
    return "load %.1f/%.1f/%.1f" % os.getloadavg()


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def _student(dest, names):
    """dest/student/NN.ipynb: the solution of every module."""
    os.makedirs(os.path.join(dest, "student"), exist_ok=True)
    for n in names:
        shutil.copy(os.path.join(ROOT, "solutions", n, f"{n}.ipynb"), os.path.join(dest, "student", f"{n}.ipynb"))


def ours(subs, grading, jobs, root=ROOT, extra=(), names=None):
    """Wall seconds of the whole grade command, and the per-job figures it logged. root: the checkout
    whose code runs (another one, e.g. a `git worktree` of an older commit, for --before); extra: more
    options (--run-notebooks); names: the modules to grade (default: every module submitted)."""
    env = _env()
    if root != ROOT:
        env["PYTHONPATH"] = os.pathsep.join([os.path.join(root, "lib"), root])
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", subs, "--grading", grading, "--jobs",
                          str(jobs), "--regrade", *extra] + (["--assignments", *names] if names else []),
                         cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if run.returncode not in (0, 1):   # 1: some notebook failed to grade (reported, and timed like the rest)
        raise RuntimeError(f"grade failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    jobs_s = [float(x) for x in re.findall(r"\(([\d.]+) s\)", "\n".join(
        line for line in run.stdout.splitlines() if line.startswith("[")))]
    per_module = {m: float(t) for m, t in re.findall(r"^\[.*?\] \S+ (\w+): \w+ .*?\(([\d.]+) s\)", run.stdout, re.M)}
    merge = re.search(r"merged in ([\d.]+) s", run.stdout)
    grading_phase = re.search(r"grading phase ([\d.]+) s", run.stdout)
    return {"wall": wall, "job_s": jobs_s, "per_module": per_module, "merge_s": float(merge.group(1)) if merge else float("nan"),
            "phase_s": float(grading_phase.group(1)) if grading_phase else float("nan"), "load": _load()}


def stock_setup(names, work):
    """A grading folder prepared for plain nbgrader: the gradebook with every assignment."""
    from autograder.release import generate
    generate(names, release_dir=os.path.join(work, "release"), grading_dir=work)


def stock(subs, names, work):
    """Wall seconds of `nbgrader autograde NN --student student` for each module, serially."""
    env = dict(_env(), DEEPTRAIN_GRADING_DIR=work)
    for n in names:
        dest = os.path.join(work, "submitted", "student", n)
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        shutil.copy(os.path.join(subs, "student", f"{n}.ipynb"), dest)
    t0 = time.perf_counter()
    for n in names:
        run = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", n, "--student", "student", "--force",
                              "--ResilientExecute.run_notebook=True"],   # as stock nbgrader does: execute it
                             cwd=ROOT, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"nbgrader autograde {n} failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return time.perf_counter() - t0


def scheduler_overhead(n=400, workers=2):
    """Seconds per no-op job through engine.run_jobs on a LocalCluster (submit, run, gather, merge hook)."""
    from autograder.engine import noop, open_client, run_jobs
    payload = os.urandom(60_000)
    jobs = [{"student": f"s{i:04d}", "assignment": "01_x", "notebook": payload} for i in range(n)]
    seen = []
    with open_client(None, workers, log=lambda *a: None) as client:
        run_jobs(client, jobs[:20], b"template" * 1000, lambda j, r: None, fn=noop)   # warm-up
        t0 = time.perf_counter()
        run_jobs(client, jobs, b"template" * 1000, lambda j, r: seen.append(r), fn=noop)
        dt = time.perf_counter() - t0
    assert len(seen) == n and all(r["success"] for r in seen)
    return dt / n


def projection(t_job, overhead, merge, fixed, workers=(8, 32, 128), students=1000, modules=8):
    """{W: seconds} for students x modules notebooks on W workers (see the module docstring)."""
    n = students * modules
    return {w: fixed + max(math.ceil(n / w) * t_job, n * (overhead + merge)) for w in workers}


def _hms(s):
    h, rest = divmod(int(round(s)), 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


def measure(repeats=2, log=print):
    from autograder import assignments
    names = assignments()
    tmp = tempfile.mkdtemp(prefix="bench-grading-")
    try:
        subs = os.path.join(tmp, "subs")
        _student(subs, names)
        g2, g1, gs, g9, gx = (os.path.join(tmp, d) for d in ("grading2", "grading1", "stock", "grading9", "gradingx"))
        target = [n for n in names if n[:2].isdigit() and int(n[:2]) <= TARGET_MODULES]
        log(f"setting up ({_load()}): stock gradebook, and a first run of ours to fill the template cache")
        stock_setup(names, gs)
        cold = ours(subs, g2, 2)
        for g in (g1, g9, gx):
            shutil.copytree(os.path.join(g2, ".cache"), os.path.join(g, ".cache"))
        log(f"  ours, --jobs 2, cold cache: {cold['wall']:.1f} s ({cold['load']})")
        r2, r1, rs, r9, rx = [], [], [], [], []
        for i in range(repeats):
            r2.append(ours(subs, g2, 2))
            log(f"  ours --jobs 2: {r2[-1]['wall']:.1f} s ({r2[-1]['load']})")
            r9.append(ours(subs, g9, 2, names=target))
            log(f"  ours --jobs 2, {len(target)} notebooks (modules 01-{TARGET_MODULES:02d}): {r9[-1]['wall']:.1f} s "
                f"({r9[-1]['load']})")
            rs.append(stock(subs, names, gs))
            log(f"  stock nbgrader autograde, serial: {rs[-1]:.1f} s ({_load()})")
            r1.append(ours(subs, g1, 1))
            log(f"  ours --jobs 1: {r1[-1]['wall']:.1f} s ({r1[-1]['load']})")
            rx.append(ours(subs, gx, 2, extra=("--run-notebooks",)))
            log(f"  ours --jobs 2 --run-notebooks: {rx[-1]['wall']:.1f} s ({rx[-1]['load']})")
        noop = scheduler_overhead()
        log(f"  scheduler overhead: {noop * 1e3:.1f} ms per no-op job ({_load()})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = lambda runs: min(runs, key=lambda r: r["wall"])   # noqa: E731  (the least disturbed run)
    b2, b1, b9, bx = best(r2), best(r1), best(r9), best(rx)
    n = len(names)
    t_job = statistics.mean(b2["job_s"])
    merge = b2["merge_s"] / n if b2["merge_s"] == b2["merge_s"] else 0.0
    fixed = b2["wall"] - b2["phase_s"] if b2["phase_s"] == b2["phase_s"] else 0.0
    res = {"names": n, "ours2": b2["wall"], "ours1": b1["wall"], "stock": min(rs), "cold2": cold["wall"],
           "target_names": len(target), "ours2_target": b9["wall"], "target_load": b9["load"],
           "longest": max(b9["per_module"].items(), key=lambda kv: kv[1], default=("-", float("nan"))),
           "ours2_run": bx["wall"], "run_load": bx["load"], "t_job_run": statistics.mean(bx["job_s"]),
           "per_min2": 60 * n / b2["phase_s"], "per_min1": 60 * n / b1["phase_s"], "t_job": t_job,
           "t_job1": statistics.mean(b1["job_s"]), "noop": noop, "merge": merge, "fixed": fixed,
           "load": b2["load"], "repeats": repeats}
    res["proj"] = projection(t_job, noop, merge, fixed, modules=n)
    res["ratio"] = res["stock"] / res["ours2"]
    _RESULTS.update(res)
    return res


def markdown(res=None):
    """The BENCHMARKS.md section (lines), from the last measurement."""
    res = res or _RESULTS
    if not res:
        return []
    lines = [BEGIN, "", "## Grading on Dask (`bench/bench_grading.py`)", "",
             f"One student's whole course ({res['names']} notebooks, the solutions), the whole "
             "`python -m autograder grade` command (cluster start, cached templates, pre-check, grading, "
             "merge, CSVs, class report), `--regrade`, template cache warm; against stock "
             "`nbgrader autograde NN --student s` for each module, serially, same configuration, each notebook "
             "executed in its kernel (`--ResilientExecute.run_notebook=True`, as stock nbgrader does), "
             f"gradebook prepared; best of {res['repeats']} interleaved runs. Machine shared while measured "
             f"({res['load']}): re-measure on a quiet machine. Ours executes no notebook: the clean room runs the "
             "answer cells and decides every grade (README, \"Grading threat model\"); `--run-notebooks` executes "
             "them as well.", "",
             "| measurement | value |", "|---|---:|",
             f"| ours, 2 workers, modules 01-{TARGET_MODULES:02d} ({res['target_names']} notebooks) | "
             f"{res['ours2_target']:.1f} s (budget {TARGET_S:g} s; {res['target_load']}) |",
             f"| the longest job of that run ({res['longest'][0]}) | {res['longest'][1]:.1f} s |",
             f"| ours, 2 workers | {res['ours2']:.1f} s |",
             f"| ours, 1 worker | {res['ours1']:.1f} s |",
             f"| ours, 2 workers, first run (templates built) | {res['cold2']:.1f} s |",
             f"| stock nbgrader autograde, serial | {res['stock']:.1f} s |",
             f"| speed-up, stock / ours (2 workers) | x{res['ratio']:.2f} |",
             f"| notebooks graded per minute, 1 worker | {res['per_min1']:.1f} |",
             f"| notebooks graded per minute, 2 workers | {res['per_min2']:.1f} |",
             f"| one notebook on a worker (mean, 2 workers busy) | {res['t_job']:.1f} s |",
             f"| one notebook on a worker (mean, 1 worker) | {res['t_job1']:.1f} s |",
             f"| ours, 2 workers, `--run-notebooks` (every notebook also executed in its kernel) | "
             f"{res['ours2_run']:.1f} s ({res['run_load']}) |",
             f"| one notebook on a worker with `--run-notebooks` (mean, 2 workers busy) | {res['t_job_run']:.1f} s |",
             f"| scheduler overhead per job (no-op jobs, 60 kB each) | {res['noop'] * 1e3:.1f} ms |",
             f"| instructor's serial merge per job | {res['merge'] * 1e3:.0f} ms |",
             f"| fixed cost of a run (before the first job, and after the last) | {res['fixed']:.1f} s |", "",
             f"Projected time for 1,000 students x {res['names']} modules ({1000 * res['names']:,} notebooks), one "
             f"core per worker: `fixed + max(ceil({1000 * res['names']} / W) x notebook, {1000 * res['names']} x "
             "(overhead + merge))` (the instructor's "
             "process merges one job at a time, which bounds any cluster):", "",
             "| workers | projected time |", "|---:|---:|"]
    lines += [f"| {w} | {_hms(s)} |" for w, s in res["proj"].items()]
    lines += ["", END]
    return lines


def write_section(lines, path=None):
    """Put the section into BENCHMARKS.md in place (between its markers), or append it."""
    write_block(lines, BEGIN, END, path)


def run(repeats=2):
    """For `python -m bench`: one Row (ours with 2 workers vs stock, serial); the rest in markdown()."""
    res = measure(repeats=min(repeats, 2))
    return [Row(kernel="autograder grade --jobs 2 (Dask)", baseline="nbgrader autograde, serial",
                workload=f"one student's course, {res['names']} notebooks, whole command",
                ours_s=res["ours2"], baseline_s=res["stock"], aim=STOCK_MEASURED_S / TARGET_S,
                note=(f"modules 01-{TARGET_MODULES:02d}: {res['ours2_target']:.1f} s, budget {TARGET_S:g} s with 2 "
                      f"workers; {res['per_min2']:.1f} notebooks/min with 2 workers, "
                      f"{res['per_min1']:.1f} with 1; measured at {res['load']}; see the grading section"))]


def compare(before, repeats=1, log=print, only=None):
    """Before/after in one run: `python -m autograder grade --jobs 2` of the same student's notebooks (the
    modules both checkouts have) with the code of `before` (a checkout of an older commit) and of this
    one, interleaved (before, after, before, ...), each after a first run that fills its template cache."""
    names = sorted(set(os.listdir(os.path.join(before, "solutions"))) & set(os.listdir(os.path.join(ROOT, "solutions"))))
    names = [n for n in names if os.path.isfile(os.path.join(ROOT, "solutions", n, f"{n}.ipynb"))
             and (not only or n in only)]
    tmp = tempfile.mkdtemp(prefix="bench-compare-")
    try:
        subs = os.path.join(tmp, "subs")
        _student(subs, names)
        out = {"before": [], "after": [], "names": len(names)}
        for side, root in (("before", before), ("after", ROOT)):
            cold = ours(subs, os.path.join(tmp, side), 2, root)
            log(f"  {side}: first run (templates built) {cold['wall']:.1f} s ({cold['load']})")
        for i in range(repeats):
            for side, root in (("before", before), ("after", ROOT)):
                r = ours(subs, os.path.join(tmp, side), 2, root)
                out[side].append(r)
                log(f"  {side}, --jobs 2, {len(names)} notebooks: {r['wall']:.1f} s ({r['load']})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.bench_grading", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--before", help="a checkout of an older commit: measure it against this one, interleaved")
    p.add_argument("--only", nargs="*", help="with --before: these modules only (e.g. leave out the capstone's replay)")
    args = p.parse_args(argv)
    if args.before:
        out = compare(os.path.abspath(args.before), args.repeats, only=args.only)
        b, a = (min(r["wall"] for r in out[k]) for k in ("before", "after"))
        print(f"before {b:.1f} s, after {a:.1f} s (x{b / a:.2f}) for {out['names']} notebooks, --jobs 2")
        return 0
    res = measure(args.repeats)
    lines = markdown(res)
    print("\n".join(lines))
    print(f"ratio stock / ours (2 workers): x{res['ratio']:.2f}; ours {res['ours2_target']:.1f} s for modules "
          f"01-{TARGET_MODULES:02d} (budget {TARGET_S:g} s): {'met' if res['ours2_target'] <= TARGET_S else 'NOT met'} "
          f"at {res['target_load']}")
    if not args.no_write:
        write_section(lines)
        print("wrote the grading section of BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
