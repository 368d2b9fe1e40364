"""The class report after a grading run, and the grades in an LMS's import layout.

``class_report(report, names, grading)`` writes ``GRADING/report.html`` (one self-contained page:
figures embedded, also saved as PNG in ``GRADING/report/``) and returns its path; it prints a
short text summary too. It shows, for each module:

- the **score distribution** of the graded notebooks (a histogram; missing and failed work is
  counted apart, never as zeros);
- the **pass rate of every graded test cell** (full marks, partial, none) and of every **check**
  (one thing a test cell verifies). Read from the test cell's output: the per-check report of
  autograder/verdicts (``fn: 1.5 of 2 points``, then ``  fn: what is wrong [-0.5 points]`` per
  failed check: a check not listed passed), explicit ``PASS name`` / ``FAIL name: why`` lines,
  or an error message (``name: what went wrong``, the form ``deeptrain.checks`` uses); a check
  counts as passed in a test cell with full marks;
- the **most frequent failure messages**, grouped after numbers are blanked out (``got 0.731`` and
  ``got 0.5`` are one message), with their counts, an example and the students who got them;
- the **flagged, failed and missing** work with the reasons.

``write_lms_csv(report, names, path)`` writes one row per student in the layout of Canvas's
gradebook export (``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per
assignment, ``NAME (points)``), which Canvas's import accepts (rows match on SIS Login ID / SIS
User ID when ID is blank) and which Moodle's "Import grades from CSV" maps column by column
(map "SIS Login ID" to the username or ID number, each module column to its grade item).
"""
import base64
import collections
import csv
import html
import io
import os
import re
import statistics

import nbformat

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


_VERDICT_HEAD = re.compile(r"^(?P<what>\S.*?): (?P<got>[\d.]+) of (?P<max>[\d.]+) points?\s*$")
_VERDICT_FAIL = re.compile(r"^ {2}(?P<name>[^\s:][^:]*): (?P<why>.+?)\s*\[-[\d.]+ points?\]\s*$")


