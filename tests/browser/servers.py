"""Real Jupyter servers and a real browser for the tests in this folder.

Each server is a `jupyter lab` process started the way `make lab` / `make formgrader` start
it (this environment's bin on PATH, the course's etc/jupyter settings), on a free port of
127.0.0.1, with a token, and stopped (its kernels with it) when the test ends.
"""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from autograder import ROOT

BIN = os.path.dirname(sys.executable)
TOKEN = "deeptrain-browser-test"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# As root, Chromium needs --no-sandbox; the closed network here refuses Google's background
# services, which would otherwise retry for ever.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path():
    """The system Chromium (Debian's `chromium`), or None when none is installed."""
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url, proc, log_path, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{open(log_path).read()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer {url} within {timeout} s:\n{open(log_path).read()[-3000:]}")


def _test_settings(log_path, autosave=None):
    """Server flags for test-only settings, in a folder of the test's own: every cell stays
    in the page (JupyterLab otherwise leaves cells out of sight out of the DOM), no
    workspace of an earlier run is restored, and (autosave: seconds) a short autosave interval."""
    settings = os.path.join(os.path.dirname(log_path), "lab-settings")
    tracker = os.path.join(settings, "@jupyterlab", "notebook-extension")
    os.makedirs(tracker, exist_ok=True)
    with open(os.path.join(tracker, "tracker.jupyterlab-settings"), "w") as f:
        f.write('{"windowingMode": "none"}')
    if autosave is not None:
        docmanager = os.path.join(settings, "@jupyterlab", "docmanager-extension")
        os.makedirs(docmanager, exist_ok=True)
        with open(os.path.join(docmanager, "plugin.jupyterlab-settings"), "w") as f:
            f.write(f'{{"autosave": true, "autosaveInterval": {int(autosave)}}}')
    return [f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={os.path.join(os.path.dirname(log_path), 'lab-workspaces')}"]


def _server_flags(port, log_path, autosave=None):
    flags = ["--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
             "--ServerApp.port_retries=0"] + _test_settings(log_path, autosave)
    if os.geteuid() == 0:
        flags.append("--allow-root")
    return flags


@contextlib.contextmanager
def _running(cmd, cwd, env, log_path, port):
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/api/status?token={TOKEN}", proc, log_path, timeout=300)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@contextlib.contextmanager
def make_server(target, log_path, **make_vars):
    """`make lab` or `make formgrader` itself, with the server flags a test needs added
    through the Makefile's LAB_FLAGS; yields the base URL (no token)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_CONFIG_PATH", "DEEPTRAIN_GRADING_DIR")}
    cmd = ["make", "--no-print-directory", target, "LAB_FLAGS=" + " ".join(_server_flags(port, log_path))]
    cmd += [f"{k}={v}" for k, v in make_vars.items()]
    with _running(cmd, ROOT, env, log_path, port) as base:
        yield base


# The Jupyter settings of `make lab` (the student's) and of `make formgrader` (etc/jupyter/README.md).
STUDENT_CONFIG = os.pathsep.join([os.path.join(ROOT, "etc", "jupyter", "student"), os.path.join(ROOT, "etc", "jupyter")])
INSTRUCTOR_CONFIG = os.path.join(ROOT, "etc", "jupyter")


@contextlib.contextmanager
def jupyter_lab(root, log_path, env_extra=None, default_url="/lab", config=STUDENT_CONFIG, autosave=None):
    """JupyterLab on root, started as `make lab` starts it (this environment's bin on PATH,
    the course's student settings; config=INSTRUCTOR_CONFIG for `make formgrader`'s); yields its
    base URL (no token). autosave: JupyterLab's autosave interval in seconds (default: its own)."""
    port = free_port()
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
               JUPYTER_CONFIG_PATH=config, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("DEEPTRAIN_STRICT_CLAIMS", None)    # a student's kernel: claims note, never raise
    env.update(env_extra or {})
    cmd = [os.path.join(BIN, "jupyter"), "lab", f"--ServerApp.root_dir={root}",
           f"--LabApp.default_url={default_url}"] + _server_flags(port, log_path, autosave)
    with _running(cmd, root, env, log_path, port) as base:
        yield base
