"""The capstone's scale and grading cost, measured.

    python -m bench.capstone_grading            # what grading one capstone submission costs
    python -m bench.capstone_grading --scale    # the sweep behind the scale (RECIPES x 3 grading seeds)
    python -m bench.capstone_grading --probe n_train=2000,noise=0.3,budget=40000,depth=15 --only defaults,+he
                                                # probes of another regime (label noise, a shallower network)

``--scale`` trains every recipe of ``RECIPES`` with each grading seed exactly as the grader does
(``capstone_recipe.replay`` on the test split), writes ``bench/capstone_scale.json`` and the
capstone's section of BENCHMARKS.md (between its markers; the rest of the file is left as it is).
tests/grading/test_capstone.py checks the recorded ordering and replays some of it live.
``--probe`` replays recipes of ``RECIPES`` or ``PROBE_RECIPES`` in another regime (training images,
a fraction of noisy training labels, the budget, the network's depth and width) and adds them to the
record's probes, which BENCHMARKS.md tabulates with each row's gain over Keras' defaults in its regime.
``--record FILE`` instead reads results measured elsewhere (JSON lines {"recipe", "seed", "test"}
of these same recipes) and writes them the same way.

The default run prints, for the solution of module 09 graded by ``python -m autograder grade``
(1 worker): the whole grading of the notebook (kernel run in the sandbox, the recipe's replay, merge)
and, of it, the replay (in the clean room's TensorFlow server, started for it: TensorFlow's import, the
data, one training run per grading seed, the test split); then, for the solution and Keras' defaults,
the replay as a grading job waits for it (the server warm, ``m09.run_replay``) and, in one process, the
3 runs with the later ones on the first run's traced graph against every run built anew
(``capstone_recipe.restart``). The load average is printed beside the figures: the machine may be shared.
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
           dropout=0.0, l2=0.0, batch=32, wd=0.004, warm=0, bn_m=0.99, stop=0, maxnorm=0.0, top=0):
    """A build_and_train for the fixed network: Keras' defaults, changed by the arguments.

    init: kernel initializer; bn: BatchNormalization before each activation (Dense without bias),
    with momentum bn_m for its moving averages;
    opt: adam, nadam, adamw (weight decay wd); sched: None (constant) or "cos" (cosine decay to 0
    over the run, after `warm` warm-up steps from lr / 10); dropout after each activation; l2 on
    the kernels; batch size; stop: early stopping on the validation accuracy with this patience
    (epochs), restoring the best weights; maxnorm: a max-norm constraint on the kernels; top: dropout only
    after the last `top` hidden layers (0: after every one).
    """
    from deeptrain.capstone_recipe import keras
    k = keras()

    def build_and_train(X_train, y_train, X_valid, y_valid, budget):
        layers = [k.Input((28, 28)), k.layers.Flatten()]
        reg = k.regularizers.L2(l2) if l2 else None
        norm = k.constraints.MaxNorm(maxnorm) if maxnorm else None
        for i in range(depth):
            layers.append(k.layers.Dense(width, kernel_initializer=init, use_bias=not bn, kernel_regularizer=reg,
                                         kernel_constraint=norm))
            if bn:
                layers.append(k.layers.BatchNormalization(momentum=bn_m))
            layers.append(k.layers.Activation(act))
            if dropout and (not top or i >= depth - top):
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
        if stop:
            early = k.callbacks.EarlyStopping(monitor="val_accuracy", patience=stop, restore_best_weights=True)
            return budget.fit(model, X_train, y_train, batch_size=batch, epochs=epochs, verbose=0,
                              validation_data=(X_valid, y_valid), callbacks=[early])
        return budget.fit(model, X_train, y_train, batch_size=batch, epochs=epochs, verbose=0)

    return build_and_train


# name -> (what the row shows, arguments of recipe()). "solution" is the recipe of the solution
# notebook's build_and_train (tests/grading/test_capstone.py checks that they are the same recipe).
# Each "+" row adds one technique of the course to Keras' defaults (TECHNIQUES says which one it
# stands for); the others combine them.
RECIPES = {
    "defaults": ("Keras' defaults: ReLU, Glorot uniform, adam 1e-3 constant, batch 32", {}),
    "+he": ("+ He initialization", {"init": "he_normal"}),
    "+bn": ("+ batch normalization before each activation", {"bn": True}),
    "+nadam": ("+ Nadam instead of Adam", {"opt": "nadam"}),
    "+adamw": ("+ AdamW (weight decay 0.05) instead of Adam", {"opt": "adamw", "wd": 0.05}),
    "+lr3e-4": ("+ a learning rate tuned down to 3e-4", {"lr": 3e-4}),
    "+cosine": ("+ cosine decay of the rate to 0", {"sched": "cos"}),
    "+dropout": ("+ dropout 0.1 after each activation", {"dropout": 0.1}),
    "+dropout top": ("+ dropout 0.2 after the last two hidden layers only", {"dropout": 0.2, "top": 2}),
    "+l2": ("+ L2 regularization 1e-4 on the kernels", {"l2": 1e-4}),
    "+early stopping": ("+ early stopping on validation accuracy (patience 3, best weights restored)", {"stop": 3}),
    "he+bn": ("He + batch norm", {"init": "he_normal", "bn": True}),
    "he+cos": ("He + cosine decay", {"init": "he_normal", "sched": "cos"}),
    "he+bn+cos": ("He + batch norm + cosine decay", {"init": "he_normal", "bn": True, "sched": "cos"}),
    "he+swish+cos": ("He + Swish + cosine decay", {"init": "he_normal", "act": "swish", "sched": "cos"}),
    "solution": ("the solution: He + cosine decay of adam's 1e-3 to 0, batch 64",
                 {"init": "he_normal", "sched": "cos", "batch": 64}),
}
# The techniques of the course, each as one row added to Keras' defaults (several rows for one
# technique: each is a way a student would try it).
TECHNIQUES = {
    "initialization": ["+he"],
    "batch normalization": ["+bn"],
    "optimizer": ["+nadam", "+adamw", "+lr3e-4"],
    "schedule": ["+cosine"],
    "regularization": ["+dropout", "+dropout top", "+l2", "+early stopping"],
}
SINGLE = [name for rows in TECHNIQUES.values() for name in rows]
# Variants tried only in probes (``--probe``), not rows of the sweep: other rates and placements of
# the same techniques.
PROBE_RECIPES = {
    "+adamw 0.1": ("+ AdamW, weight decay 0.1", {"opt": "adamw", "wd": 0.1}),
    "+adamw 0.3": ("+ AdamW, weight decay 0.3", {"opt": "adamw", "wd": 0.3}),
    "+adamw 1": ("+ AdamW, weight decay 1", {"opt": "adamw", "wd": 1.0}),
    "+dropout 0.5 top": ("+ dropout 0.5 after the last hidden layer only", {"dropout": 0.5, "top": 1}),
    "+l2 1e-5": ("+ L2 regularization 1e-5 on the kernels", {"l2": 1e-5}),
    "+early stopping 10": ("+ early stopping on validation accuracy (patience 10, best weights restored)",
                           {"stop": 10}),
    "he+cos+early stopping 10": ("He + cosine decay + early stopping (patience 10)",
                                 {"init": "he_normal", "sched": "cos", "stop": 10}),
    "he+cos+dropout top": ("He + cosine decay + dropout 0.2 after the last two hidden layers",
                           {"init": "he_normal", "sched": "cos", "dropout": 0.2, "top": 2}),
    "he+cos+l2 1e-5": ("He + cosine decay + L2 1e-5", {"init": "he_normal", "sched": "cos", "l2": 1e-5}),
}
# Why the techniques that do not pay alone on top of the defaults do not (BENCHMARKS.md, under the table).
EXPLAIN = (
    "**What does not pay alone, and why.** *The optimizer*: Keras' defaults already use Adam, the optimizer the "
    "course recommends for this network; Nadam (+0.032) and AdamW with weight decay 0.05 (+0.027) gain less than "
    "the defaults' own spread (0.039), and a rate tuned down to 3e-4 leaves one run of three far behind (0.586). "
    "*Regularization*: every row costs accuracy or gains less than the spread: dropout 0.1 after each of the 20 "
    "layers -0.203, dropout 0.2 after the last two only -0.055, L2 1e-4 -0.024, early stopping (patience 3 of the 4 "
    "epochs, best weights restored) +0.011; and dropout 0.1 on top of He + cosine decay falls to 0.320 (probe "
    "below). On top of the defaults, the deep network's trouble is the signal that 20 Glorot-initialized ReLU "
    "layers pass on, which He's initialization, batch normalization and a decaying rate address; dropout and L2 "
    "add noise or shrink weights in a network that is not yet fitting its data. Fewer images and more epochs did "
    "not change that: with 1,000 and 2,000 images (20 and 10 epochs, probes below) dropout and L2 still cost 11 to "
    "29 points, and the defaults' spread grew to 0.047-0.099, so that no single technique, not even He's "
    "initialization, gained more than the larger spread. The former regime (10,000 images, 2 epochs) has as many "
    "techniques paying alone, three, but others: initialization, batch normalization and a rate tuned down to "
    "3e-4 (by 0.003 over the spread), while the schedule does not (+0.020 against a spread of 0.028). 5,000 "
    "images and 4 epochs was chosen over it because the schedule, a lesson of its own in the course, pays "
    "there and the course's combination is steadier (He + cosine: spread 0.010 against 0.021); its margins "
    "are thinner for batch normalization (0.006 over the spread) and the schedule (0.004). Probed besides on "
    "this regime (seeds 0, 1, 2, test; not in the table): as regularization, a max-norm constraint on the kernels "
    "of 1, 2 or 3 (-0.109, +0.009, +0.002); as the optimizer, AdamW with weight decay 0.004 or 0.2 (+0.002, "
    "-0.031), Adam or Nadam at 2e-3 (-0.124, -0.040): none gains more than the larger spread. A cheaper budget "
    "(3,000 images, 12,000 examples, 4 epochs: probes below), tried when the replay took more than 20 s, makes the defaults' spread 0.074, and no single technique pays there, not even He's "
    "initialization (+0.070). *Batch normalization* pays alone on the defaults but not on top of He's "
    "initialization (He + BN 0.693 against He alone 0.743; He + BN + cosine 0.643 against He + cosine 0.781): the "
    "course's combination that the scale anchors at 10 points is therefore He + cosine decay, and the solution "
    "adds batches of 64 (half the steps, 316 per run)."
)

# Label noise, probed for the last requirement (BENCHMARKS.md, after EXPLAIN; the probe table has the rows).
EXPLAIN_NOISE = (
    "**Label noise, probed for regularization and the optimizer (the regime was not changed).** Noisy labels are "
    "the textbook case where regularization pays: given the epochs, a deep network memorizes wrong labels "
    "(Zhang et al., 2017, \"Understanding deep learning requires rethinking generalization\"; Arpit et al., 2017, "
    "\"A closer look at memorization in deep networks\"), and early stopping on clean validation data, dropout "
    "and weight decay (Loshchilov and Hutter's AdamW, 2019) hold it back (Geron, *Hands-On Machine Learning*, 3rd "
    "ed., ch. 11). Probed (`--probe`; the table below, 72 rows of 3 runs): a fixed, seeded 20% or 30% of the "
    "training labels replaced by another class (validation and test clean), 2,000 to 5,000 images for 4 to 20 "
    "epochs, on the fixed 20 x 100 network and with 15 or 10 hidden layers. No regime makes all five techniques "
    "pay alone, nor regularization and the optimizer together. (1) *Regularization and weight decay cost, or gain "
    "less than 0.01*, in six of the seven regimes: dropout 0.2 after the last two layers or 0.5 after the last "
    "(-0.155 to +0.005), L2 1e-5 or 1e-4 (-0.187 to +0.009), AdamW's decoupled weight decay 0.3 or 1 (-0.151 to "
    "+0.002; the decay per step is the rate times that factor); in the seventh (5,000 images, 20% noise, 4 "
    "epochs) Keras' defaults collapse (0.415, runs 0.320 to 0.520) and every row gains less than that spread of "
    "0.200 (dropout +0.073, L2 +0.070, AdamW 0.1 +0.147). Early stopping with the best weights restored "
    "(patience 10) pays once, by 0.0014 over the spread (15 hidden layers, 2,000 images, 30% noise, 20 epochs: "
    "+0.0225 against 0.0211), and gains +0.043 with 10 layers, under the defaults' spread of 0.076. (2) *On 20 "
    "layers Keras' defaults do not memorize the noise: they do not fit.* A run of the defaults on 1,000 images "
    "with 30% noise fits 33-43% of its training labels in the last 20 of 30 epochs (fewer than the 70% that are "
    "right; He's initialization 63% at the end; one run, seed 0), and noise makes the defaults erratic rather "
    "than overfit: spreads 0.048 to 0.200 across the four 20-layer regimes (0.039 without noise). There is "
    "nothing for dropout or L2 to hold back: they slow a network that is not yet fitting. (3) *Where the network "
    "has the epochs to memorize (2,000 images for 20 epochs), batch normalization, which lets it fit faster, fits "
    "the wrong labels too*: -0.154 (10 layers), -0.087 (15), -0.034 (20) against the defaults. The regime where "
    "regularization might pay is one where batch normalization alone costs, and at 10 layers He's initialization "
    "no longer pays either (+0.009). (4) *The optimizer*: Nadam gains at most +0.054 (15 layers, 10 epochs, "
    "against a spread of 0.175), and +0.193 against the collapsing defaults' 0.200. (5) The course's combination "
    "stays high in every noisy regime (He + cosine decay 0.720 to 0.780), and regularization does not pay on top "
    "of it either (20 layers, 2,000 images, 20% noise, 20 epochs: He + cosine 0.780; with early stopping "
    "0.780 (the same runs: the last epoch is the best), dropout 0.2 on the last two layers 0.742, L2 1e-5 0.772). Budgets of 40,000 examples "
    "would besides double the replay (1,260 steps per run for Keras' defaults, about 20 s from the recipe to the "
    "report), and early stopping's validation on 5,000 images each epoch doubles that again (105 s against 52 s "
    "of training for the 3 runs in the probe)."
)


def regime():
    """What the sweep was measured in: the recorded rows hold only for this regime."""
    from deeptrain.capstone_recipe import N_TRAIN, BUDGET_EXAMPLES, DEPTH, WIDTH, GRADING_RUNS
    return {"n_train": N_TRAIN, "budget_examples": BUDGET_EXAMPLES, "depth": DEPTH, "width": WIDTH,
            "grading_runs": GRADING_RUNS}


def noisy_labels(y, fraction, seed=1):
    """A copy of y in which round(fraction * len(y)) labels, chosen with `seed`, are replaced by another
    class drawn uniformly from the other nine (symmetric label noise: exactly that fraction is wrong)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    y = np.array(y, copy=True)
    idx = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
    y[idx] = (y[idx] + rng.integers(1, 10, size=len(idx))) % 10
    return y


