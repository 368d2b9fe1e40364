"""End-to-end smoke test of the JupyterHub deployment in deploy/ (run as root, after `make test`).

    .venv/bin/python tests/deploy/smoke_hub.py [--keep]

What it does, on 127.0.0.1 only and on free ports:
  1. installs configurable-http-proxy from npm into a temporary folder, creates three Linux users
     (an instructor and two students; homes mode 0700 as deploy/README.md asks), lays the server out
     as deploy/README.md does (exchange 1777, the student bundle, a copy of deploy/jupyterhub, the
     instructor's copy of the repository in their home) and starts JupyterHub (from .venv) with the
     shipped jupyterhub_config.py plus a test-only overlay (tests/deploy/hub_test_config.py: a shared
     random password instead of PAM, ports, an admin token for the test);
  2. everybody logs in through the hub's login form; servers start as the users' own Linux users;
  3. the instructor, through the formgrader service's HTTP API (/services/deeptrain/formgrader/api),
     generates and releases 01_unstable_gradients;
  4. each student fetches it through their server's Assignment List API (/user/NAME/assignments),
     saves a notebook through the contents API (A: every exercise solved; B: the first exercise left
     as its stub) and submits it;
  5. the instructor collects, autogrades each submission (plain nbgrader autograde with the checkout's
     nbgrader_config.py: the course's sandbox, limits, tamper guard), generates and releases feedback;
  6. the students fetch their feedback; the test checks the grades (A: every autograded point, as
     counted from the notebook's metadata; B: fewer), the feedback's score and that it holds no hidden
     test, and, from code run in student A's kernel, that A cannot read B's home or work, the
     exchange's inbound or feedback listing, the instructor's checkout (solutions/, reference/), and
     that A's deeptrain is the bundle's (no reference/) with the course's data readable;
  7. the instructor grades the collected folder again with `python -m autograder grade` and returns
     that feedback with deploy/return_feedback.py (run in a kernel of the formgrader service); the
     grades agree with formgrader's and the students fetch the new feedback;
  8. stops everything it started, deletes its users (also those of an earlier interrupted run) and
     its folders, even on failure (SIGTERM included).
Exit status 0 when every check passed. Takes about 2.5 minutes on 2 otherwise idle cores.
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


def add_user(name):
    # HOME_MODE=0700: Debian's useradd otherwise makes homes world-readable (umask 022).
    run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", USER_COMMENT,
         "-K", "HOME_MODE=0700", name])
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


# ------------------------------------------------------------------ HTTP helpers

class Hub:
    """The hub's REST API (admin token of the test's service) and per-user clients."""

    def __init__(self, url, admin_token):
        self.url = url.rstrip("/")
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
    ws_url = (client.url.replace("http://", "ws://") + f"{server_path}/api/kernels/{kernel['id']}/channels")
    msg_id = uuid.uuid4().hex

    async def go():
        conn = await websocket_connect(HTTPRequest(
            ws_url, headers={"Authorization": f"token {client.token}"}, request_timeout=timeout))
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
    "probes": {name: probe(kind, path) for name, (kind, path) in json.loads(%r).items()},
}))
"""


