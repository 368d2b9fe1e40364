"""JupyterHub for the course "Training Deep Neural Networks" with nbgrader (course id ``deeptrain``).

deploy/README.md sets a server up step by step. The layout it creates (every path is a setting
read from the hub's environment, i.e. /etc/deeptrain/hub.env of the guide's step 0, see SETTINGS
below; the smoke test tests/deploy/smoke_hub.py runs the guide with settings of its own):

  /srv/deeptrain/                DEEPTRAIN_SRV
  /srv/deeptrain/hub/            this folder (a copy of the repository's deploy/jupyterhub/), with
                                 jupyterhub_config_local.py (site additions, loaded last) if present
  /srv/deeptrain/state/          the hub's database and cookie secret (root only)
  /srv/deeptrain/venv/           the Python environment of the hub and of the students' servers
  /srv/deeptrain/bundle/         `autograder bundle`: notebooks and lib/deeptrain without reference/
  /srv/nbgrader/exchange/        nbgrader's exchange (Exchange.root), mode 1777; its course folder
                                 deeptrain/ (and outbound/, inbound/, feedback/) made by the guide,
                                 owned by the grader account, before any student account exists
  /home/grader-deeptrain/deeptrain/   the grader account's checkout (solutions, reference, gradebook)

Who runs what (least privilege; nbgrader's "one class, multiple graders" set-up):
  - every user who logs in (students, instructors, graders) gets a JupyterLab server running as
    their own Linux user (LocalProcessSpawner: nbgrader takes a student's id from the OS user name),
    with the students' environment, lib/deeptrain of the bundle on PYTHONPATH and the Assignment List;
  - the formgrader runs as a hub service named after the course ("deeptrain"), as a dedicated Linux
    account (GRADER, default "grader-deeptrain") that cannot log in to the hub and has no server of
    its own; it owns the checkout and the exchange's course folder. Autograde runs each submission's
    kernel as that account, inside bubblewrap (autograder/sandbox.py: no network, its home hidden).
    The members of the hub group "formgrade-deeptrain" (INSTRUCTORS and GRADERS) may open the
    service at /services/deeptrain/; they are NOT hub admins (ADMINS is empty by default): an admin
    can open every student's server, which grading never needs.
"""
import importlib.util
import os
import sys

c = get_config()  # noqa: F821 (provided by traitlets when JupyterHub loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))


def _setting(name, default):
    """A deployment setting: the environment variable DEEPTRAIN_<name>, else the default."""
    return os.environ.get("DEEPTRAIN_" + name, default)


def _names(name, default=""):
    return [n.strip() for n in _setting(name, default).split(",") if n.strip()]


# ---------------------------------------------------------------- SETTINGS
COURSE_ID = "deeptrain"   # autograder.COURSE_ID; the formgrader service MUST carry the course id as its name
GRADER = _setting("GRADER", f"grader-{COURSE_ID}")      # Linux account running formgrader and grading
INSTRUCTORS = _names("INSTRUCTORS", "instructor")       # logins allowed into formgrader (own server too)
GRADERS = _names("GRADERS")                             # more logins allowed into formgrader (TAs)
ADMINS = _names("ADMINS")                               # hub admins: nobody by default (see the docstring)
COURSE_DIR = _setting("COURSE_DIR", f"/home/{GRADER}/deeptrain")        # the grader account's checkout
GRADER_ENV = _setting("GRADER_ENV", os.path.join(COURSE_DIR, ".venv"))  # its `make setup` venv
SRV = _setting("SRV", "/srv/deeptrain")                                 # the hub's folders (below)
STUDENT_ENV = _setting("STUDENT_ENV", os.path.join(SRV, "venv"))       # students' Python environment
BUNDLE = _setting("BUNDLE", os.path.join(SRV, "bundle"))               # autograder bundle OUT
EXCHANGE = _setting("EXCHANGE", "/srv/nbgrader/exchange")              # nbgrader Exchange.root
STATE = _setting("STATE", os.path.join(SRV, "state"))                  # hub database, cookie secret
STUDENTS_GROUP = _setting("STUDENTS_GROUP", "deeptrain")               # Linux group allowed to log in
FORMGRADER_PORT = int(_setting("FORMGRADER_PORT", "9999"))             # the service's port on 127.0.0.1
# "none" (default): formgrader opens in a browser tab of its own (/services/deeptrain/formgrader).
# "self": the JupyterLab Formgrader panel works too (an iframe); safe only with per-user subdomains
# (c.JupyterHub.subdomain_host) or trusted users, see deploy/README.md (nbgrader issue 1870).
FORMGRADER_FRAMES = _setting("FORMGRADER_FRAMES", "none")
# Per-student resources. Threads: TensorFlow and BLAS otherwise start one thread per core of the
# machine in every kernel. Memory/CPU limits are enforced only by a spawner that can (SPAWNER=systemd:
# jupyterhub-systemdspawner, cgroups through systemd); LocalProcessSpawner ignores them.
THREADS = _setting("THREADS", "2")                   # threads per student kernel (TF intra-op, BLAS)
MEM_LIMIT = _setting("MEM_LIMIT", "2G")              # per student server, with SPAWNER=systemd
CPU_LIMIT = float(_setting("CPU_LIMIT", "2"))        # cores per student server, with SPAWNER=systemd
SPAWNER = _setting("SPAWNER", "local")               # "local" or "systemd"
CULL_IDLE = int(_setting("CULL_IDLE", "3600"))       # stop servers idle this many seconds (0: never)
# ---------------------------------------------------------------- end of SETTINGS

