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
- **Isolation** (Linux, when namespaces are available: as root, or through an unprivileged user
  namespace): the kernel gets its own PID namespace (it cannot see or signal the grader or other
  students' kernels, ``os.kill(-1, 9)`` only reaches itself, and everything it started dies
  with it), its own mount namespace in which the whole file system is read-only (a submission
  cannot plant a ``sitecustomize.py`` or edit the library for the students graded after it),
  ``--hide`` paths are covered by empty directories (solutions, gradebooks, git history, other
  students' work), ``/tmp`` is a fresh private tmpfs, ``--expose`` paths (the notebook's own
  folder, the kernel's scratch folder) stay reachable, and the kernel runs with no capabilities
  and ``no_new_privs``. Where namespaces are not available (macOS, Windows, Linux with user
  namespaces disabled), the limits above still apply and ``--status`` says so.
- **Why the kernel died**: the launcher writes a one-line JSON status (``--status FILE``):
  the exit code or signal, and "memory"/"cpu" when a limit killed it. The grader turns it into
  feedback ("your code used more than 3.0 GB of memory").

The launcher imports only the standard library (and ``psutil`` when present): it runs before the
kernel and must not be affected by what the kernel can change.
"""
import argparse
import ctypes
import errno
import json
import os
import signal
import sys
import time

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWIPC = 0x00020000, 0x10000000, 0x20000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
_MOUNT_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
                "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}
_SKIP_READONLY = ("/proc", "/sys", "/dev")

GiB = 1024 ** 3


# --- Linux system calls -------------------------------------------------------------------

def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc, source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    _check(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _mountinfo():
    """(mount point, per-mount flags) of every mount of this namespace, parents first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            flags = 0
            for opt in fields[5].split(","):
                flags |= _MOUNT_FLAGS.get(opt, 0)
            out.append((point, flags))
    return out


def _under(path, parent):
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def enter_namespaces(libc):
    """unshare a PID and IPC namespace (and a user namespace when not root). Returns the mode used."""
    uid, gid = os.geteuid(), os.getegid()
    try:
        _check(libc.unshare(CLONE_NEWPID | CLONE_NEWIPC), "unshare")
        return "root"
    except OSError:
        pass
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWIPC), "unshare(user)")
    # Map our own ids (not root): after exec the kernel is an ordinary user without capabilities.
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    return "user"


def isolate_files(libc, hide, expose_rw, expose_ro, tmp_size):
    """In a new mount namespace: everything read-only, hide paths, fresh /tmp, re-expose paths."""
    _check(libc.unshare(CLONE_NEWNS), "unshare(mount)")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    expose = [(p, True) for p in expose_rw] + [(p, False) for p in expose_ro]
    # The Python installation must stay reachable even when it lives below a hidden folder
    # (a checkout under /tmp has its .venv there, and /tmp is replaced by a fresh tmpfs).
    # Listed first, so that exposed folders inside it are mounted after it.
    # So must its package folders: a venv can load another's site-packages through a .pth file
    # (a shared course environment), and that folder may live under /tmp too. Only folders named
    # site-packages/dist-packages: the rest of sys.path (the checkout) stays hidden.
    site_dirs = {p for p in sys.path if os.path.basename(p.rstrip(os.sep)) in ("site-packages", "dist-packages")}
    for prefix in sorted({sys.prefix, sys.exec_prefix, sys.base_prefix} | site_dirs, key=len, reverse=True):
        if prefix and os.path.isdir(prefix) and all(prefix != p for p, _ in expose):
            expose.insert(0, (prefix, False))
    fds = {p: os.open(p, os.O_PATH) for p, _ in expose if os.path.exists(p)}
    # 1. Everything read-only (per mount; the file systems themselves are untouched).
    for point, flags in _mountinfo():
        if any(_under(point, s) for s in _SKIP_READONLY):
            continue
        try:
            _mount(libc, None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | (flags & ~MS_RDONLY))
        except OSError:
            pass  # a mount point that is itself hidden below another mount
    # 2. Hide: an empty tmpfs over each directory, /dev/null over each file; a fresh /tmp.
    hidden = []
    for path in sorted(set(hide) | {"/tmp", "/dev/shm", "/var/tmp"}):
        if not os.path.lexists(path):
            continue
        if os.path.isdir(path):
            size = tmp_size if path in ("/tmp", "/dev/shm", "/var/tmp") else 1 << 20
            _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
            hidden.append(path)
        else:
            _mount(libc, "/dev/null", path, None, MS_BIND)
    # 3. Re-expose what the kernel needs (its folder, its scratch folder, the library copy).
    for path, writable in expose:
        if path not in fds:
            continue
        if os.path.isdir(f"/proc/self/fd/{fds[path]}"):
            os.makedirs(path, exist_ok=True)
        elif not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        _mount(libc, f"/proc/self/fd/{fds[path]}", path, None, MS_BIND | MS_REC)
        flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (0 if writable else MS_RDONLY)
        try:
            _mount(libc, None, path, None, flags)
        except OSError:
            pass
        os.close(fds[path])
    # 4. The hiding tmpfs' themselves read-only (not the scratch ones).
    for path in hidden:
        if path not in ("/tmp", "/dev/shm", "/var/tmp"):
            _mount(libc, None, path, None, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_RDONLY, f"size={1 << 20}")


