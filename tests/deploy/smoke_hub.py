"""End-to-end smoke test of the JupyterHub deployment in deploy/ (run as root, after `make test`).

    .venv/bin/python tests/deploy/smoke_hub.py [--keep]

On 127.0.0.1 only and on free ports, as deploy/README.md ("The smoke test") describes: the pinned
configurable-http-proxy from npm; a grader account (no password), an instructor and two students
(homes 0700, PAM passwords, a students' group); the exchange with its course folders owned by the
grader account (step 6); the bundle; two venvs (students', grader's); JupyterHub from .venv with the
shipped jupyterhub_config.py and tests/deploy/hub_test_config.py (ports, an admin token); nginx with
deploy/nginx/deeptrain.conf and a self-signed certificate in front when nginx is installed. Then,
through HTTP only: logins, least privilege (grader account without login or server, instructor not
admin), the squat, release, fetch, submit, collect, Autograde (as the grader account, under
bubblewrap), feedback, what a student's kernel and a graded submission can reach (files, the
formgrader service, the hub, the other student's server: nothing), `autograder grade` from the
service's home and deploy/return_feedback.py. Stops everything it started and deletes its users,
group and folders, even on failure (SIGTERM included). Exit status 0 when every check passed.
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
VENV = os.path.join(ROOT, ".venv")
DEPLOY = os.path.join(ROOT, "deploy", "jupyterhub")
OVERLAY = os.path.join(ROOT, "tests", "deploy", "hub_test_config.py")
ASSIGNMENT = "01_unstable_gradients"
COURSE_ID = "deeptrain"
USER_COMMENT = "deeptrain hub smoke test"   # marks the test's users, to find leftovers of a killed run
USER_PREFIX = "dtsmk"
# deploy/README.md's pin: the newest configurable-http-proxy that runs on Debian 12's Node 18
# (5.2 and later need Node >= 20)
CHP_PACKAGE = "configurable-http-proxy@5.1.0"

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

def test_users():
    """Linux users created by this test (now or in an earlier run that was killed)."""
    return [p.pw_name for p in pwd.getpwall()
            if p.pw_name.startswith(USER_PREFIX) and p.pw_gecos == USER_COMMENT]


def add_user(name, groups=(), password=None):
    # HOME_MODE=0700: Debian's useradd otherwise makes homes world-readable (umask 022).
    # Without a password the account is locked (the grader account: it never logs in).
    run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", USER_COMMENT,
         "-K", "HOME_MODE=0700", *(["-G", ",".join(groups)] if groups else []), name])
    if password:
        run(["chpasswd"], input=f"{name}:{password}\n")
    return pwd.getpwnam(name)


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
        try:
            grp.getgrnam(n)
            subprocess.run(["groupdel", n], capture_output=True)
        except KeyError:
            pass
    for g in grp.getgrall():   # the test's students' group (named USER_PREFIX + "s" + tag)
        if g.gr_name.startswith(USER_PREFIX + "s") and not g.gr_mem:
            subprocess.run(["groupdel", g.gr_name], capture_output=True)


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
    csp = ca.request("GET", f"/user/{a}/api/status").headers.get("Content-Security-Policy", "")
    check("frame-ancestors 'none'" in csp, "students' servers keep frame-ancestors 'none'", csp=csp)
    r = ca.request("GET", f"/user/{b}/api/contents", expect=None)
    check(r.status_code in (403, 404), "student A's token does not open student B's server",
          status=r.status_code)

    # -- release
    res = ci.json("POST", f"{fg}/assignment/{ASSIGNMENT}/assign")
    check(res.get("success"), "formgrader generates the assignment", log=res.get("log", "")[-1500:])
    res = ci.json("POST", f"{fg}/assignment/{ASSIGNMENT}/release")
    check(res.get("success"), "formgrader releases it to the exchange", log=res.get("log", "")[-1500:])

    # -- students fetch, work, submit
    for client, name, stub in ((ca, a, ()), (cb, b, (next(iter(answers)),))):
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
        if name == b:   # B's submission also tries to reach what grading must keep out of reach
            work.cells.append(nbformat.v4.new_code_cell(REACH % {
                "token": cb.token, "tcp": {**targets_tcp, "a_server": a_ports[0]},
                "files": {"grader_secret": ("read", paths["grader_secret"]),
                          "gradebook": ("read", os.path.join(grader_copy, "grading", "gradebook.db")),
                          "solutions": ("read", solution),
                          "a_home": ("list", paths["home"][a])},
                "urls": {"formgrader": f"http://127.0.0.1:{targets_tcp['formgrader']}/services/{COURSE_ID}/api/contents",
                         "a_server": f"http://127.0.0.1:{a_ports[0]}/user/{a}/api/contents"}}))
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
    texts = [o.get("text", "") for cell in graded.cells if cell.cell_type == "code"
             for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
    reach = [json.loads(line[len("REACH "):]) for t in texts for line in t.splitlines()
             if line.startswith("REACH ")]
    check(reach, "B's probe ran while formgrader autograded B (its output is in the graded notebook)")
    reach = reach[-1]
    log(f"what B's graded submission got: {json.dumps(reach)}")
    check(not any(v.startswith("ok") for v in reach["files"].values()),
          "a graded submission cannot read the grader's files, the gradebook, the solutions or A's home",
          files=reach["files"])
    check(all(v.startswith("refused") for v in list(reach["tcp"].values()) + list(reach["http"].values())),
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
    check(0 <= sb["code_score"] < max_auto, "the notebook with a stub left gets fewer",
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
import csv, json, os, subprocess, sys
course = os.environ["DEEPTRAIN_COURSE_DIR"]
# plain nbgrader in the service's terminal, as deploy/README.md writes it (steps 9 and 11)
listed = subprocess.run(["nbgrader", "list", "--Exchange.root=" + os.environ["DEEPTRAIN_EXCHANGE"]],
                        cwd=os.path.expanduser("~"), capture_output=True, text=True)
out = os.path.join(course, "grading", "class")
# deploy/README.md step 12 as written: the `autograder` command, in the terminal's folder (the home)
g = subprocess.run(["autograder", "grade", os.path.join(course, "grading", "submitted"),
                    "--assignments", %(assignment)r, "--grading", out, "--jobs", "2", "--no-report"],
                   cwd=os.path.expanduser("~"), capture_output=True, text=True)
rows = []
if os.path.exists(os.path.join(out, "grades_detail.csv")):
    with open(os.path.join(out, "grades_detail.csv")) as f:
        rows = list(csv.DictReader(f))
r = subprocess.run(["python", os.path.join(course, "deploy", "return_feedback.py"), %(assignment)r,
                    os.path.join(out, "feedback")], cwd=os.path.expanduser("~"), capture_output=True, text=True)
print(json.dumps({"list_rc": listed.returncode, "list_log": (listed.stdout + listed.stderr)[-2500:],
                  "grade_rc": g.returncode, "grade_log": (g.stdout + g.stderr)[-2500:], "rows": rows,
                  "release_rc": r.returncode, "release_log": (r.stdout + r.stderr)[-2500:]}))
"""


