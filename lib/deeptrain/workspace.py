"""The student's working copy of the course: ``work/``, made from ``course/`` on first use.

Why a copy: JupyterLab writes ``.ipynb_checkpoints/`` beside every notebook it opens, and
Validate and autosave rewrite the notebook itself. Done in ``course/`` (the committed
release), that breaks the release check of ``make test`` and makes ``git pull`` of a course
update conflict. ``make lab`` therefore opens ``work/`` (git-ignored) and syncs it first:

- a notebook missing from ``work/`` is copied from the release;
- a notebook whose cells the student never changed is replaced by a newer release;
- a notebook the student edited is never touched: the newer release is written beside it
  as ``NN_topic (course update).ipynb`` and the sync says so.

"Edited" means that a cell differs from the release that was copied: its type, its source or
(markdown) its attachments, or a cell was added, deleted or moved. Opening, running, autosaving
and Validating change none of these: JupyterLab rewrites the notebook's metadata on open (kernel
spec, ``points 2.0`` -> ``2``, cell ids), and running adds outputs and execution counts; all of
that is left out of the comparison.

What was copied is remembered in ``work/.deeptrain-sync.json`` (path -> SHA-256 of the release
file and of its cells), which is how "untouched" is told from "edited".
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

STATE = ".deeptrain-sync.json"
UPDATE_SUFFIX = " (course update)"


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _cells(path):
    """A fingerprint of what a student can change in the notebook at path: for each cell, its
    type, its source (line endings and trailing white space normalised) and a markdown cell's
    attachments. None when the file is not a readable notebook (it then counts as edited)."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = []
        for cell in nb["cells"]:
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            source = "\n".join(line.rstrip() for line in source.replace("\r\n", "\n").split("\n")).strip("\n")
            item = [cell.get("cell_type"), source]
            attachments = cell.get("attachments") or {}
            if attachments:
                item.append({name: {mime: "".join(data) if isinstance(data, list) else data
                                    for mime, data in sorted(bundle.items())}
                             for name, bundle in sorted(attachments.items())})
            cells.append(item)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    text = json.dumps(cells, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _entry(state, rel):
    """(file SHA-256, cells fingerprint) of the release last copied to rel; a state written before
    the fingerprints existed holds the file's SHA-256 only."""
    entry = state.get(rel)
    if isinstance(entry, dict):
        return entry.get("sha256"), entry.get("cells")
    return entry, None


def _release_notebooks(release):
    """Relative paths of the release's notebooks, checkpoints and hidden folders left out."""
    out = []
    for dirpath, dirnames, filenames in os.walk(release):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [os.path.relpath(os.path.join(dirpath, f), release)
                for f in sorted(filenames) if f.endswith(".ipynb")]
    return out


def _copy_figures(src_dir, dst_dir):
    """The release's figures/ beside the notebook (the released notebooks also carry their
    figures as attachments; the files serve the links of an older release and the student)."""
    figures = src_dir / "figures"
    if figures.is_dir():
        shutil.copytree(figures, dst_dir / "figures", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".*"))


def sync(release, work, log=print):
    """Bring ``work`` up to date with ``release`` without losing a student's edits.

    release, work: folders. Returns a dict relpath -> action, one of "copied", "updated",
    "kept" (the student's edits stay; the update is written beside it), "current".
    """
    release, work = Path(release), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / STATE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    actions = {}
    for rel in _release_notebooks(release):
        src, dst = release / rel, work / rel
        new = {"sha256": _sha256(src), "cells": _cells(src)}
        old_sha, old_cells = _entry(state, rel)
        if not dst.exists():
            action = "copied"
        elif old_sha == new["sha256"]:
            action = "current"
        elif _sha256(dst) in (old_sha, new["sha256"]) or _cells(dst) in {old_cells, new["cells"]} - {None}:
            action = "updated"        # the student changed no cell since the last copy
        else:
            action = "kept"
        if action in ("copied", "updated"):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            state[rel] = new
        elif action == "kept" and old_sha != new["sha256"]:
            beside = dst.with_name(dst.stem + UPDATE_SUFFIX + dst.suffix)
            shutil.copyfile(src, beside)
            log(f"{rel}: the course has an update; your edited notebook is kept, "
                f"the new version is {beside.name}")
            state[rel] = new
        elif action == "current" and old_cells is None:
            state[rel] = new          # a state file of an older version: add the fingerprint
        _copy_figures(src.parent, dst.parent)
        actions[rel] = action
    state_path.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    copied = sum(a == "copied" for a in actions.values())
    if copied:
        log(f"{copied} notebook(s) copied from {release} to {work}")
    return actions


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m deeptrain.workspace", description=__doc__.splitlines()[0])
    p.add_argument("release", help="the course release folder (course/)")
    p.add_argument("work", help="the student's working copy (work/)")
    args = p.parse_args(argv)
    if not Path(args.release).is_dir():
        print(f"no release folder {args.release}", file=sys.stderr)
        return 2
    sync(args.release, args.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
