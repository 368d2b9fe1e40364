"""End-to-end smoke test of the JupyterHub deployment in deploy/ (run as root, after `make test`).

    .venv/bin/python tests/deploy/smoke_hub.py [--keep]

It runs deploy/README.md's own shell blocks (found by their step ids, see STEPS) in the guide's
order, as root, from a private folder, with a settings file of its own (users dtsmk..., folders
under a temporary folder, a snapshot of the working tree as REPO_URL): packages (simulated), the
pinned proxy from npm, the grader account and the exchange, the instructor and two students (PAM
passwords), the grader's checkout and `make setup` on the system's Python, the bundle and the
students' venv (pip), the hub's configuration, the systemd unit (written into its folder; its
ExecStartPre and ExecStart run by the test). The hub gets tests/deploy/hub_test_config.py as its
site additions (free ports, an admin token), nginx with deploy/nginx/deeptrain.conf and a
self-signed certificate goes in front. Then, through HTTP only: logins, least privilege (grader
account without login or server, instructor not admin), no terminal for students, the squat,
release, fetch, submit, collect, Autograde (as the grader account, under bubblewrap), feedback,
what a student's kernel and a graded submission can reach (files, the formgrader service, the hub,
the other student's server: nothing), the guide's steps 12-14 in the service, and last the guide's
clean-up. Stops everything it started and deletes its users, group and folders, even on failure
(SIGTERM included). Exit status 0 when every check passed.
"""
import argparse
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid

import nbformat
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSIGNMENT = "01_unstable_gradients"
COURSE_ID = "deeptrain"
USER_COMMENT = "deeptrain hub smoke test"   # the test's older versions marked their users so
USER_PREFIX = "dtsmk"                       # every user and group of the test starts so

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Failure(AssertionError):
    pass


COUNTS = {"passed": 0, "failed": 0}


