"""The clean room: the grader's own run of a submission's answer cells on secret inputs.

The notebook's execution in its kernel (``autograder/execute.py``) still gives nbgrader its outputs
and the student the visible checks; it decides nothing. What is judged comes from here:

1. **Inputs nobody knows before grading.** Each grading folder holds a secret (``.judge-secret``,
   32 random bytes, mode 0600, drawn on first use; ``python -m autograder grade`` sends it to its
   workers as the ``JudgeResults.secret`` setting). A submission's key is
   HMAC(secret, sha256 of its answer cells) (``autograder.cases.submission_key``); every random
   input is drawn from it. Same folder and same submission: same inputs, same grades; another
   secret or a changed submission: other inputs. The visible checks in the notebook stay fixed.
2. **A room of the grader's.** A server process (``autograder/room.py``) started under the sandbox
   (``autograder.sandbox.sandbox_argv``: no network, the account's home and the repository hidden,
   read-only file system) with ``python -I -S``; it runs the release's setup lines and the
   submission's answer cells only (no other cell of the notebook) in a fresh forked child per case,
   and hands back JSON over a socket the grader holds. Nothing the notebook's kernel did reaches it.
3. **NumPy-only exercises get a room without the libraries** (``NUMPY_ONLY``): its file system holds
   the standard library, NumPy and the grader's case code, and nothing else of the Python
   environment (no SciPy, TensorFlow, Keras, JAX, PyTorch, scikit-learn, no deeptrain): an import
   of one fails, so delegating is impossible, not merely detected. ``scipy.special``'s ``erf``,
   ``erfc`` and ``expit``, which module 03's gelu/swish/mish allow, come from a small shim of the
   grader's, present only for that exercise (``SCIPY_SPECIAL``).
   The Keras exercises get a room with TensorFlow and a copy of deeptrain without ``reference`` and
   ``kernels``.

Servers stay warm in the grading process (one per kind; TensorFlow is imported once per worker,
not once per notebook) and are restarted when they die. ``results(nb, release_nb, exercises, secret)``
is what ``JudgeResults`` calls.
"""
import ast
import atexit
import hashlib
import json
import os
import secrets as _secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(HERE)
SECRET_FILE = ".judge-secret"

# Exercises on Keras objects or whose contract allows TensorFlow (the notebooks' text): the rest are
# NumPy-only ("Implement ... in NumPy", "NumPy only"; tests/grading/test_cleanroom.py reads the text).
TENSORFLOW = {"01.layer_gradient_norms", "02.he_avg_dense", "03.dead_relu_fraction", "05.train_step_with_clipping",
              "06.build_model_b_on_a", "06.unfreeze_top", "08.mc_dropout_predict", "09.capstone"}
# Libraries a NumPy room must not be able to import (checked by the tests; the room hides everything
# of the environment but NumPy anyway).
FORBIDDEN = ("scipy", "tensorflow", "keras", "jax", "torch", "sklearn", "deeptrain")
# NumPy exercises whose text allows scipy.special's erf, erfc and expit: their room has a shim with those three.
SCIPY_SPECIAL = {"03.gelu_swish_mish"}
# Exercises whose verdict trains a model again in the grader (the capstone's replay, autograder/verdicts/m09.py):
# the longest jobs by far, which `python -m autograder grade` starts first.
REPLAYED = {"09.capstone"}


def kinds_for(modules):
    """The kinds of room that grading these modules ("NN_topic") needs: always NumPy (the cheap one), and
    TensorFlow when one of their exercises is a Keras exercise."""
    prefixes = {m[:2] for m in modules}
    return ["numpy"] + (["tensorflow"] if any(t.split(".")[0] in prefixes for t in TENSORFLOW) else [])


def kind_of(exercise):
    return "tensorflow" if exercise in TENSORFLOW else "numpy"


# --- the secret --------------------------------------------------------------------------------

def grading_secret(grading):
    """The grading folder's secret (hex), drawn on first use and kept in grading/.judge-secret (0600)."""
    path = os.path.join(grading, SECRET_FILE)
    try:
        with open(path) as f:
            value = f.read().strip()
        bytes.fromhex(value)
        if len(value) >= 32:
            return value
    except (OSError, ValueError):
        pass
    os.makedirs(grading, exist_ok=True)
    value = _secrets.token_hex(32)
    fd = os.open(path + f".{os.getpid()}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    try:
        os.link(path + f".{os.getpid()}", path)      # first writer wins: never two secrets for one folder
    except FileExistsError:
        pass
    finally:
        os.unlink(path + f".{os.getpid()}")
    with open(path) as f:
        return f.read().strip()


def answer_cells(nb):
    """The sources of the submission's answer cells (nbgrader solution cells), in order."""
    out = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {}) if "nbgrader" in cell.metadata else {}
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            out.append("".join(cell.source) if isinstance(cell.source, list) else cell.source)
    return out


