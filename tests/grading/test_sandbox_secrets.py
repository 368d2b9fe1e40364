"""The grading account's secrets stay out of a grading kernel's reach, and it has no network.

The scene of issue 18: the grading account runs its own Jupyter server on the loopback, with its
token in ``~/.local/share/jupyter/runtime/jpserver-PID.json``; a submission hunts for that file and
tries the server. Here a real ``jupyter server`` runs with a token and a fake HOME (the grader's
home for this test), and a real grading kernel (``ResilientExecute`` with the course's
``SandboxedKernelManager``, as ``nbgrader autograde`` runs it) executes the hunting cells.
The oracle is outside the kernel: the token the test knows, the server's answer to the test
itself, and the ``[grader]`` line the grader adds.

Fast launcher-level tests come first (a plain ``python -c`` under autograder/sandbox.py).
"""
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

import nbformat
import pytest

from autograder import kernel_hidden_paths, sandbox

ok, why = sandbox.bwrap_works()
pytestmark = pytest.mark.skipif(not ok, reason=f"no isolation on this machine: {why}")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake_home(root):
    """A grading account's home with what must never leak: an SSH key, configuration folders."""
    home = root / "home"
    for path, text in ((".ssh/id_ed25519", "PRIVATE KEY"), (".config/gh/hosts.yml", "oauth_token: x"),
                       (".jupyter/jupyter_server_config.json", "{}"), (".ipython/profile_default/startup/x.py", ""),
                       (".cache/pip/secret", "x")):
        (home / path).parent.mkdir(parents=True, exist_ok=True)
        (home / path).write_text(text)
    return home


@pytest.fixture
def account(tmp_path, monkeypatch):
    """The grader's environment for this test: HOME is a fake home, Jupyter's folders its defaults."""
    home = _fake_home(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    for var in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR", "XDG_DATA_HOME",
                "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)
    return home


def _run_sandboxed(tmp_path, code, network=False):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    # tmp_path (with the fake home in it) is exposed: it would be hidden anyway below the private /tmp.
    argv = sandbox.sandbox_argv([sys.executable, "-c", code], scratch=str(scratch), network=network,
                                expose_ro=[str(tmp_path)], status=str(scratch / "status.json"))
    run = subprocess.run(argv, cwd=scratch, env=sandbox.private_env(str(scratch)), capture_output=True,
                         text=True, timeout=60)
    return run.stdout.strip(), sandbox.read_status(str(scratch / "status.json"))


def test_sandboxed_process_cannot_open_a_tcp_connection_to_the_hosts_loopback(tmp_path):
    connect = ("import socket, sys\ntry:\n    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3)\n"
               "    print('connected')\nexcept OSError as e:\n    print('blocked', e)")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = str(server.getsockname()[1])
        out, status = _run_sandboxed(tmp_path, connect.replace("sys.argv[1]", port))
        assert status["isolation"].startswith("namespaces") and status["network"] == "none"
        assert out.startswith("blocked"), out
        # The same process with the host's network reaches the server: the probe itself works.
        assert _run_sandboxed(tmp_path, connect.replace("sys.argv[1]", port), network=True)[0] == "connected"


def test_sandboxed_process_sees_nothing_of_the_accounts_home(tmp_path, account):
    look = (f"import os\nhome = {str(account)!r}\n"
            "print(sorted(os.path.relpath(os.path.join(d, f), home) for d, _, fs in os.walk(home) for f in fs),"
            " os.environ['HOME'] != home)")
    out, _ = _run_sandboxed(tmp_path, look)
    assert out == "[] True", out
    assert (account / ".ssh" / "id_ed25519").read_text() == "PRIVATE KEY"   # there, outside the sandbox


# --- the decoys: flagged when the sandboxed process reads them, never because of a host process -----

DECOY_PROBE = ("import os, sys\nprint('ready', flush=True)\nsys.stdin.readline()\nwhere = sys.argv[1]\n"
               "print(sorted(os.listdir(where)), open(os.path.join(where, 'jpserver-4242.json')).read().count('token'),"
               " flush=True)\nsys.stdin.readline()")


def _walk_host_tmp(depth=2):
    """What a host process walking /tmp does (seen under load: every folder of /tmp listed within
    2 s): list every folder down to depth and read the small files."""
    top = tempfile.gettempdir()
    for dirpath, dirnames, files in os.walk(top):
        if dirpath[len(top):].count(os.sep) >= depth:
            dirnames[:] = []
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):   # a FIFO would block
                    continue
                with open(path, "rb") as f:
                    f.read(4096)
            except OSError:
                pass


