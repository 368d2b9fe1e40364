"""A finished job's result, merged here: files swapped in, grades into the gradebook, an Outcome.

``apply_result(out, result, ctx)`` turns what a worker sent back (autograder/engine.py,
autograder/task.py) into the Outcome of that (student, module): failed with the reason, or
graded/flagged with the autograded points, the feedback file and the notes the execution left
(kernel events, ``[grader]`` lines asking for a human look).
"""
import os
import re
import shutil
import uuid
from dataclasses import dataclass

import nbformat

from .gradebook import merge_into

MARK = "[grader]"


@dataclass
class MergeContext:
    grading: str          # the grading folder
    scratch: str          # where new folders are built before they are swapped in
    gradebook: object     # an open nbgrader Gradebook
    nb_limit: float       # the wall-clock limit of one notebook (seconds)


KERNEL_EVENTS = ("CellTimeout", "KernelDied", "KernelExited", "MemoryLimit", "CPULimit", "NotebookTimeout", "NotRun")
_KERNEL_EVENT = re.compile(r"^(%s): (.+)$" % "|".join(KERNEL_EVENTS))


def _runtime_notes(autograded_path):
    """[grader] notes the execution left in the autograded notebook, and kernel events."""
    notes, review = [], []
    try:
        nb = nbformat.read(autograded_path, as_version=4)
    except Exception:
        return notes, review
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id") if "nbgrader" in cell.metadata else None
        where = f"cell {gid}" if gid else "a cell"
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) if isinstance(out.get("text"), list) else str(out.get("text", ""))
            if out.get("output_type") == "stream" and text.startswith(MARK):
                review.append(f"{where}: {text[len(MARK):].strip()}")
            elif out.get("output_type") == "stream":
                # A kernel event a test cell reports as its code's output (autograder/verdicts).
                for line in text.splitlines():
                    m = _KERNEL_EVENT.match(line)
                    if m and f"{where}: {m.group(2)}" not in notes:
                        notes.append(f"{where}: {m.group(2)}")
            if out.get("output_type") == "error" and out.get("ename") in KERNEL_EVENTS:
                if f"{where}: {out['evalue']}" not in notes:
                    notes.append(f"{where}: {out['evalue']}")
    return notes, review


def _swap_in(files, dest, scratch):
    """Replace folder dest by one holding files ({relative path: bytes}), without a moment where
    dest holds a mix of old and new files."""
    new = os.path.join(scratch, uuid.uuid4().hex)
    for rel, data in files.items():
        p = os.path.join(new, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    old = os.path.join(scratch, uuid.uuid4().hex)
    if os.path.isdir(dest):
        os.replace(dest, old)
    if files:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(new, ignore_errors=True)



def _failed(out, result, ctx):
    out.status = "failed"
    if result.get("wall_clock_exceeded"):
        out.message = f"stopped after {ctx.nb_limit} s (wall-clock limit of a notebook): grade by hand"
    else:
        err = (result.get("error") or "").strip().splitlines()
        out.message = ("" if result.get("worker_died") or "cluster" in (err or [""])[0]
                       else "nbgrader could not grade it: ") + (err[-1] if err else "unknown error")
        if result.get("log") or result.get("error"):   # nbgrader's own account, for the instructor
            log_path = os.path.join(ctx.grading, "logs", out.student, f"{out.assignment}.log")
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
            with open(log_path, "w", encoding="utf-8") as f:
                f.write((result.get("error") or "") + "\n" + (result.get("log") or ""))
            out.message += f" (log: {os.path.relpath(log_path, ctx.grading)})"
    out.review.append(out.message)


def _graded(out, result, ctx):
    student, name = out.student, out.assignment
    for sub in ("autograded", "feedback"):
        _swap_in(result.get("files", {}).get(sub, {}), os.path.join(ctx.grading, sub, student, name), ctx.scratch)
    merge_into(ctx.gradebook, result)
    out.cells = result.get("grades", [])
    code = [g for g in out.cells if g["cell_type"] == "code"]
    out.score = float(sum((g["manual_score"] if g["manual_score"] is not None else g["auto_score"]) or 0
                          for g in code))
    out.max_score = float(sum(g["max_score"] for g in code))
    out.manual_max = float(sum(g["max_score"] for g in out.cells if g["cell_type"] != "code"))
    html = os.path.join(ctx.grading, "feedback", student, name, f"{name}.html")
    out.feedback = html if result.get("feedback") and os.path.exists(html) else ""
    notes, review = _runtime_notes(os.path.join(ctx.grading, "autograded", student, name, f"{name}.ipynb"))
    out.notes += notes
    out.review += review
    out.status = "flagged" if out.review else "graded"
    out.message = "; ".join(out.review[:1] + out.notes[:2])


def apply_result(out, result, ctx):
    """Fill the Outcome out from one job's result (merging its files and grades here)."""
    out.seconds = float(result.get("seconds") or 0.0)
    out.worker = result.get("worker", "")
    if result.get("wall_clock_exceeded") or not result.get("success"):
        _failed(out, result, ctx)
    else:
        _graded(out, result, ctx)
    return out
