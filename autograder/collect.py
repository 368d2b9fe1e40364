"""Collect submissions from a folder (one folder per student) or an LMS zip.

Both end in the same ``Collection``: for each student, the file chosen for each assignment
(with a note when it had to be guessed) and a list of every file that could not be placed,
with the reason. Nothing is silently ignored.

A file is matched to an assignment, in this order, by
1. its exact name, ``NN_topic.ipynb``;
2. its name after removing what browsers, Jupyter and LMSs add (``01_unstable_gradients (1).ipynb``,
   ``-Copy1``, ``-2``, spaces or dashes for underscores, a different case), or its ``NN_`` prefix;
3. its content: the assignment whose graded cells (nbgrader ``grade_id``) it holds.
When a student has several files for one assignment, the best match wins, then the newest
(the LMS timestamp when there is one, else the file's modification time); the others are
reported.

LMS zips follow nbgrader's ZipCollect conventions (``FileNameCollectorPlugin``): a regular
expression with named groups ``student_id`` and ``file_id`` (and optionally ``timestamp``) is
matched against each file's path inside the zip. Built in (``--lms auto`` tries them all):

- ``attempt`` (Blackboard, the example of nbgrader's docs):
  ``ASSIGNMENT_STUDENT_attempt_2024-01-30-15-00-00_01_unstable_gradients.ipynb``; the
  ``STUDENT_ASSIGNMENT_attempt_...`` order is recognised too (the part that varies between
  files of the same notebook is the student);
- ``canvas``: ``doejane_12345_67890_01_unstable_gradients.ipynb`` (``doejane_late_...`` too);
- ``moodle``: ``Jane Doe_12345_assignsubmission_file_/01_unstable_gradients.ipynb``;
- ``folders``: ``STUDENT/.../01_unstable_gradients.ipynb`` (a zip of the folder layout).

Nested zips (a student who zipped the notebook) are opened. An LMS timestamp is written by the
grader to ``timestamp.txt`` next to the notebook, where nbgrader reads it (late penalties).
"""
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime

PRESETS = {
    "attempt": r"^(?P<first>[^/_]+)_(?P<second>[^/_]+)_attempt_(?P<timestamp>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)_(?P<file_id>[^/]+)$",
    "canvas": r"^(?P<student_id>[A-Za-z][A-Za-z-]*)(?:_LATE|_late)?_(?P<lms_id>\d+)_(?P<submission_id>\d+)_(?P<file_id>[^/]+)$",
    "moodle": r"^(?P<student_id>[^/_]+?)_(?P<lms_id>\d+)_assignsubmission_file_/?(?P<file_id>.+)$",
    "folders": r"^(?P<student_id>[^/]+)/(?:.*/)?(?P<file_id>[^/]+)$",
}
# The default of plain `nbgrader zip_collect` in this course (see nbgrader_config.py).
NBGRADER_REGEX = r".+_(?P<student_id>[^_]+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>.+)"

_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|[-_ ]copy\d*|-\d+|_\d+$|\s+\d+)$", re.I)


@dataclass
class Candidate:
    source: str            # a path, or "zip:member" for zips
    data: bytes
    rank: int              # 0 exact name, 1 normalised name, 2 by content
    when: float            # timestamp (seconds) used to pick the newest
    timestamp: str = ""    # the LMS timestamp, as nbgrader reads it
    note: str = ""


@dataclass
class Collection:
    files: dict = field(default_factory=dict)     # student -> assignment -> Candidate
    unplaced: list = field(default_factory=list)  # (source, reason)
    notes: list = field(default_factory=list)     # (student, assignment, note)
    students: list = field(default_factory=list)  # every student seen, placed files or not

    def add(self, student, assignment, cand):
        if student not in self.students:
            self.students.append(student)
        mine = self.files.setdefault(student, {})
        old = mine.get(assignment)
        if old is None:
            mine[assignment] = cand
            return
        better = (cand.rank, -cand.when) < (old.rank, -old.when)
        keep, drop = (cand, old) if better else (old, cand)
        mine[assignment] = keep
        self.unplaced.append((drop.source, f"another file of {student} for {assignment} was used instead: "
                                           f"{os.path.basename(keep.source)}"))
        keep.note = "; ".join(filter(None, [keep.note, f"{student} sent several files for {assignment}; "
                                            f"used {os.path.basename(keep.source)}"]))