def check(condition, what, **details):
    """An assertion that says what was checked, and with which values, when it fails."""
    if not condition:
        COUNTS["failed"] += 1
        raise Failure(what + (": " + json.dumps(details, default=str) if details else ""))
    COUNTS["passed"] += 1
    log("ok   " + what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    """Run a command; raise with its output when it fails."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise Failure(f"{cmd} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


# ------------------------------------------------------------------ users and processes

def processes_of(uids):
    """pids of the processes running as one of uids (the test users' servers and kernels)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid in uids:
                    pids.append(int(d))
            except FileNotFoundError:
                pass
    return pids


def kill_pids(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ------------------------------------------------------------------ HTTP helpers

class Hub:
    """The hub's REST API (admin token of the test's service) and per-user clients."""

    def __init__(self, url, admin_token):
        self.url = self.plain_url = url.rstrip("/")   # url: through nginx (TLS) once it runs
        self.admin = requests.Session()
        self.admin.headers["Authorization"] = f"token {admin_token}"

    def api(self, method, path, **kw):
        r = self.admin.request(method, f"{self.url}/hub/api{path}", timeout=60, **kw)
        if r.status_code >= 400:
            raise Failure(f"{method} /hub/api{path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None

    def login_form(self, name, password):
        """Log in through the hub's login page; returns the HTTP status after the form post."""
        s = requests.Session()
        r = s.get(f"{self.url}/hub/login", timeout=30)
        m = re.search(r'name="_xsrf" value="([^"]+)"', r.text)
        data = {"username": name, "password": password}
        if m:
            data["_xsrf"] = m.group(1)
        r = s.post(f"{self.url}/hub/login", data=data, allow_redirects=False, timeout=30)
        return r.status_code, s

    def start_servers(self, names, timeout=150):
        """Start the users' default servers (all at once) and wait until each is ready."""
        for name in names:
            self.api("POST", f"/users/{name}/server")
        deadline, waiting = time.monotonic() + timeout, set(names)
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                if self.api("GET", f"/users/{name}")["servers"].get("", {}).get("ready"):
                    waiting.discard(name)
            time.sleep(0.5)
        if waiting:
            raise Failure(f"servers of {sorted(waiting)} not ready after {timeout} s")

    def token(self, name):
        return self.api("POST", f"/users/{name}/tokens",
                        json={"note": "smoke test", "expires_in": 1800})["token"]

    def client(self, name):
        return Client(self.url, self.token(name))


class Client:
    """Requests as one hub user (their API token) to the hub, their server or a service."""

    def __init__(self, url, token):
        self.url, self.token = url, token
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"token {token}"

    def request(self, method, path, expect=200, timeout=300, **kw):
        r = self.s.request(method, self.url + path, timeout=timeout, allow_redirects=False, **kw)
        if expect is not None and r.status_code != expect:
            raise Failure(f"{method} {path}: expected {expect}, got {r.status_code}: {r.text[:800]}")
        return r

    def json(self, method, path, **kw):
        return self.request(method, path, **kw).json()


def run_in_kernel(client, server_path, code, timeout=120):
    """Execute code in a new kernel of a user's server (REST + the kernel's websocket); returns stdout."""
    from tornado.httpclient import HTTPRequest
    from tornado.ioloop import IOLoop
    from tornado.websocket import websocket_connect

    kernel = client.json("POST", f"{server_path}/api/kernels", expect=201, json={"name": "python3"})
    ws_url = (client.url.replace("https://", "wss://").replace("http://", "ws://")
              + f"{server_path}/api/kernels/{kernel['id']}/channels")
    ssl_options = None
    if ws_url.startswith("wss://"):
        import ssl
        ssl_options = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE"))
    msg_id = uuid.uuid4().hex

    async def go():
        conn = await websocket_connect(HTTPRequest(
            ws_url, headers={"Authorization": f"token {client.token}"}, request_timeout=timeout,
            ssl_options=ssl_options))
        conn.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": "smoke", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        out, error, idle, replied = [], None, False, False
        deadline = time.monotonic() + timeout
        while not (idle and replied):
            if time.monotonic() > deadline:
                raise Failure("kernel did not answer in time")
            raw = await conn.read_message()
            if raw is None:
                raise Failure("kernel websocket closed")
            if isinstance(raw, bytes):
                continue
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            t = msg["msg_type"]
            if t == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            elif t == "error":
                error = "\n".join(msg["content"]["traceback"])
            elif t == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
            elif t == "execute_reply":
                replied = True
        conn.close()
        if error:
            raise Failure("code in the kernel failed:\n" + re.sub(r"\x1b\[[0-9;]*m", "", error))
        return "".join(out)

    try:
        return IOLoop.current().run_sync(go, timeout=timeout + 10)
    finally:
        client.request("DELETE", f"{server_path}/api/kernels/{kernel['id']}", expect=204)


# ------------------------------------------------------------------ notebooks

def answers_from(solution_path):
    """grade_id -> source of each answer cell of the instructor's notebook (solution code, written answer)."""
    nb = nbformat.read(solution_path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def autograded_points(solution_path):
    """Points of the autograded test cells (code cells with grade and without solution)."""
    nb = nbformat.read(solution_path, as_version=4)
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in nb.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
               and not c.metadata["nbgrader"].get("solution"))


def hidden_test_lines(solution_path):
    """A few distinctive lines of the hidden tests (they must not reach a student's feedback)."""
    nb = nbformat.read(solution_path, as_version=4)
    lines = []
    for c in nb.cells:
        inside = False
        for line in c.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 25:
                lines.append(line.strip())
    return lines


def fill(released, answers, leave_stub=()):
    """The released notebook with its answer cells filled in, except those whose grade_id is in leave_stub."""
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid not in leave_stub:
            src = answers[gid]
            src = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", src, flags=re.M)
            cell.source = src
    return nb


# ------------------------------------------------------------------ the scenario

PROBE = r"""
import getpass, importlib.util, json, os
def probe(kind, path):
    try:
        if kind == "list":
            os.listdir(path)
        else:
            with open(path, "rb") as f:
                f.read(1)
        return "ok"
    except PermissionError:
        return "denied"
    except FileNotFoundError:
        return "missing"
import deeptrain, deeptrain.data
found = deeptrain.data.find_data_dir()      # the folder, or (where, folder)
data_dir = str(found[-1] if isinstance(found, tuple) else found)
print(json.dumps({
    "user": getpass.getuser(), "uid": os.getuid(),
    "deeptrain": deeptrain.__file__,
    "reference_importable": importlib.util.find_spec("deeptrain.reference") is not None,
    "data_dir": data_dir,
    "data_file": probe("read", os.path.join(data_dir, "train-images-idx3-ubyte.gz")),
    "threads": {k: os.environ.get(k) for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                                                "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    "probes": {name: probe(kind, path) for name, (kind, path) in json.loads(%r).items()},
}))
"""


SQUAT = r"""
import json, os
ex = os.path.join(%(exchange)r, %(course)r)
def attempt(fn, *args):
    try:
        fn(*args)
        return "done"
    except FileExistsError:
        return "exists"
    except PermissionError:
        return "denied"
res = {
    "mkdir course": attempt(os.mkdir, ex),
    "mkdir release": attempt(os.mkdir, os.path.join(ex, "outbound", %(assignment)r)),
    "mkdir feedback": attempt(os.mkdir, os.path.join(ex, "feedback", "x")),
    "chmod course": attempt(os.chmod, ex, 0o777),
    "rename outbound": attempt(os.rename, os.path.join(ex, "outbound"), os.path.join(ex, "o2")),
}
print(json.dumps(res))
"""

# What a student's code tries against the grader and the other student: files, then HTTP with the
# student's own valid hub token to the formgrader service and to B's server (directly, by port).
REACH = r"""
import json, os, socket, urllib.request, urllib.error
def probe(kind, path):
    try:
        if kind == "list":
            return "ok: %%d entries" %% len(os.listdir(path))
        with open(path, "rb") as f:
            f.read(1)
        return "ok"
    except PermissionError:
        return "denied"
    except FileNotFoundError:
        return "missing"
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None          # a redirect (to the login page) is an answer, not a way in
def http(url, token):
    try:
        req = urllib.request.Request(url, headers={"Authorization": "token " + token} if token else {})
        return "HTTP %%d" %% urllib.request.build_opener(NoRedirect).open(req, timeout=10).status
    except urllib.error.HTTPError as e:
        return "HTTP %%d" %% e.code
    except OSError as e:
        return "refused: %%s" %% type(e).__name__
def tcp(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return "connected"
    except OSError as e:
        return "refused: %%s" %% type(e).__name__
token = %(token)r or os.environ.get("JUPYTERHUB_API_TOKEN", "")
res = {"files": {k: probe(*v) for k, v in %(files)r.items()},
       "http": {k: http(u, token) for k, u in %(urls)r.items()},
       "tcp": {k: tcp(p) for k, p in %(tcp)r.items()}}
print("REACH " + json.dumps(res))
"""

# The same attempts from an answer cell of a graded submission. Grading runs the answer cells in the
# clean room (autograder/room.py, under bubblewrap), which keeps no output but reports a cell's error
# (300 characters) in the test cell's feedback: the results go out as a compact error message.
REACH_ROOM = REACH + r"""
def _code(v):
    if v.startswith("ok") or v == "connected":
        return "OPEN"
    return {"denied": "d", "missing": "m"}.get(v, "r" if v.startswith("refused") else v.replace("HTTP ", "H"))
raise RuntimeError("REACH " + " ".join(kind + "=" + ",".join(f"{n}:{_code(v)}" for n, v in d.items())
                                       for kind, d in res.items()))
"""


def rss_of(uid):
    """Resident memory (bytes) of all processes of uid."""
    import psutil
    total = 0
    for pid in processes_of({uid}):
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            pass
    return total


def listening_ports(uid):
    """TCP ports on which processes of uid listen (root sees them all)."""
    import psutil
    pids = set(processes_of({uid}))
    return sorted({c.laddr.port for c in psutil.net_connections("tcp")
                   if c.status == psutil.CONN_LISTEN and c.pid in pids})


def scenario(env, hub, users, paths, grader_copy, passwords):
    grader, instr, a, b = users["grader"], users["instructor"], users["a"], users["b"]
    solution = os.path.join(grader_copy, "solutions", ASSIGNMENT, f"{ASSIGNMENT}.ipynb")
    max_auto = autograded_points(solution)
    answers = answers_from(solution)
    check(max_auto > 0 and answers, "the assignment has autograded points and answer cells",
          points=max_auto, answers=len(answers))

    # -- log in through the form (the test-only authenticator), then start the servers
    status, _ = hub.login_form(a, "wrong-" + passwords["a"])
    check(status == 403, "a wrong password is refused at the login form (PAM)", status=status)
    for role, name in (("instructor", instr), ("a", a), ("b", b)):
        status, session = hub.login_form(name, passwords[role])
        check(status == 302 and any(k.startswith("jupyterhub-") for k in session.cookies.keys()),
              f"{name} logs in through the hub's login form with their Linux password (PAM)", status=status)
    status, _ = hub.login_form(grader, passwords["a"])
    check(status == 403, "the grader account cannot log in to the hub", status=status)
    r = hub.admin.get(f"{hub.url}/hub/api/users/{grader}", timeout=30)
    check(r.status_code == 404, "the grader account is no hub user: no server of its own",
          status=r.status_code)
    hub.start_servers([a, b])
    log("student servers ready; idle server of A: %.0f MB resident (sizing, deploy/README.md)"
        % (rss_of(pwd.getpwnam(a).pw_uid) / 2 ** 20))
    ci, ca, cb = hub.client(instr), hub.client(a), hub.client(b)
    fg = f"/services/{COURSE_ID}/formgrader/api"
    check(not hub.api("GET", f"/users/{instr}")["admin"], "the instructor is not a hub admin")
    r = ci.request("GET", f"/user/{a}/api/contents", expect=None)
    check(r.status_code in (403, 404), "the instructor's token does not open a student's server",
          status=r.status_code)
    b_ports = listening_ports(pwd.getpwnam(b).pw_uid)
    a_ports = listening_ports(pwd.getpwnam(a).pw_uid)
    grader_ports = listening_ports(pwd.getpwnam(grader).pw_uid)
    check(b_ports and int(env["DEEPTRAIN_FORMGRADER_PORT"]) in grader_ports,
          "B's server and the formgrader service listen (the targets of the attempts below)",
          b=b_ports, grader=grader_ports)
    targets_tcp = {"formgrader": int(env["DEEPTRAIN_FORMGRADER_PORT"]), "b_server": b_ports[0],
                   "hub_api": int(env["DEEPTRAIN_SMOKE_HUB_PORT"])}

    # -- the squat: before the first release, student A tries to take the exchange's course folders
    out = run_in_kernel(ca, f"/user/{a}", SQUAT % {"exchange": paths["exchange"], "course": COURSE_ID,
                                                   "assignment": ASSIGNMENT})
    tried = json.loads(out.strip().splitlines()[-1])
    log(f"the squat attempts: {json.dumps(tried)}")
    check(all(v in ("denied", "exists") for v in tried.values()),
          "a student cannot squat the exchange's course folders before the release", tried=tried)

    # -- the formgrader service: the instructor only, its own tab, the framing policy
    r = ci.request("GET", f"/services/{COURSE_ID}/", expect=None)
    check(r.status_code in (301, 302)
          and r.headers["Location"].split("?")[0].rstrip("/").endswith(f"/services/{COURSE_ID}/formgrader"),
          "the formgrader service opens on formgrader (a tab of its own)",
          status=r.status_code, location=r.headers.get("Location"))
    r = ci.request("GET", f"/services/{COURSE_ID}/formgrader/manage_assignments")
    check("frame-ancestors 'none'" in r.headers.get("Content-Security-Policy", ""),
          "the formgrader service keeps the default framing policy (frame-ancestors 'none')",
          csp=r.headers.get("Content-Security-Policy"))
    r = ca.request("GET", f"/services/{COURSE_ID}/formgrader/api/assignments", expect=None)
    check(r.status_code == 403, "a student is refused by the formgrader service", status=r.status_code)
    r = ca.request("GET", f"/user/{a}/formgrader", expect=None)
    check(r.status_code == 404, "a student's own server has no formgrader", status=r.status_code)
    # Validate is served by deeptrain.validate_server (nbgrader's own handler is off): it must load from
    # the bundle's lib on PYTHONPATH, else the Validate button has no server part at all.
    r = ca.request("POST", f"/user/{a}/assignments/validate", expect=None, data={"path": "no-such.ipynb"})
    check(r.status_code == 200 and r.json().get("success") is False,
          "a student's server answers Validate (deeptrain.validate_server)", status=r.status_code, body=r.text[:300])
    csp = ca.request("GET", f"/user/{a}/api/status").headers.get("Content-Security-Policy", "")
    check("frame-ancestors 'none'" in csp, "students' servers keep frame-ancestors 'none'", csp=csp)
    r = ca.request("GET", f"/user/{b}/api/contents", expect=None)
    check(r.status_code in (403, 404), "student A's token does not open student B's server",
          status=r.status_code)

    # -- terminals: none in a student's server (deploy/README.md, pitfalls), the service's works
    r = ca.request("POST", f"/user/{a}/api/terminals", expect=None)
    r2 = ca.request("GET", f"/user/{a}/api/terminals", expect=None)
    check(r.status_code == 404 and r2.status_code == 404,
          "a student's server has no terminal (ServerApp.terminals_enabled off)", post=r.status_code,
          get=r2.status_code)
    r = ci.request("POST", f"/services/{COURSE_ID}/api/terminals", expect=None)
    check(r.status_code == 200 and r.json().get("name"), "the formgrader service's terminal opens (the probe works)",
          status=r.status_code, body=r.text[:300])
    ci.request("DELETE", f"/services/{COURSE_ID}/api/terminals/{r.json()['name']}", expect=204)

    # -- release
    res = ci.json("POST", f"{fg}/assignment/{ASSIGNMENT}/assign")
    check(res.get("success"), "formgrader generates the assignment", log=res.get("log", "")[-1500:])
    res = ci.json("POST", f"{fg}/assignment/{ASSIGNMENT}/release")
    check(res.get("success"), "formgrader releases it to the exchange", log=res.get("log", "")[-1500:])

    # -- students fetch, work, submit
    probe_gid = next(iter(answers))   # B's first answer cell: the reach probe instead of an answer
    for client, name, stub in ((ca, a, ()), (cb, b, (probe_gid,))):
        listing = client.json("GET", f"/user/{name}/assignments", params={"course_id": COURSE_ID})
        released = [x for x in listing.get("value", []) if x["assignment_id"] == ASSIGNMENT]
        check(listing.get("success") and released and released[0]["status"] == "released",
              f"{name} sees {ASSIGNMENT} released in the Assignment List", listing=listing)
        listing = client.json("POST", f"/user/{name}/assignments/fetch",
                              data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})
        nb_path = f"/user/{name}/api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
        released_nb = client.json("GET", nb_path, params={"content": 1})["content"]
        check(not any("BEGIN SOLUTION" in c["source"] or "BEGIN HIDDEN TESTS" in c["source"]
                      for c in released_nb["cells"]),
              f"{name} fetched the release (no solutions, no hidden tests)")
        work = fill(released_nb, answers, leave_stub=stub)
        if name == b:   # B's submission tries to reach what grading must keep out of reach
            probe = REACH_ROOM % {
                "token": cb.token, "tcp": {**targets_tcp, "a_server": a_ports[0]},
                "files": {"grader_secret": ("read", paths["grader_secret"]),
                          "gradebook": ("read", os.path.join(grader_copy, "grading", "gradebook.db")),
                          "solutions": ("read", solution),
                          "a_home": ("list", paths["home"][a])},
                "urls": {"formgrader": f"http://127.0.0.1:{targets_tcp['formgrader']}/services/{COURSE_ID}/api/contents",
                         "a_server": f"http://127.0.0.1:{a_ports[0]}/user/{a}/api/contents"}}
            cells = [c for c in work.cells if c.metadata.get("nbgrader", {}).get("grade_id") == probe_gid]
            check(len(cells) == 1, "B's first answer cell found", grade_id=probe_gid)
            cells[0].source = probe
        client.request("PUT", nb_path, expect=200,
                       json={"type": "notebook", "format": "json", "content": work})
        res = client.json("POST", f"/user/{name}/assignments/submit",
                          data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})
        check(res.get("success"), f"{name} submits", result=str(res)[:1500])

    # -- the instructor collects and grades
    res = ci.json("POST", f"{fg}/assignment/{ASSIGNMENT}/collect")
    check(res.get("success"), "formgrader collects the submissions", log=res.get("log", "")[-1500:])
    t = time.monotonic()
    for name in (a, b):
        t1 = time.monotonic()
        res = ci.json("POST", f"{fg}/submission/{ASSIGNMENT}/{name}/autograde", timeout=900)
        check(res.get("success"), f"formgrader autogrades {name} ({time.monotonic() - t1:.0f} s)",
              log=res.get("log", "")[-3000:])
    log(f"autograding both took {time.monotonic() - t:.1f} s")
    graded = nbformat.read(os.path.join(grader_copy, "grading", "autograded", b, ASSIGNMENT,
                                        f"{ASSIGNMENT}.ipynb"), as_version=4)
    texts = "\n".join(str(o.get("text", "")) + str(o.get("evalue", "")) for cell in graded.cells
                      if cell.cell_type == "code" for o in cell.get("outputs", []))
    found = re.findall(r"REACH ((?:\w+=[\w:,]+ ?)+)", texts)
    check(found, "B's probe ran in the clean room while formgrader autograded B (its report is in the graded "
          "notebook)", outputs=texts[-2000:])
    reach = {kind: dict(item.split(":") for item in items.split(","))
             for kind, items in (part.split("=", 1) for part in found[-1].split())}
    log(f"what B's graded submission got: {json.dumps(reach)}")
    check(set(reach) == {"files", "tcp", "http"} and "OPEN" not in reach["files"].values(),
          "a graded submission cannot read the grader's files, the gradebook, the solutions or A's home",
          files=reach.get("files"))
    check(all(v == "r" for v in list(reach["tcp"].values()) + list(reach["http"].values())),
          "a graded submission reaches no server: not formgrader, not the hub, not A's server "
          "(own network namespace)", tcp=reach["tcp"], http=reach["http"])
    subs = {s["student"]: s for s in ci.json("GET", f"{fg}/submissions/{ASSIGNMENT}")}
    sa, sb = subs.get(a, {}), subs.get(b, {})
    log(f"autograded points: A {sa.get('code_score')} / {sa.get('max_code_score')}, "
        f"B {sb.get('code_score')} / {sb.get('max_code_score')} (notebook metadata: {max_auto})")
    check(sa.get("autograded") and sb.get("autograded"), "both submissions are autograded",
          a=sa, b=sb)
    check(sa["max_code_score"] == max_auto and sa["code_score"] == max_auto,
          "the solved notebook gets every autograded point", score=sa["code_score"],
          max=sa["max_code_score"], expected=max_auto)
    check(0 <= sb["code_score"] < max_auto, "the notebook with the probe instead of an answer gets fewer",
          score=sb["code_score"], max=max_auto)
    check(sa["needs_manual_grade"], "the written answer waits for a human grader")
    res = ci.json("POST", f"{fg}/assignment/{ASSIGNMENT}/generate_feedback")
    check(res.get("success"), "formgrader generates feedback", log=res.get("log", "")[-1500:])
    res = ci.json("POST", f"{fg}/assignment/{ASSIGNMENT}/release_feedback")
    check(res.get("success"), "formgrader releases feedback", log=res.get("log", "")[-1500:])

    # -- the students fetch their feedback
    hidden = hidden_test_lines(solution)
    for client, name, sub in ((ca, a, sa), (cb, b, sb)):
        client.json("POST", f"/user/{name}/assignments/fetch_feedback",
                    data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})
        folder = client.json("GET", f"/user/{name}/api/contents/{ASSIGNMENT}/feedback")["content"]
        check(len(folder) == 1, f"{name} received one feedback folder", content=folder)
        html_path = f"{folder[0]['path']}/{ASSIGNMENT}.html"
        html = client.json("GET", f"/user/{name}/api/contents/{html_path}", params={"content": 1})["content"]
        m = re.search(r"Score:\s*([0-9.]+)\s*/\s*([0-9.]+)", html)
        check(m and abs(float(m.group(1)) - sub["score"]) < 1e-6,
              f"{name}'s feedback shows the score of the gradebook",
              feedback=m.groups() if m else None, gradebook=sub["score"])
        check(hidden and not any(line in html for line in hidden),
              f"{name}'s feedback holds no hidden test", hidden_lines=len(hidden))

    # -- what student A's code can reach (run in A's own kernel, as A's Linux user)
    targets = {
        "own_home": ("list", paths["home"][a]),
        "own_feedback": ("list", os.path.join(paths["home"][a], ASSIGNMENT, "feedback")),
        "released": ("list", os.path.join(paths["exchange"], COURSE_ID, "outbound", ASSIGNMENT)),
        "b_home": ("list", paths["home"][b]),
        "b_notebook": ("read", os.path.join(paths["home"][b], ASSIGNMENT, f"{ASSIGNMENT}.ipynb")),
        "inbound": ("list", os.path.join(paths["exchange"], COURSE_ID, "inbound")),
        "feedback": ("list", os.path.join(paths["exchange"], COURSE_ID, "feedback")),
        "instructor_home": ("list", paths["home"][instr]),
        "solutions": ("read", solution),
        "reference": ("read", os.path.join(grader_copy, "lib", "deeptrain", "reference", "__init__.py")),
        "gradebook": ("read", os.path.join(grader_copy, "grading", "gradebook.db")),
    }
    out = run_in_kernel(ca, f"/user/{a}", PROBE % json.dumps(targets))
    seen = json.loads(out.strip().splitlines()[-1])
    p = seen["probes"]
    check(seen["user"] == a and seen["uid"] == pwd.getpwnam(a).pw_uid,
          "student A's kernel runs as A's Linux user (nbgrader's student id)", user=seen["user"])
    check(p["own_home"] == p["own_feedback"] == p["released"] == "ok",
          "A reads A's own work, feedback and the released assignment (the probe works)", probes=p)
    check(p["b_home"] == p["b_notebook"] == "denied", "A cannot read B's home or notebook", probes=p)
    check(p["inbound"] == p["feedback"] == "denied",
          "A cannot list the exchange's submissions or feedback", probes=p)
    check(p["instructor_home"] == p["solutions"] == p["reference"] == p["gradebook"] == "denied",
          "A cannot read the instructor's home or the grader's checkout (solutions, reference, gradebook)",
          probes=p)
    check(seen["deeptrain"].startswith(os.path.join(paths["bundle"], "lib") + os.sep)
          and not seen["reference_importable"],
          "A's deeptrain is the bundle's, without reference/", deeptrain=seen["deeptrain"])
    check(seen["data_file"] == "ok", "A's deeptrain finds Fashion-MNIST and A can read it",
          data_dir=seen["data_dir"], read=seen["data_file"])
    check(set(seen["threads"].values()) == {"2"},
          "A's kernel gets the thread caps (TensorFlow, OpenMP, BLAS: DEEPTRAIN_THREADS=2)", threads=seen["threads"])
    out = run_in_kernel(ca, f"/user/{a}", REACH % {
        "token": ca.token, "tcp": {},
        "files": {"grader_home": ("list", paths["home"][grader]),
                  "grader_secret": ("read", paths["grader_secret"]),
                  "b_notebook": ("read", os.path.join(paths["home"][b], ASSIGNMENT, f"{ASSIGNMENT}.ipynb"))},
        "urls": {"own_server": f"http://127.0.0.1:{a_ports[0]}/user/{a}/api/contents",
                 "formgrader_direct": f"http://127.0.0.1:{targets_tcp['formgrader']}/services/{COURSE_ID}/api/contents",
                 "formgrader_proxy": f"{hub.plain_url}/services/{COURSE_ID}/api/contents",
                 "b_server_direct": f"http://127.0.0.1:{b_ports[0]}/user/{b}/api/contents",
                 "b_server_proxy": f"{hub.plain_url}/user/{b}/api/contents"}})
    reach = json.loads(out.strip().splitlines()[-1][len("REACH "):])
    h = reach["http"]
    log(f"what A's kernel got: {json.dumps(reach)}")
    check(h.pop("own_server") == "HTTP 200", "A's kernel reaches A's own server with A's token (the probe works)",
          http=reach["http"])
    check(all(v in ("HTTP 403", "HTTP 404", "HTTP 302") for v in h.values()),
          "A's kernel, with A's valid token, is refused by the formgrader service and B's server "
          "(directly on their ports and through the proxy)", http=h)
    check(all(v == "denied" for v in reach["files"].values()),
          "A's kernel cannot read the grader account's home or B's notebook", files=reach["files"])
    return sa, sb, max_auto


CLASS_GRADE = r"""
import csv, json, os, subprocess
home = os.path.expanduser("~")
res = {}
# plain nbgrader in the service's terminal, as deploy/README.md writes it (steps 9 and 11)
r = subprocess.run(["nbgrader", "list", "--Exchange.root=" + os.environ["DEEPTRAIN_EXCHANGE"]],
                   cwd=home, capture_output=True, text=True)
res["list"] = {"rc": r.returncode, "log": (r.stdout + r.stderr)[-2500:]}
# deploy/README.md steps 12, 13 and 14 as written, in the terminal's folder (the grader's home)
for step, code in json.loads(%(blocks)r):
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=home, capture_output=True, text=True)
    res[step] = {"rc": r.returncode, "log": (r.stdout + r.stderr)[-2500:]}
    if r.returncode:
        break
out = os.path.join(home, "deeptrain", "grading", "class")
res["files"] = sorted(os.listdir(out)) if os.path.isdir(out) else []
res["rows"] = []
if os.path.exists(os.path.join(out, "grades_detail.csv")):
    with open(os.path.join(out, "grades_detail.csv")) as f:
        res["rows"] = list(csv.DictReader(f))
res["canvas"] = open(os.path.join(out, "grades_canvas.csv")).read() if "grades_canvas.csv" in res["files"] else ""
print(json.dumps(res))
"""


def grade_the_class(hub, users, guide, sa, sb, max_auto):
    """Steps 12-14 of deploy/README.md, their own blocks: `autograder grade` on the collected folder,
    deploy/return_feedback.py (nbgrader release_feedback) on its feedback, `autograder export`, run
    by bash in the formgrader service (from a kernel of the service, as the instructor: the
    service's environment, the grader's home); the students fetch the feedback again."""
    instr, a, b = users["instructor"], users["a"], users["b"]
    ci, ca, cb = hub.client(instr), hub.client(a), hub.client(b)
    t = time.monotonic()
    blocks = json.dumps([(step, guide.blocks[step]) for step in ("grade", "return-feedback", "export")])
    out = run_in_kernel(ci, f"/services/{COURSE_ID}", CLASS_GRADE % {"blocks": blocks}, timeout=600)
    res = json.loads(out.strip().splitlines()[-1])
    log(f"steps 12-14 in the service took {time.monotonic() - t:.1f} s")
    check(res["list"]["rc"] == 0 and f"{COURSE_ID} {ASSIGNMENT}" in res["list"]["log"],
          "nbgrader run in the service with --Exchange.root=$DEEPTRAIN_EXCHANGE sees the release", log=res["list"])
    check(res.get("grade", {}).get("rc") == 0,
          "deploy/README.md step 'grade' (autograder grade) runs as written in the service's terminal folder",
          result=res.get("grade"))
    rows = {row["student"]: row for row in res["rows"] if row["assignment"] == ASSIGNMENT}
    ra, rb = rows.get(a, {}), rows.get(b, {})
    check(ra.get("status") == "graded" and float(ra["score"]) == max_auto,
          "autograder: the solved notebook gets every autograded point", row=ra, expected=max_auto)
    # B's submission carries the reach probe: the grader may flag it (status "flagged"), the score stays
    check(rb.get("status") in ("graded", "flagged") and float(rb["score"]) == sb["code_score"],
          "autograder: the other notebook gets what formgrader gave it", row=rb, formgrader=sb["code_score"])
    check(res.get("return-feedback", {}).get("rc") == 0,
          "deploy/README.md step 'return-feedback' (deploy/return_feedback.py) runs as written",
          result=res.get("return-feedback"))
    check(res.get("export", {}).get("rc") == 0 and a in res["canvas"] and b in res["canvas"],
          "deploy/README.md step 'export' (autograder export) runs as written and writes both students "
          "into grades_canvas.csv", result=res.get("export"), files=res["files"])
    for client, name, row in ((ca, a, ra), (cb, b, rb)):
        client.json("POST", f"/user/{name}/assignments/fetch_feedback",
                    data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})
        folder = client.json("GET", f"/user/{name}/api/contents/{ASSIGNMENT}/feedback")["content"]
        html = client.json("GET", f"/user/{name}/api/contents/{folder[0]['path']}/{ASSIGNMENT}.html",
                           params={"content": 1})["content"]
        m = re.search(r"Score:\s*([0-9.]+)\s*/\s*([0-9.]+)", html)
        check(len(folder) == 1 and m and float(m.group(1)) == float(row["score"]),
              f"{name} fetches autograder's feedback with its score", score=m.groups() if m else None)


