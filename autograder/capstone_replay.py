"""The capstone's replay: recipe JSON -> report JSON.

    python -m autograder.capstone_replay < recipe.json

The grader (``autograder/verdicts/m09.py``) runs it for every capstone submission, by default in a
child of the clean room's TensorFlow server (``autograder/room.py``, ``replay``, which calls
``run_one``): that server imported TensorFlow when the worker started and never runs the student's
code, so the replay pays no import of its own. It holds the test split, which never reaches the
student's kernel: the recipe is checked (``deeptrain.capstone_recipe.problems``), rebuilt from
built-in Keras classes with ``safe_mode``, trained from scratch on the capstone's training split once
per grading seed (``GRADING_RUNS`` runs: seeds base, base + 1, ...; the base is
``DEEPTRAIN_CAPSTONE_SEED``, 0 by default), and each run is measured on Fashion-MNIST's 10,000 test
images. The report: {"accuracy" (the mean), "accuracies", "seeds", "spread", "examples_seen",
"steps", "seconds" (training, all runs), "stopped_by_wall_cap", "params"} or {"error"}; as a
command, the last line of stdout.

The runs are in a row in one process (the default), the later ones on the first run's traced
training graph (``capstone_recipe.restart``), or spread over ``$DEEPTRAIN_REPLAY_PROCESSES``
processes of their own (``--run SEED[,SEED...]``; this process then only starts them and merges their
reports, without TensorFlow), each paying the import, the data and the tracing again; while a class
is graded the other workers keep the cores busy anyway. A run's numbers do not depend on any of
this: each run seeds itself (``keras.utils.set_random_seed``) after a fresh session, with
TensorFlow's op determinism on, first in its process or after other runs alike
(tests/grading/test_capstone.py, tests/grading/test_room_replay.py compare). A process's runs share
the wall-clock cap ``WALL_CAP_S``.
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


def prepare(seed=None):
    """What every replay needs before its recipe: TensorFlow set up (quiet, deterministic ops: the same
    recipe, the same grade) and the capstone's splits ((X_train, y_train), (X_valid, y_valid),
    (X_test, y_test)): 5,000 x 28 x 28 training images, 5,000 validation, 10,000 test.
    seed: the grading seed (default: ``grading_seed()``)."""
    import deeptrain as dt
    from deeptrain import capstone_recipe as R
    dt.setup(seed=grading_seed() if seed is None else seed)
    from deeptrain.data import load_fashion_mnist
    return load_fashion_mnist(n_train=R.N_TRAIN, seed=0)


def run_one(seeds, text, base=None):
    """The grading runs of `seeds` (a tuple), in a row in this process: the replay's report, or {"error"}.
    base: the grading seed TensorFlow is set up with (``prepare``)."""
    data = prepare(base)
    from deeptrain import capstone_recipe as R
    try:
        recipe = json.loads(text)
        (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = data
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
    if argv[:1] == ["--run"]:
        report = run_one([int(x) for x in argv[1].split(",")], sys.stdin.read())
    else:
        report = run_all(sys.stdin.read())
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)     # the report is out: no need to wait for TensorFlow's teardown (about a second)
