"""The judged inputs of module 09 (capstone); see autograder/cases/__init__.py."""
import numpy as np

from . import call, case_rng, cases, encode, exercise, trajectory_runner


def _capstone_runner(fn, functions):
    """One case: build_and_train on the capstone's data with a recording budget. The record's "out"
    is the recipe as a JSON string (the grader checks it and trains it again; see
    deeptrain.capstone_recipe), or "error" says why there is none."""
    import json
    from deeptrain import capstone
    record, recipe = call(lambda: json.dumps(capstone.record(fn)))
    if record["error"] is None:   # whole: encode() would cut a string at 2,000 characters
        record["out"] = {"str_full": recipe, "type": "recipe"}
    return {"the capstone's data, recording budget": record}


exercise("09.capstone", build_and_train=_capstone_runner)