# ------------------------------------------------------------------ the guide's own commands

GUIDE = os.path.join(ROOT, "deploy", "README.md")
# Every shell block of deploy/README.md carries a step id (<!-- step: ID --> on the line before its
# fence). How this test treats each one; a block whose id is not listed here (or a listed id whose
# block is gone) fails the test, so that a new command of the guide cannot go untested unnoticed.
RUN = "run as written"
STEPS = {
    "settings": "parsed: the test writes a settings file of its own with the same names",
    "packages": "simulated: apt-get install --simulate must find every package installed; apt-get update "
                "not run (CI's .ci/run installs what is missing; the test changes no package)",
    "proxy": RUN + ", npm's global prefix in the test's folder (npm_config_prefix)",
    "grader": RUN,
    "users": RUN,
    "checkout": RUN + " (REPO_URL: a git snapshot of this working tree, owned by the grader account: git "
                "refuses to clone a local repository of another user)",
    "environment": RUN,
    "hub-config": RUN,
    "unit": RUN + ", into the test's folder instead of /etc/systemd/system; its ExecStartPre and ExecStart "
            "are then run by the test as systemd would (root, in /, EnvironmentFile's variables)",
    "start": "not run: systemctl (no systemd on the test's machine)",
    "grade": RUN + " in the formgrader service (bash from the service's kernel, in the grader's home)",
    "return-feedback": RUN + " in the formgrader service",
    "export": RUN + " in the formgrader service",
    "backup": "not run: writes /var/backups",
    "upgrade": "not run: systemctl (its upgrade-db runs as the unit's ExecStartPre)",
    "stop": "not run: systemctl, /etc/deeptrain",
    "cleanup": RUN + ", after the test stopped its hub",
    "tls": "not run: it changes the machine's nginx; deploy/nginx/deeptrain.conf runs in the test's own nginx",
    "smoke": "not run: this test",
}
# The order in which the install steps run (the guide's order; checked against it).
INSTALL = ("settings", "packages", "proxy", "grader", "users", "checkout", "environment", "hub-config", "unit")
SETTINGS_FILE = "/etc/deeptrain/hub.env"    # step 0's file, read by the unit (EnvironmentFile)
UNIT_FILE = "/etc/systemd/system/deeptrain-hub.service"
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LEDGER = "/var/tmp/deeptrain-hub-smoke.users"   # the users and group a run creates, for the next run

