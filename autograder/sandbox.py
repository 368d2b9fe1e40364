"""A kernel launcher that keeps student code from harming the grader, and the kernel manager using it.

nbgrader starts one IPython kernel per notebook. This module wraps the kernel's command:

    python autograder/sandbox.py [options] -- python -m ipykernel_launcher -f CONNECTION_FILE

The launcher stays outside the kernel as a small supervisor and runs the kernel as its child:

- **Memory**: a watchdog sums the resident memory of the kernel and everything it started and
  kills them all above ``--memory`` bytes (TensorFlow reserves gigabytes of address space it
  never touches, so a resident-memory cap is the fair measure); ``--address-space`` adds an
  ``RLIMIT_AS`` cap (measured: TensorFlow 2.21 on 2 cores maps about 2.2 GB, so 8 GiB leaves
  room) that turns a single giant allocation into a ``MemoryError`` inside the cell.
- **CPU**: ``RLIMIT_CPU`` (``--cpu`` seconds) on the kernel: a busy loop that survives every
  interrupt still ends.
- **Isolation** (Linux with bubblewrap, ``bwrap``; ``make sandbox`` installs it): the kernel runs
  in its own network namespace (no network at all: not even the host's loopback, where the
  grading account's Jupyter server listens; the kernel talks to the grader over Unix sockets in its
  scratch folder), its own PID namespace (it cannot see or signal the grader or other students'
  kernels, ``os.kill(-1, 9)`` only reaches itself, everything it started dies with it), its own
  IPC namespace, and a mount namespace in which the whole file system is read-only (a submission
  cannot plant a ``sitecustomize.py`` or edit the library for the students graded after it),
  ``--hide`` paths are covered by empty folders (solutions, gradebooks, git history, other
  students' work) and so are the grading account's secrets (``account_secrets``: its home with
  ``~/.ssh``, ``~/.config``, ``~/.local/share/jupyter/runtime`` and its server tokens, Jupyter's
  and XDG's folders), ``/tmp`` is a fresh private tmpfs, and ``--expose`` paths (the notebook's own
  folder, the kernel's scratch folder, the Python installation, the data) stay reachable. The
  kernel has no capabilities and ``no_new_privs``. Without bubblewrap (macOS, Windows, a Linux
  without the package or without user namespaces) the limits above still apply and ``--status``
  says that the kernel is NOT isolated.
- **Why the kernel died**: the launcher writes a one-line JSON status (``--status FILE``):
  the exit code or signal, and "memory"/"cpu" when a limit killed it. The grader turns it into
  feedback ("your code used more than 3.0 GB of memory").

Other untrusted processes of the grader (the clean-room judge) use the same launcher through
``sandbox_argv`` and ``private_env``.

The launcher imports only the standard library (and ``psutil`` when present): it runs before the
kernel and must not be affected by what the kernel can change.
"""
import argparse
import ctypes
import json
import os
import shutil
import signal
import sys
import time

GiB = 1024 ** 3
SCRATCH_MOUNTS = ("/tmp", "/var/tmp", "/dev/shm")   # fresh private tmpfs' in the sandbox

# Where the grading account keeps what a kernel must never read: Jupyter's runtime files (server
# tokens, kernel connection files), configuration, caches, credentials. Its home is hidden whole.
_SECRET_VARS = ("HOME", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR",
                "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")


# --- what the sandbox hides and keeps -----------------------------------------------------

def account_secrets(env=None, jupyter=True):
    """The grading account's private folders, to be hidden from every sandboxed process: its home
    (``~/.ssh``, ``~/.config``, ``~/.jupyter``, ``~/.local/share/jupyter/runtime`` with the
    ``jpserver-*.json`` token files...), Jupyter's and XDG's folders wherever env puts them, and
    ``/run/user/UID``. env: the grader's environment (default os.environ), read *before* a
    kernel's environment replaces HOME; jupyter: also ask jupyter_core where its folders are."""
    env = os.environ if env is None else env
    paths = {env.get(var) for var in _SECRET_VARS}
    try:
        import pwd
        paths.add(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):
        pass
    if hasattr(os, "getuid"):
        paths.add(f"/run/user/{os.getuid()}")
    try:  # Jupyter's own answer (it knows its platform defaults); not in the launcher: stdlib only
        if not jupyter:
            raise ImportError
        from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir
        paths |= {jupyter_runtime_dir(), jupyter_data_dir()}
    except Exception:
        pass
    real = {os.path.realpath(p) for p in paths if p and os.path.isabs(p)}
    return sorted(p for p in real if p != "/" and os.path.lexists(p))


