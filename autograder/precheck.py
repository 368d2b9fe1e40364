"""Pre-check and repair of a submitted notebook, before nbgrader sees it.

One odd notebook must never stop a batch or cost a student points for a slip of the mouse.
``precheck(raw_bytes, release_nb)`` compares a submission with the release it started from and
returns a ``Precheck``: the notebook to grade (repaired) or none, and what was wrong, in words a
student understands. Repairs:

- not UTF-8, a byte-order mark, trailing garbage after the JSON, an old nbformat (v3), cells with
  missing or extra keys: read anyway, normalised to a valid nbformat 4 notebook;
- invalid JSON that cannot be read (a truncated file): no notebook, "grade by hand";
- a graded cell present several times (nbgrader issue 1941: stock autograde fails with a
  misleading "old metadata format" error): one copy keeps the grading metadata (the last, as
  nbgrader's DeduplicateIds chooses, or for a written answer the copy that holds an answer);
  extra copies of a test cell are removed, extra copies of an answer cell stay as plain code;
- a test, answer or read-only cell deleted: the release's version is put back in place (for a
  test cell nbgrader then restores the full source, hidden tests included, from the gradebook);
- a cell retyped (a test or answer cell turned into markdown or raw, a written answer turned
  into code): its type is restored, with the student's text for answers;
- a graded cell with broken or edited nbgrader metadata (points, locked flag, schema): the
  release's metadata is put back (nbgrader restores locked sources from the gradebook);
- cells with grading metadata that the assignment does not know: metadata removed.

``scan(nb, release_nb)`` lists suspicious code in the cells a student wrote or changed (patching
libraries, tracing hooks, IPython internals, killing the process, reading course files): these
flag a submission for a human look; they never change a grade by themselves.
"""
import ast
import copy
import json
import re
from dataclasses import dataclass, field

import nbformat

# The grading metadata a student's notebook must keep as released (nbgrader manages checksum,
# cell_type and schema_version itself; a solution notebook submitted as is lacks some of them).
GRADE_KEYS = ("grade", "solution", "locked", "points", "grade_id", "task")
MANAGED_KEYS = ("checksum", "cell_type", "schema_version")


@dataclass
class Precheck:
    nb: object = None                 # the notebook to grade (nbformat NotebookNode) or None
    problems: list = field(default_factory=list)   # what was wrong (each fixed unless nb is None)
    fatal: str = ""                   # why the notebook cannot be graded automatically
    foreign: bool = False             # no graded cell of the assignment found: needs a human look

    @property
    def ok(self):
        return self.nb is not None and not self.problems


def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader") or {}


def _gid(cell):
    m = _meta(cell)
    return m.get("grade_id") if isinstance(m, dict) else None


def _kind(meta):
    if meta.get("grade") and not meta.get("solution"):
        return "test"
    if meta.get("solution") and meta.get("grade"):
        return "written answer"
    if meta.get("solution"):
        return "answer"
    return "read-only"


def _source(cell):
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else str(s)


