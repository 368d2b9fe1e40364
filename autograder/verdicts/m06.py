"""Verdicts of 06_transfer_learning: split_task_a_b, build_model_b_on_a, unfreeze_top."""
import numpy as np

from deeptrain import harvest, reference
from autograder.cases import m06 as harvest_cases

from . import Check, Verdict, matches, unchanged_inputs

DOC = "the docstring example y = [9, 6, 5, 3]"


def _y_types(got, want):
    """y_A is an integer array, y_B float32 (the docstring)."""
    for case, rec in got.items():
        if rec.get("error"):
            continue
        try:
            (_, ya), (_, yb) = rec["out"]["list"][0]["list"], rec["out"]["list"][1]["list"]
        except (KeyError, TypeError, ValueError, IndexError):
            yield f"case {case}: return ((X_A, y_A), (X_B, y_B))"
            return
        if not str(ya.get("dtype", "")).startswith(("int", "uint")):
            yield f"case {case}: y_A has dtype {ya.get('dtype')}, expected an integer dtype"
            return
        if yb.get("dtype") != "float32":
            yield f"case {case}: y_B has dtype {yb.get('dtype')}, expected float32"
            return
    if all(r.get("error") for r in got.values()):
        yield "every case raised"


def _split_variant(shift=True, shirt=1.0):
    """split_task_a_b with one named fault: task A's labels not shifted, or the shirt labelled 0."""
    def split(X, y):
        X, y = np.asarray(X), np.asarray(y)
        a, b = ~np.isin(y, (5, 6)), np.isin(y, (5, 6))
        y_a = np.where(y[a] > 6, y[a] - 2, y[a]) if shift else y[a].copy()
        y_b = np.where(y[b] == 6, shirt, 1.0 - shirt).astype(np.float32)
        return (X[a], y_a.astype(np.int64)), (X[b], y_b)
    return split


split = Verdict(
    exercise="06.split_task_a_b", cell="test_split_task_a_b",
    reference={"split_task_a_b": reference.split_task_a_b},
    forbidden={"split_task_a_b": set()},
    checks=[
        Check("split_task_a_b", 0.5, "task A relabels 0..4 unchanged and 7, 8, 9 -> 5, 6, 7; task B is 1.0 for a "
              "shirt (6) and 0.0 for a sandal (5)", matches([DOC], rtol=0, part=lambda v: [v[0][1], v[1][1]],
                                                             label="(y_A, y_B)"), "labels",
              variant=(_split_variant(shift=False), _split_variant(shirt=0.0))),
        Check("split_task_a_b", 1.0, "rows of classes 5 and 6 go to task B, the others to task A, each in their "
              "original order", matches(rtol=0), "values"),
        Check("split_task_a_b", 0.25, "y_A is an integer array and y_B float32", _y_types, "dtype"),
        Check("split_task_a_b", 0.25, "X and y must be left unchanged", unchanged_inputs(names={0: "X", 1: "y"}),
              "unchanged"),
    ])

VERDICTS = [split]


# --- build_model_b_on_a: judged from model A's description, which the grader rebuilds ------------


def _b_report(fn_check):
    def test(got, want):
        if not got:
            yield "no model was returned"
            return
        for label, description in harvest_cases._model_a_cases():
            rec = got.get(label, {})
            if rec.get("error"):
                yield f"case {label}: raised {rec['error']}"
                return
            try:
                report = harvest.decode(rec["out"])
            except Exception:
                yield f"case {label}: not a Keras model"
                return
            problem = fn_check(report, description)
            if problem:
                yield f"case {label}: {problem}"
                return
    return test


def _structure(report, description):
    kinds = [(l["class"], l["units"]) for l in report["layers"]]
    want = [("Dense", W.shape[1]) for W, b, act in description["layers"][:-1]] + [("Dense", 1)]
    if kinds != want or report["layers"][-1]["activation"] != "sigmoid" or report["output_shape"][-1:] != [1]:
        return (f"layers {kinds} (output activation {report['layers'][-1]['activation'] if report['layers'] else None}); "
                f"expected {want} with a sigmoid output of shape (None, 1)")