def drop_privileges(libc):
    """No capabilities after exec (a root kernel could otherwise unmount what hides the solutions)."""
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == errno.EINVAL:
            break
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


# --- the supervisor -----------------------------------------------------------------------

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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--memory", type=int, default=3 * GiB, help="resident memory cap in bytes (0: none)")
    p.add_argument("--address-space", type=int, default=8 * GiB, help="RLIMIT_AS in bytes (0: none)")
    p.add_argument("--cpu", type=int, default=600, help="RLIMIT_CPU in seconds (0: none)")
    p.add_argument("--tmp-size", type=int, default=512 * 1024 ** 2, help="size of the private /tmp")
    p.add_argument("--file-size", type=int, default=256 * 1024 ** 2, help="RLIMIT_FSIZE: largest file written")
    p.add_argument("--hide", action="append", default=[])
    p.add_argument("--expose", action="append", default=[], help="stays writable")
    p.add_argument("--expose-ro", action="append", default=[])
    p.add_argument("--no-isolation", action="store_true")
    p.add_argument("--status", default=None, help="JSON status file")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
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

    libc = None
    mode = None
    if not args.no_isolation and sys.platform.startswith("linux"):
        try:
            libc = _libc()
            mode = enter_namespaces(libc)
        except (OSError, AttributeError) as e:
            status["isolation_error"] = str(e)
    parent = os.getppid()
    cwd = os.getcwd()
    # The connection file must stay reachable (ipykernel reads and rewrites it).
    expose_rw = [cwd] + args.expose
    if "-f" in cmd:
        expose_rw.append(os.path.abspath(cmd[cmd.index("-f") + 1]))
    read, write = os.pipe()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # until the kernel is there to receive it
    pid = os.fork()
    if pid == 0:  # the kernel (pid 1 of its namespace when isolated)
        os.close(read)
        try:
            if mode is not None:
                try:
                    isolate_files(libc, args.hide, expose_rw, args.expose_ro, args.tmp_size)
                    files = "isolated"
                except OSError as e:  # e.g. a container that allows namespaces but not tmpfs mounts
                    files = f"NOT isolated ({e})"
                try:
                    _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
                    proc = "private"
                except OSError as e:
                    proc = f"shared ({e.strerror})"
                os.chdir(cwd)
                drop_privileges(libc)
                os.write(write, json.dumps({"isolation": f"namespaces ({mode})", "files": files,
                                            "proc": proc}).encode())
            import resource
            if args.address_space:
                resource.setrlimit(resource.RLIMIT_AS, (args.address_space, args.address_space))
            if args.cpu:
                resource.setrlimit(resource.RLIMIT_CPU, (args.cpu, args.cpu + 5))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if args.file_size:
                resource.setrlimit(resource.RLIMIT_FSIZE, (args.file_size, args.file_size))
        except BaseException as e:  # isolation was asked for and failed half-way: do not run unprotected
            os.write(write, json.dumps({"isolation": "failed", "isolation_error": repr(e)}).encode())
            os._exit(70)
        os.close(write)
        # Its own process group (kill(0, ...) from the kernel cannot reach the launcher), and
        # death with the launcher (nothing the kernel started outlives the grading).
        os.setpgid(0, 0)
        if sys.platform.startswith("linux"):
            try:
                (libc or _libc()).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            except (OSError, AttributeError):
                pass
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvp(cmd[0], cmd)
    os.close(write)
    info = b""
    while True:
        chunk = os.read(read, 4096)
        if not chunk:
            break
        info += chunk
    os.close(read)
    if info:
        status.update(json.loads(info))
    report(kernel_pid=pid, state="running")

    # Interrupts (SIGINT to the launcher's process group) are passed on to the kernel; SIGTERM ends it.
    def interrupt(signum, frame):
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
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
    if os.WIFSIGNALED(code):
        sig = os.WTERMSIG(code)
        reason = killed.get("reason") or ("cpu" if sig == signal.SIGXCPU else f"signal {signal.Signals(sig).name}")
        report(state="dead", signal=sig, reason=reason, peak_rss=peak, **{k: v for k, v in killed.items()
                                                                        if k != "reason"})
        exit_code = 128 + sig
    else:
        exit_code = os.WEXITSTATUS(code)
        report(state="exited", exit_code=exit_code, reason=killed.get("reason", f"exit {exit_code}"),
               peak_rss=peak)
    return exit_code