def read_notebook_bytes(raw):
    """Decode and parse a notebook file leniently. Returns (dict, [problems]) or raises ValueError."""
    problems = []
    if raw[:2] in (b"PK",):
        raise ValueError("the file is a zip archive, not a notebook (was the notebook compressed?)")
    try:
        text = raw.decode("utf-8-sig")
        if raw.startswith(b"\xef\xbb\xbf"):
            problems.append("the file started with a byte-order mark (removed)")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        problems.append("the file was not UTF-8 (read as Latin-1)")
    text = text.lstrip()
    if not text:
        raise ValueError("the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        try:
            data, end = json.JSONDecoder().raw_decode(text)
            problems.append(f"the file had {len(text) - end} extra characters after the notebook (ignored)")
        except json.JSONDecodeError:
            raise ValueError(f"not valid notebook JSON ({e.msg} at line {e.lineno}, column {e.colno}): "
                             "the file is truncated or was edited outside Jupyter") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise ValueError("the file is JSON but not a Jupyter notebook (no cells)")
    return data, problems


def _normalise(data, problems):
    """A valid nbformat 4 NotebookNode from a dict, fixing what can be fixed."""
    major = data.get("nbformat", 4)
    if major != 4:
        try:
            nb = nbformat.reads(json.dumps(data), as_version=4)
            problems.append(f"the notebook was in nbformat {major} (converted to 4)")
            data = json.loads(nbformat.writes(nb))
        except Exception as e:
            raise ValueError(f"could not convert nbformat {major} to 4 ({e})") from None
    cells = []
    fixed = 0
    for cell in data.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            fixed += 1
            continue
        new = {"cell_type": cell["cell_type"], "source": _source(cell),
               "metadata": cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}}
        if isinstance(cell.get("id"), str) and re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", cell["id"]):
            new["id"] = cell["id"]
        if cell["cell_type"] == "code":
            new["outputs"], new["execution_count"] = [], None   # nbgrader clears outputs anyway
        elif isinstance(cell.get("attachments"), dict):
            new["attachments"] = cell["attachments"]
        if set(cell) - set(new) - {"outputs", "execution_count", "attachments", "id"}:
            fixed += 1
        cells.append(new)
    if fixed:
        problems.append(f"{fixed} cell(s) had an invalid structure (repaired or dropped)")
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    nb = nbformat.v4.new_notebook(cells=[], metadata=meta)
    nb.nbformat_minor = 5
    for c in cells:
        node = nbformat.from_dict(c)
        node.setdefault("id", nbformat.v4.new_code_cell().id)
        nb.cells.append(node)
    # Unique cell ids (a duplicated cell copies its id).
    seen = set()
    for c in nb.cells:
        if c.id in seen:
            c.id = nbformat.v4.new_code_cell().id
        seen.add(c.id)
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError:
        nbformat.validator.normalize(nb, strip_invalid_metadata=True)
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError as e:
            problems.append(f"notebook metadata was invalid ({str(e).splitlines()[0]}); cleared")
            nb.metadata = {}
    return nb


_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)


def _visible(source):
    """A test cell's lines without its hidden tests and blank lines (the release's view of it)."""
    return [line.rstrip() for line in _HIDDEN.sub("", source).splitlines() if line.strip()]


def _release_cell(cell):
    new = copy.deepcopy(cell)
    if new.cell_type == "code":
        new.outputs, new.execution_count = [], None
    return new