def scenario(env, hub, users, paths, instructor_copy):
    instr, a, b = users["instructor"], users["a"], users["b"]
    solution = os.path.join(instructor_copy, "solutions", ASSIGNMENT, f"{ASSIGNMENT}.ipynb")
    max_auto = autograded_points(solution)
    answers = answers_from(solution)
    check(max_auto > 0 and answers, "the assignment has autograded points and answer cells",
          points=max_auto, answers=len(answers))

    # -- log in through the form (the test-only authenticator), then start the servers
    status, _ = hub.login_form(a, "wrong-" + env["DEEPTRAIN_SMOKE_PASSWORD"])
    check(status == 403, "a wrong password is refused at the login form", status=status)
    for name in (instr, a, b):
        status, session = hub.login_form(name, env["DEEPTRAIN_SMOKE_PASSWORD"])
        check(status == 302 and any(k.startswith("jupyterhub-") for k in session.cookies.keys()),
              f"{name} logs in through the hub's login form", status=status)
    hub.start_servers([a, b])
    log("student servers ready")
    ci, ca, cb = hub.client(instr), hub.client(a), hub.client(b)
    fg = f"/services/{COURSE_ID}/formgrader/api"

    # -- the formgrader service: the instructor only, its own tab, the framing policy
    r = ci.request("GET", f"/services/{COURSE_ID}/", expect=None)
    check(r.status_code in (301, 302)
          and r.headers["Location"].split("?")[0].rstrip("/").endswith(f"/services/{COURSE_ID}/formgrader"),
          "the formgrader service opens on formgrader (a tab of its own)",
          status=r.status_code, location=r.headers.get("Location"))
    r = ci.request("GET", f"/services/{COURSE_ID}/formgrader/manage_assignments")
    check("frame-ancestors 'self'" in r.headers.get("Content-Security-Policy", ""),
          "FORMGRADER_FRAMES=self reaches the service (JupyterHub >= 4.1 framing policy)",
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
        res = ci.json("POST", f"{fg}/submission/{ASSIGNMENT}/{name}/autograde", timeout=900)
        check(res.get("success"), f"formgrader autogrades {name}", log=res.get("log", "")[-3000:])
    log(f"autograding both took {time.monotonic() - t:.1f} s")
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
        "reference": ("read", os.path.join(instructor_copy, "lib", "deeptrain", "reference", "__init__.py")),
        "gradebook": ("read", os.path.join(instructor_copy, "grading", "gradebook.db")),
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
          "A cannot read the instructor's checkout (solutions, reference, gradebook)", probes=p)
    check(seen["deeptrain"].startswith(os.path.join(paths["bundle"], "lib") + os.sep)
          and not seen["reference_importable"],
          "A's deeptrain is the bundle's, without reference/", deeptrain=seen["deeptrain"])
    check(seen["data_file"] == "ok", "A's deeptrain finds Fashion-MNIST and A can read it",
          data_dir=seen["data_dir"], read=seen["data_file"])
    return sa, sb, max_auto