_PROBE = r"""
import json, os, sys
hidden = json.loads(sys.argv[1])
out = {"pid_namespace": os.getpid() == 1}
out["hidden"] = all(not os.path.exists(p) or (os.path.isdir(p) and not os.listdir(p)) or
                    (not os.path.isdir(p) and os.path.getsize(p) == 0) for p in hidden)  # files: /dev/null
try:
    open(os.path.join(sys.prefix, ".deeptrain-sandbox-probe"), "w").close()
    os.remove(os.path.join(sys.prefix, ".deeptrain-sandbox-probe"))
    out["read_only"] = False
except OSError:
    out["read_only"] = True
print(json.dumps(out))
"""


def self_test(hide=(), timeout=60):
    """Launch a probe under the sandbox as a kernel would be; returns (ok, one-line description)."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory(prefix="deeptrain-sandbox-test-") as tmp:
        status = os.path.join(tmp, "status.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--status", status]
        for path in hide:
            cmd += ["--hide", path]
        cmd += ["--", sys.executable, "-c", _PROBE, json.dumps([p for p in hide if os.path.exists(p)])]
        try:
            run = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout)
            probe = json.loads(run.stdout.strip().splitlines()[-1])
            with open(status) as f:
                info = json.load(f)
        except Exception as e:
            return False, f"the sandbox launcher failed ({e})"
    if not info.get("isolation", "off").startswith("namespaces"):
        return False, ("NOT isolated: time and memory limits only; kernels can read and write what this user "
                       f"can ({info.get('isolation_error', 'no Linux namespaces here')})")
    # With the host's /proc, /proc/PID/root of a grader process would show the hidden files again.
    ok = probe["hidden"] and probe["read_only"] and probe["pid_namespace"] and info.get("proc") == "private"
    what = (f"{info['isolation']}: course files hidden {'yes' if probe['hidden'] else 'NO'}, "
            f"file system read-only {'yes' if probe['read_only'] else 'NO'}, own PID namespace "
            f"{'yes' if probe['pid_namespace'] else 'NO'}, /proc {info.get('proc', '?')}")
    return ok, what


# --- the kernel manager (used by nbgrader through autograder/nbgrader_config.py) -----------

try:
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Bool, Integer, List, Unicode
except ImportError:  # the launcher itself needs none of this
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

        @property
        def status_file(self):
            return os.path.join(self.scratch, "sandbox-status.json") if self.scratch else None

        def sandbox_status(self):
            """The launcher's last status dict ({} if none)."""
            try:
                with open(self.status_file) as f:
                    return json.load(f)
            except (OSError, TypeError, ValueError):
                return {}

        async def _async_pre_start_kernel(self, **kw):
            if self.sandbox and self.scratch is None:
                self.scratch = tempfile.mkdtemp(prefix="deeptrain-kernel-")
                if not self.connection_file or not os.path.exists(self.connection_file):
                    self.connection_file = os.path.join(self.scratch, "connection.json")
            kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
            if not self.sandbox:
                return kernel_cmd, kw
            try:
                os.remove(self.status_file)
            except (OSError, TypeError):
                pass
            env = dict(kw.get("env") or os.environ)
            for var, sub in (("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "matplotlib"), ("TMPDIR", "tmp")):
                os.makedirs(os.path.join(self.scratch, sub), exist_ok=True)
                env[var] = os.path.join(self.scratch, sub)
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
            wrapper = [sys.executable, os.path.abspath(__file__),
                       "--memory", str(self.memory_limit), "--address-space", str(self.address_space_limit),
                       "--cpu", str(self.cpu_limit), "--status", self.status_file,
                       "--expose", self.scratch]
            if not self.isolation:
                wrapper.append("--no-isolation")
            for path in self.hide:
                wrapper += ["--hide", os.path.abspath(path)]
            for path in self.expose:
                wrapper += ["--expose", os.path.abspath(path)]
            for path in list(self.expose_ro) + pythonpath:
                wrapper += ["--expose-ro", os.path.abspath(path)]
            return wrapper + ["--"] + list(kernel_cmd), kw

        async def _async_cleanup_resources(self, restart=False):
            await super()._async_cleanup_resources(restart=restart)
            if not restart and self.scratch:
                if getattr(self, "_log", None):
                    self._log.close()
                shutil.rmtree(self.scratch, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources


if __name__ == "__main__":
    sys.exit(main())