def safe_id(name):
    """A student id usable as a folder name and an nbgrader id."""
    out = re.sub(r"[^A-Za-z0-9_.@-]+", "_", name.strip()).strip("._")
    return out or "unknown"


def grade_ids(data):
    """The nbgrader grade ids in a notebook's bytes (empty if unreadable)."""
    try:
        nb = json.loads(data.decode("utf-8-sig", errors="replace"))
        return {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.get("cells", [])
                if isinstance(c, dict)} - {None}
    except Exception:
        return set()


def match_name(filename, names):
    """(assignment, rank) for a notebook file name, or (None, None)."""
    stem = os.path.splitext(os.path.basename(filename))[0]
    if stem in names:
        return stem, 0
    s = stem.strip()
    for _ in range(3):
        s = _COPY_SUFFIX.sub("", s).strip()
    s = re.sub(r"[\s\-.]+", "_", s).lower()
    lowered = {n.lower(): n for n in names}
    if s in lowered:
        return lowered[s], 1
    for low, name in lowered.items():            # e.g. unstable_gradients, or 01_unstable_gradients_final
        topic = low.split("_", 1)[-1]
        if s.startswith(low) or s == topic or s.endswith("_" + low):
            return name, 1
    m = re.match(r"^(\d{1,2})(?:_|$)", s)
    if m:
        hits = [n for n in names if n.split("_", 1)[0].lstrip("0") == m.group(1).lstrip("0")]
        if len(hits) == 1:
            return hits[0], 1
    return None, None


def identify(filename, data, names, release_ids):
    """(assignment, rank, note) for a notebook, by name then by content; (None, None, reason) if neither."""
    name, rank = match_name(filename, names)
    ids = grade_ids(data)
    if name is not None:
        note = "" if rank == 0 else f"file named {os.path.basename(filename)!r}, taken as {name}"
        return name, rank, note
    overlap = {n: len(ids & release_ids.get(n, set())) for n in names}
    best = max(overlap, key=overlap.get, default=None)
    if best is not None and overlap[best] > 0:
        return best, 2, f"file named {os.path.basename(filename)!r}, identified as {best} by its graded cells"
    if not ids and not data.lstrip()[:1] == b"{":
        return None, None, "not a notebook this course knows (name and content match no assignment)"
    return None, None, f"name and content match no assignment ({', '.join(names)})"


