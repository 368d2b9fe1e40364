"""What grading one capstone submission costs, measured in one run.

    python -m bench.capstone_grading

Prints, for the solution of module 09 graded by ``python -m autograder grade`` (1 worker):
- the whole grading of the notebook (kernel run in the sandbox, the recipe's replay, merge);
- of which the replay (``autograder/capstone_replay.py``, a process of its own: TensorFlow's
  import, the data, training within the budget, the test split);
- of which the training itself (the budget: 30,000 examples), as the replay reports it.
The load average is printed beside the figures: the machine may be shared.
"""
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
NAME = "09_capstone"


def _load():
    return "load %.1f/%.1f/%.1f" % os.getloadavg()


def main():
    from autograder import SOLUTIONS
    from autograder.grade import grade
    from autograder.verdicts import m09
    from deeptrain import capstone
    sys.path.insert(0, os.path.join(ROOT, "tests", "grading"))
    from test_verdicts import _solution_functions

    recipe = json.dumps(capstone.record(_solution_functions(NAME)["build_and_train"]))
    start = time.perf_counter()
    report = m09.run_replay(recipe)
    replay_s = time.perf_counter() - start
    print(f"replay of the solution's recipe: {replay_s:.1f} s wall, of which training {report['seconds']:.1f} s "
          f"({report['examples_seen']:,} examples, {report['steps']:,} steps); test accuracy "
          f"{report['accuracy']:.4f} -> {m09.points_for(report['accuracy']):g} points ({_load()})", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "subs", "student"))
        with open(os.path.join(SOLUTIONS, NAME, f"{NAME}.ipynb"), "rb") as src, \
                open(os.path.join(tmp, "subs", "student", f"{NAME}.ipynb"), "wb") as dst:
            dst.write(src.read())
        start = time.perf_counter()
        out = grade(os.path.join(tmp, "subs"), names=[NAME], grading=os.path.join(tmp, "grading"), jobs=1,
                    log=lambda *a, **k: None, class_report=False)
        whole_s = time.perf_counter() - start
    o = out.outcomes[0]
    print(f"grading the capstone submission with python -m autograder grade (1 worker, cold template cache): "
          f"{whole_s:.1f} s for the command, {o.seconds:.1f} s for the notebook; {o.score:g}/{o.max_score:g} points, "
          f"status {o.status} ({_load()})", flush=True)


if __name__ == "__main__":
    main()
