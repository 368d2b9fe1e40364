"""The class report after a grading run, and the grades in an LMS's import layout.

``class_report(report, names, grading)`` writes ``GRADING/report.html`` (one self-contained page:
figures embedded, also saved as PNG in ``GRADING/report/``) and returns its path; it prints a
short text summary too. It shows, for each module:

- the **score distribution** of the graded notebooks (a histogram; missing and failed work is
  counted apart, never as zeros);
- the **pass rate of every graded test cell** (full marks, partial, none), the **status of every
  graded function** (passed, partial, wrong, not attempted, crashed, delegated, missing) and the
  pass rate of every **check** (one thing a test cell verifies). Read from the judgement each
  test cell carries as data (mimetype ``application/vnd.deeptrain.judgement+json``,
  autograder/judgement.py); for a cell without it (a notebook graded before), from its text:
  explicit ``PASS name`` / ``FAIL name: why`` lines or an error message (``name: what went
  wrong``); a check counts as passed in a test cell with full marks;
- the **most frequent failure messages**, each counted once per student and check, grouped after
  numbers are blanked out (``got 0.731`` and ``got 0.5`` are one message), with an example and the
  students who got them; a check that was not counted (it could not be judged) is no failure;
- the **flagged, failed and missing** work with the reasons.

Only the modules somebody submitted are shown. The grades files are autograder/export.py's.
"""
import base64
import collections
import html
import os
import re
import statistics

import nbformat

from .judgement import read as read_judgement

GRADED = ("graded", "flagged")
_PASS = re.compile(r"^\s*(?:\[?(PASS(?:ED)?|OK|ok|✓|✔)\]?)[\s:\-]+(?P<name>.+?)\s*$")
_FAIL = re.compile(r"^\s*(?:\[?(FAIL(?:ED)?|✗|✘)\]?)[\s:\-]+(?P<name>.+?)\s*$")
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


# --- reading the autograded notebooks ---------------------------------------------------------

def _text(out):
    t = out.get("text", "")
    return "".join(t) if isinstance(t, list) else str(t)


def _error_message(out):
    """'Name: first line of the message' of an error output (tracebacks left out)."""
    value = str(out.get("evalue", "")).strip().splitlines()
    if not value and out.get("ename") == "NotImplementedError":
        value = ["not answered (the exercise still raises NotImplementedError)"]
    return f"{out.get('ename', 'Error')}: {value[0] if value else ''}".strip()