# apt-get for step "packages": nothing is installed or updated; every package must be there already.
APT_SIMULATE = r"""
apt-get() {
  if [ "$1" = update ]; then echo "smoke test: apt-get update not run"; return 0; fi
  local out
  out=$(command apt-get --simulate "$@") || { echo "$out"; return 1; }
  echo "$out"
  echo "$out" | grep -Eq '^[0-9]+ upgraded, 0 newly installed' || {
    echo "smoke test: step 'packages' names packages that are not installed (.ci/run installs them)" >&2
    return 1; }
}
"""


def guide_blocks(text=None):
    """[(step id, code)] of deploy/README.md's shell blocks, in order; fails on a block without an id."""
    text = open(GUIDE).read() if text is None else text
    blocks = re.findall(r"<!-- step: ([\w-]+) -->\n```bash\n(.*?)```", text, re.S)
    fences = len(re.findall(r"^```bash$", text, re.M))
    check(len(blocks) == fences, "every shell block of deploy/README.md carries a step id",
          blocks=len(blocks), fences=fences)
    ids = [b[0] for b in blocks]
    check(len(set(ids)) == len(ids) and set(ids) == set(STEPS),
          "the guide's step ids are the ones this test knows how to run (or says why not)",
          unknown=sorted(set(ids) - set(STEPS)), missing=sorted(set(STEPS) - set(ids)))
    check([i for i in ids if i in INSTALL] == list(INSTALL), "the guide's install steps in the order the test runs them",
          order=ids)
    return blocks