def probe(regime, names, log=print):
    """Probes of another regime: each recipe replayed as the grader does (grading seeds 0, 1, 2, test
    accuracy), on `n_train` training images of which a fraction `noise` carry a wrong label
    (``noisy_labels``; validation and test clean), a budget of `budget` examples, the fixed network
    made `depth` x `width`. Returns the probe rows ({depth, width, n, noise, budget, recipe, test,
    mean, spread, steps, seconds}) for ``--probes``."""
    import deeptrain as dt
    dt.setup(seed=0)
    from deeptrain import capstone, capstone_recipe as R
    from deeptrain.data import load_fashion_mnist
    n, noise, budget = int(regime["n_train"]), float(regime.get("noise", 0)), int(regime["budget"])
    depth, width = int(regime.get("depth", R.DEPTH)), int(regime.get("width", R.WIDTH))
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = load_fashion_mnist(n_train=n, seed=0)
    y_train = noisy_labels(y_train, noise) if noise else y_train
    specs = {name: kw for name, (_, kw) in {**RECIPES, **PROBE_RECIPES}.items()}
    fixed = R.DEPTH, R.WIDTH
    R.DEPTH, R.WIDTH = depth, width         # the rules' fixed network, for this probe only
    rows = []
    try:
        for name in names:
            rec = capstone.record(recipe(**{"depth": depth, "width": width, **specs[name]}),
                                  ((X_train, y_train), (X_valid, y_valid)), examples=budget)
            report = R.replay(rec, X_train, y_train, X_valid, y_valid, X_test, y_test, seeds=R.grading_seeds(0),
                              examples=budget, wall_cap_s=float("inf"))
            a = report["accuracies"]
            rows.append({"depth": depth, "width": width, "n": n, "noise": noise, "budget": budget, "recipe": name,
                         "test": a, "mean": sum(a) / len(a), "spread": max(a) - min(a), "steps": report["steps"],
                         "seconds": report["seconds"]})
            log(json.dumps(rows[-1]))
    finally:
        R.DEPTH, R.WIDTH = fixed
    return rows