def digest(cells):
    h = hashlib.sha256()
    for c in cells:
        h.update(c.encode())
        h.update(b"\0")
    return h.hexdigest()


def setup_lines(release_cells):
    """The release's own import and set-up statements (top level of its non-answer cells):
    ``import numpy as np``, ``from functools import partial``, ``tf = dt.setup()``, ``keras = tf.keras``."""
    out = []
    for source in release_cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                out.append(ast.unparse(stmt))
            elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                  and (isinstance(stmt.value, ast.Attribute) or (isinstance(stmt.value, ast.Call)
                       and isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == "setup"))):
                out.append(ast.unparse(stmt))
    seen, unique = set(), []
    for line in out:
        if line not in seen and "harvest" not in line:
            seen.add(line)
            unique.append(line)
    return unique


# --- the room's code and file-system view ----------------------------------------------------------

_STATE = {"code": None, "servers": {}}
_LOCK = threading.Lock()

SHIM = '''"""scipy.special as module 03 allows it in a NumPy-only room: erf, erfc, expit (nothing else)."""
import math as _math
import numpy as _np

_erf, _erfc = _np.frompyfunc(_math.erf, 1, 1), _np.frompyfunc(_math.erfc, 1, 1)


def _apply(f, x):
    a = _np.asarray(x, dtype=_np.float64)
    out = _np.asarray(f(a), dtype=_np.float64)
    return out if a.ndim else _np.float64(out)


def erf(x):
    return _apply(_erf, x)


def erfc(x):
    return _apply(_erfc, x)


def expit(x):
    a = _np.asarray(x, dtype=_np.float64)
    e = _np.exp(-_np.abs(a))
    out = _np.where(a >= 0, 1 / (1 + e), e / (1 + e))
    return out if a.ndim else _np.float64(out)
'''


def room_code():
    """A folder (built once per process) with the room's code: room.py, harvest.py, cases/, the
    scipy.special shim, and (for TensorFlow rooms) deeptrain without reference/ and kernels/."""
    if _STATE["code"] is None:
        out = tempfile.mkdtemp(prefix="deeptrain-room-")
        atexit.register(shutil.rmtree, out, True)
        shutil.copy(os.path.join(HERE, "room.py"), out)
        shutil.copy(os.path.join(HERE, "capstone_replay.py"), out)    # the capstone's replay (room.replay)
        shutil.copy(os.path.join(ROOT, "lib", "deeptrain", "harvest.py"), out)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(os.path.join(HERE, "cases"), os.path.join(out, "cases"), ignore=ignore)
        os.makedirs(os.path.join(out, "shims", "scipy"))
        with open(os.path.join(out, "shims", "scipy", "__init__.py"), "w") as f:
            f.write('"""Only scipy.special (erf, erfc, expit) exists in a NumPy-only clean room."""\n')
        with open(os.path.join(out, "shims", "scipy", "special.py"), "w") as f:
            f.write(SHIM)
        npsite = os.path.join(out, "npsite")     # the only package folder of a NumPy room: NumPy itself
        os.makedirs(npsite)
        for d in site_dirs():
            for name in os.listdir(d):
                if (name == "numpy" or name.startswith("numpy.libs")) and not os.path.lexists(os.path.join(npsite, name)):
                    os.symlink(os.path.join(d, name), os.path.join(npsite, name))
        lib = os.path.join(out, "tflib")
        shutil.copytree(os.path.join(ROOT, "lib", "deeptrain"), os.path.join(lib, "deeptrain"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "reference", "kernels",
                                                      "harvest_cases.py"))
        _STATE["code"] = out
    return _STATE["code"]


def site_dirs():
    return [p for p in sys.path if os.path.basename(p.rstrip(os.sep)) in ("site-packages", "dist-packages")
            and os.path.isdir(p)]


