"""The judgement of a test cell as data: an output of mimetype ``application/vnd.deeptrain.judgement+json``.

JudgeResults (autograder/preprocessors.py) adds it to each judged test cell, beside the
``execute_result`` holding the points (which alone decides nbgrader's grade: ``determine_grade``
reads no ``display_data``); the class report and the exports read it back with ``read`` instead
of parsing the printed messages. Contract (/tmp/coord/README.md)::

    {"exercise", "cell", "score", "max_score",
     "functions": {fn: {"status", "score", "max_score"}},
     "failures": [{"function", "check", "points", "message", "detail", "counted": bool}],
     "flagged": [str], "review": [str]}

status: passed, partial, wrong, not attempted (NotImplementedError on every case), crashed (another
error on every case), delegated, missing (no results reached the grader).
"""
import json

MIME = "application/vnd.deeptrain.judgement+json"


def as_data(judgement, verdict):
    """Judgement.as_data(verdict) when the verdicts provide it, else the same computed here."""
    if hasattr(judgement, "as_data"):
        return judgement.as_data(verdict)
    status = getattr(judgement, "status", {}) or {}
    raised = getattr(judgement, "raised_everywhere", {}) or {}
    points, lost = verdict.function_points(), {}
    for check, _ in judgement.failures:
        lost[check.function] = lost.get(check.function, 0) + check.points
    functions = {}
    for fn in verdict.functions:
        mx = round(points.get(fn, 0), 6)
        score = round(max(0.0, mx - lost.get(fn, 0)), 6)
        st = status.get(fn)
        if st is None and fn in raised:
            st = "not attempted" if "NotImplementedError" in str(raised[fn]) else "crashed"
        functions[fn] = {"status": st or ("passed" if score >= mx else "wrong" if score <= 0 else "partial"),
                         "score": score, "max_score": mx}
    failures = [{"function": c.function, "check": c.name, "points": c.points, "message": c.message,
                 "detail": d or "", "counted": not str(d or "").startswith("not counted")}
                for c, d in judgement.failures]
    return {"exercise": verdict.exercise, "cell": verdict.cell, "score": judgement.score,
            "max_score": judgement.max_score, "functions": functions, "failures": failures,
            "flagged": list(judgement.flagged), "review": list(getattr(judgement, "review", []))}


def output(data):
    """The display_data output carrying data (an nbformat node)."""
    from nbformat.notebooknode import from_dict
    data = json.loads(json.dumps(data, default=str))    # plain JSON (numpy numbers, any odd value)
    return from_dict({"output_type": "display_data", "metadata": {}, "data": {MIME: data}})


def read(cell):
    """The judgement data of a test cell (a dict), or None when it has none."""
    for o in cell.get("outputs", []):
        if o.get("output_type") == "display_data" and MIME in o.get("data", {}):
            data = o["data"][MIME]
            try:
                return json.loads(data) if isinstance(data, str) else dict(data)
            except (ValueError, TypeError):
                return None
    return None