def _weights(report, description):
    for i, (W, b, act) in enumerate(description["layers"][:-1]):
        w = report["layers"][i]["weights"]
        if len(w) != 2 or not (np.allclose(w[0], W.astype("float32"), rtol=1e-6) and
                               np.allclose(w[1], b.astype("float32"), rtol=1e-6)):
            return f"layer {i} does not hold a copy of model A's weights"


def _frozen(report, description):
    flags = [l["trainable"] for l in report["layers"]]
    if flags != [False] * (len(flags) - 1) + [True]:
        return f"trainable flags {flags}: the reused layers frozen, the new output layer trainable"


def _a_untouched(report, description):
    want = [x for W, b, act in description["layers"] for x in (W.astype("float32"), b.astype("float32"))]
    for key, when in (("a_after", "after the call"), ("a_after_b_changed", "after B's weights were changed")):
        got = report[key]
        if len(got) != len(want) or not all(np.allclose(g, w, rtol=1e-6) for g, w in zip(got, want)):
            return (f"model A's weights changed {when}: clone A's layers (keras.models.clone_model) and copy "
                    "the weights; never reuse A's layers or variables")
    if report.get("same_object"):
        return "the model returned is model A itself"


b_on_a = Verdict(
    exercise="06.build_model_b_on_a", cell="test_build_model_b_on_a",
    reference={"build_model_b_on_a": lambda model_a: None, "_grader_model_builder": object()},
    forbidden={"build_model_b_on_a": set()},
    checks=[
        Check("build_model_b_on_a", 0.75, "model A must not change and must share no variable with B",
              _b_report(_a_untouched), "independent"),
        Check("build_model_b_on_a", 0.75, "B's layers are copies of A's layers but the last, then a new "
              "Dense(1, activation='sigmoid')", _b_report(_structure), "structure"),
        Check("build_model_b_on_a", 0.75, "the copied layers hold copies of A's weights (model.set_weights or "
              "layer.set_weights after cloning)", _b_report(_weights), "weights"),
        Check("build_model_b_on_a", 0.75, "freeze the reused layers (trainable = False); the new output layer stays "
              "trainable", _b_report(_frozen), "frozen"),
    ])


def _unfreeze_reference(model, n_layers):
    with_weights = [layer for layer in model.layers[:-1] if layer.weights]
    for layer in with_weights[::-1][:n_layers]:
        layer.trainable = True
    return model


def _unfreeze_counting_all(model, n_layers):
    """The named fault: layers without weights are counted too."""
    for layer in model.layers[:-1][::-1][:n_layers]:
        layer.trainable = True
    return model


def _flags_match(labels):
    def test(got, want):
        for label in labels:
            rec = got.get(label, {})
            if rec.get("error"):
                yield f"case {label}: raised {rec['error']}"
                return
            g, w = harvest.decode(rec["out"]), harvest.decode(want[label]["out"])
            if not isinstance(g, dict) or g.get("flags") != w["flags"]:
                yield f"case {label}: trainable flags {g.get('flags') if isinstance(g, dict) else g}, expected {w['flags']}"
                return
    return test


def _returns_model(got, want):
    ok = [c for c, r in got.items() if not r.get("error")]
    if not ok:
        yield "every case raised"
    for c in ok:
        if not harvest.decode(got[c]["out"]).get("returned_model"):
            yield f"case {c}: return the model you were given (it is changed in place)"
            return


U = [label for label, _, _ in harvest_cases.UNFREEZE]
unfreeze = Verdict(
    exercise="06.unfreeze_top", cell="test_unfreeze_top",
    reference={"unfreeze_top": _unfreeze_reference, "_grader_model_builder": object()},
    forbidden={"unfreeze_top": set()},
    checks=[
        Check("unfreeze_top", 0.75, "make the top n_layers layers just below the output trainable, counting only "
              "layers that have weights", _flags_match(U[:3]), "top", variant=_unfreeze_counting_all),
        Check("unfreeze_top", 0.75, "0 changes nothing, a number larger than the count unfreezes them all, and the other "
              "layers keep their trainable flag", _flags_match(U[3:]), "edges"),
        Check("unfreeze_top", 0.5, "return the model you were given", _returns_model, "returns_model", rule=True),
    ])

VERDICTS = VERDICTS + [b_on_a, unfreeze]