def techniques(rows):
    """Rows {technique, name, gain (mean - the defaults' mean), spread (the larger of the two), pays}."""
    by_name = {r["name"]: r for r in rows}
    base = by_name["defaults"]
    out = []
    for technique, names in TECHNIQUES.items():
        for name in names:
            if name in by_name:
                r = by_name[name]
                gain, spread = r["mean"] - base["mean"], max(r["spread"], base["spread"])
                out.append({"technique": technique, "name": name, "gain": gain, "spread": spread,
                            "pays": gain > spread})
    return out


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


def markdown(rows, note="", probes=None):
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
    lines += ["", "**Each technique alone on top of Keras' defaults.** *Measurably* means here: the mean of the 3 "
              "runs exceeds the defaults' mean by more than the larger of the two recipes' spreads (so that the "
              "gain is larger than what a change of seeds alone moves either recipe by).", "",
              "| technique | row | gain over the defaults | larger spread | measurable? |", "|---|---|---:|---:|---|"]
    for t in techniques(rows):
        lines.append(f"| {t['technique']} | `{t['name']}` | {t['gain']:+.4f} | {t['spread']:.4f} | "
                     f"{'**yes**' if t['pays'] else 'no'} |")
    if EXPLAIN:
        lines += [""] + [EXPLAIN]
    if EXPLAIN_NOISE:
        lines += [""] + [EXPLAIN_NOISE]
    if probes:
        lines += ["", "**Regimes probed before this one, and variants** (the same recipes, replayed the same way: "
                  "test accuracy of grading seeds 0, 1, 2; the 10,000-image rows are the former regime's record; "
                  "label noise: that fraction of the training images carry a wrong label, another class drawn "
                  "uniformly, `noisy_labels`, validation and test clean; `--probe`; `bench/capstone_scale.json`, "
                  "\"probes\"). *Gain*: over Keras' defaults in the same regime, against the larger of the two "
                  "spreads (**pays** when above):", "",
                  "| network | training images | label noise | budget (epochs) | recipe | runs | mean | spread | gain "
                  "(larger spread) |", "|---|---:|---:|---|---|---|---:|---:|---|"]
        for p in probes:
            base = _probe_defaults(p, probes, rows)
            gain = "" if base is None or p["recipe"] == "defaults" else (
                f"{p['mean'] - base['mean']:+.4f} ({max(p['spread'], base['spread']):.4f})"
                + (" **pays**" if p["mean"] - base["mean"] > max(p["spread"], base["spread"]) else ""))
            lines.append(f"| {p.get('depth', DEPTH)} x {p.get('width', WIDTH)} | {p['n']:,} | "
                         f"{p.get('noise', 0):.0%} | {p['budget']:,} ({p['budget'] // p['n']}) | `{p['recipe']}` | "
                         + ", ".join(f"{a:.4f}" for a in p["test"]) + f" | {p['mean']:.4f} | {p['spread']:.4f} | "
                         f"{gain} |")
    return lines + ["", END]


