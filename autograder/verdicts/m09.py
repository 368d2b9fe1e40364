"""Verdict of 09_capstone: points from the test accuracy of the recipe, trained again by the grader.

The kernel only hands over the recipe ``build_and_train`` wrote down (``deeptrain.capstone``).
Here it is trained from scratch in a process of its own (``autograder/capstone_replay.py``; or
several, side by side), once per grading seed (``GRADING_RUNS`` runs: one run's luck moves a grade by more than a point), and
the mean test accuracy is scored linearly between the scale's two anchors (``LOW``: 0 points;
``HIGH``: full points; set from the measurements in BENCHMARKS.md, "The capstone's scale"), with a
message saying where each run landed.
"""
import json
import os
import subprocess
import sys
import tempfile

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


class _Replayer:
    """``python -m autograder.capstone_replay``, started now: it imports TensorFlow and loads the data, then
    waits for its recipe on stdin (one recipe, one process, then it exits)."""

    def __init__(self, env):
        self.key = _key(env)
        self.err = tempfile.TemporaryFile(mode="w+")      # a file, not a pipe: nothing can fill it and block
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.capstone_replay"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True, env=env, cwd=_ROOT)

    def ready_for(self, key):
        return self.key == key and self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.err.close()


_WARM = {}      # "next": the _Replayer that the next replay of this process takes


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _key(env):
    """What a replay reads from its environment (the grading seed, the processes): a waiting process
    serves a replay whose environment agrees on these (others, e.g. the job's folder, change per job)."""
    from autograder.capstone_replay import PROCESSES_VARIABLE, SEED_VARIABLE
    return json.dumps([env.get(SEED_VARIABLE), env.get(PROCESSES_VARIABLE)])


def warm():
    """Start the replay process of this process's next capstone now (it imports TensorFlow and loads the
    data, then waits for the recipe): ``python -m autograder.task serve`` calls it when a capstone's job
    begins, so that this overlaps nbgrader's work and the clean room. A waiting process that is never
    used exits when this one closes its stdin, or dies with its process group (a job's time limit)."""
    env = _env()
    w = _WARM.get("next")
    if w is not None and w.ready_for(_key(env)):
        return w
    if w is not None:
        w.stop()
    _WARM["next"] = _Replayer(env)
    return _WARM["next"]


def _take():
    """The waiting replay process if it fits this environment, else a new one; none is left waiting."""
    warm()
    return _WARM.pop("next")


def run_replay(recipe_json, timeout=REPLAY_TIMEOUT_S):
    """The replay's report (a dict) for a recipe given as JSON text (a waiting process's, if warm() left one)."""
    w = _take()
    try:
        out, _ = w.proc.communicate(recipe_json, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"the replay took longer than {timeout:.0f} s"}
    finally:
        w.err.seek(0)
        err = w.err.read()
        w.stop()
    lines = out.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"error": f"the replay failed (exit {w.proc.returncode}): {err.strip()[-400:]}"}


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
