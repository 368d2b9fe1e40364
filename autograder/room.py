"""The clean room's server: runs inside the sandbox, started by ``autograder/cleanroom.py``.

    python -I -S room.py KIND SOCKET_FD SITE_DIR...

KIND is "numpy" (the file system shows nothing but the standard library, NumPy and this code: no
SciPy, TensorFlow, Keras, JAX, PyTorch, scikit-learn, no deeptrain) or "tensorflow" (the Python
environment and a copy of deeptrain without ``reference`` and ``kernels``). The server imports
what its kind needs once (TensorFlow costs seconds), then answers requests on the socket, one at a
time: a request holds the submission's answer cells, the release's setup lines, the exercises to
run and the key the inputs are drawn with (``autograder/cases``).

The server itself never runs a line of the student's code. For each case it forks a child that
runs the release's setup lines and the answer cells, then calls the student's function on that
one case and writes the record (JSON) to a pipe of its own; the server kills whatever the child
left running, wipes the writable folders and System V IPC, and goes on. So no state crosses cases
(no cache, no memorised sequence), a hook the student's code installs (on the standard library,
NumPy, builtins) lives and dies in one child, and what the server sends back is JSON it built from
each child's JSON, decoded strictly. Exercises on Keras objects run their whole runner in one child.
A request {"replay": recipe JSON, ...} trains the capstone's recipe in a child too (``replay``): no
student code runs in it, and TensorFlow is imported already.

Standard library and NumPy only; imported by nothing.
"""
import builtins
import ctypes
import json
import os
import random
import select
import signal
import struct
import sys
import time

_dumps, _loads = json.dumps, json.loads
_fork, _exit, _write, _read, _close, _pipe = os.fork, os._exit, os.write, os.read, os.close, os.pipe
_PID = os.getpid()
MAX_RECORD = 64 * 1024 ** 2
WRITABLE = ("/tmp", "/var/tmp", "/dev/shm")


def _frame_send(sock, obj):
    data = _dumps(obj).encode()
    sock.sendall(struct.pack("<Q", len(data)) + data)


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _frame_recv(sock):
    (n,) = struct.unpack("<Q", _recv_exact(sock, 8))
    return _loads(_recv_exact(sock, n).decode())


# --- cleaning up after a child -------------------------------------------------------------------

def _isolated():
    """True inside the sandbox's own PID namespace (bubblewrap's init is pid 1, this server a small
    pid): only then may it kill every other process and wipe /tmp."""
    return os.getpid() == _PID <= 5 and os.environ.get("DEEPTRAIN_ROOM_ISOLATED") == "1"


def _kill_all_others():
    if _isolated():
        try:
            os.kill(-1, signal.SIGKILL)      # every process of the namespace but this one and init
        except ProcessLookupError:
            pass
    while True:                               # reap
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


