"""The student's working copy of the course: ``work/``, made from ``course/`` on first use.

Why a copy: JupyterLab writes ``.ipynb_checkpoints/`` beside every notebook it opens, and
Validate and autosave rewrite the notebook itself. Done in ``course/`` (the committed
release), that breaks the release check of ``make test`` and makes ``git pull`` of a course
update conflict. ``make lab`` therefore opens ``work/`` (git-ignored) and syncs it first:

- a notebook missing from ``work/`` is copied from the release;
- a notebook the student never saved since it was copied is replaced by a newer release;
- a notebook the student edited is never touched: the newer release is written beside it
  as ``NN_topic (course update).ipynb`` and the sync says so.

What was copied is remembered in ``work/.deeptrain-sync.json`` (path -> SHA-256 of the
release copied), which is how "never saved since" is told from "edited".
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


def _release_notebooks(release):
    """Relative paths of the release's notebooks, checkpoints and hidden folders left out."""
    out = []
    for dirpath, dirnames, filenames in os.walk(release):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [os.path.relpath(os.path.join(dirpath, f), release)
                for f in sorted(filenames) if f.endswith(".ipynb")]
    return out


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
        new = _sha256(src)
        if not dst.exists():
            action = "copied"
        elif state.get(rel) == new:
            action = "current"
        elif _sha256(dst) in (state.get(rel), new):
            action = "updated"        # the student never saved it since the last copy
        else:
            action = "kept"
        if action in ("copied", "updated"):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            state[rel] = new
        elif action == "kept" and state.get(rel) != new:
            beside = dst.with_name(dst.stem + UPDATE_SUFFIX + dst.suffix)
            shutil.copyfile(src, beside)
            log(f"{rel}: the course has an update; your edited notebook is kept, "
                f"the new version is {beside.name}")
            state[rel] = new
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