def _probe_regime(p):
    from deeptrain.capstone_recipe import DEPTH, WIDTH
    return p.get("depth", DEPTH), p.get("width", WIDTH), p["n"], p.get("noise", 0), p["budget"]


def _probe_defaults(p, probes, rows):
    """Keras' defaults in the probe's regime: a probe of it, or the sweep's row in this regime."""
    from deeptrain.capstone_recipe import N_TRAIN, BUDGET_EXAMPLES, DEPTH, WIDTH
    for q in probes:
        if q["recipe"] == "defaults" and _probe_regime(q) == _probe_regime(p):
            return q
    if _probe_regime(p) == (DEPTH, WIDTH, N_TRAIN, 0, BUDGET_EXAMPLES):
        return next((r for r in rows if r["name"] == "defaults"), None)
    return None


def write(results, note="", probes=None):
    rows = summary(results)
    if probes is None and os.path.exists(SCALE_JSON):
        probes = json.load(open(SCALE_JSON)).get("probes")
    with open(SCALE_JSON, "w") as f:
        json.dump({"note": note, "regime": regime(), "rows": rows, "probes": probes or []}, f, indent=1)
        f.write("\n")
    from bench import write_block
    write_block(list(markdown(rows, note, probes)), BEGIN, END)
    return rows