def test_decoys_fire_on_the_sandboxed_reader_and_not_on_host_processes(tmp_path, account):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    wheres = sandbox.runtime_dirs()
    assert any(w.startswith(str(account)) for w in wheres), wheres
    argv = sandbox.sandbox_argv([sys.executable, "-c", DECOY_PROBE, wheres[0]], scratch=str(scratch),
                                expose_ro=[str(tmp_path)], status=str(scratch / "status.json"), decoy=True)
    p = subprocess.Popen(argv, cwd=scratch, env=sandbox.private_env(str(scratch)), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"     # Python started in the sandbox: nothing touched
        pid = sandbox.read_status(str(scratch / "status.json"))["kernel_pid"]
        assert sandbox.decoys_touched(pid, wheres) == []
        # No folder on the host holds the decoys: a host process walking /tmp cannot touch them.
        assert not list(tmp_path.rglob("jpserver-*")) and not os.path.exists(wheres[0])
        _walk_host_tmp()
        assert sandbox.decoys_touched(pid, wheres) == []
        p.stdin.write("\n")
        p.stdin.flush()
        listed = p.stdout.readline()
        assert "jpserver-4242.json" in listed and listed.strip().endswith("1"), listed   # a believable token file
        assert sandbox.decoys_touched(pid, wheres) == ["jpserver-4242.json", "the folder's listing"]
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert sandbox.decoys_touched(pid, wheres) == []   # the process is gone: no evidence, no flag


# --- a real Jupyter server of the grading account, a real grading kernel --------------------

HUNT = r'''
import glob, json, os, socket, urllib.request
home = {home!r}
places = [home, os.path.expanduser("~"), "/root", "/home"]
found = sorted({{f for p in places for f in glob.glob(os.path.join(p, ".local/share/jupyter/runtime/*.json"))}})
tokens = [json.load(open(f)).get("token") for f in found if os.path.basename(f).startswith("jpserver")]
secrets = [p for p in (".ssh/id_ed25519", ".config/gh/hosts.yml", ".jupyter/jupyter_server_config.json")
           if os.path.exists(os.path.join(home, p))]
print("FOUND", json.dumps({{"files": found, "tokens": tokens, "secrets": secrets}}))
'''

KNOCK = r'''
import urllib.error, urllib.request
for token in [None, {token!r}] + tokens:
    url = "http://127.0.0.1:{port}/api/contents" + (f"?token={{token}}" if token else "")
    try:
        print("OPENED", urllib.request.urlopen(url, timeout=3).status)
    except urllib.error.HTTPError as e:   # the server answered
        print("OPENED", e.code)
    except Exception as e:
        print("CLOSED", type(e).__name__, e)
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3)
    print("OPENED tcp")
except OSError as e:
    print("CLOSED tcp", e)
'''

HONEST = "import os, tempfile, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n" \
         "plt.plot([1, 2]); plt.savefig(os.path.join(tempfile.mkdtemp(), 'f.png'))\nprint('honest', os.getcwd())"


@pytest.fixture
def jupyter_server(tmp_path, account):
    """`jupyter server` of the grading account: a token, its runtime file where Jupyter writes it."""
    port, token = _free_port(), "grading-account-token-3f1c9a"
    # No extensions (JUPYTER_NO_CONFIG: half the start-up); /api/contents reads and writes the account's files.
    env = dict(os.environ, HOME=str(account), JUPYTER_NO_CONFIG="1")
    server = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "jupyter"), "server", "--no-browser",
                               f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
                               "--allow-root", f"--ServerApp.root_dir={tmp_path}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runtime = account / ".local" / "share" / "jupyter" / "runtime"
    try:
        deadline = time.time() + 60
        while True:   # up: its runtime file written, and it answers the token (what the kernel must not)
            assert server.poll() is None and time.time() < deadline, "the Jupyter server did not start"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=10) as r:
                    if r.status == 200 and list(runtime.glob("jpserver-*.json")):
                        break
            except OSError:
                pass
            time.sleep(0.2)
        assert token in next(runtime.glob("jpserver-*.json")).read_text()
        yield port, token
    finally:
        server.kill()
        server.wait(timeout=30)


def _grade_cells(tmp_path, sources):
    """Run the cells as nbgrader's autograde step does (ResilientExecute, the sandboxed kernel,
    the course's hidden paths); returns the executed notebook."""
    from autograder.execute import ResilientExecute
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    from traitlets.config import Config
    folder = tmp_path / "submitted"
    folder.mkdir()
    config = Config()
    config.SandboxedKernelManager.hide = kernel_hidden_paths(str(tmp_path / "grading"))
    config.SandboxedKernelManager.expose_ro = [str(tmp_path)]   # else below the private /tmp anyway
    ex = ResilientExecute(timeout=60, notebook_timeout=120, guard=False, run_notebook=True,   # the guard: not this test
                          config=config)
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(folder)}})
    return nb


def _text(cell):
    return "".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs)


@pytest.mark.slow
def test_grading_kernel_finds_neither_the_token_nor_the_server_and_is_flagged(tmp_path, jupyter_server):
    port, token = jupyter_server
    home = os.environ["HOME"]
    nb = _grade_cells(tmp_path, [HONEST, HUNT.format(home=home), KNOCK.format(token=token, port=port)])
    honest, hunt, knock = (_text(c) for c in nb.cells)
    assert "honest" in honest and "[grader]" not in honest, honest      # no false alarm
    found = json.loads(hunt.split("FOUND", 1)[1].splitlines()[0])
    assert token not in json.dumps(found) and not found["secrets"], found
    assert all(not t or t != token for t in found["tokens"])
    assert "OPENED" not in knock and knock.count("CLOSED") >= 3, knock
    # The hunt itself is seen: the grader flags the cell that listed the runtime folder.
    assert hunt.startswith("[grader]") and "Jupyter server" in hunt, hunt


def test_without_bubblewrap_grading_still_runs_and_says_it_is_not_isolated(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"          # a PATH without bwrap (macOS, a machine without the package)
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    out, status = _run_sandboxed(tmp_path, "print('ran')")
    assert out == "ran" and status["isolation"] == "off"
    assert "bubblewrap" in status["isolation_error"] and "make sandbox" in status["isolation_error"]


def test_fashion_mnist_in_the_accounts_keras_cache_is_still_found(tmp_path, account, monkeypatch):
    for var in ("DEEPTRAIN_DATA", "KERAS_HOME"):
        monkeypatch.delenv(var, raising=False)
    cache = account / ".keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (cache / name).write_bytes(b"idx")
    look = (f"import os\nd = os.environ.get('DEEPTRAIN_DATA', '')\nprint(d == {str(cache)!r}, len(os.listdir(d)),"
            f" os.path.exists({str(account / '.ssh')!r}))")
    assert _run_sandboxed(tmp_path, look)[0] == "True 4 False"    # the data, and nothing else of the home