def cell_results(path):
    """{test cell id: {"errors": [messages], "pass": [check names], "fail": [(check, message)],
    "verdict": bool}} of the graded test cells of an autograded notebook ({} when unreadable).

    Understands the per-check report of autograder/verdicts (``NAME: 1.5 of 2 points`` then one
    line per failed check, ``  function: what is wrong [-0.5 points]``; ``verdict`` True: every
    check not listed passed), explicit PASS/FAIL lines, and error outputs."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return {}
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        res = out[meta.get("grade_id")] = {"errors": [], "pass": [], "fail": [], "verdict": False}
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                res["errors"].append(_error_message(o))
            elif o.get("output_type") == "stream":
                text = _text(o)
                if text.startswith("Output of the code in this cell (not graded)"):
                    continue
                for line in text.splitlines():
                    if _VERDICT_HEAD.match(line):
                        res["verdict"] = True
                        continue
                    m = _VERDICT_FAIL.match(line)
                    if m:
                        res["fail"].append((f"{m.group('name')}: {m.group('why')}", m.group("why")))
                        continue
                    m = _PASS.match(line)
                    if m:
                        res["pass"].append(m.group("name"))
                        continue
                    m = _FAIL.match(line)
                    if m:
                        name, _, why = m.group("name").partition(": ")
                        res["fail"].append((name, why or name))
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

def module_stats(report, names, grading):
    """Per module: scores of graded work, per-cell and per-check pass counts, failure messages."""
    stats = {}
    for name in names:
        stats[name] = {"scores": [], "max": report.maxima.get(name, 0.0), "cells": {}, "checks": {},
                       "messages": collections.defaultdict(lambda: {"count": 0, "students": [],
                                                                    "example": "", "cell": ""}),
                       "status": collections.Counter()}
    seen = collections.defaultdict(list)   # (module, cell) -> [(full marks?, verdict?, {check: msg}, passed)]
    for o in report.outcomes:
        s = stats.get(o.assignment)
        if s is None:
            continue
        s["status"][o.status] += 1
        if o.status not in GRADED:
            continue
        s["scores"].append(o.score)
        if o.max_score:
            s["max"] = o.max_score
        results = cell_results(os.path.join(grading, "autograded", o.student, o.assignment,
                                                 f"{o.assignment}.ipynb"))
        for g in o.cells:
            if g.get("cell_type") != "code" or not g.get("max_score"):
                continue
            c = s["cells"].setdefault(g["cell"], {"points": g["max_score"], "full": 0, "partial": 0, "none": 0})
            score = g["auto_score"] if g.get("manual_score") is None else g["manual_score"]
            score = score or 0.0
            c["full" if score >= g["max_score"] else "partial" if score > 0 else "none"] += 1
            res = results.get(g["cell"], {"errors": [], "pass": [], "fail": [], "verdict": False})
            failed = {check: f"{check}" if check.endswith(why) else f"{check}: {why}" for check, why in res["fail"]}
            for msg in res["errors"]:
                check = _check_name(msg)
                failed.setdefault(check or msg, msg)
            for check, msg in failed.items():
                m = s["messages"][(g["cell"], pattern(msg))]
                m["count"] += 1
                m["students"].append(o.student)
                m["example"], m["cell"] = m["example"] or msg, g["cell"]
            seen[(o.assignment, g["cell"])].append((score >= g["max_score"], res["verdict"], failed, res["pass"]))
    for (name, cell), rows in seen.items():
        checks = stats[name]["checks"].setdefault(cell, {})
        known = {k for _, _, failed, passed in rows for k in list(failed) + list(passed)}
        for check in known:
            c = checks[check] = {"pass": 0, "fail": 0}
            for full, verdict, failed, passed in rows:
                if check in failed:
                    c["fail"] += 1
                elif check in passed or verdict or full:
                    # Listed as passed; or a per-check report that does not list it as failed; or full marks.
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


def class_report(report, names, grading, log=print):
    """Write GRADING/report.html (and its figures in GRADING/report/), print a summary; returns the path."""
    stats = module_stats(report, names, grading)
    fig_dir = os.path.join(grading, "report")
    hist = histograms(stats, names, os.path.join(fig_dir, "scores.png"))
    rates = pass_rate_figure(stats, names, os.path.join(fig_dir, "pass_rates.png"))
    students = sorted({o.student for o in report.outcomes})
    e = html.escape
    parts = [f"""<!doctype html><html><head><meta charset="utf-8"><title>Class report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left;vertical-align:top}}th{{background:#eee}}img{{max-width:100%}}
.low{{color:#c00000;font-weight:bold}}</style></head><body>
<h1>Class report</h1>
<p>{len(students)} student(s), {len(names)} module(s); {report.count('graded')} graded,
{report.count('flagged')} flagged for review (graded), {report.count('failed')} failed to run,
{report.count('missing')} missing; {len(report.unplaced)} file(s) not placed.
Grades: <code>{e(report.csv_path)}</code>, for an LMS: <code>{e(report.lms_csv_path)}</code>.</p>
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
        s = stats[name]
        parts.append(f"<h3>{e(name)}</h3>")
        rows = []
        for cell, c in s["cells"].items():
            n = c["full"] + c["partial"] + c["none"]
            rows.append([cell, f"{c['points']:g}", n, f"{100 * c['full'] / n:.0f}%" if n else "-",
                         c["partial"], c["none"]])
        parts.append("<p>Test cells (graded functions):</p>" +
                     _table(["test cell", "points", "graded", "full marks", "partial", "zero"], rows))
        crow = []
        for cell, checks in s["checks"].items():
            for check, c in sorted(checks.items(), key=lambda kv: -kv[1]["fail"]):
                n = c["pass"] + c["fail"]
                crow.append([cell, check, n, f"{100 * c['pass'] / n:.0f}%" if n else "-", c["fail"]])
        if crow:
            parts.append("<p>Checks (named assertions; from per-check output, or from failure messages: a "
                         "check counts as passed in every test cell with full marks):</p>" +
                         _table(["test cell", "check", "seen", "pass rate", "failed"], crow))
        msgs = top_messages(stats, name)
        if msgs:
            parts.append("<p>Most frequent failure messages (numbers blanked to group them):</p>" +
                         _table(["count", "test cell", "message (example)", "students"],
                                [[m["count"], m["cell"], m["example"][:300], _students(m["students"])]
                                 for m in msgs]))
    for status, title in (("flagged", "Flagged for review (graded; a human should look)"),
                          ("failed", "Failed to run (grade by hand)"), ("missing", "Missing work")):
        rows = [[o.student, o.assignment, " | ".join(o.review[:3]) or o.message]
                for o in report.outcomes if o.status == status]
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


# --- the grades for an LMS ------------------------------------------------------------------

def write_lms_csv(report, names, path):
    """One row per student in Canvas's gradebook layout (accepted by Moodle's CSV import too).
    Missing work is left empty (not 0), as an LMS treats an empty cell as "not submitted"; failed
    work is empty too (it is graded by hand)."""
    by_student = {}
    for o in report.outcomes:
        by_student.setdefault(o.student, {})[o.assignment] = o
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    header += [f"{n} ({report.maxima.get(n, 0):g})" for n in names] + ["Total (autograded)"]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for student in sorted(by_student):
        row = by_student[student]
        cells = []
        for n in names:
            o = row.get(n)
            cells.append(f"{o.score:g}" if o is not None and o.status in GRADED else "")
        total = sum(row[n].score for n in names if n in row and row[n].status in GRADED)
        w.writerow([student, "", student, student, ""] + cells + [f"{total:g}"])
    with open(path + ".tmp", "w", newline="", encoding="utf-8") as f:
        f.write(buf.getvalue())
    os.replace(path + ".tmp", path)
    return path