def settings_names(code):
    """The variable names step 0 writes into its settings file."""
    m = re.search(r"cat > (\S+) <<'SETTINGS'\n(.*?)\nSETTINGS\n", code, re.S)
    check(m and m.group(1) == SETTINGS_FILE, "step 0 writes the settings file the unit reads", file=m and m.group(1))
    return [line.split("=", 1)[0] for line in m.group(2).splitlines() if "=" in line and not line.startswith("#")]


class Guide:
    """Runs the guide's blocks as root from a private folder (like /root), with the test's settings."""

    def __init__(self, work, settings, base_env):
        self.blocks = dict(guide_blocks())
        self.cwd = os.path.join(work, "admin")     # the administrator's folder: students.txt, passwords.txt
        os.makedirs(self.cwd, mode=0o700)
        self.env = {**base_env, **settings}
        self.log = os.path.join(work, "guide.log")
        self.settings = settings
        names = settings_names(self.blocks["settings"])
        check(sorted(names) == sorted(settings), "the test gives every setting of step 0 a value of its own",
              guide=names, test=sorted(settings))
        self.settings_file = os.path.join(work, "hub.env")   # the test's /etc/deeptrain/hub.env
        with open(self.settings_file, "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in settings.items()))
        os.chmod(self.settings_file, 0o644)

    def run(self, step, prelude="", code=None):
        code = self.blocks[step] if code is None else code
        t = time.monotonic()
        with open(self.log, "a") as logf:
            logf.write(f"\n===== step {step}\n{code}\n-----\n")
            logf.flush()
            start = logf.tell()
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", prelude + code], cwd=self.cwd, env=self.env,
                               stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            with open(self.log) as f:
                f.seek(start)
                tail = f.read()[-4000:]
            check(False, f"deploy/README.md step '{step}' runs as written", exit=r.returncode, output=tail)
        check(True, f"deploy/README.md step '{step}' runs as written ({time.monotonic() - t:.0f} s)")


def make_repo(work):
    """The test's REPO_URL: a git repository holding this working tree's files (tracked and new, not
    ignored), so that uncommitted changes are what the grader's clone gets."""
    repo = os.path.join(work, "repo")
    os.makedirs(repo)
    files = run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]).stdout
    for rel in sorted(set(filter(None, files.split("\0")))):
        src, dst = os.path.join(ROOT, rel), os.path.join(repo, rel)
        if not os.path.lexists(src):
            continue          # deleted in the working tree
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    git = ["git", "-C", repo, "-c", "user.name=smoke test", "-c", "user.email=smoke@localhost"]
    run(git + ["init", "-q"])
    run(git + ["add", "-A"])
    run(git + ["commit", "-q", "-m", "the working tree under test"])
    return repo