def python_paths(site=True):
    """The Python installation, which must stay readable even below a hidden folder (a pyenv in
    the grader's home, a checkout under /tmp): the prefixes and the package folders of sys.path (a
    venv can load another's site-packages through a .pth file). Only folders named
    site-packages/dist-packages: the rest of sys.path (the checkout) stays hidden. site=False: the
    prefixes only (a caller that hides the package folders whole and exposes what it keeps of them)."""
    packages = {p for p in sys.path if os.path.basename(p.rstrip(os.sep)) in ("site-packages", "dist-packages")}
    prefixes = {sys.prefix, sys.exec_prefix, sys.base_prefix}
    return sorted(p for p in prefixes | (packages if site else set()) if p and os.path.isdir(p))


def _under(path, parent):
    return path == parent or path.startswith(parent.rstrip("/") + "/")


# --- isolation with bubblewrap ------------------------------------------------------------

def bwrap_argv(cmd, hide=(), expose_rw=(), expose_ro=(), tmp_size=512 * 1024 ** 2, network=False,
               info_fd=None, cwd=None, decoys=(), site=True):
    """The bubblewrap command running cmd isolated (see the module's docstring). Order matters:
    bwrap applies its mounts in argument order, so the hiding tmpfs' come before the exposed
    folders (mounted on top of them), and a hidden path inside an exposed folder is hidden again.
    decoys: folders (inside a hidden one) where the sandbox shows decoy Jupyter runtime files
    (see decoy_files); call this in the process that execs bwrap (it passes them on pipes).
    site=False: the package folders are not exposed by default (python_paths), so that a hidden one
    stays hidden but for what expose_ro brings back."""
    # Not --as-pid-1: a namespace's pid 1 ignores SIGXCPU (the CPU limit) and signals without a handler.
    out = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session",
           "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--cap-drop", "ALL"]
    if not network:
        out.append("--unshare-net")
    if info_fd is not None:
        out += ["--info-fd", str(info_fd)]
    out += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    for path in SCRATCH_MOUNTS:
        out += ["--perms", "1777", "--size", str(tmp_size), "--tmpfs", path]
    expose = {os.path.realpath(p): True for p in expose_rw if os.path.exists(p)}
    for p in list(expose_ro) + python_paths(site):
        if os.path.exists(p):
            expose.setdefault(os.path.realpath(p), False)
    hidden = []

    def cover(path):
        if os.path.isdir(path):
            return ["--size", str(1 << 20), "--tmpfs", path]
        return ["--ro-bind", "/dev/null", path]

    # (A broken symbolic link hides nothing and has no target to cover: left alone.)
    covered = sorted({os.path.realpath(p) for p in hide if os.path.exists(p)} - set(SCRATCH_MOUNTS))
    for path in covered:
        # Inside a hidden folder already (unless an exposed folder brings it back): nothing to do.
        if any(_under(path, h) and path != h for h in covered) and not any(_under(path, e) for e in expose):
            continue
        out += cover(path)
        hidden.append(path)
    # Exposed folders, and hidden ones inside them hidden again, parents before what is inside them
    # (the data in a hidden home below an exposed folder: exposed, home hidden again, data exposed).
    again = [h for h in hidden if any(_under(h, e) and h != e for e in expose)]
    for path in sorted(list(expose) + again, key=len):
        if path in again:
            out += cover(path)
        if path in expose:
            out += ["--bind" if expose[path] else "--ro-bind", path, path]
    # Decoys live only in the sandbox: a small tmpfs of their own (writable, else reads would not
    # update the access times), filled by bwrap from pipes. No folder on the host holds them, so no
    # host process (a `du` or `find` over /tmp, another grader's clean-up) can touch them by accident;
    # decoys_touched reads their times through /proc/PID/root. Only where a hidden folder covers.
    decoys = [w for w in decoys if os.path.isabs(w) and w not in expose and any(_under(w, h) for h in hidden)]
    for where in decoys:
        out += ["--perms", "0700", "--size", str(1 << 20), "--tmpfs", where]
        for name, text in decoy_files(where).items():
            r, w = os.pipe()
            os.write(w, text.encode())   # a few hundred bytes: well within a pipe's buffer
            os.close(w)
            os.set_inheritable(r, True)
            out += ["--file", str(r), os.path.join(where, name)]
    for path in hidden:   # last: bwrap creates the mount points above inside these
        if os.path.isdir(path) and path not in expose and path not in decoys:
            out += ["--remount-ro", path]
    return out + ["--chdir", cwd or os.getcwd(), "--", *cmd]


