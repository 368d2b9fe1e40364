"""Verdicts of 05_gradient_clipping: clip_by_value, clip_by_norm, clip_by_global_norm, train_step_with_clipping."""
import numpy as np

from deeptrain import harvest, reference
from autograder.cases import m05 as harvest_cases

from . import Check, Verdict, matches, returns_type, unchanged_inputs
from .models import numpy_builder

CLIP_LIBRARY = {"clip_by_value", "clip_by_norm", "clip_by_global_norm", "global_norm", "ClipByValue",
                "clip", "clipnorm", "clipvalue", "global_clipnorm"}
BOOK = "the book's example [0.9, 100.0], c = 1"

by_value = Verdict(
    exercise="05.clip_by_value", cell="test_clip_by_value",
    reference={"clip_by_value": reference.clip_by_value},
    forbidden={"clip_by_value": CLIP_LIBRARY - {"clip"}},
    checks=[
        Check("clip_by_value", 0.5, "clip each component into [-c, c] (the book: [0.9, 100.0] gives [0.9, 1.0]), "
              "not the norm of the array", matches([BOOK], rtol=1e-12), "book",
              variant=lambda grads, clip_value: [reference.clip_by_norm(g, clip_value) for g in grads]),
        Check("clip_by_value", 1.0, "every component of every gradient must be clipped into [-c, c], "
              "one array per input, same shapes", matches(rtol=1e-12), "values"),
        Check("clip_by_value", 0.5, "return a new list: the gradients you receive must not change",
              unchanged_inputs(names={0: "grads"}), "unchanged"),
    ])

ZERO = "a gradient of all zeros"
INSIDE = "a gradient already inside the ball (norm 0.5, c = 1)"
by_norm = Verdict(
    exercise="05.clip_by_norm", cell="test_clip_by_norm",
    reference={"clip_by_norm": reference.clip_by_norm},
    forbidden={"clip_by_norm": CLIP_LIBRARY},
    checks=[
        Check("clip_by_norm", 0.5, "a gradient of all zeros must stay all zeros (no division by zero, no nan): "
              "divide by max(||g||, c), not by ||g||", matches([ZERO], rtol=1e-12), "zero"),
        Check("clip_by_norm", 0.5, "a gradient whose norm is at most c must come back unchanged",
              matches([INSIDE], rtol=1e-12), "inside"),
        Check("clip_by_norm", 1.0, "rescale by c / max(||g||_2, c), the norm over ALL entries of the array "
              "(the book: [0.9, 100.0] gives [0.00899964, 0.9999595])", matches(lambda c: c not in (ZERO, INSIDE), rtol=1e-9),
              "values"),
    ])

ZEROS = "gradients of all zeros"
by_global = Verdict(
    exercise="05.clip_by_global_norm", cell="test_clip_by_global_norm",
    reference={"clip_by_global_norm": reference.clip_by_global_norm},
    forbidden={"clip_by_global_norm": CLIP_LIBRARY},
    checks=[
        Check("clip_by_global_norm", 1.0, "G is the global norm BEFORE clipping: sqrt of the sum of the squared "
              "entries of all gradients", matches(lambda c: c != ZEROS, rtol=1e-9, part=lambda v: v[1], label="G"), "G"),
        Check("clip_by_global_norm", 1.0, "scale every gradient by the same factor c / max(G, c)",
              matches(lambda c: c != ZEROS, rtol=1e-9, part=lambda v: v[0], label="clipped"), "clipped"),
        Check("clip_by_global_norm", 0.5, "gradients of all zeros must stay zeros, with G = 0 (no nan)",
              matches([ZEROS], rtol=1e-12), "zeros"),
        Check("clip_by_global_norm", 0.5, "return (clipped, G) with G a float, and leave the gradients you receive unchanged",
              lambda g, w: list(unchanged_inputs(names={0: "grads"})(g, w)) or [
                  d for d in _g_is_float(g, w)], "float"),
    ])


def _g_is_float(got, want):
    for case, rec in got.items():
        enc = rec.get("out")
        if rec.get("error") or not isinstance(enc, dict) or "list" not in enc or len(enc["list"]) != 2:
            yield f"case {case}: did not return a pair (clipped, G)"
            return
        g = enc["list"][1]
        if not isinstance(g, dict) or g.get("type") not in ("float", "float64") or g.get("shape") != []:
            yield f"case {case}: G is a {g.get('type') if isinstance(g, dict) else type(g).__name__}, expected a float"
            return


VERDICTS = [by_value, by_norm, by_global]


def _train_step_reference(model, optimizer, loss_fn, X, y, clipnorm):
    """G for the grader: the global norm of the kernels' gradients (the models have no biases)."""
    return float(np.linalg.norm(reference.layer_gradient_norms(model, X, y, loss_fn)))


def _update_sizes(got, want):
    """Test: each layer moved by lr * min(1, c / G) * ||its gradient||: the SGD step on clipped gradients."""
    for label, description, X, y, loss, lr, clipnorm in harvest_cases._train_step_cases():
        rec = got.get(label, {})
        if rec.get("error"):
            yield f"case {label}: raised {rec['error']}"
            return
        try:
            after = harvest.decode(rec.get("weights_after"))
            before = [W for W, b, act in description["layers"]]
            moved = [float(np.linalg.norm(np.asarray(a) - b)) for a, b in zip(after, before)]
        except Exception:
            yield f"case {label}: the model's weights could not be read after the step"
            return
        model, loss_fn = numpy_builder(description, loss)
        norms = reference.layer_gradient_norms(model, X, y, loss_fn)
        G = float(np.linalg.norm(norms))
        expected = lr * min(1.0, clipnorm / G) * norms
        if len(moved) != len(expected) or not np.allclose(moved, expected, rtol=1e-5, atol=1e-12):
            yield (f"case {label}: the layers moved by {np.round(moved, 8).tolist()}, expected "
                   f"{np.round(expected, 8).tolist()} (learning rate {lr} x min(1, {clipnorm} / G = {G:.6g}) x "
                   "each gradient's norm)")
            return


train_step = Verdict(
    exercise="05.train_step_with_clipping", cell="test_train_step_with_clipping",
    reference={"train_step_with_clipping": _train_step_reference, "_grader_model_builder": numpy_builder},
    forbidden={"train_step_with_clipping": {"clipnorm", "global_clipnorm", "clip_by_global_norm", "clip_by_norm",
                                            "train_step_with_clipping"}},
    checks=[
        Check("train_step_with_clipping", 1.25, "return the global norm G of ALL the gradients BEFORE clipping: "
              "sqrt of the sum of their squared entries", matches(rtol=1e-6), "G"),
        Check("train_step_with_clipping", 1.25, "apply the gradients scaled by one factor clipnorm / max(G, clipnorm) "
              "with optimizer.apply_gradients (one step)", _update_sizes, "update"),
        Check("train_step_with_clipping", 0.5, "return G as a Python float", returns_type(("float", "float64")), "float"),
    ])

VERDICTS = VERDICTS + [train_step]