CLASS_GRADE = r"""
import csv, json, os, subprocess, sys
course = os.environ["DEEPTRAIN_COURSE_DIR"]
# plain nbgrader in the service's terminal, as deploy/README.md writes it (steps 9 and 11)
listed = subprocess.run(["nbgrader", "list", "--Exchange.root=" + os.environ["DEEPTRAIN_EXCHANGE"]],
                        cwd=os.path.expanduser("~"), capture_output=True, text=True)
out = os.path.join(course, "grading", "class")
g = subprocess.run([sys.executable, "-m", "autograder", "grade", os.path.join(course, "grading", "submitted"),
                    "--assignments", %(assignment)r, "--grading", out, "--jobs", "2", "--no-report"],
                   cwd=course, capture_output=True, text=True)
rows = []
if os.path.exists(os.path.join(out, "grades_detail.csv")):
    with open(os.path.join(out, "grades_detail.csv")) as f:
        rows = list(csv.DictReader(f))
r = subprocess.run([sys.executable, os.path.join(course, "deploy", "return_feedback.py"), %(assignment)r,
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
    log(f"python -m autograder grade took {time.monotonic() - t:.1f} s (release_feedback included)")
    check(res["list_rc"] == 0 and f"{COURSE_ID} {ASSIGNMENT}" in res["list_log"],
          "nbgrader run in the service with --Exchange.root=$DEEPTRAIN_EXCHANGE sees the release", log=res["list_log"])
    check(res["grade_rc"] == 0, "python -m autograder grade grades the collected folder", log=res["grade_log"])
    rows = {row["student"]: row for row in res["rows"] if row["assignment"] == ASSIGNMENT}
    ra, rb = rows.get(a, {}), rows.get(b, {})
    check(ra.get("status") == "graded" and float(ra["score"]) == max_auto,
          "autograder: the solved notebook gets every autograded point", row=ra, expected=max_auto)
    check(rb.get("status") == "graded" and float(rb["score"]) == sb["code_score"],
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


def setup_layout(work, users, env):
    """The server layout of deploy/README.md, under work/ instead of /srv."""
    srv = os.path.join(work, "srv")
    os.makedirs(srv)
    hub_dir = os.path.join(srv, "hub")
    shutil.copytree(DEPLOY, hub_dir)
    state = os.path.join(srv, "state")
    os.makedirs(state, mode=0o700)
    exchange = os.path.join(srv, "exchange")
    os.makedirs(exchange)
    os.chmod(exchange, 0o1777)                 # nbgrader: everyone writes, sticky
    bundle = os.path.join(srv, "bundle")
    run([os.path.join(VENV, "bin", "python"), "-m", "autograder", "bundle", bundle], cwd=ROOT, env=env)
    for d, _, files in os.walk(bundle):     # world-readable, whatever the umask
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)

    # The instructor's checkout (a clone in deploy/README.md; a copy of the working tree here).
    instr = users["instructor"]
    pw = pwd.getpwnam(instr)
    copy = os.path.join(pw.pw_dir, "deeptrain")
    shutil.copytree(ROOT, copy, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "grading", "work", "dist", "__pycache__", ".pytest_cache", "*.egg-info",
        ".ipynb_checkpoints", "bench"))
    run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", copy])
    return {"srv": srv, "hub": hub_dir, "state": state, "exchange": exchange, "bundle": bundle,
            "copy": copy,
            "home": {u: pwd.getpwnam(u).pw_dir for u in users.values()}}


def start_hub(work, paths, users, chp, env, user_env, user_env_vars, attempts=3):
    """Start JupyterHub; on a start-up failure (a free port taken meanwhile by another process
    of this shared machine) try again on other ports."""
    for attempt in range(1, attempts + 1):
        try:
            return _start_hub(work, paths, users, chp, env, user_env, user_env_vars)
        except HubExited as e:
            log(f"jupyterhub exited during start-up ({e}); attempt {attempt} of {attempts}")
            stop_hub(e.proc, paths["state"])
    raise Failure(f"jupyterhub did not start in {attempts} attempts (see jupyterhub.log)")


class HubExited(Exception):
    def __init__(self, proc):
        super().__init__(f"exit status {proc.returncode}")
        self.proc = proc


def _start_hub(work, paths, users, chp, env, user_env, user_env_vars):
    ports = {k: free_port() for k in ("PORT", "HUB_PORT", "PROXY_API_PORT", "FORMGRADER")}
    hub_env = dict(env)
    hub_env.update({
        "PATH": os.path.join(VENV, "bin") + ":" + env.get("PATH", "/usr/bin:/bin"),
        "DEEPTRAIN_SMOKE_HUB_CONFIG": os.path.join(paths["hub"], "jupyterhub_config.py"),
        "DEEPTRAIN_SMOKE_PASSWORD": secrets.token_urlsafe(24),
        "DEEPTRAIN_SMOKE_USERS": ",".join(users.values()),
        "DEEPTRAIN_SMOKE_ADMIN_TOKEN": secrets.token_hex(32),
        "DEEPTRAIN_SMOKE_CHP": chp,
        "DEEPTRAIN_SMOKE_USER_ENV_VARS": json.dumps(user_env_vars),
        "DEEPTRAIN_SMOKE_PORT": str(ports["PORT"]),
        "DEEPTRAIN_SMOKE_HUB_PORT": str(ports["HUB_PORT"]),
        "DEEPTRAIN_SMOKE_PROXY_API_PORT": str(ports["PROXY_API_PORT"]),
        # the deployment's settings (jupyterhub_config.py, SETTINGS)
        "DEEPTRAIN_INSTRUCTOR": users["instructor"],
        "DEEPTRAIN_COURSE_DIR": paths["copy"],
        "DEEPTRAIN_INSTRUCTOR_ENV": user_env,   # the instructor's environment (its .venv in deploy/README.md)
        "DEEPTRAIN_STUDENT_ENV": user_env,      # the students' environment (/srv/deeptrain/venv there)
        "DEEPTRAIN_BUNDLE": paths["bundle"],
        "DEEPTRAIN_EXCHANGE": paths["exchange"],
        "DEEPTRAIN_STATE": paths["state"],
        "DEEPTRAIN_FORMGRADER_PORT": str(ports["FORMGRADER"]),
        "DEEPTRAIN_FORMGRADER_FRAMES": "self",
    })
    logf = open(os.path.join(work, "jupyterhub.log"), "a")
    proc = subprocess.Popen([os.path.join(VENV, "bin", "jupyterhub"), "-f", OVERLAY],
                            cwd=paths["state"], env=hub_env, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{ports['PORT']}"
    deadline = time.monotonic() + 90
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
        raise Failure("jupyterhub did not answer in 90 s")
    # the formgrader service is started by the hub; wait until it answers through the proxy
    hub = Hub(url, hub_env["DEEPTRAIN_SMOKE_ADMIN_TOKEN"])
    while time.monotonic() < deadline + 60:
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


def users_can_run(python, env=None):
    """Whether an unprivileged user can execute this interpreter (not so when it lives under /root)."""
    r = subprocess.run(["runuser", "-u", "nobody", "--", "env", *[f"{k}={v}" for k, v in (env or {}).items()],
                        python, "-c", "import soupsieve, nbgrader, jupyterhub"], capture_output=True)
    return r.returncode == 0


def shared_env(work):
    """The Python environment of the users' servers and the formgrader service, and the
    environment variables it needs: (folder, {name: value}).

    .venv itself when every user can execute its interpreter. Otherwise (this CI machine: .venv is
    built on a pyenv Python under /root, mode 0700, the pitfall deploy/README.md warns about) a copy
    of that interpreter and its standard library (not its site-packages) under work/, with
    LD_LIBRARY_PATH for its libpython (its RUNPATH points into /root), and a venv of it that loads
    .venv's packages, with .venv's console scripts and Jupyter data (lab extensions, extension
    switches). The same interpreter version matters: packages such as soupsieve fail on an older 3.11."""
    if users_can_run(os.path.join(VENV, "bin", "python")):
        return VENV, {}
    base = os.path.realpath(os.path.join(VENV, "bin", "python"))   # .../bin/python3.11
    home = os.path.dirname(os.path.dirname(base))
    minor = "python%d.%d" % sys.version_info[:2]
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
    extra = {"LD_LIBRARY_PATH": os.path.join(py, "lib")}
    env_dir = os.path.join(work, "venv")
    run([os.path.join(py, "bin", minor), "-m", "venv", "--without-pip", env_dir])
    site_dir = os.path.join(VENV, "lib", minor, "site-packages")
    with open(os.path.join(env_dir, "lib", minor, "site-packages", "zz_deeptrain_smoke.pth"), "w") as f:
        f.write(f"import site; site.addsitedir({site_dir!r})\n")
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
    run(["chmod", "-R", "a+rX", py, env_dir])
    check(users_can_run(new_python, extra), "a copy of .venv's interpreter runs as an unprivileged user",
          python=new_python)
    return env_dir, extra


def install_proxy(work):
    """configurable-http-proxy from npm into work/npm (or $DEEPTRAIN_SMOKE_CHP if it is set)."""
    if os.environ.get("DEEPTRAIN_SMOKE_CHP"):
        return os.environ["DEEPTRAIN_SMOKE_CHP"]
    prefix = os.path.join(work, "npm")
    run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error",
         "configurable-http-proxy"])
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
    users = {"instructor": f"{USER_PREFIX}i{tag}", "a": f"{USER_PREFIX}a{tag}", "b": f"{USER_PREFIX}b{tag}"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc, ok, state = None, False, None
    try:
        chp = install_proxy(work)
        for name in users.values():
            pw = add_user(name)
            check(stat.S_IMODE(os.stat(pw.pw_dir).st_mode) == 0o700, f"user {name} created, home 0700")
        user_env, user_env_vars = shared_env(work)
        paths = setup_layout(work, users, env)
        state = paths["state"]
        log("layout ready; starting JupyterHub")
        proc, hub, hub_env = start_hub(work, paths, users, chp, env, user_env, user_env_vars)
        log("hub up")
        sa, sb, max_auto = scenario(hub_env, hub, users, paths, paths["copy"])
        grade_the_class(hub, users, sa, sb, max_auto)
        ok = True
    except Failure as e:
        log(f"FAIL {e}")
    finally:
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
