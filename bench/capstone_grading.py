"""The capstone's scale and grading cost, measured.

    python -m bench.capstone_grading            # what grading one capstone submission costs
    python -m bench.capstone_grading --scale    # the sweep behind the scale (RECIPES x 3 grading seeds)

``--scale`` trains every recipe of ``RECIPES`` with each grading seed exactly as the grader does
(``capstone_recipe.replay`` on the test split), writes ``bench/capstone_scale.json`` and the
capstone's section of BENCHMARKS.md (between its markers; the rest of the file is left as it is).
tests/grading/test_capstone.py checks the recorded ordering and replays some of it live.
``--record FILE`` instead reads results measured elsewhere (JSON lines {"recipe", "seed", "test"}
of these same recipes) and writes them the same way.

The default run prints, for the solution of module 09 graded by ``python -m autograder grade``
(1 worker): the whole grading of the notebook (kernel run in the sandbox, the recipe's replay, merge)
and, of it, the replay (a process of its own: TensorFlow's import, the data, one training run per
grading seed, the test split). The load average is printed beside the figures: the machine may be
shared.
"""
import argparse
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
SCALE_JSON = os.path.join(HERE, "capstone_scale.json")
BEGIN, END = "<!-- capstone_grading: begin -->", "<!-- capstone_grading: end -->"


def _load():
    return "load %.1f/%.1f/%.1f" % os.getloadavg()


# --- the recipes of the sweep ------------------------------------------------------------------

