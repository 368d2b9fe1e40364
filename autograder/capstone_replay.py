"""The capstone's replay, in a process of its own: recipe JSON on stdin -> report JSON on stdout.

    python -m autograder.capstone_replay < recipe.json

The grader (``autograder/verdicts/m09.py``) runs it for every capstone submission. It holds the
test split, which never reaches the student's kernel: the recipe is checked
(``deeptrain.capstone_recipe.problems``), rebuilt from built-in Keras classes with ``safe_mode``,
trained from scratch on the capstone's training split once per grading seed (``GRADING_RUNS``
runs: seeds base, base + 1, ...; the base is ``DEEPTRAIN_CAPSTONE_SEED``, 0 by default), and each
run is measured on Fashion-MNIST's 10,000 test images. A process of its own gives TensorFlow a
clean state per submission and a hard time limit. The last line of stdout is the report:
{"accuracy" (the mean), "accuracies", "seeds", "spread", "examples_seen", "steps", "seconds",
"stopped_by_wall_cap", "params"} or {"error"}.
"""
import json
import os
import sys

SEED_VARIABLE = "DEEPTRAIN_CAPSTONE_SEED"   # an instructor may choose the grading seed
DEFAULT_SEED = 0


def grading_seed():
    return int(os.environ.get(SEED_VARIABLE, DEFAULT_SEED))


def main():
    import deeptrain as dt
    from deeptrain import capstone_recipe as R
    dt.setup(seed=grading_seed())    # quiet TensorFlow, deterministic ops: the same recipe, the same grade
    from deeptrain.data import load_fashion_mnist
    try:
        recipe = json.loads(sys.stdin.read())
        (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = load_fashion_mnist(n_train=R.N_TRAIN, seed=0)
        report = R.replay(recipe, X_train, y_train, X_valid, y_valid, X_test, y_test,
                          seeds=R.grading_seeds(grading_seed()))
    except R.RecipeError as e:
        report = {"error": str(e)}
    except ValueError as e:             # not JSON
        report = {"error": f"the recipe could not be read ({e})"[:500]}
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