def precheck(raw, release):
    """Check and repair one submission. raw: the file's bytes; release: the release NotebookNode."""
    result = Precheck()
    try:
        data, result.problems = read_notebook_bytes(raw)
        nb = _normalise(data, result.problems)
    except ValueError as e:
        result.fatal = str(e)
        return result
    problems = result.problems
    graded = [c for c in release.cells if _gid(c)]
    by_id = {_gid(c): c for c in graded}
    order = [_gid(c) for c in graded]

    # 1. Metadata the assignment does not know, or that is not a dict.
    for cell in nb.cells:
        m = cell.metadata.get("nbgrader")
        if m is None:
            continue
        gid = m.get("grade_id") if isinstance(m, dict) else None
        if gid not in by_id:
            del cell.metadata["nbgrader"]
            if gid is not None or m:
                problems.append(f"a cell carried grading metadata for an unknown id {gid!r} (removed)")

    # 2. Duplicates: keep one copy with the metadata.
    copies = {}
    for i, cell in enumerate(nb.cells):
        if _gid(cell):
            copies.setdefault(_gid(cell), []).append(i)
    drop = set()
    for gid, idx in copies.items():
        if len(idx) < 2:
            continue
        kind = _kind(_meta(by_id[gid]))
        stub = _source(by_id[gid]).strip()
        keep = idx[-1]
        if kind == "written answer":
            answered = [i for i in idx if _source(nb.cells[i]).strip() != stub]
            keep = answered[-1] if answered else idx[-1]
        for i in idx:
            if i == keep:
                continue
            if kind in ("test", "read-only"):
                drop.add(i)
            else:
                del nb.cells[i].metadata["nbgrader"]
        what = {"test": "removed the extra copies", "read-only": "removed the extra copies"}.get(
            kind, "the extra copies stay as ordinary cells")
        problems.append(f"the {kind} cell {gid!r} appeared {len(idx)} times (kept one; {what})")
    nb.cells = [c for i, c in enumerate(nb.cells) if i not in drop]

    # 3. Retyped cells and edited metadata.
    for cell in nb.cells:
        gid = _gid(cell)
        if not gid:
            continue
        ref = by_id[gid]
        kind = _kind(_meta(ref))
        if cell.cell_type != ref.cell_type:
            was = cell.cell_type
            text = _source(cell)
            new = _release_cell(ref)
            if kind in ("answer", "written answer"):
                new.source = text
            new.id = cell.get("id", new.get("id"))
            cell.clear()
            cell.update(new)
            problems.append(f"the {kind} cell {gid!r} had been changed to a {was} cell "
                            f"(changed back to {ref.cell_type})")
        meta = _meta(cell)
        good = {k: _meta(ref).get(k) for k in GRADE_KEYS}
        extra = set(meta) - set(GRADE_KEYS) - set(MANAGED_KEYS)
        bad = sorted(k for k in GRADE_KEYS if bool(meta.get(k)) != bool(good[k]) or (
            k in ("points", "grade_id") and good[k] is not None and meta.get(k) != good[k])) + sorted(extra)
        if bad:
            problems.append(f"the grading metadata of {gid!r} was changed ({', '.join(bad)}; restored)")
            cell.metadata["nbgrader"] = dict(copy.deepcopy(_meta(ref)))
        if kind in ("test", "read-only") and _visible(_source(cell)) != _visible(_source(ref)):
            problems.append(f"the locked {kind} cell {gid!r} was edited (the original is restored when grading)")

    # 4. Missing cells: put the release's version back after the previous graded cell present.
    present = {_gid(c) for c in nb.cells if _gid(c)}
    for pos, gid in enumerate(order):
        if gid in present:
            continue
        insert_at = 0
        for prev in reversed(order[:pos]):
            if prev in present:
                insert_at = next(i for i, c in enumerate(nb.cells) if _gid(c) == prev) + 1
                break
        new = _release_cell(by_id[gid])
        nb.cells.insert(insert_at, new)
        present.add(gid)
        kind = _kind(_meta(by_id[gid]))
        extra = {"test": "; its tests run as usual", "answer": " as the empty stub, so its tests fail",
                 "written answer": " unanswered"}.get(kind, "")
        problems.append(f"the {kind} cell {gid!r} had been deleted (put back{extra})")

    # 5. Nothing of this assignment at all? Graded anyway (all cells were put back), and flagged.
    if graded and not any(_gid(c) in copies for c in graded):
        result.foreign = True
        problems.append("no graded cell of this assignment was found in the file (is it the right notebook?)")
    nbformat.validate(nb)
    result.nb = nb
    return result


# --- suspicious code ----------------------------------------------------------------------

_MODULE_ALIASES = {"np", "numpy", "tf", "tensorflow", "keras", "checks", "dt", "deeptrain", "reference", "data",
                   "viz", "math", "builtins", "sys", "os", "warnings", "scipy", "IPython", "inspect", "plt"}