def recipe(depth=20, width=100, act="relu", init="glorot_uniform", bn=False, opt="adam", lr=1e-3, sched=None,
           dropout=0.0, l2=0.0, batch=32, wd=0.004, warm=0, bn_m=0.99):
    """A build_and_train for the fixed network: Keras' defaults, changed by the arguments.

    init: kernel initializer; bn: BatchNormalization before each activation (Dense without bias),
    with momentum bn_m for its moving averages;
    opt: adam, nadam, adamw (weight decay wd); sched: None (constant) or "cos" (cosine decay to 0
    over the run, after `warm` warm-up steps from lr / 10); dropout after each activation; l2 on
    the kernels; batch size.
    """
    from deeptrain.capstone_recipe import keras
    k = keras()

    def build_and_train(X_train, y_train, X_valid, y_valid, budget):
        layers = [k.Input((28, 28)), k.layers.Flatten()]
        reg = k.regularizers.L2(l2) if l2 else None
        for _ in range(depth):
            layers.append(k.layers.Dense(width, kernel_initializer=init, use_bias=not bn, kernel_regularizer=reg))
            if bn:
                layers.append(k.layers.BatchNormalization(momentum=bn_m))
            layers.append(k.layers.Activation(act))
            if dropout:
                layers.append(k.layers.Dropout(dropout))
        model = k.Sequential(layers + [k.layers.Dense(10, activation="softmax")])
        epochs = budget.max_epochs()
        steps = epochs * -(-len(X_train) // batch)
        rate = lr
        if sched == "cos":
            rate = k.optimizers.schedules.CosineDecay(lr / 10 if warm else lr, decay_steps=steps - warm,
                                                      warmup_target=lr if warm else None, warmup_steps=warm)
        optimizer = {"adam": lambda: k.optimizers.Adam(rate), "nadam": lambda: k.optimizers.Nadam(rate),
                     "adamw": lambda: k.optimizers.AdamW(rate, weight_decay=wd)}[opt]()
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return budget.fit(model, X_train, y_train, batch_size=batch, epochs=epochs, verbose=0)

    return build_and_train


# name -> (what the row shows, arguments of recipe()). "solution" is the recipe of the solution
# notebook's build_and_train (tests/grading/test_capstone.py checks that they are the same recipe).
# The "aggressive" rows are a first candidate for the solution: a learning rate of 3e-3 that some
# runs survive and others do not (kept: they show why a grade is the mean of several runs).
RECIPES = {
    "defaults": ("Keras' defaults: ReLU, Glorot uniform, adam 1e-3 constant, batch 32", {}),
    "+he": ("+ He initialization", {"init": "he_normal"}),
    "+bn": ("+ batch normalization before each activation", {"bn": True}),
    "+nadam": ("+ Nadam instead of Adam", {"opt": "nadam"}),
    "+lr3e-4": ("+ a learning rate tuned down to 3e-4", {"lr": 3e-4}),
    "+cosine": ("+ cosine decay of the rate to 0", {"sched": "cos"}),
    "+dropout": ("+ dropout 0.1 after each activation", {"dropout": 0.1}),
    "he+bn": ("He + batch norm", {"init": "he_normal", "bn": True}),
    "he+cos": ("He + cosine decay", {"init": "he_normal", "sched": "cos"}),
    "he+bn+cos": ("He + batch norm + cosine decay", {"init": "he_normal", "bn": True, "sched": "cos"}),
    "he+bn+cos+nadam b64": ("He + batch norm + cosine decay from 2e-3 + Nadam, batch 64",
                            {"init": "he_normal", "bn": True, "sched": "cos", "opt": "nadam", "batch": 64,
                             "lr": 2e-3}),
    "he+bn0.9+cos": ("He + batch norm (momentum 0.9) + cosine decay",
                     {"init": "he_normal", "bn": True, "sched": "cos", "bn_m": 0.9}),
    "aggressive": ("He + BN + Swish + AdamW + warm-up and cosine decay from 3e-3, batch 64",
                   {"init": "he_normal", "bn": True, "act": "swish", "opt": "adamw", "sched": "cos", "lr": 3e-3,
                    "batch": 64, "warm": 50}),
    "aggressive bn0.9": ("the same with BN momentum 0.9",
                         {"init": "he_normal", "bn": True, "act": "swish", "opt": "adamw", "sched": "cos", "lr": 3e-3,
                          "batch": 64, "warm": 50, "bn_m": 0.9}),
    "aggressive noBN": ("the same without batch norm",
                        {"init": "he_normal", "act": "swish", "opt": "adamw", "sched": "cos", "lr": 3e-3, "batch": 64,
                         "warm": 50}),
    "solution": ("the solution: He + Swish + cosine decay of adam's 1e-3 to 0, batch 32",
                 {"init": "he_normal", "act": "swish", "sched": "cos"}),
}
SINGLE = ["+he", "+bn", "+nadam", "+lr3e-4", "+cosine", "+dropout"]


def sweep(names=None, seeds=None, log=print):
    """{name: [test accuracy per grading seed]}: each recipe replayed as the grader does."""
    import deeptrain as dt
    dt.setup(seed=0)
    from deeptrain import capstone, capstone_recipe as R
    from deeptrain.data import load_fashion_mnist
    seeds = seeds or R.grading_seeds(0)
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = load_fashion_mnist(n_train=R.N_TRAIN, seed=0)
    out = {}
    for name in names or RECIPES:
        rec = capstone.record(recipe(**RECIPES[name][1]), ((X_train, y_train), (X_valid, y_valid)))
        report = R.replay(rec, X_train, y_train, X_valid, y_valid, X_test, y_test, seeds=seeds)
        out[name] = report["accuracies"]
        log(f"{name}: {report['accuracies']} ({report['seconds']:.1f} s of training, {_load()})")
    return out


def summary(results):
    """Rows {name, what, accuracies (None: run not measured), mean, spread, points} of a sweep."""
    import numpy as np
    from deeptrain.capstone_recipe import points_for
    rows = []
    for name, accs in results.items():
        accs = [None if a is None else float(a) for a in accs]
        done = [a for a in accs if a is not None]
        rows.append({"name": name, "what": RECIPES[name][0], "accuracies": accs, "runs": len(done),
                     "mean": float(np.mean(done)), "spread": float(max(done) - min(done)),
                     "points": points_for(float(np.mean(done))),
                     "points_per_run": [None if a is None else points_for(a) for a in accs]})
    return rows


def markdown(rows, note=""):
    from deeptrain.capstone_recipe import LOW, HIGH, POINTS, N_TRAIN, BUDGET_EXAMPLES, DEPTH, WIDTH, GRADING_RUNS
    lines = [BEGIN, "", "## The capstone's scale (`bench/capstone_grading.py --scale`)", "",
             f"Module 09's regime: the fixed network ({DEPTH} hidden Dense layers of {WIDTH} units), {N_TRAIN:,} "
             f"training images, a budget of {BUDGET_EXAMPLES:,} examples ({BUDGET_EXAMPLES // N_TRAIN} epochs). "
             f"Each recipe replayed by the grader's procedure with the {GRADING_RUNS} grading seeds "
             f"(0, 1, 2), test accuracy; points from the mean, linear from {LOW:.3f} (0) to {HIGH:.3f} ({POINTS}). "
             "Spread = best run - worst run. Recorded in `bench/capstone_scale.json`; "
             "`tests/grading/test_capstone.py` asserts the ordering and replays rows live." + (" " + note if note else ""),
             "", "| recipe | seed 0 | seed 1 | seed 2 | mean | spread | points (per run) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mean = f"**{r['mean']:.4f}**" + ("" if r["runs"] == 3 else f" ({r['runs']} runs)")
        lines.append(f"| {r['what']} (`{r['name']}`) | " + " | ".join("-" if a is None else f"{a:.4f}"
                                                                   for a in r["accuracies"])
                     + f" | {mean} | {r['spread']:.4f} | **{r['points']:g}** "
                       f"({', '.join('-' if p is None else f'{p:g}' for p in r['points_per_run'])}) |")
    return lines + ["", END]


def write(results, note=""):
    rows = summary(results)
    with open(SCALE_JSON, "w") as f:
        json.dump({"note": note, "rows": rows}, f, indent=1)
        f.write("\n")
    from bench import write_block
    write_block(list(markdown(rows, note)), BEGIN, END)
    return rows


def grading_cost():
    from autograder import SOLUTIONS
    from autograder.grade import grade
    from autograder.verdicts import m09
    from deeptrain import capstone
    sys.path.insert(0, os.path.join(ROOT, "tests", "grading"))
    from test_verdicts import _solution_functions

    rec = json.dumps(capstone.record(_solution_functions(NAME)["build_and_train"]))
    start = time.perf_counter()
    report = m09.run_replay(rec)
    replay_s = time.perf_counter() - start
    print(f"replay of the solution's recipe: {replay_s:.1f} s wall, of which training {report['seconds']:.1f} s "
          f"({len(report['accuracies'])} runs of {report['examples_seen']:,} examples, {report['steps']:,} steps); "
          f"test accuracy {report['accuracy']:.4f} {report['accuracies']} -> {m09.points_for(report['accuracy']):g} "
          f"points ({_load()})", flush=True)
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.capstone_grading")
    parser.add_argument("--scale", action="store_true", help="run the sweep behind the scale and record it")
    parser.add_argument("--record", help="JSON lines of a sweep run elsewhere ({recipe, seed, test}) to record")
    parser.add_argument("--note", default="", help="a sentence for the BENCHMARKS.md section (machine, load)")
    args = parser.parse_args(argv)
    if args.record:
        found = {}
        for line in open(args.record):
            r = json.loads(line)
            found.setdefault(r["recipe"], {})[r["seed"]] = r["test"]
        results = {name: [found[name].get(s) for s in (0, 1, 2)] for name in RECIPES if name in found}
        for row in write(results, args.note):
            print(row["name"], row["accuracies"], f"{row['mean']:.4f}", row["points"])
    elif args.scale:
        write(sweep(), args.note or f"Measured with {_load()}.")
    else:
        grading_cost()


if __name__ == "__main__":
    main()
