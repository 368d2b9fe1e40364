"""The capstone's replay, in processes of its own: recipe JSON on stdin -> report JSON on stdout.

    python -m autograder.capstone_replay < recipe.json

The grader (``autograder/verdicts/m09.py``) runs it for every capstone submission. It holds the
test split, which never reaches the student's kernel: the recipe is checked
(``deeptrain.capstone_recipe.problems``), rebuilt from built-in Keras classes with ``safe_mode``,
trained from scratch on the capstone's training split once per grading seed (``GRADING_RUNS``
runs: seeds base, base + 1, ...; the base is ``DEEPTRAIN_CAPSTONE_SEED``, 0 by default), and each
run is measured on Fashion-MNIST's 10,000 test images. A process of its own gives TensorFlow a
clean state per submission and a hard time limit. The last line of stdout is the report:
{"accuracy" (the mean), "accuracies", "seeds", "spread", "examples_seen", "steps", "seconds"
(training, all runs), "stopped_by_wall_cap", "params"} or {"error"}.

The runs are in a row in this process, or spread over ``$DEEPTRAIN_REPLAY_PROCESSES`` processes
(``--run SEED[,SEED...]``; this process then only starts them and merges their reports, without TensorFlow). One Keras training run of
this small network keeps about one core busy, so on an idle two-core machine three processes side by
side replay faster (Keras' defaults: 19.5 s instead of 25.8 s in a row; the solution 16.7 s instead of
20.3 s). But each process pays TensorFlow's import and the data again, and while grading, the other
workers keep the cores busy anyway: one student's modules 01-09 on 2 workers took 31.1-32.3 s with
three processes against 29.8-30.1 s with one (`bench.bench_grading --before`, one run). So the default is one process, the runs
in a row (a class's throughput); 3 gives one submission its fastest replay on an idle machine.
A run's numbers do not depend on it: each run seeds itself (``keras.utils.set_random_seed``) after
a fresh session, with TensorFlow's op determinism on, in a process or after other runs alike
(tests/grading/test_capstone.py compares). A process's runs share the wall-clock cap ``WALL_CAP_S``.
"""
import json
import os
import subprocess
import sys

SEED_VARIABLE = "DEEPTRAIN_CAPSTONE_SEED"   # an instructor may choose the grading seed
DEFAULT_SEED = 0
PROCESSES_VARIABLE = "DEEPTRAIN_REPLAY_PROCESSES"   # processes the grading runs are spread over (module docstring)
RUN_TIMEOUT_S = 60.0                        # beyond the wall-clock cap: TensorFlow's start-up, the test split


def grading_seed():
    return int(os.environ.get(SEED_VARIABLE, DEFAULT_SEED))


def run_one(seeds, text):
    """The grading runs of `seeds` (a tuple), in a row in this process: the replay's report, or {"error"}."""
    import deeptrain as dt
    from deeptrain import capstone_recipe as R
    dt.setup(seed=grading_seed())    # quiet TensorFlow, deterministic ops: the same recipe, the same grade
    from deeptrain.data import load_fashion_mnist
    try:
        recipe = json.loads(text)
        (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = load_fashion_mnist(n_train=R.N_TRAIN, seed=0)
        return R.replay(recipe, X_train, y_train, X_valid, y_valid, X_test, y_test, seeds=tuple(seeds))
    except R.RecipeError as e:
        return {"error": str(e)}
    except ValueError as e:             # not JSON
        return {"error": f"the recipe could not be read ({e})"[:500]}


def merge(reports):
    """One report from the processes' reports (each of one or more seeds), in the order of the seeds,
    as ``capstone_recipe.replay`` gives for all seeds in one process."""
    for r in reports:
        if "error" in r:
            return {"error": r["error"]}
    runs = sorted((s, a) for r in reports for s, a in zip(r["seeds"], r["accuracies"]))
    accuracies = [a for _, a in runs]
    return {"accuracy": sum(accuracies) / len(accuracies), "accuracies": accuracies,
            "seeds": [s for s, _ in runs], "spread": max(accuracies) - min(accuracies),
            "examples_seen": reports[-1]["examples_seen"], "steps": reports[-1]["steps"],
            "seconds": sum(r["seconds"] for r in reports),
            "stopped_by_wall_cap": any(r["stopped_by_wall_cap"] for r in reports), "params": reports[-1]["params"]}


def processes():
    """How many processes the grading runs are spread over ($DEEPTRAIN_REPLAY_PROCESSES, default 1)."""
    try:
        return max(1, int(os.environ.get(PROCESSES_VARIABLE, "1")))
    except ValueError:
        return 1


def run_all(text):
    """The grading seeds' runs: in this process (one process, the default), or spread over processes(),
    side by side, their reports merged."""
    import tempfile
    import time
    from deeptrain.capstone_recipe import WALL_CAP_S, grading_seeds        # no TensorFlow yet
    seeds = list(grading_seeds(grading_seed()))
    n = min(processes(), len(seeds))
    if n == 1:      # the caller's time limit (autograder/verdicts/m09.py) bounds this process
        return run_one(seeds, text)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for i, group in enumerate(seeds[k::n] for k in range(n)):
            files = [open(os.path.join(tmp, f"{i}.{part}"), "w+") for part in ("in", "out", "err")]
            files[0].write(text)
            files[0].seek(0)
            runs.append((subprocess.Popen([sys.executable, "-m", "autograder.capstone_replay", "--run",
                                           ",".join(map(str, group))],
                                          stdin=files[0], stdout=files[1], stderr=files[2], text=True, env=env),
                         files))
        deadline = time.monotonic() + WALL_CAP_S + RUN_TIMEOUT_S
        reports, error = [], None
        for p, (stdin, out, err) in runs:
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                error = {"error": f"the training runs took longer than {WALL_CAP_S + RUN_TIMEOUT_S:.0f} s"}
                break
            out.seek(0)
            err.seek(0)
            lines = out.read().strip().splitlines()
            try:
                reports.append(json.loads(lines[-1]))
            except (IndexError, ValueError):
                error = {"error": f"the replay failed (exit {p.returncode}): {err.read().strip()[-400:]}"}
                break
        for p, files in runs:
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in files:
                f.close()
    return error or merge(reports)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = sys.stdin.read()
    report = run_one([int(x) for x in argv[1].split(",")], text) if argv[:1] == ["--run"] else run_all(text)
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