_CALLS = {
    "sys.settrace": "installs a trace function", "sys.setprofile": "installs a profile function",
    "threading.settrace": "installs a trace function", "threading.setprofile": "installs a profile function",
    "sys._getframe": "inspects the caller's frame", "inspect.currentframe": "inspects the caller's frame",
    "inspect.stack": "inspects the call stack", "inspect.getsource": "reads source code of other functions",
    "get_ipython": "uses IPython internals", "os._exit": "ends the kernel process", "os.kill": "sends signals",
    "os.killpg": "sends signals", "os.system": "runs shell commands", "subprocess": "runs other programs",
    "ctypes": "calls C code directly", "gc.get_objects": "walks the interpreter's objects",
    "gc.get_referrers": "walks the interpreter's objects", "importlib.reload": "reloads modules",
    "setattr": None, "exec": "executes generated code", "eval": "evaluates generated code",
    "compile": "compiles generated code", "marshal": "loads compiled code",
}
_BARE = {"exec", "eval", "compile", "setattr", "get_ipython"}
_PATHS = re.compile(r"solutions|gradebook|\.git\b|nbgrader|autograded|/reference|reference/|\.pyc\b")


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def scan_source(source):
    """Suspicious constructs in one cell's code: a list of (line, description)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        # IPython syntax (magics, !shell) is not Python: look at it line by line.
        hits = []
        for n, line in enumerate(source.splitlines(), 1):
            s = line.strip()
            if s.startswith(("!", "%%bash", "%%sh", "%system", "%sx")):
                hits.append((n, f"runs shell commands: {s[:60]}"))
        return hits
    hits = []
    aliases = {}   # import sys as _sys -> {"_sys": "sys"}; from os import _exit -> {"_exit": "os._exit"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                name = _dotted(t) if isinstance(t, ast.Attribute) else None
                if name and name.split(".")[0] in _MODULE_ALIASES:
                    hits.append((line, f"changes a library attribute: {name}"))
                if isinstance(t, ast.Attribute) and t.attr in ("__code__", "__globals__", "__defaults__",
                                                               "__builtins__", "__class__"):
                    hits.append((line, f"replaces {t.attr} of an object"))
                if isinstance(t, ast.Subscript) and _dotted(t.value) in ("sys.modules", "__builtins__",
                                                                         "builtins.__dict__"):
                    hits.append((line, f"replaces an entry of {_dotted(t.value)}"))
                if isinstance(t, ast.Name) and t.id in ("__builtins__", "AssertionError", "Exception",
                                                        "isinstance", "print", "__import__"):
                    hits.append((line, f"redefines the built-in name {t.id}"))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in ("AssertionError", "Exception",
                                                                                   "isinstance", "__import__"):
            hits.append((line, f"redefines the built-in name {node.name}"))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func) or ""
            head, _, rest = name.partition(".")
            resolved = aliases.get(head, head) + ("." + rest if rest else "")
            for key, what in _CALLS.items():
                if key in _BARE:
                    hit = name == key                          # model.compile(...) is not compile()
                elif "." in key:
                    hit = resolved == key or resolved.endswith("." + key)
                else:
                    hit = resolved == key or resolved.startswith(key + ".")
                if hit:
                    if key == "setattr":
                        target = _dotted(node.args[0]) if node.args else None
                        if target and target.split(".")[0] in _MODULE_ALIASES:
                            hits.append((line, f"changes a library attribute: setattr({target}, ...)"))
                    else:
                        hits.append((line, f"{what}: {name}()"))
            if name in ("open", "io.open", "os.open", "os.listdir", "os.scandir", "glob.glob", "os.walk",
                        "pathlib.Path", "Path", "sqlite3.connect", "np.load", "numpy.load"):
                for arg in node.args[:1]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _PATHS.search(arg.value):
                        hits.append((line, f"reads course files: {name}({arg.value!r})"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                if m.split(".")[0] in ("ctypes", "subprocess", "marshal", "sqlite3") or m.startswith(
                        "deeptrain.reference") or (isinstance(node, ast.ImportFrom) and m == "deeptrain"
                                                   and any(a.name == "reference" for a in node.names)):
                    hits.append((line, f"imports {m if m != 'deeptrain' else 'deeptrain.reference'}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _PATHS.search(node.value) \
                and ("/" in node.value or "\\" in node.value or node.value.endswith(".db")):
            hits.append((line, f"mentions a course path: {node.value[:60]!r}"))
    return sorted(set(hits))


def scan(nb, release):
    """Suspicious code in the cells the student wrote or changed: list of readable strings."""
    known = {_source(c).strip() for c in release.cells if c.cell_type == "code"}
    out = []
    for n, cell in enumerate(nb.cells, 1):
        if cell.cell_type != "code" or _source(cell).strip() in known:
            continue
        meta = _meta(cell)
        if meta.get("locked") and not meta.get("solution"):
            continue  # restored from the gradebook before it runs
        where = f"cell {n}" + (f" ({meta['grade_id']})" if meta.get("grade_id") else "")
        for line, what in scan_source(_source(cell)):
            out.append(f"{where}, line {line}: {what}")
    return out


# --- the precheck stage of `python -m autograder grade` and `precheck` -------------------------

MARK = "[grader]"


def _note_cell(notes):
    text = (f"**{MARK} Notes from the grader.** Your notebook was repaired before grading:\n\n"
            + "\n".join(f"- {n}" for n in notes))
    return nbformat.v4.new_markdown_cell(text)


def prepare_submission(out, cand, release_nb, grading):
    """Pre-check one candidate (autograder.collect.Candidate) for the Outcome out: keep the
    original in GRADING/originals/, write the repaired notebook (and its LMS timestamp) to
    GRADING/submitted/STUDENT/NAME/. Returns the notebook's bytes to grade, or None when it
    cannot be graded automatically (out is then failed, with the reason)."""
    import os
    student, name = out.student, out.assignment
    if cand.note:
        out.notes.append(cand.note)
    pc = precheck(cand.data, release_nb)
    originals = os.path.join(grading, "originals", student)
    os.makedirs(originals, exist_ok=True)
    with open(os.path.join(originals, f"{name}.ipynb"), "wb") as f:
        f.write(cand.data)
    if pc.nb is None:
        out.status, out.message = "failed", f"cannot be graded automatically: {pc.fatal}"
        out.review.append(out.message)
        return None
    out.notes += pc.problems
    if pc.foreign:
        out.review.append("no graded cell of this assignment was in the file")
    out.review += [f"suspicious code: {s}" for s in scan(pc.nb, release_nb)]
    if pc.problems:
        pc.nb.cells.insert(0, _note_cell(pc.problems))
    dest = os.path.join(grading, "submitted", student, name)
    os.makedirs(dest, exist_ok=True)
    text = nbformat.writes(pc.nb)
    data = (text if text.endswith("\n") else text + "\n").encode("utf-8")
    with open(os.path.join(dest, f"{name}.ipynb"), "wb") as f:
        f.write(data)
    if cand.timestamp:
        with open(os.path.join(dest, "timestamp.txt"), "w") as f:
            f.write(cand.timestamp)
    return data


def released_notebooks(names):
    """{assignment: its released notebook} from course/ (what students started from; git keeps it
    in step with solutions/, a test fails when it is stale)."""
    import os
    from . import COURSE
    out = {}
    for n in names:
        path = os.path.join(COURSE, n, f"{n}.ipynb")
        if os.path.exists(path):
            out[n] = nbformat.read(path, as_version=4)
    return out


def _lines(student_files, names, release_nbs):
    lines, bad = [], 0
    for name in names:
        cand = student_files.get(name)
        if cand is None:
            lines.append(f"  {name}: missing")
            continue
        pc = precheck(cand.data, release_nbs[name])
        if pc.nb is None:
            bad += 1
            lines.append(f"  {name}: CANNOT BE GRADED AUTOMATICALLY: {pc.fatal}")
            continue
        lines += [f"  {name}: repaired: {t}" for t in ([cand.note] if cand.note else []) + pc.problems]
        review = scan(pc.nb, release_nbs[name])
        lines += [f"  {name}: review: {t}" for t in review]
        if not cand.note and not pc.problems and not review:
            lines.append(f"  {name}: ok")
    return lines, bad


def precheck_report(submissions, names=None, regex=None, lms="auto", log=print):
    """Collect and pre-check without grading; print what is wrong per student. Returns 0, or 1 if
    some file is unreadable or unplaced. Compares with the released notebooks of course/ (no
    template is generated), and only for the modules submitted."""
    from . import assignments
    from .collect import collect, release_ids, submitted_names
    names = list(names or assignments())
    release_nbs = released_notebooks(names)
    col = collect(submissions, names, release_ids(names, release_nbs), regex=regex, lms=lms)
    names = [n for n in submitted_names(col, names) if n in release_nbs]
    bad = 0
    for student in sorted(col.students):
        lines, b = _lines(col.files.get(student, {}), names, release_nbs)
        bad += b
        log(f"{student}:")
        for line in lines:
            log(line)
    for src, why in col.unplaced:
        bad += 1
        log(f"not placed: {src}: {why}")
    return 1 if bad else 0