def bwrap_works(network=False):
    """(True, "") when bwrap can create the namespaces here, else (False, why): bwrap is missing,
    or user namespaces are disabled for this account (bwrap is not setuid on Debian)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False, "bubblewrap (bwrap) is not installed: `make sandbox` or `apt-get install bubblewrap`"
    import subprocess
    probe = bwrap_argv(["true"], network=network, cwd="/")
    try:
        run = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"bwrap failed: {e}"
    if run.returncode != 0:
        return False, f"bwrap cannot create namespaces here: {run.stderr.strip()[-300:]}"
    return True, ""


# --- the supervisor -----------------------------------------------------------------------

PR_SET_PDEATHSIG = 1


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _tree_rss(pid):
    """Resident memory (bytes) of pid and all its descendants (Linux /proc; 0 elsewhere)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue
        todo += _children(p)
    if not seen or (total == 0 and not os.path.exists("/proc/self/statm")):
        try:  # macOS and others: psutil when present
            import psutil
            proc = psutil.Process(pid)
            return sum(q.memory_info().rss for q in [proc] + proc.children(recursive=True))
        except Exception:
            return 0
    return total


def _limit_resources(args):
    """The rlimits of the kernel (inherited through bwrap's exec)."""
    import resource
    if args.address_space:
        resource.setrlimit(resource.RLIMIT_AS, (args.address_space, args.address_space))
    if args.cpu:
        resource.setrlimit(resource.RLIMIT_CPU, (args.cpu, args.cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args.file_size:
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.file_size, args.file_size))