def _wipe(folder):
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for name in entries:
        path = os.path.join(folder, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                _wipe(path)
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError:
            pass


def _remove_ipc():
    """System V shared memory, semaphores and message queues outlive their processes: remove them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return
    for kind, rm in (("shm", lambda i: libc.shmctl(i, 0, None)), ("sem", lambda i: libc.semctl(i, 0, 0)),
                     ("msg", lambda i: libc.msgctl(i, 0, None))):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            try:
                rm(int(line.split()[1]))
            except (ValueError, IndexError):
                pass


def _clean(cwd):
    _kill_all_others()
    if _isolated():
        for folder in WRITABLE:
            _wipe(folder)
        _remove_ipc()
    _wipe(cwd)


# --- a child: the student's code on one case ------------------------------------------------------

_NS = {}


class Late:
    """Stands for the student's function in the server, which never defines it: resolved by name in
    the child that ran the answer cells."""

    def __init__(self, name):
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        fn = _NS.get(self.__name__)
        if fn is None or not callable(fn):
            raise NameError(f"{self.__name__} is not defined (or not a function)")
        return fn(*args, **kwargs)


def _source(cell):
    """An answer cell as Python: IPython magics and shell lines become `pass`."""
    out = []
    for line in cell.splitlines():
        s = line.lstrip()
        out.append(line[:len(line) - len(s)] + "pass" if s.startswith(("%", "!")) else line)
    return "\n".join(out)


def _prepare(request):
    """In a child: run the setup lines (each may fail: a NumPy room has no deeptrain) and the
    answer cells. Returns the cells' errors."""
    import numpy as np
    if request.get("shim"):   # scipy.special's erf/erfc/expit, for the exercise that allows them
        sys.path.insert(1, os.path.join(os.path.dirname(os.path.realpath(__file__)), "shims"))
    np.random.seed(int.from_bytes(os.urandom(4), "little"))
    random.seed(os.urandom(16))
    ns = {"__name__": "__main__", "__builtins__": builtins}
    for line in request.get("setup", []):
        try:
            exec(compile(line, "<setup>", "exec"), ns)
        except BaseException:
            pass
    errors = []
    for i, cell in enumerate(request.get("cells", [])):
        try:
            exec(compile(_source(cell), f"<answer cell {i + 1}>", "exec"), ns)
        except BaseException as e:   # noqa: BLE001 (SystemExit too: the cell is the student's)
            errors.append(f"answer cell {i + 1}: {type(e).__name__}: {e}"[:400])
    _NS.clear()
    _NS.update(ns)
    return errors


def _cap_memory(request):
    """RLIMIT_AS of a child: what the server has mapped plus the request's allowance, so that a huge
    allocation is a MemoryError in that child rather than the sandbox's watchdog killing the room."""
    try:
        import resource
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        cap = vm + int(request.get("child_memory", 1536 * 1024 ** 2))
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (OSError, ValueError, StopIteration, ImportError):
        pass


def _child(request, work, fd, sock):
    """Never returns: runs work() after the answer cells and writes its JSON to fd."""
    try:
        sock.close()
        devnull = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(devnull, std)
        os.setpgid(0, 0)
        _cap_memory(request)
        errors = _prepare(request)
        out = work(errors)
        data = _dumps(out).encode()
    except BaseException as e:   # noqa: BLE001
        try:
            data = _dumps({"__child_error__": f"{type(e).__name__}: {e}"[:600]}).encode()
        except BaseException:
            data = b'{"__child_error__": "unreadable"}'
    try:
        view = memoryview(data)
        while view:
            n = _write(fd, view[:1 << 20])
            view = view[n:]
    finally:
        _exit(0)


def _in_child(request, work, sock, cwd, timeout):
    """Fork, run work in the child, return (its JSON value or None, a problem or None)."""
    r, w = _pipe()
    pid = _fork()
    if pid == 0:
        _close(r)
        _child(request, work, w, sock)
    _close(w)
    chunks, size, deadline, problem = [], 0, time.monotonic() + timeout, None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            problem = f"CaseTimeout: did not finish within {timeout:g} s"
            break
        ready, _, _ = select.select([r], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = _read(r, 1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_RECORD:
            problem = "the result was larger than the grader accepts"
            break
        chunks.append(chunk)
    _close(r)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = 0
    _clean(cwd)
    if problem:
        return None, problem
    try:
        value = _loads(b"".join(chunks).decode())
    except (ValueError, UnicodeDecodeError):
        if os.WIFSIGNALED(status):
            return None, f"the process died (signal {os.WTERMSIG(status)})"
        return None, "nothing readable came back (the process ended early?)"
    if isinstance(value, dict) and "__child_error__" in value:
        return None, str(value["__child_error__"])
    return value, None


def _error_record(message):
    return {"error": str(message)[:600], "out": None, "mutated": [], "warnings": []}


# --- a request ---------------------------------------------------------------------------------------

def handle(request, sock, cases):
    cwd = os.getcwd()
    cases.use_key(request.get("key"))
    timeout = float(request.get("case_timeout", 30))
    deadline = time.monotonic() + float(request.get("budget", 300))
    state = {"errors": None}

    # Which functions exist after the answer cells (and the cells' errors), once.
    def probe(errors):
        return {"errors": errors, "defined": sorted(k for k, v in _NS.items() if callable(v) and not k.startswith("__"))}
    info, problem = _in_child(dict(request, shim=bool(request.get("shim_exercises"))), probe, sock, cwd, timeout)
    if not isinstance(info, dict):
        info = {"errors": [problem or "the answer cells could not be run"], "defined": []}
    state["errors"] = [str(e) for e in info.get("errors", [])][:20]
    defined = set(str(d) for d in info.get("defined", []))

    def isolate(label, thunk, steps):
        if os.getpid() != _PID:     # inside a child already (a runner that runs whole): in this process
            return thunk()
        stop = None
        if time.monotonic() > deadline:
            stop = "not run: the clean room used up its time budget"
        elif state.get("timed_out") == state.get("function"):
            stop = f"not run: {state['function']} did not finish on an earlier case"
        if stop:
            rec = _error_record(stop)
            return {f"{label}, step 1": rec} if steps else rec
        value, problem = _in_child(request, lambda errors: thunk(), sock, cwd, timeout)
        if problem and problem.startswith("CaseTimeout"):
            state["timed_out"] = state.get("function")
        if problem is not None or not isinstance(value, dict):
            rec = _error_record(problem or "an unreadable result")
            return {f"{label}, step 1": rec} if steps else rec
        return value
    cases._ISOLATE["run"] = isolate

    results = {}
    base = request
    for ex in base.get("exercises", []):
        spec = cases.EXERCISES.get(ex)
        if spec is None:
            continue
        request = dict(base, shim=ex in base.get("shim_exercises", ()))
        out = {}
        for name, runner in spec.functions.items():
            if name not in defined:
                why = f"NameError: {name} is not defined (or not a function) after the answer cells ran"
                if state["errors"]:
                    why += "; " + "; ".join(state["errors"][:3])
                out[name] = {"__missing__": _error_record(why)}
                continue
            state["function"] = f"{ex}:{name}"
            try:
                if getattr(runner, "per_case", False):
                    out[name] = runner(Late(name), {})
                else:   # a runner on Keras objects: the whole runner in one child
                    value, problem = _in_child(
                        request, lambda errors, runner=runner, name=name: runner(_NS[name], {name: _NS[name]}),
                        sock, cwd, max(timeout, float(request.get("runner_timeout", 120))))
                    out[name] = value if isinstance(value, dict) and problem is None else {
                        "__runner__": _error_record(problem or "an unreadable result")}
            except Exception as e:   # our own code failed: say so, keep the rest
                out[name] = {"__runner__": _error_record(f"the grader's runner failed: {type(e).__name__}: {e}")}
        results[ex] = out
    return {"results": results, "cells": state["errors"]}


def replay(request, sock):
    """The capstone's grading runs (``capstone_replay.run_one``: recipe JSON -> report) in a child of this
    server. TensorFlow is imported already, and the child has run no line of the student's code: the server
    never does, and what an earlier child left (processes, files in the writable folders, System V IPC) was
    removed when it ended (``_clean``)."""
    import capstone_replay
    text, base, data = str(request.get("replay", "")), int(request.get("seed", 0)), request.get("data")

    def work(errors):
        from deeptrain.capstone_recipe import grading_seeds
        if data:    # the folder the grader found, read-only here: never a writable one a child may have filled
            os.environ["DEEPTRAIN_DATA"] = str(data)
        return capstone_replay.run_one(tuple(grading_seeds(base)), text, base=base)
    value, problem = _in_child({"child_memory": int(request.get("child_memory", 3 * 1024 ** 3))}, work, sock,
                               os.getcwd(), float(request.get("timeout", 720)))
    if problem is not None or not isinstance(value, dict):
        return {"error": f"the replay failed: {problem or 'an unreadable report'}"}
    return value


def main(argv):
    import socket
    kind, fd, site = argv[1], int(argv[2]), argv[3:]
    here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:0] = [here]
    sys.path += site
    try:   # never dumpable: a child (same user, no capabilities) cannot ptrace or read this process
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE 0
    except (OSError, AttributeError):
        pass
    import numpy  # noqa: F401
    if kind == "tensorflow":
        import deeptrain
        deeptrain.import_tensorflow()
    import cases
    sock = socket.socket(fileno=fd)
    _frame_send(sock, {"ready": kind, "pid": os.getpid(), "isolated": _isolated()})
    while True:
        try:
            request = _frame_recv(sock)
        except (EOFError, OSError, ValueError):
            return 0
        try:
            reply = replay(request, sock) if "replay" in request else handle(request, sock, cases)
        except Exception as e:   # noqa: BLE001
            reply = {"error": f"{type(e).__name__}: {e}"[:600]}
        _frame_send(sock, reply)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