def _parse_timestamp(text):
    for fmt in ("%Y-%m-%d-%H-%M-%S", "%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    return None


def _is_notebook_name(path):
    return path.lower().endswith(".ipynb")


def collect_folder(folder, names, release_ids):
    """Collection from FOLDER/student/**/*."""
    col = Collection()
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.startswith("."):
            continue
        if not os.path.isdir(path):
            col.unplaced.append((path, "not inside a student's folder"))
            continue
        student = safe_id(entry)
        if student not in col.students:
            col.students.append(student)
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
            for fn in sorted(filenames):
                fpath = os.path.join(dirpath, fn)
                if fn.startswith("."):
                    continue
                with open(fpath, "rb") as f:
                    data = f.read()
                _place(col, student, fpath, fn, data, os.path.getmtime(fpath), "", names, release_ids)
    return col


def _place(col, student, label, filename, data, when, timestamp, names, release_ids):
    """Place one file (label: how the report names it; filename: the name the student gave it)."""
    if filename.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                members = [m for m in inner.namelist() if _is_notebook_name(m) and "__MACOSX" not in m
                           and ".ipynb_checkpoints" not in m]
                if not members:
                    col.unplaced.append((label, "a zip without notebooks"))
                for m in members:
                    _place(col, student, f"{label}:{m}", m, inner.read(m), when, timestamp, names, release_ids)
        except zipfile.BadZipFile:
            col.unplaced.append((label, "a damaged zip file"))
        return
    if ".ipynb_checkpoints" in label:
        return  # Jupyter's autosave copies: never the submission
    if not _is_notebook_name(filename):
        col.unplaced.append((label, "not a notebook (.ipynb)"))
        return
    assignment, rank, note = identify(filename, data, names, release_ids)
    if assignment is None:
        col.unplaced.append((label, note))
        return
    col.add(student, assignment, Candidate(label, data, rank, when, timestamp, note))


def collect_zip(path, names, release_ids, regex=None, lms="auto"):
    """Collection from an LMS zip (see the module docstring for the file-name conventions)."""
    col = Collection()
    with zipfile.ZipFile(path) as z:
        members = [m for m in z.infolist() if not m.is_dir() and "__MACOSX" not in m.filename
                   and not os.path.basename(m.filename).startswith(".")]
        patterns = ({"custom": regex} if regex else
                    {k: v for k, v in PRESETS.items() if lms in ("auto", k)})
        compiled = {k: re.compile(v) for k, v in patterns.items()}
        # Choose the convention that matches the most files (ties: the order above).
        scores = {k: sum(bool(r.match(m.filename)) for m in members) for k, r in compiled.items()}
        chosen = max(scores, key=lambda k: scores[k]) if scores else None
        if chosen is None or scores[chosen] == 0:
            for m in members:
                col.unplaced.append((f"{os.path.basename(path)}:{m.filename}",
                                     "its name matches no LMS convention (give --regex)"))
            return col
        rx = compiled[chosen]
        matches = {m.filename: rx.match(m.filename) for m in members}
        student_group = _attempt_order(matches) if chosen == "attempt" else "student_id"
        for m in members:
            source = f"{os.path.basename(path)}:{m.filename}"
            gd = matches[m.filename]
            if gd is None:
                col.unplaced.append((source, f"its name does not match the {chosen} convention"))
                continue
            gd = gd.groupdict()
            student = safe_id(gd.get(student_group) or "")
            ts = gd.get("timestamp") or ""
            parsed = _parse_timestamp(ts) if ts else None
            when = parsed.timestamp() if parsed else datetime(*m.date_time).timestamp()
            stamp = parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed else ""
            if student not in col.students:
                col.students.append(student)
            _place(col, student, source, gd["file_id"], z.read(m), when, stamp, names, release_ids)
    return col


def _attempt_order(matches):
    """Which group of the attempt convention is the student: the one that varies within a notebook."""
    groups = {}
    for mt in matches.values():
        if mt:
            groups.setdefault(mt.group("file_id"), []).append((mt.group("first"), mt.group("second")))
    first = sum(len({a for a, _ in v}) for v in groups.values())
    second = sum(len({b for _, b in v}) for v in groups.values())
    return "first" if first > second else "second"



# --- the collect stage of `python -m autograder grade` / `precheck` --------------------------

def notebook_ids(nb):
    """The nbgrader grade_ids of a notebook (an nbformat node or a JSON dict)."""
    return {(c.get("metadata", {}).get("nbgrader") or {}).get("grade_id") for c in nb["cells"]} - {None}


def release_ids(names, release_nbs=None):
    """{assignment: grade_ids of its release}: from release_nbs when given, else from the released
    notebooks in course/ (git keeps them in step with solutions/; reading them costs nothing,
    where generating a template costs seconds)."""
    from . import COURSE, SOLUTIONS
    out = {}
    for n in names:
        if release_nbs and n in release_nbs:
            out[n] = notebook_ids(release_nbs[n])
            continue
        for folder in (COURSE, SOLUTIONS):
            try:
                with open(os.path.join(folder, n, f"{n}.ipynb"), encoding="utf-8") as f:
                    out[n] = notebook_ids(json.load(f))
                break
            except (OSError, ValueError, KeyError):
                continue
    return out


def collect(submissions, names, ids=None, regex=None, lms="auto"):
    """The Collection of a folder (one folder per student) or an LMS zip; ids: {assignment: grade ids}
    (default release_ids(names))."""
    ids = ids if ids is not None else release_ids(names)
    if os.path.isfile(submissions) and submissions.lower().endswith(".zip"):
        return collect_zip(submissions, names, ids, regex=regex, lms=lms)
    if not os.path.isdir(submissions):
        raise FileNotFoundError(f"no such folder or zip: {submissions}")
    return collect_folder(submissions, names, ids)


def submitted_names(col, names):
    """The assignments of names that at least one student submitted, in the order of names."""
    have = {a for files in col.files.values() for a in files}
    return [n for n in names if n in have]