# The loopback by default: HTTPS comes from nginx in front (deploy/README.md, "TLS").
c.JupyterHub.bind_url = _setting("HUB_URL", "http://127.0.0.1:8000")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(STATE, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "jupyterhub-proxy.pid")

# Who may log in: Linux users (PAM) of the students' group, the instructors and the graders. The
# grader account is none of them: it has no password, no hub login and no server (only the service).
c.JupyterHub.authenticator_class = "pam"
c.LocalAuthenticator.allowed_groups = {STUDENTS_GROUP}
c.Authenticator.allowed_users = {*INSTRUCTORS, *GRADERS}
c.Authenticator.admin_users = set(ADMINS)
c.Authenticator.blocked_users = {GRADER, "root"}

# Everyone's own server: their Linux user, the students' environment, the bundle's library.
# The library comes from the bundle (no reference/), never from the grader's checkout.
if SPAWNER == "systemd":
    # jupyterhub-systemdspawner (pip install it in the hub's venv): each server is a transient
    # systemd unit with MemoryMax/CPUQuota from mem_limit/cpu_limit, its own /tmp, no new privileges.
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.isolate_tmp = True
    c.SystemdSpawner.disable_user_sudo = True
    c.SystemdSpawner.unit_name_template = "deeptrain-singleuser-{USERNAME}"
else:
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.mem_limit = MEM_LIMIT
c.Spawner.cpu_limit = CPU_LIMIT
c.Spawner.cmd = [os.path.join(STUDENT_ENV, "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
_threads = {name: THREADS for name in (
    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS")}
_student_env = {
    # jupyter, nbgrader and alembic are found by name (COURSE_DESIGN.md, known pitfalls)
    "PATH": os.path.join(STUDENT_ENV, "bin") + ":/usr/local/bin:/usr/bin:/bin",
    "PYTHONPATH": os.path.join(BUNDLE, "lib"),
    # nbgrader_config.py (exchange, course id) and the extensions a student sees
    "JUPYTER_CONFIG_PATH": os.path.join(HERE, "student"),
    "DEEPTRAIN_EXCHANGE": EXCHANGE,
    "TF_CPP_MIN_LOG_LEVEL": "3",
    **_threads,
}
if os.environ.get("DEEPTRAIN_DATA"):   # else /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
    _student_env["DEEPTRAIN_DATA"] = os.environ["DEEPTRAIN_DATA"]
c.Spawner.environment = _student_env

# The formgrader: a hub service named after the course (nbgrader's "one class, multiple graders"
# set-up), running as the grader account in its checkout.
c.JupyterHub.load_groups = {
    f"formgrade-{COURSE_ID}": {"users": sorted({*INSTRUCTORS, *GRADERS})},
}
c.JupyterHub.load_roles = [
    {
        "name": f"formgrade-{COURSE_ID}",
        "groups": [f"formgrade-{COURSE_ID}"],
        "scopes": [f"access:services!service={COURSE_ID}", "list:services",
                   f"read:services!service={COURSE_ID}"],
    },
]
c.JupyterHub.services = [
    {
        "name": COURSE_ID,
        "url": f"http://127.0.0.1:{FORMGRADER_PORT}",
        "command": [os.path.join(GRADER_ENV, "bin", "jupyterhub-singleuser")],
        "user": GRADER,
        # formgrader serves the course from a folder inside its root: run in the checkout's parent.
        # nbgrader_config.py in JUPYTER_CONFIG_PATH loads the checkout's, then sets the exchange.
        "cwd": os.path.dirname(COURSE_DIR.rstrip("/")),
        "oauth_no_confirm": True,
        # JupyterHub waits this long for the service at start-up, then exits (default 30 s: too
        # short for a Jupyter server with nbgrader and JupyterLab on a busy machine).
        "timeout": 180,
        "environment": {
            "JUPYTERHUB_DEFAULT_URL": "/formgrader",   # a tab of its own: no iframe, no framing policy
            "PATH": os.path.join(GRADER_ENV, "bin") + ":/usr/local/bin:/usr/bin:/bin",
            "JUPYTER_CONFIG_PATH": os.path.join(HERE, "formgrader"),
            "DEEPTRAIN_EXCHANGE": EXCHANGE,
            "DEEPTRAIN_COURSE_DIR": COURSE_DIR,
            "DEEPTRAIN_FORMGRADER_FRAMES": FORMGRADER_FRAMES,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            **({"DEEPTRAIN_DATA": os.environ["DEEPTRAIN_DATA"]} if os.environ.get("DEEPTRAIN_DATA") else {}),
        },
    },
]

# Stop servers nobody used for CULL_IDLE seconds (their memory comes back; the work is saved on
# disk). jupyterhub-idle-culler runs as a hub service (pip install it in the hub's venv).
if CULL_IDLE and importlib.util.find_spec("jupyterhub_idle_culler"):
    c.JupyterHub.services.append({
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={CULL_IDLE}"],
    })
    c.JupyterHub.load_roles.append({
        "name": "idle-culler",
        "services": ["idle-culler"],
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    })

# Site-specific additions (another authenticator, c.JupyterHub.subdomain_host, TLS on the hub
# itself, ...): jupyterhub_config_local.py next to this file, run last with this file's `c` (so it
# can also change the lists above, e.g. c.JupyterHub.services), kept when the guide's step 7
# copies this folder again. The smoke test puts its ports and its admin token there.
_LOCAL = os.path.join(HERE, "jupyterhub_config_local.py")
if os.path.exists(_LOCAL):
    with open(_LOCAL) as _f:
        exec(compile(_f.read(), _LOCAL, "exec"), {"c": c, "get_config": lambda: c, "__file__": _LOCAL})
