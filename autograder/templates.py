"""The assignments' templates (``nbgrader generate_assignment``), cached per release.

``cached_templates(names, grading)`` gives the folder holding the clean template gradebook
(gradebook.db, every test cell) and the release notebooks of names, built once per release key
in ``GRADING/.cache/`` (a hash of the source notebooks, the nbgrader configuration and nbgrader's
version) and reused by later runs. Only the modules someone submitted are built.

``$DEEPTRAIN_TEMPLATE_CACHE`` names a folder that several grading folders of the same course share
instead (sections graded apart, re-grading in a fresh folder, the test suite): templates are then
kept for every set of modules and never pruned, and processes that build the same ones at once
each finish, the first to arrive being kept.
"""
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile

from . import ROOT, SOLUTIONS
from .nb import nbgrader_env


def _sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def release_keys(names):
    """{assignment: hash of what its template depends on}: the source notebook, the nbgrader
    configuration and nbgrader's version. A cached template is rebuilt when this changes."""
    from importlib import metadata
    parts = [metadata.version("nbgrader")]
    for fn in ("nbgrader_config.py", "preprocessors.py"):
        with open(os.path.join(ROOT, "autograder", fn), "rb") as f:
            parts.append(f.read())
    common = _sha(*parts)
    out = {}
    for n in names:
        with open(os.path.join(SOLUTIONS, n, f"{n}.ipynb"), "rb") as f:
            out[n] = _sha(common, n, f.read())
    return out


def generate_templates(names, dirs, release_dir, log=print):
    """nbgrader generate_assignment of every assignment into each grading folder of dirs (in parallel)."""
    import subprocess
    env = nbgrader_env()
    procs = []
    for d in dirs:
        os.makedirs(d, exist_ok=True)
        e = dict(env, DEEPTRAIN_GRADING_DIR=d)
        rel = release_dir if d == dirs[0] else tempfile.mkdtemp(prefix="deeptrain-release-")
        procs.append((d, rel, subprocess.Popen([sys.executable, "-m", "autograder.task", "generate", d, rel, *names],
                                               cwd=ROOT, env=e, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT)))
    for d, rel, p in procs:
        out, _ = p.communicate()
        if rel != release_dir:
            shutil.rmtree(rel, ignore_errors=True)
        if p.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed in {d}:\n{out.decode(errors='replace')[-3000:]}")


def cached_templates(names, grading, log=print):
    """The folder holding the clean template gradebook (gradebook.db) and release/NAME/NAME.ipynb
    for names, built once per release key in GRADING/.cache/ (or $DEEPTRAIN_TEMPLATE_CACHE) and
    reused by later runs. Returns (folder, {name: release key}, whether it was cached)."""
    keys = release_keys(names)
    key = _sha(*sorted(f"{n}={k}" for n, k in keys.items()))[:20]
    shared = os.environ.get("DEEPTRAIN_TEMPLATE_CACHE")
    cache = shared or os.path.join(grading, ".cache")
    final = os.path.join(cache, f"templates-{key}")
    if os.path.isfile(os.path.join(final, "gradebook.db")):
        return final, keys, True
    if os.path.isdir(final):        # half made (an older layout, or damaged): never usable
        shutil.rmtree(final, ignore_errors=True)
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="building-", dir=cache)
    try:
        generate_templates(names, [os.path.join(tmp, "grading")], os.path.join(tmp, "release"), log)
        built = os.path.join(tmp, "templates")
        os.makedirs(built)
        shutil.move(os.path.join(tmp, "grading", "gradebook.db"), os.path.join(built, "gradebook.db"))
        shutil.move(os.path.join(tmp, "release"), os.path.join(built, "release"))
        with contextlib.suppress(OSError):     # a folder of that name exists: another process built it first
            os.rename(built, final)
        if not shared:      # earlier releases' templates are of no further use in this grading folder
            for old in os.listdir(cache):
                if old.startswith("templates-") and os.path.join(cache, old) != final:
                    shutil.rmtree(os.path.join(cache, old), ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, keys, False


def prepare_gradebook(grading, template_dir, keys, log=print):
    """Make GRADING/gradebook.db define every assignment of keys as released now: a new gradebook
    is the template itself; an existing one gets generate_assignment for the assignments whose
    release changed since (recorded in GRADING/.cache/gradebook-release.json). Returns True when
    the gradebook is new (an earlier run's journal then means nothing)."""
    db = os.path.join(grading, "gradebook.db")
    state_path = os.path.join(grading, ".cache", "gradebook-release.json")
    fresh = not os.path.exists(db)
    state = {}
    if fresh:
        shutil.copy(os.path.join(template_dir, "gradebook.db"), db + ".tmp")
        os.replace(db + ".tmp", db)
    else:
        with contextlib.suppress(OSError, ValueError):
            state = json.load(open(state_path))
        stale = sorted(n for n, k in keys.items() if state.get(n) != k)
        if stale:
            log(f"  updating the gradebook's definition of {', '.join(stale)}")
            with tempfile.TemporaryDirectory(prefix="deeptrain-release-") as rel:
                generate_templates(stale, [grading], rel, log)
    state.update(keys)
    os.makedirs(os.path.dirname(state_path), exist_ok=True)
    with open(state_path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(state_path + ".tmp", state_path)
    return fresh

