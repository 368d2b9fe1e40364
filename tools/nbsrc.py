"""Write nbgrader notebooks as plain text, and back.

The notebooks in solutions/ are the source of truth (instructors edit them in JupyterLab).
For editing in a text editor, or for review, this tool converts a notebook to a flat text
file and back, keeping the nbgrader cell metadata:

    python tools/nbsrc.py to-src  solutions/01_x/01_x.ipynb  /tmp/01_x.txt
    python tools/nbsrc.py build   /tmp/01_x.txt  solutions/01_x/01_x.ipynb

Text format: a line starting with ``#%%`` opens a cell; its words say the kind:

    #%% markdown                       explanation
    #%% code                           demo or setup code (not graded)
    #%% solution id=NAME               autograded answer (code between ### BEGIN/END SOLUTION)
    #%% tests id=NAME points=N         locked, graded test cell (visible + ### BEGIN HIDDEN TESTS)
    #%% manual id=NAME points=N        manually graded written answer (markdown)
    #%% readonly id=NAME               locked code cell, not graded

Everything up to the next ``#%%`` line is the cell's source, verbatim (trailing blank
lines dropped).
"""
import json
import sys

KINDS = {
    # kind: (cell_type, nbgrader metadata without grade_id/points)
    "markdown": ("markdown", None),
    "code": ("code", None),
    "solution": ("code", {"grade": False, "solution": True, "locked": False}),
    "tests": ("code", {"grade": True, "solution": False, "locked": True}),
    "manual": ("markdown", {"grade": True, "solution": True, "locked": False}),
    "readonly": ("code", {"grade": False, "solution": False, "locked": True}),
}

NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "version": "3.11"},
}


def parse(text):
    cells, header, lines = [], None, []

    def flush():
        if header is None:
            return
        words = header.split()
        kind, opts = words[0], dict(w.split("=", 1) for w in words[1:])
        if kind not in KINDS:
            raise ValueError(f"unknown cell kind {kind!r} (one of {', '.join(KINDS)})")
        cell_type, nbg = KINDS[kind]
        while lines and not lines[-1].strip():
            lines.pop()
        source = "\n".join(lines)
        cell = {"cell_type": cell_type, "metadata": {}, "source": source}
        if cell_type == "code":
            cell.update(execution_count=None, outputs=[])
        if nbg is not None:
            meta = dict(nbg, schema_version=3, task=False)
            if "id" not in opts:
                raise ValueError(f"a {kind} cell needs id=NAME")
            meta["grade_id"] = opts["id"]
            if meta["grade"]:
                meta["points"] = int(opts.get("points", 1))
            cell["metadata"]["nbgrader"] = meta
        cell["id"] = opts.get("id", f"cell-{len(cells):03d}")
        cells.append(cell)

    for line in text.splitlines():
        if line.startswith("#%%"):
            flush()
            header, lines = line[3:].strip() or "code", []
        else:
            lines.append(line)
    flush()
    return {"cells": cells, "metadata": NOTEBOOK_METADATA, "nbformat": 4, "nbformat_minor": 5}


def to_src(nb):
    out = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader")
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if meta is None:
            kind, opts = cell["cell_type"], ""
        else:
            for kind, (ctype, m) in KINDS.items():
                if m and ctype == cell["cell_type"] and all(meta.get(k) == v for k, v in m.items()):
                    break
            else:
                raise ValueError(f"cell {meta.get('grade_id')}: unsupported nbgrader metadata {meta}")
            opts = f" id={meta['grade_id']}" + (f" points={meta['points']:g}" if meta.get("grade") else "")
        out.append(f"#%% {kind}{opts}\n{source}\n")
    return "\n".join(out)


def main(argv):
    if len(argv) != 3 or argv[0] not in ("build", "to-src"):
        print(__doc__)
        return 2
    cmd, src, dst = argv
    if cmd == "build":
        nb = parse(open(src, encoding="utf-8").read())
        with open(dst, "w", encoding="utf-8") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
    else:
        with open(dst, "w", encoding="utf-8") as f:
            f.write(to_src(json.load(open(src, encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