def _die_with_parent():
    """SIGKILL when the launcher dies (nothing the kernel started outlives the grading)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass


def _read_all(fd):
    data = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return data


def _parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--memory", type=int, default=3 * GiB, help="resident memory cap in bytes (0: none)")
    p.add_argument("--address-space", type=int, default=8 * GiB, help="RLIMIT_AS in bytes (0: none)")
    p.add_argument("--cpu", type=int, default=600, help="RLIMIT_CPU in seconds (0: none)")
    p.add_argument("--tmp-size", type=int, default=512 * 1024 ** 2, help="size of the private /tmp")
    p.add_argument("--file-size", type=int, default=256 * 1024 ** 2, help="RLIMIT_FSIZE: largest file written")
    p.add_argument("--hide", action="append", default=[])
    p.add_argument("--expose", action="append", default=[], help="stays writable")
    p.add_argument("--expose-ro", action="append", default=[])
    p.add_argument("--network", action="store_true", help="keep the host's network (grading never does)")
    p.add_argument("--decoy", action="append", default=[], help="WHERE: decoy Jupyter runtime files shown at WHERE")
    p.add_argument("--no-isolation", action="store_true")
    p.add_argument("--no-site", action="store_true",
                   help="do not expose the Python package folders by default (they follow --hide/--expose-ro)")
    p.add_argument("--status", default=None, help="JSON status file")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    return p


def main(argv=None):
    """Run the command under the limits (and isolated when possible); returns its exit code."""
    args = _parser().parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    status = {"isolation": "off", "pid": os.getpid()}

    def report(**kw):
        status.update(kw)
        if args.status:
            try:
                tmp = args.status + ".tmp"
                _write(tmp, json.dumps(status))
                os.replace(tmp, args.status)
            except OSError:
                pass

    # Always hidden, whatever the caller passed: the account's home and runtime folder.
    hide = args.hide + account_secrets({}, jupyter=False)
    # The connection file must stay reachable (ipykernel reads and rewrites it).
    expose_rw = [os.getcwd()] + args.expose
    if "-f" in cmd:
        expose_rw.append(os.path.abspath(cmd[cmd.index("-f") + 1]))
    backend = None
    if args.no_isolation:
        pass
    elif not sys.platform.startswith("linux"):
        status["isolation_error"] = f"no Linux namespaces on {sys.platform}"
    else:
        ok, why = bwrap_works(args.network)
        if ok:
            backend = "bwrap"
        else:
            status["isolation_error"] = why
    parent = os.getppid()
    read, write = os.pipe()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # until the kernel is there to receive it
    pid = os.fork()
    if pid == 0:  # becomes bwrap (whose child's child is the kernel), or the kernel itself
        os.close(read)
        try:
            _limit_resources(args)
        except BaseException as e:  # the limits were asked for and failed: do not run unprotected
            os.write(write, json.dumps({"isolation": "failed", "isolation_error": repr(e)}).encode())
            os._exit(70)
        # Its own process group (kill(0, ...) from the kernel cannot reach the launcher).
        os.setpgid(0, 0)
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if backend == "bwrap":   # bwrap writes {"child-pid": ...} on the pipe, then closes it
            # Inside, the kernel's parent is the namespace's init, pid 1, which ipykernel takes for
            # "my parent died" and exits; the launcher watches nbgrader instead.
            os.environ.pop("JPY_PARENT_PID", None)
            os.set_inheritable(write, True)
            run = bwrap_argv(cmd, hide, expose_rw, args.expose_ro, args.tmp_size, args.network, info_fd=write,
                             decoys=args.decoy, site=not args.no_site)
            os.execv(run[0], run)
        os.close(write)
        os.execvp(cmd[0], cmd)
    os.close(write)
    info = json.loads(_read_all(read) or b"{}")
    kernel = pid
    if "child-pid" in info:   # from bwrap
        # bwrap's child is the namespace's init (pid 1, which would ignore SIGXCPU and SIGINT);
        # the kernel is its child, in the process group that init's setsid created.
        kernel = info["child-pid"]
        status.update(isolation="namespaces (bubblewrap)", files="isolated", proc="private",
                      network="host" if args.network else "none")
    else:   # the limits could not be set (the child exits 70), or bwrap failed before its child ran
        status.update(info)
    report(kernel_pid=kernel, state="running")
    return _supervise(args, pid, kernel, parent, backend, report)


def _supervise(args, pid, kernel, parent, backend, report):
    """Wait for the child pid, passing interrupts on to the kernel, killing it over the memory cap
    or when nbgrader is gone; writes the final status. Returns the exit code to exit with."""
    def interrupt(signum, frame):  # SIGINT to the launcher's process group, from jupyter_client
        try:
            if backend == "bwrap":
                os.killpg(kernel, signal.SIGINT)   # the kernel's group (bwrap's init ignores it)
            else:
                os.kill(pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            pass
    signal.signal(signal.SIGINT, interrupt)
    killed = {}

    def terminate(signum, frame):
        killed.setdefault("reason", "terminated")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    peak = 0
    while True:
        try:
            done, code = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, code = pid, 0
        if done:
            break
        rss = _tree_rss(pid)
        peak = max(peak, rss)
        if args.memory and rss > args.memory and "reason" not in killed:
            killed["reason"] = "memory"
            killed["rss"] = rss
            os.kill(pid, signal.SIGKILL)
        if os.getppid() != parent and "reason" not in killed:  # nbgrader is gone: so is the kernel
            killed["reason"] = "orphaned"
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    sig = os.WTERMSIG(code) if os.WIFSIGNALED(code) else None
    if sig is None and backend == "bwrap" and os.WEXITSTATUS(code) > 128:
        sig = os.WEXITSTATUS(code) - 128            # bwrap exits 128 + the kernel's signal
    if sig is not None and sig in signal.valid_signals():
        reason = killed.get("reason") or ("cpu" if sig == signal.SIGXCPU else f"signal {signal.Signals(sig).name}")
        report(state="dead", signal=sig, reason=reason, peak_rss=peak, **{k: v for k, v in killed.items()
                                                                        if k != "reason"})
        return 128 + sig
    exit_code = os.WEXITSTATUS(code)
    report(state="exited", exit_code=exit_code, reason=killed.get("reason", f"exit {exit_code}"), peak_rss=peak)
    return exit_code


# --- for other sandboxed processes of the grader (the clean-room judge) ------------------

def sandbox_argv(cmd, *, scratch, hide=(), expose_rw=(), expose_ro=(), network=False, memory=3 * GiB,
                 address_space=8 * GiB, cpu=600, status=None, isolation=True, decoy=False, site=True):
    """The command that runs cmd (a list) under this launcher: limits, status file, and isolated
    (no network unless network=True; the grading account's secrets and the hide paths covered;
    scratch, the current folder and expose_rw writable, expose_ro and the Python installation
    readable). Run it with the environment of private_env(scratch). Inherited file descriptors
    (pipes) stay open in cmd: use one as the channel to the grader. decoy: show decoy runtime files
    where the account's Jupyter runtime files are (decoys_touched tells whether they were read).
    site=False: the Python package folders are not exposed by default (see bwrap_argv)."""
    out = [sys.executable, os.path.realpath(__file__), "--memory", str(memory), "--address-space",
           str(address_space), "--cpu", str(cpu), "--expose", os.path.abspath(scratch)]
    if status:
        out += ["--status", os.path.abspath(status)]
    if not isolation:
        out.append("--no-isolation")
    if network:
        out.append("--network")
    if not site:
        out.append("--no-site")
    for path in list(hide) + account_secrets():
        out += ["--hide", os.path.abspath(path)]
    for path in expose_rw:
        out += ["--expose", os.path.abspath(path)]
    for path in list(expose_ro) + [d for d in [data_dir()] if d]:   # the data private_env points to
        out += ["--expose-ro", os.path.abspath(path)]
    if decoy:
        out += [f"--decoy={where}" for where in runtime_dirs()]
    return out + ["--", *cmd]


# --- decoys: the attempt to reach the account's Jupyter server is seen, not only blocked ---------

def runtime_dirs():
    """Where Jupyter keeps the grading account's runtime files (``jpserver-*.json`` with the server's
    token, ``kernel-*.json``): $JUPYTER_RUNTIME_DIR or its default below the account's home."""
    out = {os.path.join(os.path.expanduser("~"), ".local", "share", "jupyter", "runtime")}
    try:
        from jupyter_core.paths import jupyter_runtime_dir
        out.add(jupyter_runtime_dir())
    except Exception:
        pass
    return sorted(os.path.realpath(p) for p in out if os.path.isabs(p))