def grade_the_class(hub, users, sa, sb, max_auto):
    """Steps 12-13 of deploy/README.md the other way: `python -m autograder grade` on the collected
    folder, then deploy/return_feedback.py (nbgrader release_feedback) on its feedback, run in a kernel of the formgrader
    service (as the instructor, with the service's environment); the students fetch it again."""
    instr, a, b = users["instructor"], users["a"], users["b"]
    ci, ca, cb = hub.client(instr), hub.client(a), hub.client(b)
    t = time.monotonic()
    out = run_in_kernel(ci, f"/services/{COURSE_ID}", CLASS_GRADE % {"assignment": ASSIGNMENT}, timeout=600)
    res = json.loads(out.strip().splitlines()[-1])
    log(f"autograder grade took {time.monotonic() - t:.1f} s (release_feedback included)")
    check(res["list_rc"] == 0 and f"{COURSE_ID} {ASSIGNMENT}" in res["list_log"],
          "nbgrader run in the service with --Exchange.root=$DEEPTRAIN_EXCHANGE sees the release", log=res["list_log"])
    check(res["grade_rc"] == 0, "autograder grade, run in the service's home folder as step 12 writes it, grades the collected folder", log=res["grade_log"])
    rows = {row["student"]: row for row in res["rows"] if row["assignment"] == ASSIGNMENT}
    ra, rb = rows.get(a, {}), rows.get(b, {})
    check(ra.get("status") == "graded" and float(ra["score"]) == max_auto,
          "autograder: the solved notebook gets every autograded point", row=ra, expected=max_auto)
    # B's submission carries the reach probe: the grader may flag it (status "flagged"), the score stays
    check(rb.get("status") in ("graded", "flagged") and float(rb["score"]) == sb["code_score"],
          "autograder: the other notebook gets what formgrader gave it", row=rb, formgrader=sb["code_score"])
    check(res["release_rc"] == 0, "deploy/return_feedback.py releases autograder's feedback",
          log=res["release_log"])
    for client, name, row in ((ca, a, ra), (cb, b, rb)):
        client.json("POST", f"/user/{name}/assignments/fetch_feedback",
                    data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})
        folder = client.json("GET", f"/user/{name}/api/contents/{ASSIGNMENT}/feedback")["content"]
        html = client.json("GET", f"/user/{name}/api/contents/{folder[0]['path']}/{ASSIGNMENT}.html",
                           params={"content": 1})["content"]
        m = re.search(r"Score:\s*([0-9.]+)\s*/\s*([0-9.]+)", html)
        check(len(folder) == 1 and m and float(m.group(1)) == float(row["score"]),
              f"{name} fetches autograder's feedback with its score", score=m.groups() if m else None)


