"""Verdict of 09_capstone: points from the test accuracy of the recipe, trained again by the grader.

The kernel only hands over the recipe ``build_and_train`` wrote down (``deeptrain.capstone``).
Here it is trained from scratch in a child of the clean room's TensorFlow server (``run_replay``; or
in processes of its own, side by side), once per grading seed (``GRADING_RUNS`` runs: one run's luck moves a grade by more than a point), and
the mean test accuracy is scored linearly between the scale's two anchors (``LOW``: 0 points;
``HIGH``: full points; set from the measurements in BENCHMARKS.md, "The capstone's scale"), with a
message saying where each run landed.
"""
import json
import os
import subprocess
import sys

from deeptrain import capstone
from deeptrain.capstone_recipe import (GRADING_RUNS, HIGH, LOW, POINTS, WALL_CAP_S, points_for,  # noqa: F401
                                      problems)

from . import Check, Judgement, Verdict
from .delegation import Forbidden

# The anchors of the scale (LOW, HIGH) live in deeptrain.capstone_recipe, so that the student's
# capstone.evaluate shows the same points; tests/grading/test_capstone.py checks the recorded sweep.
BASELINE, TARGET = LOW, HIGH        # the names this verdict used before the scale was re-anchored
REPLAY_TIMEOUT_S = WALL_CAP_S + 120
BYPASS = Forbidden(
    {"load_weights", "load_model", "set_weights", "applications", "get_file", "TFSMLayer", "t10k",
     "load_fashion_mnist", "load_raw", "read_idx", "fashion_mnist", "npz", "h5", "keras_hub"},
    "the capstone is graded on what your recipe learns within the budget; loading weights, a saved or "
    "pretrained model, or the test data is a bypass and scores 0")


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def run_replay(recipe_json, timeout=REPLAY_TIMEOUT_S):
    """The replay's report (a dict) for a recipe given as JSON text.

    In the clean room's TensorFlow server (``cleanroom.replay``): a child of a process that imported
    TensorFlow once for this worker and never runs the student's code, in the sandbox (no network). With
    ``$DEEPTRAIN_REPLAY_PROCESSES`` above 1, the runs are spread over processes of their own instead
    (``python -m autograder.capstone_replay``), each importing TensorFlow."""
    from autograder.capstone_replay import grading_seed, processes
    if processes() == 1:
        from autograder.cleanroom import replay
        return replay(recipe_json, grading_seed(), timeout)
    try:
        run = subprocess.run([sys.executable, "-m", "autograder.capstone_replay"], input=recipe_json,
                             capture_output=True, text=True, timeout=timeout, cwd=_ROOT,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    except subprocess.TimeoutExpired:
        return {"error": f"the replay took longer than {timeout:.0f} s"}
    lines = run.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"error": f"the replay failed (exit {run.returncode}): {run.stderr.strip()[-400:]}"}


def _fail(verdict, message, detail, flagged=()):
    check = Check("build_and_train", POINTS, message, None, "accuracy")
    return Judgement(0.0, verdict.points, [(check, detail)], list(flagged))



def score(verdict, results, delegated):
    """Judgement of the capstone: replay the recipe, score its test accuracy."""
    if "build_and_train" in delegated:
        return _fail(verdict, "not graded", delegated["build_and_train"],
                     [f"build_and_train: {delegated['build_and_train']}"])
    record = next(iter(((results or {}).get("build_and_train") or {}).values()), None)
    if not isinstance(record, dict) or record.get("error") or not isinstance(record.get("out"), dict):
        why = (record or {}).get("error") if isinstance(record, dict) else None
        return _fail(verdict, "no recipe to train: build_and_train must build, compile and train a model "
                     "with budget.fit", why or "no results for build_and_train reached the grader")
    text = str(record["out"].get("str_full", ""))
    try:
        broken = problems(json.loads(text))
    except ValueError as e:
        broken = [f"the recipe could not be read ({e})"[:300]]
    if broken:      # budget.fit refuses these in the kernel: this recipe went around it
        why = "; ".join(broken)
        return _fail(verdict, "the recipe breaks the capstone's rules and scores 0", why,
                     [f"build_and_train: a recipe that budget.fit would have refused reached the grader ({why[:300]})"])
    report = run_replay(text)
    if "error" in report:
        return _fail(verdict, "the recipe could not be trained", report["error"])
    accuracy, earned = report["accuracy"], points_for(report["accuracy"])
    runs = ", ".join(f"{a:.4f}" for a in report.get("accuracies", [accuracy]))
    where = (f"test accuracy {accuracy:.4f}, the mean of {len(report.get('accuracies', [accuracy]))} runs from "
             f"different seeds ({runs}), after {report['examples_seen']:,} examples per run ({report['steps']:,} "
             f"steps; {report['seconds']:.1f} s of training in all): {LOW:.3f} = 0 points, {HIGH:.3f} = {POINTS} points")
    review = []
    if report.get("stopped_by_wall_cap"):
        review.append(f"build_and_train: training stopped at the {WALL_CAP_S:.0f} s wall-clock cap")
        where += f"; training was stopped by the {WALL_CAP_S:.0f} s wall-clock cap"
    if earned >= POINTS:
        return Judgement(float(POINTS), verdict.points, [], summary=where, review=review)
    check = Check("build_and_train", round(POINTS - earned, 6), "your model is below the top of the scale", None,
                  "accuracy")
    return Judgement(earned, verdict.points, [(check, where)], review=review)


capstone_verdict = Verdict(
    exercise="09.capstone", cell="test_capstone",
    reference={"build_and_train": capstone.baseline},
    forbidden={"build_and_train": BYPASS},
    checks=[Check("build_and_train", POINTS, "mean test accuracy on the scale from LOW to HIGH", None, "accuracy")],
    scorer=score)

VERDICTS = [capstone_verdict]