def decoy_files(where):
    """{name: text}: a believable Jupyter runtime folder (a server's ``jpserver-*.json`` with a token,
    its login page, a kernel connection file) that nothing legitimate in a kernel ever opens."""
    import secrets
    port, token = 8888, secrets.token_hex(24)
    home = where.split("/.local/", 1)[0] if "/.local/" in where else os.path.dirname(where)
    server = {"base_url": "/", "hostname": "127.0.0.1", "password": False, "pid": 4242, "port": port,
              "root_dir": home, "secure": False, "sock": "", "token": token,
              "url": f"http://127.0.0.1:{port}/", "version": "2.14.2"}
    kernel = {"shell_port": 50001, "iopub_port": 50002, "stdin_port": 50003, "control_port": 50004,
              "hb_port": 50005, "ip": "127.0.0.1", "key": secrets.token_hex(16), "transport": "tcp",
              "signature_scheme": "hmac-sha256", "kernel_name": "python3"}
    return {"jpserver-4242.json": json.dumps(server, indent=2), "kernel-4d1c0e5b.json": json.dumps(kernel, indent=2),
            "jpserver-4242-open.html": f'<meta http-equiv="refresh" content="1;url=http://127.0.0.1:{port}/tree?token={token}">'}


def decoys_touched(pid, wheres):
    """The decoys a sandboxed process (pid: any process of its mount namespace, e.g. the launcher's
    kernel_pid) listed or read: "the folder's listing" and/or the files' names; [] if none or if
    they cannot be seen (the process is gone, or /proc/PID/root is not ours to read).

    No baseline is needed: bwrap creates the folder and then the files in it, so until someone
    lists the folder or reads a file its access time is not after its modification/change time;
    a listing or a read after that sets the access time to "now" (relatime, the default for the
    tmpfs: it updates an access time that is not after mtime/ctime). stat() from outside sets
    nothing. Why not a folder on the host bind-mounted in (the first design): a host process
    walking /tmp (seen: something listed every folder of /tmp within 2 s under load) listed it
    too, and honest notebooks were flagged."""
    out = []
    for where in wheres:
        root = f"/proc/{int(pid)}/root{where}"
        try:
            stamps = {name: os.stat(os.path.join(root, name)) for name in [""] + sorted(decoy_files(where))}
        except OSError:   # gone (the kernel exited, the file was removed) or not ours: no evidence
            continue
        out += [name or "the folder's listing" for name, st in stamps.items()
                if st.st_atime_ns > max(st.st_mtime_ns, st.st_ctime_ns)]
    return sorted(set(out))