def parse_unit(path):
    """The [Service] settings of the unit step 8 wrote: {key: [values]}."""
    service, section = {}, None
    for line in open(path).read().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line:
            k, v = line.split("=", 1)
            service.setdefault(k, []).append(v)
    return service


# ------------------------------------------------------------------ the hub, as the unit starts it

class HubExited(Exception):
    def __init__(self, proc):
        super().__init__(f"exit status {proc.returncode}")
        self.proc = proc


def write_smoke_config(hub_dir):
    """The test's site additions (tests/deploy/hub_test_config.py as jupyterhub_config_local.py) and
    their values (free ports, an admin token) in smoke.json, root only."""
    values = {"port": free_port(), "hub_port": free_port(), "proxy_api_port": free_port(),
              "formgrader_port": free_port(), "admin_token": secrets.token_hex(32)}
    shutil.copy(os.path.join(ROOT, "tests", "deploy", "hub_test_config.py"),
                os.path.join(hub_dir, "jupyterhub_config_local.py"))
    path = os.path.join(hub_dir, "smoke.json")
    with open(path, "w") as f:
        json.dump(values, f)
    os.chmod(path, 0o600)
    return values


def start_hub(work, unit, settings_file, hub_dir, npm_bin, attempts=3):
    """What systemd does with the unit: ExecStartPre, then ExecStart, as root, in / (no
    WorkingDirectory), with the EnvironmentFile's variables and systemd's PATH (npm's global bin of
    the test first: step 2 installed the proxy there). On a start-up failure (a free port taken
    meanwhile by another process of this shared machine) again on other ports."""
    check(unit.get("User") == ["root"] and unit.get("EnvironmentFile") == [SETTINGS_FILE]
          and len(unit.get("ExecStart", [])) == 1 and "WorkingDirectory" not in unit,
          "the unit runs the hub as root with step 0's settings file", unit=unit)
    env = {"PATH": npm_bin + ":" + SYSTEMD_PATH, "LANG": "C.UTF-8"}
    for line in open(settings_file).read().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v
    import shlex
    for pre in unit.get("ExecStartPre", []):
        r = subprocess.run(shlex.split(pre), cwd="/", env=env, capture_output=True, text=True)
        check(r.returncode == 0, f"the unit's ExecStartPre runs: {os.path.basename(shlex.split(pre)[0])} "
              f"{shlex.split(pre)[1]}", output=(r.stdout + r.stderr)[-3000:])
    for attempt in range(1, attempts + 1):
        values = write_smoke_config(hub_dir)
        logf = open(os.path.join(work, "jupyterhub.log"), "a")
        proc = subprocess.Popen(shlex.split(unit["ExecStart"][0]), cwd="/", env=env, stdout=logf,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            hub = wait_for_hub(proc, values)
            return proc, hub, values
        except HubExited as e:
            log(f"jupyterhub exited during start-up ({e}); attempt {attempt} of {attempts}")
            stop_hub(e.proc, env.get("DEEPTRAIN_SRV") and os.path.join(env["DEEPTRAIN_SRV"], "state"))
    raise Failure(f"jupyterhub did not start in {attempts} attempts (see jupyterhub.log)")


def wait_for_hub(proc, values):
    url = f"http://127.0.0.1:{values['port']}"
    # the hub's API answers through the proxy once its managed services (formgrader) are up: up to
    # the service's start-up timeout (180 s in jupyterhub_config.py) on a loaded machine
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HubExited(proc)
        try:
            if requests.get(url + "/hub/api/", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    else:
        raise Failure("jupyterhub did not answer in 240 s")
    deadline = time.monotonic() + 200   # the service's own start-up timeout is 180 s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HubExited(proc)
        try:
            r = requests.get(f"{url}/services/{COURSE_ID}/api/status", timeout=2, allow_redirects=False)
            if r.status_code in (200, 302, 403):
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return Hub(url, values["admin_token"])


def stop_hub(proc, state):
    """SIGTERM: the hub stops the servers it spawned, its services and the proxy. Then whatever of
    the hub's session and the proxy (its pid file, in its own session) is still alive is killed."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pid_file = os.path.join(state, "jupyterhub-proxy.pid") if state else None
    if pid_file and os.path.exists(pid_file):
        try:
            pid = int(open(pid_file).read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                ours = b"configurable-http-proxy" in f.read()
            if ours:
                os.kill(pid, signal.SIGKILL)
        except (ValueError, FileNotFoundError, ProcessLookupError):
            pass


def runs_as_nobody(python, code):
    r = subprocess.run(["runuser", "-u", "nobody", "--", python, "-c", code], capture_output=True, text=True,
                       cwd="/", env={"PATH": SYSTEMD_PATH, "LANG": "C.UTF-8"})
    return r.returncode == 0, (r.stdout + r.stderr)[-1500:]


NGINX_SITE = os.path.join(ROOT, "deploy", "nginx", "deeptrain.conf")


def start_nginx(work, hub_port):
    """deploy/nginx/deeptrain.conf in front of the hub (bound to 127.0.0.1), with a self-signed
    certificate made here, on a free port; returns (process, https URL, certificate)."""
    d = os.path.join(work, "nginx")
    os.makedirs(os.path.join(d, "tmp"))
    os.chmod(os.path.join(d, "tmp"), 0o777)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert])
    port = free_port()
    site = open(NGINX_SITE).read()
    for old, new in (("server {\n    listen 80;\n    server_name hub.example.org;\n    return 301 https://$host$request_uri;\n}\n", ""),
                     ("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;"),
                     ("/etc/letsencrypt/live/hub.example.org/fullchain.pem", cert),
                     ("/etc/letsencrypt/live/hub.example.org/privkey.pem", key),
                     ("http://127.0.0.1:8000;", f"http://127.0.0.1:{hub_port};")):
        if old not in site:
            raise Failure(f"deploy/nginx/deeptrain.conf changed: {old!r} not found")
        site = site.replace(old, new)
    with open(os.path.join(d, "site.conf"), "w") as f:
        f.write(site)
    t = os.path.join(d, "tmp")
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n"
                f"events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {t}/body;\n"
                f"  proxy_temp_path {t}/proxy;\n  fastcgi_temp_path {t}/fcgi;\n  uwsgi_temp_path {t}/uwsgi;\n"
                f"  scgi_temp_path {t}/scgi;\n  include {d}/site.conf;\n}}\n")
    run(["nginx", "-t", "-c", os.path.join(d, "nginx.conf")])
    proc = subprocess.Popen(["nginx", "-c", os.path.join(d, "nginx.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/hub/api/", timeout=2, verify=cert).status_code == 200:
                return proc, url, cert
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise Failure("nginx in front of the hub did not answer in 30 s")


def pip_config(work):
    """The machine's pip configuration (root's user file: its index mirror, if any), readable by the
    grader account, whose `make setup` (step 5) would not see root's file otherwise. None if absent."""
    src = os.path.expanduser("~/.config/pip/pip.conf")
    if not os.path.isfile(src):
        return None
    dst = os.path.join(work, "pip.conf")
    shutil.copy(src, dst)
    os.chmod(dst, 0o644)
    return dst


def install(work, guide, users, passwords):
    """The guide's install steps 1-8, in order, as written; returns what the scenario needs."""
    s = guide.settings
    guide.run("packages", prelude=APT_SIMULATE)
    guide.run("proxy")
    chp = os.path.join(guide.env["npm_config_prefix"], "bin", "configurable-http-proxy")
    check(os.access(chp, os.X_OK), "step 2 installed configurable-http-proxy", path=chp)
    with open(LEDGER, "a") as f:   # before the users exist: an interrupted run leaves them to the next
        f.write("".join(n + "\n" for n in (*users.values(), s["DEEPTRAIN_STUDENTS_GROUP"])))
    guide.run("grader")
    grader = pwd.getpwnam(users["grader"])
    modes = {sub: oct(stat.S_IMODE(os.stat(os.path.join(s["DEEPTRAIN_EXCHANGE"], sub)).st_mode))
             for sub in ("", "deeptrain", "deeptrain/inbound", "deeptrain/outbound", "deeptrain/feedback")}
    owners = {os.stat(os.path.join(s["DEEPTRAIN_EXCHANGE"], "deeptrain", sub)).st_uid
              for sub in ("", "inbound", "outbound", "feedback")}
    check(modes == {"": "0o1777", "deeptrain": "0o755", "deeptrain/inbound": "0o2733",
                    "deeptrain/outbound": "0o755", "deeptrain/feedback": "0o711"} and owners == {grader.pw_uid},
          "step 3: the exchange and its course folders, owned by the grader account", modes=modes)
    with open(os.path.join(guide.cwd, "students.txt"), "w") as f:
        f.write(f"{users['a']}\n{users['b']}\n")
    with open(os.path.join(guide.cwd, "passwords.txt"), "w") as f:
        f.write("".join(f"{users[r]}:{passwords[r]}\n" for r in ("instructor", "a", "b")))
    guide.run("users")
    check(not os.path.exists(os.path.join(guide.cwd, "passwords.txt")), "step 4 shreds passwords.txt")
    for role, name in users.items():
        check(stat.S_IMODE(os.stat(pwd.getpwnam(name).pw_dir).st_mode) == 0o700, f"{role} {name}: home 0700")
    status = run(["passwd", "--status", users["grader"]]).stdout.split()
    check(status[1] in ("L", "NP") or status[1].startswith("L"), "the grader account has no usable password",
          status=status)
    check(grader.pw_dir == os.path.dirname(s["DEEPTRAIN_COURSE_DIR"]), "the checkout goes into the grader's home",
          home=grader.pw_dir)
    run(["chown", "-R", f"{grader.pw_uid}:{grader.pw_gid}", s["DEEPTRAIN_REPO"]])
    guide.run("checkout")
    venv_python = os.path.join(s["DEEPTRAIN_COURSE_DIR"], ".venv", "bin", "python")
    base = run([venv_python, "-c", "import sys; print(sys.base_prefix)"]).stdout.strip()
    check(base == "/usr", "the grader's .venv is built on the system's Python", base_prefix=base)
    guide.run("environment")
    student_python = os.path.join(s["DEEPTRAIN_SRV"], "venv", "bin", "python")
    ok, out = runs_as_nobody(student_python, "import sys, jupyterhub, nbgrader, tensorflow, jupyterhub_idle_culler; "
                             "assert sys.base_prefix == '/usr', sys.base_prefix; "
                             "print(jupyterhub.__version__)")
    check(ok, "the students' venv (system Python) runs as an unprivileged user, with the hub, nbgrader, "
          "TensorFlow and the idle culler", output=out)
    ok, out = runs_as_nobody(student_python, "import deeptrain")
    check(not ok, "the students' venv alone has no deeptrain (it comes from the bundle, on PYTHONPATH)", output=out)
    guide.run("hub-config")
    unit_path = os.path.join(work, "deeptrain-hub.service")
    code = guide.blocks["unit"]
    check(code.count(UNIT_FILE) == 1, "step 8 writes the unit file", block=code)
    guide.run("unit", code=code.replace(UNIT_FILE, unit_path))
    # a stand-in for the grader's ~/.ssh and the like: no student and no submission may read it
    secret = os.path.join(grader.pw_dir, ".grader-secret")
    with open(secret, "w") as f:
        f.write("not for students\n")
    os.chown(secret, grader.pw_uid, grader.pw_gid)
    os.chmod(secret, 0o600)
    return parse_unit(unit_path), secret


# ------------------------------------------------------------------ leftovers of earlier runs

def leftovers():
    """Users and groups an earlier, interrupted run created (its ledger; and the gecos-marked users of
    the test's older versions)."""
    names = []
    if os.path.exists(LEDGER):
        names = [n.strip() for n in open(LEDGER) if n.strip().startswith(USER_PREFIX)]
    names += [p.pw_name for p in pwd.getpwall()
              if p.pw_name.startswith(USER_PREFIX) and p.pw_gecos == USER_COMMENT]
    return sorted(set(names))


def remove_users(names):
    uids = set()
    for n in names:
        try:
            uids.add(pwd.getpwnam(n).pw_uid)
        except KeyError:
            pass
    for _ in range(3):   # a server may still be forking kernels
        pids = processes_of(uids)
        if not pids:
            break
        kill_pids(pids)
        time.sleep(0.5)
    for n in names:
        subprocess.run(["userdel", "--remove", n], capture_output=True)
    for n in names:
        try:
            grp.getgrnam(n)
            subprocess.run(["groupdel", n], capture_output=True)
        except KeyError:
            pass


def existing(names):
    out = []
    for n in names:
        for lookup in (pwd.getpwnam, grp.getgrnam):
            try:
                lookup(n)
                out.append(n)
                break
            except KeyError:
                pass
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) on failure")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("smoke_hub.py: needs root (it creates Linux users and runs servers as them)", file=sys.stderr)
        return 2

    # SIGTERM (a CI timeout) goes through the clean-up below as well.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    left = existing(leftovers())
    if left:
        log(f"removing users and groups left by an earlier run: {left}")
        remove_users(left)
    if os.path.exists(LEDGER):
        os.remove(LEDGER)

    work = tempfile.mkdtemp(prefix="deeptrain-hub-smoke-")
    os.chmod(work, 0o755)   # the users' servers read the hub's folders under it
    tag = secrets.token_hex(3)
    users = {"grader": f"{USER_PREFIX}g{tag}", "instructor": f"{USER_PREFIX}i{tag}",
             "a": f"{USER_PREFIX}a{tag}", "b": f"{USER_PREFIX}b{tag}"}
    group = f"{USER_PREFIX}s{tag}"          # the students' group (DEEPTRAIN_STUDENTS_GROUP)
    passwords = {role: secrets.token_urlsafe(18) for role in ("instructor", "a", "b")}
    settings = {
        "DEEPTRAIN_REPO": os.path.join(work, "repo"),
        "DEEPTRAIN_SRV": os.path.join(work, "srv"),
        "DEEPTRAIN_EXCHANGE": os.path.join(work, "nbgrader", "exchange"),
        "DEEPTRAIN_GRADER": users["grader"],
        "DEEPTRAIN_COURSE_DIR": f"/home/{users['grader']}/deeptrain",
        "DEEPTRAIN_INSTRUCTORS": users["instructor"],
        "DEEPTRAIN_STUDENTS_GROUP": group,
        "DEEPTRAIN_HUB_URL": "http://127.0.0.1:8000",   # the test's site additions bind a free port
    }
    # the administrator's root shell: root's environment without this test's Python (.venv, pyenv)
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("JUPYTER", "VIRTUAL_ENV", "PYTHON", "PYENV", "DEEPTRAIN", "CONDA"))}
    base_env.update({"PATH": SYSTEMD_PATH, "HOME": "/root", "TF_CPP_MIN_LOG_LEVEL": "3",
                     "npm_config_prefix": os.path.join(work, "npm"), "DEBIAN_FRONTEND": "noninteractive"})
    conf = pip_config(work)
    if conf:
        base_env["PIP_CONFIG_FILE"] = conf
    proc, ok, nginx, state = None, False, None, os.path.join(settings["DEEPTRAIN_SRV"], "state")
    try:
        log(f"the guide's blocks: " + ", ".join(f"{k}: {v.split(':')[0].split(',')[0]}" for k, v in STEPS.items()))
        make_repo(work)
        guide = Guide(work, settings, base_env)
        t = time.monotonic()
        unit, secret = install(work, guide, users, passwords)
        log(f"install steps 1-8 took {time.monotonic() - t:.0f} s")
        hub_dir = os.path.join(settings["DEEPTRAIN_SRV"], "hub")
        proc, hub, values = start_hub(work, unit, guide.settings_file, hub_dir,
                                      os.path.join(base_env["npm_config_prefix"], "bin"))
        log("hub up")
        listed = hub.api("GET", "/services")
        services = set(listed) if isinstance(listed, dict) else {x["name"] for x in listed}
        check({COURSE_ID, "idle-culler"} <= services,
              "the hub runs the formgrader service and the idle culler (installed by step 6)", services=sorted(services))
        if shutil.which("nginx"):
            nginx, hub.url, cert = start_nginx(work, values["port"])
            os.environ["REQUESTS_CA_BUNDLE"] = cert
            r = requests.get(hub.url + "/hub/login", timeout=30)
            check(r.status_code == 200 and r.url.startswith("https://"),
                  "the hub answers through nginx over TLS (deploy/nginx/deeptrain.conf, self-signed "
                  "certificate); everything below goes through it", status=r.status_code)
        else:
            log("NOT TESTED: nginx is not installed (apt-get install nginx): the test talks to the hub directly")
        paths = {"exchange": settings["DEEPTRAIN_EXCHANGE"], "bundle": os.path.join(settings["DEEPTRAIN_SRV"], "bundle"),
                 "copy": settings["DEEPTRAIN_COURSE_DIR"], "grader_secret": secret,
                 "home": {u: pwd.getpwnam(u).pw_dir for u in users.values()}}
        ports = {"DEEPTRAIN_FORMGRADER_PORT": values["formgrader_port"], "DEEPTRAIN_SMOKE_HUB_PORT": values["hub_port"]}
        sa, sb, max_auto = scenario(ports, hub, users, paths, paths["copy"], passwords)
        grade_the_class(hub, users, guide, sa, sb, max_auto)
        stop_hub(proc, state)
        proc = None
        remove_users_processes(users)
        guide.run("cleanup")
        gone = existing([*users.values(), group])
        check(not gone and not os.path.exists(settings["DEEPTRAIN_SRV"])
              and not os.path.exists(os.path.join(settings["DEEPTRAIN_EXCHANGE"], COURSE_ID))
              and not os.path.exists(os.path.join(base_env["npm_config_prefix"], "bin", "configurable-http-proxy")),
              "the guide's clean-up removes the accounts, the group, the hub's folders, the course's exchange "
              "and the proxy", left=gone)
        ok = True
    except Failure as e:
        log(f"FAIL {e}")
    finally:
        if nginx is not None:
            nginx.terminate()
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(nginx.pid, signal.SIGKILL)
        stop_hub(proc, state)
        remove_users([*users.values(), group])
        hub_log = os.path.join(work, "jupyterhub.log")
        if not ok and os.path.exists(hub_log):
            with open(hub_log) as f:
                tail = f.read()[-6000:]
            print("---- jupyterhub.log (tail) ----\n" + tail, flush=True)
        if ok or not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
        check(not existing([*users.values(), group]), "the test's users and group are gone")
        if os.path.exists(LEDGER) and not existing(leftovers()):
            os.remove(LEDGER)
    log("PASSED" if ok else "FAILED")
    if not ok and COUNTS["failed"] == 0:
        COUNTS["failed"] = 1   # an error outside a check (a crash, a timeout) fails the run too
    # The plain closing line CI reads, like a test runner's.
    print(f"smoke_hub: {COUNTS['passed']} passed, {COUNTS['failed']} failed", flush=True)
    return 0 if ok else 1


def remove_users_processes(users):
    """What the hub left running as the test's users (kernels the servers did not stop in time): killed,
    so that the guide's userdel finds no process of theirs."""
    uids = {pwd.getpwnam(n).pw_uid for n in users.values()}
    for _ in range(3):
        pids = processes_of(uids)
        if not pids:
            return
        kill_pids(pids)
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