def guide_block(heading):
    """The first ```bash block after heading in deploy/README.md."""
    text = open(os.path.join(ROOT, "deploy", "README.md")).read()
    start = text.index(heading)
    m = re.search(r"```bash\n(.*?)```", text[start:], re.S)
    return m.group(1)


def setup_layout(work, users, env):
    """The server layout of deploy/README.md, under work/ instead of /srv."""
    srv = os.path.join(work, "srv")
    os.makedirs(srv)
    hub_dir = os.path.join(srv, "hub")
    shutil.copytree(DEPLOY, hub_dir)
    state = os.path.join(srv, "state")
    os.makedirs(state, mode=0o700)
    exchange = os.path.join(srv, "exchange")
    grader = users["grader"]
    # deploy/README.md step 6, its own commands: the exchange (1777, as nbgrader wants its root) and
    # the course's folders in it, owned by the grader account, before any student can log in
    step6 = guide_block("**6. The exchange**")
    check("install -d" in step6 and "grader-deeptrain" in step6, "deploy/README.md step 6 found",
          block=step6)
    run(["bash", "-euxc", step6.replace("/srv/nbgrader/exchange", exchange)
         .replace("grader-deeptrain", grader)])
    modes = {sub: oct(stat.S_IMODE(os.stat(os.path.join(exchange, sub)).st_mode))
             for sub in ("", "deeptrain", "deeptrain/inbound", "deeptrain/outbound", "deeptrain/feedback")}
    log(f"exchange made by step 6: {modes}")
    bundle = os.path.join(srv, "bundle")
    run([os.path.join(VENV, "bin", "python"), "-m", "autograder", "bundle", bundle], cwd=ROOT, env=env)
    for d, _, files in os.walk(bundle):     # world-readable, whatever the umask
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)

    # The grader account's checkout (a clone in deploy/README.md; a copy of the working tree here).
    pw = pwd.getpwnam(grader)
    copy = os.path.join(pw.pw_dir, "deeptrain")
    shutil.copytree(ROOT, copy, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "grading", "work", "dist", "__pycache__", ".pytest_cache", "*.egg-info",
        ".ipynb_checkpoints", "bench"))
    secret = os.path.join(pw.pw_dir, ".grader-secret")     # stands for ~/.ssh and the like
    with open(secret, "w") as f:
        f.write("not for students\n")
    run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", copy, secret])
    os.chmod(secret, 0o600)
    return {"srv": srv, "hub": hub_dir, "state": state, "exchange": exchange, "bundle": bundle,
            "copy": copy, "grader_secret": secret,
            "home": {u: pwd.getpwnam(u).pw_dir for u in users.values()}}