def private_env(scratch, env=None):
    """A copy of env (default os.environ) for a sandboxed process: HOME, TMPDIR, IPython's,
    Matplotlib's, Keras' and XDG's folders in scratch (nothing of the account's, nothing shared
    with the next student), no pointer to the account's Jupyter folders, and $DEEPTRAIN_DATA set
    to the Fashion-MNIST folder when it is in a folder the sandbox hides (the account's Keras
    cache; sandbox_argv exposes it read-only)."""
    env = dict(os.environ if env is None else env)
    data = data_dir(env)
    for var in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "XDG_RUNTIME_DIR",
                "JPY_SESSION_NAME", "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"):
        env.pop(var, None)
    for var, sub in (("HOME", "home"), ("TMPDIR", "tmp"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "matplotlib"),
                     ("KERAS_HOME", "keras"), ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_DATA_HOME", "share")):
        os.makedirs(os.path.join(scratch, sub), exist_ok=True)
        env[var] = os.path.join(scratch, sub)
    if data:
        env["DEEPTRAIN_DATA"] = data
    return env


def data_dir(env=None):
    """The Fashion-MNIST folder grading reads (deeptrain.data's search with the grader's env), or
    None. Sandboxed processes get it as $DEEPTRAIN_DATA, read-only."""
    env = os.environ if env is None else env
    folders = [env.get("DEEPTRAIN_DATA"),
               os.path.join(env.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"),
                            "datasets", "fashion-mnist")]
    for folder in folders:
        if folder and os.path.isfile(os.path.join(os.path.expanduser(folder), "train-images-idx3-ubyte.gz")):
            return os.path.abspath(os.path.expanduser(folder))
    return None   # the Debian package's /usr/share/datasets stays visible anyway


def read_status(path):
    """The launcher's status dict ({} if none yet)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, TypeError, ValueError):
        return {}


# --- the self-test (grade.py reports its answer) ------------------------------------------

_PROBE = r"""
import json, os, socket, sys
hidden, secrets, kept, port = map(json.loads, sys.argv[1:5])
def empty(p):  # nothing but the way to the folders kept visible (the Python installation); files: /dev/null
    if not os.path.isdir(p):
        return not os.path.exists(p) or os.path.getsize(p) == 0
    inside = [os.path.join(p, e) for e in os.listdir(p)]
    return all(e in kept or (any(k.startswith(e + "/") for k in kept) and empty(e)) for e in inside)
out = {"pid_namespace": len([p for p in os.listdir("/proc") if p.isdigit()]) <= 3,
       "hidden": all(map(empty, hidden)), "secrets": all(map(empty, secrets))}
try:
    open(os.path.join(sys.prefix, ".deeptrain-sandbox-probe"), "w").close()
    os.remove(os.path.join(sys.prefix, ".deeptrain-sandbox-probe"))
    out["read_only"] = False
except OSError:
    out["read_only"] = True
try:
    socket.create_connection(("127.0.0.1", port), timeout=3).close()
    out["network"] = False
except OSError:
    out["network"] = True
print(json.dumps(out))
"""


def self_test(hide=(), timeout=60):
    """Launch a probe under the sandbox as a kernel would be (hide paths, the account's secrets,
    a TCP server of ours on the loopback); returns (ok, one-line description)."""
    import socket
    import subprocess
    import tempfile
    yn = {True: "yes", False: "NO"}
    with tempfile.TemporaryDirectory(prefix="deeptrain-sandbox-test-") as tmp, \
            socket.create_server(("127.0.0.1", 0)) as server:
        status = os.path.join(tmp, "status.json")
        secrets = account_secrets()
        cmd = sandbox_argv([sys.executable, "-c", _PROBE, json.dumps([p for p in hide if os.path.exists(p)]),
                            json.dumps(secrets), json.dumps(python_paths()), str(server.getsockname()[1])],
                           scratch=tmp, hide=hide, status=status)
        try:
            run = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout,
                                 env=private_env(tmp))
            probe = json.loads(run.stdout.strip().splitlines()[-1])
            info = read_status(status)
        except Exception as e:
            return False, f"the sandbox launcher failed ({e})"
    if not info.get("isolation", "off").startswith("namespaces"):
        return False, ("NOT isolated: time and memory limits only; kernels can read and write what this user "
                       f"can, and use the network ({info.get('isolation_error', 'no Linux namespaces here')})")
    # With the host's /proc, /proc/PID/root of a grader process would show the hidden files again.
    ok = all(probe[k] for k in ("hidden", "secrets", "read_only", "pid_namespace", "network")) \
        and info.get("proc") == "private"
    what = (f"{info['isolation']}: course files hidden {yn[probe['hidden']]}, the account's home and Jupyter "
            f"tokens hidden {yn[probe['secrets']]}, no network {yn[probe['network']]}, file system read-only "
            f"{yn[probe['read_only']]}, own PID namespace {yn[probe['pid_namespace']]}, /proc {info.get('proc', '?')}")
    return ok, what


# --- the kernel manager (used by nbgrader through autograder/nbgrader_config.py) -----------

try:
    if __name__ == "__main__":   # the launcher needs none of this (and starts 0.3 s sooner without it)
        raise ImportError
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Bool, Integer, List, Unicode
except ImportError:
    AsyncKernelManager = object

if AsyncKernelManager is not object:
    import shutil
    import tempfile

    _LIBRARIES = {}

    def kernel_library(package_dir):
        """A copy of the package at package_dir (e.g. lib/deeptrain) for grading kernels; returns
        the folder to put on PYTHONPATH. Its ``reference`` subpackage is left out: the grader's own
        process judges the kernel's results against it (autograder/verdicts), so a kernel never needs
        it, exactly like the student bundle.

        Built once per process (or taken from $DEEPTRAIN_KERNEL_LIB when the grader built it).
        """
        prebuilt = os.environ.get("DEEPTRAIN_KERNEL_LIB")
        if prebuilt and os.path.isdir(prebuilt) and not os.path.isdir(
                os.path.join(prebuilt, os.path.basename(os.path.abspath(package_dir)), "reference")):
            return prebuilt
        package_dir = os.path.abspath(package_dir)
        if package_dir not in _LIBRARIES:
            import atexit
            out = tempfile.mkdtemp(prefix="deeptrain-kernel-lib-")
            atexit.register(shutil.rmtree, out, True)
            build_kernel_library(package_dir, out)
            _LIBRARIES[package_dir] = out
        return _LIBRARIES[package_dir]

    def build_kernel_library(package_dir, out):
        """Copy package_dir into out/ without its reference/ subpackage."""
        dest = os.path.join(out, os.path.basename(package_dir))
        shutil.copytree(package_dir, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "reference"))
        return out

    class SandboxedKernelManager(AsyncKernelManager):
        """An AsyncKernelManager whose kernels run under the sandbox launcher above.

        Each kernel gets a scratch folder (IPython and Matplotlib settings, temporary files)
        that nothing else uses, so one student's kernel cannot leave a startup script or a
        setting behind for the next one.
        """

        sandbox = Bool(True, help="run kernels under autograder/sandbox.py").tag(config=True)
        isolation = Bool(True, help="use Linux namespaces when available").tag(config=True)
        memory_limit = Integer(3 * GiB, help="resident memory of a kernel and its children, bytes").tag(config=True)
        address_space_limit = Integer(8 * GiB, help="RLIMIT_AS of the kernel, bytes").tag(config=True)
        cpu_limit = Integer(600, help="RLIMIT_CPU of the kernel, seconds").tag(config=True)
        hide = List(Unicode(), help="paths the kernel must not see").tag(config=True)
        expose = List(Unicode(), help="paths that stay reachable and writable").tag(config=True)
        expose_ro = List(Unicode(), help="paths that stay reachable, read-only").tag(config=True)
        pythonpath = List(Unicode(), help="prepended to the kernel's PYTHONPATH").tag(config=True)
        library = Unicode("", help=("a package folder (lib/deeptrain) the kernel imports from a copy without "
                                    "its reference/ subpackage (see kernel_library); empty: as installed")
                          ).tag(config=True)

        scratch = None
        _decoy = ()    # the folders where this kernel's sandbox shows decoys

        @property
        def status_file(self):
            return os.path.join(self.scratch, "sandbox-status.json") if self.scratch else None

        def sandbox_status(self):
            """The launcher's last status dict ({} if none)."""
            return read_status(self.status_file)

        async def _async_pre_start_kernel(self, **kw):
            if self.sandbox and self.scratch is None:
                self.scratch = tempfile.mkdtemp(prefix="deeptrain-kernel-")
                if not self.connection_file or not os.path.exists(self.connection_file):
                    self.connection_file = os.path.join(self.scratch, "connection.json")
                # The kernel has no network (not even the loopback): it talks to the grader over
                # Unix sockets in its scratch folder, which both sides see.
                self.transport = "ipc"
                self.ip = os.path.join(self.scratch, "ipc")
            kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
            if not self.sandbox:
                return kernel_cmd, kw
            try:
                os.remove(self.status_file)
            except (OSError, TypeError):
                pass
            env = private_env(self.scratch, kw.get("env") or os.environ)
            pythonpath = list(self.pythonpath)
            if self.library:
                pythonpath.insert(0, kernel_library(self.library))
            if pythonpath:
                env["PYTHONPATH"] = os.pathsep.join(pythonpath + [p for p in
                                                    env.get("PYTHONPATH", "").split(os.pathsep) if p])
            kw["env"] = env
            # The kernel's own stdout and stderr (not the notebook's: those go through ZeroMQ) must
            # not reach the grader's pipes: a flood there could block it.
            import subprocess
            kw["stdout"] = subprocess.DEVNULL
            self._log = open(os.path.join(self.scratch, "kernel.log"), "ab")
            kw["stderr"] = self._log
            # Decoy runtime files where the account's real ones are (hidden): a kernel that opens them is
            # hunting for the grader's Jupyter server, and the grader says so (secrets_touched). They
            # exist only inside the sandbox (see decoys_touched): nothing on the host can touch them.
            self._decoy = runtime_dirs()
            wrapper = sandbox_argv(kernel_cmd, scratch=self.scratch, hide=self.hide, expose_rw=self.expose,
                                   expose_ro=list(self.expose_ro) + pythonpath, memory=self.memory_limit,
                                   address_space=self.address_space_limit, cpu=self.cpu_limit,
                                   status=self.status_file, isolation=self.isolation, decoy=True)
            return wrapper, kw

        def secrets_touched(self):
            """The decoy Jupyter runtime files this kernel listed or read so far ([] if none, or not
            isolated): it went looking for the grading account's server tokens."""
            status = self.sandbox_status()
            if not self._decoy or not status.get("isolation", "").startswith("namespaces") \
                    or status.get("state") != "running" or not status.get("kernel_pid"):
                return []
            return decoys_touched(status["kernel_pid"], self._decoy)

        async def _async_cleanup_resources(self, restart=False):
            await super()._async_cleanup_resources(restart=restart)
            if not restart and self.scratch:
                if getattr(self, "_log", None):
                    self._log.close()
                shutil.rmtree(self.scratch, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources


if __name__ == "__main__":
    sys.exit(main())
