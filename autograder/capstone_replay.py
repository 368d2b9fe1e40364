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

The runs train side by side, one process per grading seed (``--run SEED``; this process only
starts them and merges their reports, without TensorFlow): one Keras training run of this small
network keeps about one core busy, so on two cores three runs side by side take about the time of
two in a row (the replay of Keras' defaults: 19.5 s instead of 25.8 s in a row; the solution 16.7 s
instead of 20.3 s; idle 2-core machine).
A run's numbers do not depend on it: each run seeds itself (``keras.utils.set_random_seed``) after
a fresh session, with TensorFlow's op determinism on, in a process or after other runs alike
(tests/grading/test_capstone.py compares). Each run has the whole wall-clock cap ``WALL_CAP_S``.
"""
import json
import os
import subprocess
import sys

SEED_VARIABLE = "DEEPTRAIN_CAPSTONE_SEED"   # an instructor may choose the grading seed
DEFAULT_SEED = 0
RUN_TIMEOUT_S = 60.0                        # beyond the wall-clock cap: TensorFlow's start-up, the test split


def grading_seed():
    return int(os.environ.get(SEED_VARIABLE, DEFAULT_SEED))


def run_one(seed, text):
    """One grading run (this process): the replay's report for `seed`, or {"error"}."""
    import deeptrain as dt
    from deeptrain import capstone_recipe as R
    dt.setup(seed=grading_seed())    # quiet TensorFlow, deterministic ops: the same recipe, the same grade
    from deeptrain.data import load_fashion_mnist
    try:
        recipe = json.loads(text)
        (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = load_fashion_mnist(n_train=R.N_TRAIN, seed=0)
        return R.replay(recipe, X_train, y_train, X_valid, y_valid, X_test, y_test, seeds=(seed,))
    except R.RecipeError as e:
        return {"error": str(e)}
    except ValueError as e:             # not JSON
        return {"error": f"the recipe could not be read ({e})"[:500]}


def merge(reports):
    """One report from the runs' reports (one seed each), as ``capstone_recipe.replay`` gives for all seeds."""
    for r in reports:
        if "error" in r:
            return {"error": r["error"]}
    accuracies = [r["accuracies"][0] for r in reports]
    return {"accuracy": sum(accuracies) / len(accuracies), "accuracies": accuracies,
            "seeds": [r["seeds"][0] for r in reports], "spread": max(accuracies) - min(accuracies),
            "examples_seen": reports[-1]["examples_seen"], "steps": reports[-1]["steps"],
            "seconds": sum(r["seconds"] for r in reports),
            "stopped_by_wall_cap": any(r["stopped_by_wall_cap"] for r in reports), "params": reports[-1]["params"]}


def run_all(text):
    """Start one process per grading seed, side by side, and merge their reports."""
    import tempfile
    import time
    from deeptrain.capstone_recipe import WALL_CAP_S, grading_seeds        # no TensorFlow in this process
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for seed in grading_seeds(grading_seed()):
            files = [open(os.path.join(tmp, f"{seed}.{part}"), "w+") for part in ("in", "out", "err")]
            files[0].write(text)
            files[0].seek(0)
            runs.append((subprocess.Popen([sys.executable, "-m", "autograder.capstone_replay", "--run", str(seed)],
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
    report = run_one(int(argv[1]), text) if argv[:1] == ["--run"] else run_all(text)
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