def numpy_only_hides():
    """The environment's package folders, whole, and the base installation's: covered in a NumPy room (its
    sys.path has none of them either, see room_code), which sees NumPy's own entries only (numpy_entries,
    exposed on top). One folder covered each, not each of their hundreds of entries: bubblewrap took about
    a second to mount and remount one cover per entry (over 800 mounts), twice per grading run."""
    out = list(site_dirs())
    import sysconfig
    for prefix in {sys.base_prefix, sys.base_exec_prefix}:
        for key in ("purelib", "platlib"):
            path = sysconfig.get_path(key, vars={"base": prefix, "platbase": prefix})
            if path and os.path.isdir(path) and path not in site_dirs():
                out.append(path)
    return out


def numpy_entries():
    """NumPy's entries of the package folders (the package, its .libs, its dist-info): all a NumPy room keeps."""
    return [os.path.join(d, name) for d in site_dirs() for name in sorted(os.listdir(d))
            if name == "numpy" or name.startswith(("numpy-", "numpy.libs"))]


class Server:
    """One warm room server of a kind ("numpy" or "tensorflow") under the sandbox."""

    def __init__(self, kind, hide=(), isolation=True):
        self.kind, self.proc, self.sock = kind, None, None
        self.scratch = tempfile.mkdtemp(prefix=f"deeptrain-room-{kind}-")
        atexit.register(shutil.rmtree, self.scratch, True)
        code = room_code()
        cwd = os.path.join(self.scratch, "cwd")
        os.makedirs(cwd, exist_ok=True)
        mine, theirs = socket.socketpair()
        cmd = [sys.executable, "-I", "-S", os.path.join(code, "room.py"), kind, str(theirs.fileno())] + (
            site_dirs() if kind == "tensorflow" else [os.path.join(code, "npsite")])
        if kind == "tensorflow":
            cmd.insert(6, os.path.join(code, "tflib"))     # before the site folders
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "3",
               "NBGRADER_EXECUTION": "autograde", "DEEPTRAIN_ROOM_ISOLATED": "1" if isolation else "0"}
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS", "DEEPTRAIN_DATA"):
            if var in os.environ:
                env[var] = os.environ[var]
        try:
            from .sandbox import private_env, sandbox_argv
            numpy = kind == "numpy"     # a NumPy room: the package folders hidden whole, NumPy's entries shown
            hides = list(hide) + (numpy_only_hides() if numpy else [])
            shown = [code] + (numpy_entries() if numpy else [])
            argv = sandbox_argv(cmd, scratch=self.scratch, hide=hides, expose_ro=shown, network=False, site=not numpy,
                                status=os.path.join(self.scratch, "status.json"), isolation=isolation)
            env = private_env(os.path.join(self.scratch, "home"), env)
        except ImportError:   # no sandbox API: the room still runs, unisolated
            argv = cmd
        self.log = open(os.path.join(self.scratch, "room.log"), "ab")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        theirs.close()
        self.sock = mine
        self.ready = None

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        head = self._exact(8)
        (n,) = struct.unpack("<Q", head)
        if n > 512 * 1024 ** 2:
            raise ValueError("the room sent more than the grader accepts")
        return json.loads(self._exact(n).decode())

    def _exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise EOFError("the clean room closed its channel")
            buf += chunk
        return bytes(buf)

    def wait_ready(self, timeout=180):
        if self.ready is None:
            self.ready = self._recv(timeout)
            if not isinstance(self.ready, dict) or self.ready.get("ready") != self.kind:
                raise ValueError("the clean room did not start")
        return self.ready

    def request(self, payload, timeout):
        self.wait_ready()
        data = json.dumps(payload).encode()
        self.sock.settimeout(timeout)
        self.sock.sendall(struct.pack("<Q", len(data)) + data)
        return self._recv(timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.log.close()

    def log_tail(self, n=2000):
        try:
            with open(os.path.join(self.scratch, "room.log"), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""


def _hidden():
    from . import grading_dir, kernel_hidden_paths
    return kernel_hidden_paths(grading_dir())


def server(kind, isolation=None):
    """The warm server of a kind (started when missing or dead)."""
    if isolation is None:
        isolation = os.environ.get("DEEPTRAIN_ROOM_ISOLATION", "1") != "0"
    with _LOCK:
        s = _STATE["servers"].get(kind)
        if s is None or not s.alive():
            if s is not None:
                s.close()
            s = _STATE["servers"][kind] = Server(kind, hide=_hidden(), isolation=isolation)
        return s


def prewarm(kinds=("numpy", "tensorflow")):
    """Start the servers now (TensorFlow's import then overlaps the notebook's execution)."""
    for kind in kinds:
        try:
            server(kind)
        except Exception:   # noqa: BLE001 (results() starts them again and reports)
            pass


def shutdown():
    with _LOCK:
        for s in _STATE["servers"].values():
            s.close()
        _STATE["servers"].clear()


atexit.register(shutdown)


def _clean_record(rec):
    """A record as the verdicts read it, whatever arrived (the student's answer, decoded strictly)."""
    if not isinstance(rec, dict):
        return {"error": "an unreadable result", "out": None, "mutated": [], "warnings": []}
    out = {k: v for k, v in rec.items() if isinstance(k, str)}
    err = out.get("error")
    out["error"] = None if err is None else str(err)[:600]
    if out.get("out") is not None and not isinstance(out.get("out"), dict):
        out["out"], out["error"] = None, out["error"] or "an unreadable result"
    out["mutated"] = [m for m in out.get("mutated", []) if isinstance(m, (int, str))] if isinstance(
        out.get("mutated"), list) else []
    out["warnings"] = [str(w)[:300] for w in out.get("warnings", [])][:5] if isinstance(out.get("warnings"), list) else []
    return out


def replay(text, seed, timeout):
    """The capstone's replay of a recipe (JSON text) with grading seed `seed`, in a child of the TensorFlow
    room's server (room.replay): its report, or {"error"}. The server imported TensorFlow when the worker
    started and has run no student code, so the replay pays neither a second import nor any risk."""
    from deeptrain.data import find_data_dir
    found = find_data_dir()     # the grader's own search: the room's writable Keras folder is never read
    why = "not run"
    for attempt in range(2):
        s = server("tensorflow")
        try:
            reply = s.request({"replay": text, "seed": int(seed), "timeout": timeout,
                               "data": str(found[1]) if found else None}, timeout=timeout + 60)
        except (OSError, EOFError, ValueError, socket.timeout) as e:
            tail = s.log_tail()
            why = f"{type(e).__name__}: {e}" + (f" [{tail[-300:]}]" if tail else "")
            s.close()
            continue
        return reply if isinstance(reply, dict) else {"error": "the clean room sent an unreadable report"}
    return {"error": f"the clean room (tensorflow) failed: {why}"}


def results(nb, release_cells, exercises, secret, case_timeout=20, runner_timeout=60, budget=300):
    """{exercise: {function: {case: record}}} from the clean room, the answer cells' errors in each kind of
    room ({kind: ["answer cell N: Error: message", ...]}: a NumPy room lacks what a Keras exercise's cell may
    import), and the problems (sentences) if the room itself failed. secret: hex, or None for the public
    fixed inputs."""
    from . import cases
    cells = answer_cells(nb)
    key = cases.submission_key(secret, digest(cells)).hex() if secret else None
    setup = setup_lines(release_cells)
    out, cell_errors, problems = {}, {}, []
    by_kind = {}
    for ex in exercises:
        by_kind.setdefault(kind_of(ex), []).append(ex)
    prewarm(sorted(by_kind))   # every kind starts now: TensorFlow's import overlaps the NumPy room's work
    for kind, exs in sorted(by_kind.items()):
        payload = {"cells": cells, "setup": setup, "exercises": exs, "key": key, "case_timeout": case_timeout,
                   "runner_timeout": runner_timeout, "budget": budget,
                   "shim_exercises": sorted(SCIPY_SPECIAL & set(exs))}
        reply = None
        for attempt in range(2):
            s = server(kind)
            try:
                reply = s.request(payload, timeout=budget + 120)
                break
            except (OSError, EOFError, ValueError, socket.timeout) as e:
                why = f"{type(e).__name__}: {e}"
                tail = s.log_tail()
                s.close()
                problems.append(f"the clean room ({kind}) failed: {why}" + (f" [{tail[-300:]}]" if tail else ""))
        if not isinstance(reply, dict) or not isinstance(reply.get("results"), dict):
            if isinstance(reply, dict) and reply.get("error"):
                problems.append(f"the clean room ({kind}) failed: {reply['error']}")
            continue
        problems = [p for p in problems if f"({kind})" not in p]
        for ex in exs:
            got = reply["results"].get(ex)
            if isinstance(got, dict):
                out[ex] = {str(fn): {str(c): _clean_record(r) for c, r in recs.items()}
                           for fn, recs in got.items() if isinstance(recs, dict)}
        cell_errors[kind] = [str(e) for e in reply.get("cells", [])]
    return out, cell_errors, problems