def start_hub(work, paths, users, chp, env, user_env, user_env_vars, group, attempts=3):
    """Start JupyterHub; on a start-up failure (a free port taken meanwhile by another process
    of this shared machine) try again on other ports."""
    for attempt in range(1, attempts + 1):
        try:
            return _start_hub(work, paths, users, chp, env, user_env, user_env_vars, group)
        except HubExited as e:
            log(f"jupyterhub exited during start-up ({e}); attempt {attempt} of {attempts}")
            stop_hub(e.proc, paths["state"])
    raise Failure(f"jupyterhub did not start in {attempts} attempts (see jupyterhub.log)")


class HubExited(Exception):
    def __init__(self, proc):
        super().__init__(f"exit status {proc.returncode}")
        self.proc = proc


def _start_hub(work, paths, users, chp, env, user_env, user_env_vars, group):
    ports = {k: free_port() for k in ("PORT", "HUB_PORT", "PROXY_API_PORT", "FORMGRADER")}
    hub_env = dict(env)
    hub_env.update({
        "PATH": os.path.join(VENV, "bin") + ":" + env.get("PATH", "/usr/bin:/bin"),
        "DEEPTRAIN_SMOKE_HUB_CONFIG": os.path.join(paths["hub"], "jupyterhub_config.py"),
        "DEEPTRAIN_SMOKE_ADMIN_TOKEN": secrets.token_hex(32),
        "DEEPTRAIN_SMOKE_CHP": chp,
        "DEEPTRAIN_SMOKE_USER_ENV_VARS": json.dumps(user_env_vars),
        "DEEPTRAIN_SMOKE_PORT": str(ports["PORT"]),
        "DEEPTRAIN_SMOKE_HUB_PORT": str(ports["HUB_PORT"]),
        "DEEPTRAIN_SMOKE_PROXY_API_PORT": str(ports["PROXY_API_PORT"]),
        # the deployment's settings (jupyterhub_config.py, SETTINGS)
        "DEEPTRAIN_GRADER": users["grader"],
        "DEEPTRAIN_INSTRUCTORS": users["instructor"],
        "DEEPTRAIN_STUDENTS_GROUP": group,
        "DEEPTRAIN_COURSE_DIR": paths["copy"],
        "DEEPTRAIN_GRADER_ENV": user_env["grader"],     # the checkout's .venv in deploy/README.md
        "DEEPTRAIN_STUDENT_ENV": user_env["student"],   # /srv/deeptrain/venv in deploy/README.md
        "DEEPTRAIN_BUNDLE": paths["bundle"],
        "DEEPTRAIN_EXCHANGE": paths["exchange"],
        "DEEPTRAIN_STATE": paths["state"],
        "DEEPTRAIN_FORMGRADER_PORT": str(ports["FORMGRADER"]),
    })
    logf = open(os.path.join(work, "jupyterhub.log"), "a")
    proc = subprocess.Popen([os.path.join(VENV, "bin", "jupyterhub"), "-f", OVERLAY],
                            cwd=paths["state"], env=hub_env, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{ports['PORT']}"
    # the hub's API answers through the proxy once its managed service (formgrader) is up:
    # up to the service's start-up timeout (180 s in jupyterhub_config.py) on a loaded machine
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
    # the formgrader service is started by the hub; wait until it answers through the proxy
    hub = Hub(url, hub_env["DEEPTRAIN_SMOKE_ADMIN_TOKEN"])
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
    return proc, hub, hub_env


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


def users_can_run(python, env=None, probe="import soupsieve, nbgrader, jupyterhub"):
    """Whether an unprivileged user can execute this interpreter (not so when it lives under /root)
    and run probe with it."""
    r = subprocess.run(["runuser", "-u", "nobody", "--", "env", *[f"{k}={v}" for k, v in (env or {}).items()],
                        python, "-c", probe], capture_output=True, cwd="/")
    return r.returncode == 0


def user_envs(work, grader_copy):
    """The Python environments of the users' servers and of the formgrader service, and the
    environment variables they need: ({"student": folder, "grader": folder}, {name: value}).

    Two venvs, as deploy/README.md builds them: the students' one (/srv/deeptrain/venv there) has
    the packages but neither `autograder` nor the repository's `deeptrain` (students import the
    bundle's), the grader's one (the checkout's .venv there) imports both from the grader's
    checkout. Both load .venv's packages through a plain path line (not site.addsitedir: .venv's
    .pth files, among them setuptools' editable finder for the repository's deeptrain and its
    reference/, must not run in a student's server).

    The interpreter is .venv's base Python when every user can execute it; otherwise (this CI
    machine: a pyenv Python under /root, mode 0700, the pitfall deploy/README.md warns about) a copy
    of that interpreter and its standard library (not its site-packages) under work/, with
    LD_LIBRARY_PATH for its libpython (its RUNPATH points into /root). The same interpreter version
    matters: packages such as soupsieve fail on an older 3.11."""
    base = os.path.realpath(os.path.join(VENV, "bin", "python"))   # .../bin/python3.11
    minor = "python%d.%d" % sys.version_info[:2]
    extra = {}
    if users_can_run(base, probe="import sys"):
        interpreter = base
    else:
        home = os.path.dirname(os.path.dirname(base))
        py = os.path.join(work, "python")
        os.makedirs(os.path.join(py, "bin"))
        shutil.copy2(base, os.path.join(py, "bin", minor))
        os.makedirs(os.path.join(py, "lib"))
        for lib in os.listdir(os.path.join(home, "lib")):
            if lib.startswith("libpython"):
                shutil.copy2(os.path.join(home, "lib", lib), os.path.join(py, "lib", lib))
        shutil.copytree(os.path.join(home, "lib", minor), os.path.join(py, "lib", minor), symlinks=True,
                        ignore=shutil.ignore_patterns("site-packages", "test", "idlelib", "ensurepip",
                                                      "config-*", "tkinter"))
        os.makedirs(os.path.join(py, "lib", minor, "site-packages"))
        run(["chmod", "-R", "a+rX", py])
        extra = {"LD_LIBRARY_PATH": os.path.join(py, "lib")}
        interpreter = os.path.join(py, "bin", minor)
    site_dir = os.path.join(VENV, "lib", minor, "site-packages")
    envs = {}
    for role, paths in (("student", [site_dir]),
                        ("grader", [grader_copy, os.path.join(grader_copy, "lib"), site_dir])):
        env_dir = os.path.join(work, f"venv-{role}")
        run([interpreter, "-m", "venv", "--without-pip", env_dir], env={**os.environ, **extra})
        with open(os.path.join(env_dir, "lib", minor, "site-packages", "zz_deeptrain_smoke.pth"), "w") as f:
            f.write("".join(p + "\n" for p in paths))
        new_python = os.path.join(env_dir, "bin", "python")
        for name in os.listdir(os.path.join(VENV, "bin")):
            src, dst = os.path.join(VENV, "bin", name), os.path.join(env_dir, "bin", name)
            if os.path.islink(src) or not os.path.isfile(src) or os.path.exists(dst):
                continue
            with open(src, "rb") as f:
                first, rest = f.readline(), f.read()
            if first.startswith(b"#!") and b"python" in first:
                with open(dst, "wb") as f:
                    f.write(b"#!" + new_python.encode() + b"\n" + rest)
                os.chmod(dst, 0o755)
        for data in ("share", "etc"):
            if os.path.isdir(os.path.join(VENV, data)):
                os.symlink(os.path.join(VENV, data), os.path.join(env_dir, data))
        run(["chmod", "-R", "a+rX", env_dir])
        envs[role] = env_dir
    check(users_can_run(os.path.join(envs["student"], "bin", "python"), extra),
          "the students' venv runs as an unprivileged user", python=envs["student"])
    return envs, extra


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


def install_proxy(work):
    """configurable-http-proxy from npm into work/npm (or $DEEPTRAIN_SMOKE_CHP if it is set)."""
    if os.environ.get("DEEPTRAIN_SMOKE_CHP"):
        return os.environ["DEEPTRAIN_SMOKE_CHP"]
    prefix = os.path.join(work, "npm")
    run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error",
         CHP_PACKAGE])
    chp = os.path.join(prefix, "node_modules", ".bin", "configurable-http-proxy")
    check(os.access(chp, os.X_OK), "configurable-http-proxy installed from npm", path=chp)
    return chp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) on failure")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("smoke_hub.py: needs root (it creates Linux users and runs servers as them)", file=sys.stderr)
        return 2
    if not os.path.isfile(os.path.join(VENV, "bin", "jupyterhub")):
        print("smoke_hub.py: .venv/bin/jupyterhub missing (run make setup)", file=sys.stderr)
        return 2

    # SIGTERM (a CI timeout) goes through the clean-up below as well.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    leftovers = test_users()
    if leftovers:
        log(f"removing users left by an earlier run: {leftovers}")
        remove_users(leftovers)

    work = tempfile.mkdtemp(prefix="deeptrain-hub-smoke-")
    os.chmod(work, 0o755)   # the users' servers read the bundle and the config copy under it
    tag = secrets.token_hex(3)
    users = {"grader": f"{USER_PREFIX}g{tag}", "instructor": f"{USER_PREFIX}i{tag}",
             "a": f"{USER_PREFIX}a{tag}", "b": f"{USER_PREFIX}b{tag}"}
    group = f"{USER_PREFIX}s{tag}"          # the students' group (DEEPTRAIN_STUDENTS_GROUP)
    passwords = {role: secrets.token_urlsafe(18) for role in ("instructor", "a", "b")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc, ok, state, nginx = None, False, None, None
    try:
        chp = install_proxy(work)
        run(["groupadd", group])
        for role, name in users.items():
            pw = add_user(name, groups=[group] if role in ("a", "b") else [], password=passwords.get(role))
            check(stat.S_IMODE(os.stat(pw.pw_dir).st_mode) == 0o700, f"user {name} created, home 0700")
        user_env, user_env_vars = user_envs(work, os.path.join(pwd.getpwnam(users["grader"]).pw_dir, "deeptrain"))
        paths = setup_layout(work, users, env)
        state = paths["state"]
        log("layout ready; starting JupyterHub")
        proc, hub, hub_env = start_hub(work, paths, users, chp, env, user_env, user_env_vars, group)
        log("hub up")
        if shutil.which("nginx"):
            nginx, hub.url, cert = start_nginx(work, int(hub_env["DEEPTRAIN_SMOKE_PORT"]))
            os.environ["REQUESTS_CA_BUNDLE"] = cert
            r = requests.get(hub.url + "/hub/login", timeout=30)
            check(r.status_code == 200 and r.url.startswith("https://"),
                  "the hub answers through nginx over TLS (deploy/nginx/deeptrain.conf, self-signed "
                  "certificate); everything below goes through it", status=r.status_code)
        else:
            log("NOT TESTED: nginx is not installed (apt-get install nginx): the test talks to the hub directly")
        sa, sb, max_auto = scenario(hub_env, hub, users, paths, paths["copy"], passwords)
        grade_the_class(hub, users, sa, sb, max_auto)
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
        remove_users(list(users.values()))
        hub_log = os.path.join(work, "jupyterhub.log")
        if not ok and os.path.exists(hub_log):
            with open(hub_log) as f:
                tail = f.read()[-6000:]
            print("---- jupyterhub.log (tail) ----\n" + tail, flush=True)
        if ok or not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
        check(not test_users(), "the test's users are gone")
    log("PASSED" if ok else "FAILED")
    if not ok and COUNTS["failed"] == 0:
        COUNTS["failed"] = 1   # an error outside a check (a crash, a timeout) fails the run too
    # The plain closing line CI reads, like a test runner's.
    print(f"smoke_hub: {COUNTS['passed']} passed, {COUNTS['failed']} failed", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