def cell_results(path):
    """{test cell id: {"errors": [messages], "pass": [check names], "fail": [(check, message)],
    "verdict": bool, "judgement": dict or None}} of the graded test cells of an autograded
    notebook ({} when unreadable).

    A judged cell's failures come from its judgement data (``verdict`` True: every check not
    listed as a counted failure passed); other cells are read from explicit PASS/FAIL lines and
    error outputs."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return {}
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        res = out[meta.get("grade_id")] = {"errors": [], "pass": [], "fail": [], "verdict": False,
                                           "judgement": read_judgement(cell)}
        if res["judgement"] is not None:
            res["verdict"] = True
            res["fail"] = _judged_failures(res["judgement"])
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                res["errors"].append(_error_message(o))
            elif o.get("output_type") == "stream":
                text = _text(o)
                if text.startswith("Output of the code in this cell (not graded)"):
                    continue
                for line in text.splitlines():
                    m = _PASS.match(line)
                    if m:
                        res["pass"].append(m.group("name"))
                        continue
                    m = _FAIL.match(line)
                    if m:
                        name, _, why = m.group("name").partition(": ")
                        res["fail"].append((name, why or name))
    return out


WHOLE = ("not attempted", "crashed", "missing", "delegated")   # a function that lost all its points at once


def _judged_failures(data):
    """[(check, message)] of a judgement: each counted failure; a function not attempted, crashed,
    delegated or without results is one failure of its own (its checks could not pass)."""
    out, said = [], set()
    functions = data.get("functions", {})
    for f in data.get("failures", []):
        fn = f.get("function", "")
        status = functions.get(fn, {}).get("status")
        if status in WHOLE:
            if fn not in said:
                said.add(fn)
                out.append((f"{fn}: {status}", f.get("detail") or status))
        elif f.get("counted", True):
            out.append((f"{fn}: {f['message']}", f.get("detail") or f["message"]))
    return out


def _check_name(message):
    """The check a failure message names: 'AssertionError: sigmoid([-2, 0, 2]): expected ...' ->
    'sigmoid([-2, 0, 2])'; '' when the message names none."""
    _, _, rest = message.partition(": ")
    name, sep, _ = rest.partition(": ")
    return name.strip() if sep and len(name) < 120 else ""


def pattern(message):
    """A message with its numbers blanked: messages that differ only in values group together."""
    return _NUM.sub("#", message)[:300]


# --- statistics -------------------------------------------------------------------------------

def _new_stats(report, name):
    return {"scores": [], "max": report.maxima.get(name, 0.0), "cells": {}, "checks": {},
            "functions": {},   # (cell, function) -> Counter of statuses
            "messages": collections.defaultdict(lambda: {"count": 0, "students": [], "example": "", "cell": ""}),
            "status": collections.Counter()}


def _failures(res):
    """{check: message} of one test cell of one student: each check once."""
    failed = {}
    for check, why in res["fail"]:
        failed.setdefault(check, check if check.endswith(why) else f"{check}: {why}")
    for msg in res["errors"]:
        failed.setdefault(_check_name(msg) or msg, msg)
    return failed


def _count_cell(s, o, g, res, seen):
    c = s["cells"].setdefault(g["cell"], {"points": g["max_score"], "full": 0, "partial": 0, "none": 0})
    score = (g["auto_score"] if g.get("manual_score") is None else g["manual_score"]) or 0.0
    c["full" if score >= g["max_score"] else "partial" if score > 0 else "none"] += 1
    data = res.get("judgement") or {}
    for fn, f in data.get("functions", {}).items():
        s["functions"].setdefault((g["cell"], fn), collections.Counter())[f.get("status", "?")] += 1
    failed = _failures(res)
    for msg in failed.values():          # one count per student and check
        m = s["messages"][(g["cell"], pattern(msg))]
        if o.student not in m["students"]:
            m["count"] += 1
            m["students"].append(o.student)
        m["example"], m["cell"] = m["example"] or msg, g["cell"]
    whole = {fn for fn, f in data.get("functions", {}).items() if f.get("status") in WHOLE}
    seen.append((score >= g["max_score"], res["verdict"], failed, res["pass"], whole))


def module_stats(report, names, grading):
    """Per module: scores of graded work, per-cell, per-function and per-check counts, failure messages."""
    stats = {name: _new_stats(report, name) for name in names}
    seen = collections.defaultdict(list)   # (module, cell) -> [(full marks?, verdict?, {check: msg}, passed, whole)]
    empty = {"errors": [], "pass": [], "fail": [], "verdict": False, "judgement": None}
    for o in report.outcomes:
        s = stats.get(o.assignment)
        if s is None:
            continue
        s["status"][o.status] += 1
        if o.status not in GRADED:
            continue
        s["scores"].append(o.score)
        s["max"] = o.max_score or s["max"]
        results = cell_results(os.path.join(grading, "autograded", o.student, o.assignment, f"{o.assignment}.ipynb"))
        for g in o.cells:
            if g.get("cell_type") == "code" and g.get("max_score"):
                _count_cell(s, o, g, results.get(g["cell"], empty), seen[(o.assignment, g["cell"])])
    for (name, cell), rows in seen.items():
        checks = stats[name]["checks"].setdefault(cell, {})
        known = {k for _, _, failed, passed, _ in rows for k in list(failed) + list(passed)}
        for check in known:
            c = checks[check] = {"pass": 0, "fail": 0}
            for full, verdict, failed, passed, whole in rows:
                if check in failed:
                    c["fail"] += 1
                elif check.split(":")[0] in whole:
                    continue        # its function was not attempted (or crashed): this check was not judged
                elif check in passed or verdict or full:
                    c["pass"] += 1
    return stats


# --- figures ------------------------------------------------------------------------------

def histograms(stats, names, path):
    """One histogram of scores per module on one figure, saved as PNG at path; returns path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = min(4, max(1, len(names)))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        s = stats[name]
        top = s["max"] or 1.0
        bins = [top * i / 10 for i in range(11)]
        ax.hist(s["scores"], bins=bins, color="#4472c4", edgecolor="white")
        ax.set_title(f"{name}\n{len(s['scores'])} graded, max {top:g}", fontsize=9)
        ax.set_xlabel("autograded score (points)", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.set_xlim(0, top)
        ax.tick_params(labelsize=7)
        if s["scores"]:
            med = statistics.median(s["scores"])
            ax.axvline(med, color="#c00000", linestyle="--", linewidth=1, label=f"median {med:g}")
            ax.legend(fontsize=7, loc="upper left")
        ax.yaxis.get_major_locator().set_params(integer=True)
    fig.suptitle("Score distribution per module" + ("\n" if cols < 3 else " ") + "(graded and flagged notebooks)",
                 fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pass_rate_figure(stats, names, path):
    """Horizontal bars: the share of graded students with full marks on each test cell."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels, rates = [], []
    for name in names:
        for cell, c in stats[name]["cells"].items():
            n = c["full"] + c["partial"] + c["none"]
            if n:
                labels.append(f"{name[:2]} {cell}")
                rates.append(100.0 * c["full"] / n)
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * max(4, len(labels)) + 1.0))
    ax.barh(range(len(labels)), rates, color=["#c00000" if r < 50 else "#4472c4" for r in rates])
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("graded students with full marks on the test cell (%)")
    ax.set_title("Pass rate of every graded test cell (red: below 50%)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _img(path):
    if not path:
        return "<p>(nothing was submitted)</p>"
    with open(path, "rb") as f:
        return f'<img alt="{html.escape(os.path.basename(path))}" src="data:image/png;base64,' \
               f'{base64.b64encode(f.read()).decode()}">'


# --- the page -----------------------------------------------------------------------------

def _table(header, rows):
    e = html.escape
    out = ["<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>")
    return "\n".join(out + ["</table>"])


def _students(students, limit=30):
    s = sorted(set(students))
    return ", ".join(s[:limit]) + (f" and {len(s) - limit} more" if len(s) > limit else "")


def top_messages(stats, name, n=10):
    msgs = sorted(stats[name]["messages"].values(), key=lambda m: (-m["count"], m["example"]))
    return msgs[:n]


STATUS_ORDER = ("passed", "partial", "wrong", "not attempted", "crashed", "delegated", "missing")


def _module_section(s, name):
    e = html.escape
    parts = [f"<h3>{e(name)}</h3>"]
    rows = []
    for cell, c in s["cells"].items():
        n = c["full"] + c["partial"] + c["none"]
        rows.append([cell, f"{c['points']:g}", n, f"{100 * c['full'] / n:.0f}%" if n else "-", c["partial"], c["none"]])
    parts.append("<p>Test cells (graded functions):</p>" +
                 _table(["test cell", "points", "graded", "full marks", "partial", "zero"], rows))
    if s["functions"]:
        frows = [[cell, fn] + [counts.get(st, 0) or "" for st in STATUS_ORDER]
                 for (cell, fn), counts in s["functions"].items()]
        parts.append("<p>Graded functions: <i>not attempted</i> raised NotImplementedError on every case (the "
                     "stub), <i>crashed</i> raised another error on every case, <i>wrong</i> returned values none "
                     "of which is right:</p>" + _table(["test cell", "function", *STATUS_ORDER], frows))
    crow = []
    for cell, checks in s["checks"].items():
        for check, c in sorted(checks.items(), key=lambda kv: -kv[1]["fail"]):
            n = c["pass"] + c["fail"]
            crow.append([cell, check, n, f"{100 * c['pass'] / n:.0f}%" if n else "-", c["fail"]])
    if crow:
        parts.append("<p>Checks (a check not counted because it could not be judged is no failure):</p>" +
                     _table(["test cell", "check", "seen", "pass rate", "failed"], crow))
    msgs = top_messages({name: s}, name)
    if msgs:
        parts.append("<p>Most frequent failure messages (each counted once per student and check; numbers "
                     "blanked to group them):</p>" +
                     _table(["students", "test cell", "message (example)", "who"],
                            [[m["count"], m["cell"], m["example"][:300], _students(m["students"])] for m in msgs]))
    return parts


def class_report(report, names, grading, log=print):
    """Write GRADING/report.html (and its figures in GRADING/report/), print a summary; returns the path.
    Only the modules of names that somebody submitted are shown."""
    names = [n for n in names if any(o.assignment == n and o.status != "missing" for o in report.outcomes)]
    stats = module_stats(report, names, grading)
    fig_dir = os.path.join(grading, "report")
    hist = histograms(stats, names, os.path.join(fig_dir, "scores.png")) if names else None
    rates = pass_rate_figure(stats, names, os.path.join(fig_dir, "pass_rates.png")) if names else None
    students = sorted({o.student for o in report.outcomes})
    e = html.escape

    def count(status):
        return sum(o.status == status and o.assignment in names for o in report.outcomes)
    parts = [f"""<!doctype html><html><head><meta charset="utf-8"><title>Class report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left;vertical-align:top}}th{{background:#eee}}img{{max-width:100%}}
.low{{color:#c00000;font-weight:bold}}</style></head><body>
<h1>Class report</h1>
<p>{len(students)} student(s), {len(names)} module(s) submitted; {count('graded')} graded,
{count('flagged')} flagged for review (graded), {count('failed')} failed to run,
{count('missing')} missing; {len(report.unplaced)} file(s) not placed.
Grades: <code>{e(report.csv_path)}</code>, for an LMS: <code>{e(report.lms_csv_path)}</code>
(Canvas), <code>{e(report.moodle_csv_path)}</code> (Moodle).</p>
<h2>Score distributions</h2>{_img(hist)}
<p>Missing and failed notebooks are not in the histograms (see the lists below).</p>
<h2>Pass rates</h2>{_img(rates)}"""]
    summary_rows = []
    for name in names:
        s = stats[name]
        sc = s["scores"]
        summary_rows.append([name, len(sc), f"{s['max']:g}",
                             f"{statistics.mean(sc):.2f}" if sc else "-", f"{statistics.median(sc):g}" if sc else "-",
                             f"{100 * sum(x >= s['max'] for x in sc) / len(sc):.0f}%" if sc and s["max"] else "-",
                             s["status"].get("flagged", 0), s["status"].get("failed", 0),
                             s["status"].get("missing", 0)])
    parts.append("<h2>Modules</h2>" + _table(["module", "graded", "max", "mean", "median", "full marks",
                                             "flagged", "failed", "missing"], summary_rows))
    for name in names:
        parts += _module_section(stats[name], name)
    for status, title in (("flagged", "Flagged for review (graded; a human should look)"),
                          ("failed", "Failed to run (grade by hand)"), ("missing", "Missing work")):
        rows = [[o.student, o.assignment, " | ".join(o.review[:3]) or o.message]
                for o in report.outcomes if o.status == status and o.assignment in names]
        parts.append(f"<h2>{title}: {len(rows)}</h2>" + (_table(["student", "module", "why"], rows) if rows else ""))
    if report.unplaced:
        parts.append("<h2>Files not placed</h2><ul>" + "".join(f"<li>{e(u)}</li>" for u in report.unplaced)
                     + "</ul>")
    parts.append("</body></html>")
    path = os.path.join(grading, "report.html")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    os.replace(path + ".tmp", path)
    for line in text_summary(stats, names):
        log(line)
    log(f"class report: {path}")
    return path


def text_summary(stats, names):
    """A few lines per module: graded, median score, weakest test cell, commonest failure."""
    lines = ["class report:"]
    for name in names:
        s = stats[name]
        sc = s["scores"]
        line = f"  {name}: {len(sc)} graded"
        if sc:
            line += f", median {statistics.median(sc):g}/{s['max']:g}"
        weakest = [(c["full"] / n, cell) for cell, c in s["cells"].items()
                   for n in [c["full"] + c["partial"] + c["none"]] if n]
        if weakest:
            rate, cell = min(weakest)
            line += f", weakest test {cell} ({100 * rate:.0f}% full marks)"
        lines.append(line)
        msgs = top_messages(stats, name, 1)
        if msgs:
            lines.append(f"    commonest failure ({msgs[0]['count']}x): {msgs[0]['example'][:120]}")
    return lines