def replay_ahead(name):
    """The replay as a capstone's job waits for it: in a child of the clean room's TensorFlow server, which a
    grading worker starts with its grader (TensorFlow imported when the recipe is handed over)."""
    from autograder import cleanroom
    from autograder.verdicts import m09
    from deeptrain import capstone
    rec = json.dumps(capstone.record(recipe(**RECIPES[name][1])))
    cleanroom.server("tensorflow").wait_ready()
    start = time.perf_counter()
    report = m09.run_replay(rec)
    print(f"replay of {name} in the warm clean room: {time.perf_counter() - start:.1f} s from the recipe to "
          f"the report ({report['steps']} steps a run; {report['accuracies']}) ({_load()})", flush=True)


def reuse_ratio(name):
    """replay() of one recipe in this process, 3 grading seeds: the later runs on the first run's traced
    graph (capstone_recipe.restart) against every run built and traced anew, in one run."""
    import deeptrain as dt
    from deeptrain import capstone, capstone_recipe as R
    from deeptrain.data import load_fashion_mnist
    dt.setup(seed=0)
    splits = [a for split in load_fashion_mnist(n_train=R.N_TRAIN, seed=0) for a in split]
    rec = capstone.record(recipe(**RECIPES[name][1]), (splits[:2], splits[2:4]))
    timings, keep = {}, R.restart
    for label, restart in (("anew", lambda model, fresh: False), ("reused", keep), ("anew ", lambda m, f: False),
                           ("reused ", keep)):
        R.restart = restart
        try:
            start = time.perf_counter()
            report = R.replay(rec, *splits, seeds=R.grading_seeds(0))
            timings.setdefault(label.strip(), []).append((time.perf_counter() - start, report["accuracies"]))
        finally:
            R.restart = keep
    (a, accs_a), (b, accs_b) = (min(timings[k]) for k in ("anew", "reused"))
    print(f"replay() of {name} in one process, 3 runs: every run built and traced {a:.1f} s, later runs on the "
          f"first run's graph {b:.1f} s (x{a / b:.2f}; best of 2 each, interleaved); the same accuracies: "
          f"{accs_a == accs_b} ({_load()})", flush=True)


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
    print(f"replay of the solution's recipe, the clean room started for it: {replay_s:.1f} s wall, of which training "
          f"{report['seconds']:.1f} s ({len(report['accuracies'])} runs of {report['examples_seen']:,} examples, "
          f"{report['steps']:,} steps); test accuracy {report['accuracy']:.4f} {report['accuracies']} -> "
          f"{m09.points_for(report['accuracy']):g} points ({_load()})", flush=True)
    for name in ("solution", "defaults"):
        replay_ahead(name)
        reuse_ratio(name)
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
    parser.add_argument("--only", help="with --scale: measure only these rows (comma-separated), keep the others")
    parser.add_argument("--probes", help="JSON lines of regimes probed before ({n, budget, recipe, test, mean, spread})")
    parser.add_argument("--probe", help="probe another regime with the recipes of --only (RECIPES or PROBE_RECIPES): "
                                        "n_train=2000,noise=0.3,budget=40000[,depth=20,width=100]; the rows are "
                                        "added to the record's probes and the BENCHMARKS block is written again")
    args = parser.parse_args(argv)
    probes = [json.loads(line) for line in open(args.probes)] if args.probes else None
    if args.probe:
        regime_ = dict(item.split("=") for item in args.probe.split(","))
        record = json.load(open(SCALE_JSON))
        probes = record.get("probes", [])
        for row in probe(regime_, (args.only or "defaults").split(",")):
            row.pop("seconds")      # the load's, not the regime's
            same = [i for i, p in enumerate(probes) if _probe_regime(p) == _probe_regime(row)]
            again = [i for i in same if probes[i]["recipe"] == row["recipe"]]
            if again:       # measured again: in its place
                probes[again[0]] = row
            else:           # after the rows of its regime
                probes.insert(same[-1] + 1 if same else len(probes), row)
        write({row["name"]: row["accuracies"] for row in record["rows"]}, record["note"], probes)
    elif args.record:
        found = {}
        for line in open(args.record):
            r = json.loads(line)
            found.setdefault(r["recipe"], {})[r["seed"]] = r["test"]
        results = {name: [found[name].get(s) for s in (0, 1, 2)] for name in RECIPES if name in found}
        for row in write(results, args.note, probes):
            print(row["name"], row["accuracies"], f"{row['mean']:.4f}", row["points"])
    elif args.scale and args.only:      # measure these rows again, keep the others from the record
        kept = {row["name"]: row["accuracies"] for row in json.load(open(SCALE_JSON))["rows"]}
        kept.update(sweep(args.only.split(",")))
        write({name: kept[name] for name in RECIPES if name in kept}, args.note or f"Measured with {_load()}.", probes)
    elif args.scale:
        write(sweep(), args.note or f"Measured with {_load()}.", probes)
    else:
        grading_cost()


if __name__ == "__main__":
    main()
