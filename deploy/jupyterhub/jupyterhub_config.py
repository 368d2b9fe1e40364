"""JupyterHub for the course "Training Deep Neural Networks" with nbgrader (course id ``deeptrain``).

deploy/README.md sets a server up step by step. The layout it creates (every path can be changed
through the hub's environment, see SETTINGS below; the smoke test tests/deploy/smoke_hub.py does so):

  /srv/deeptrain/hub/            this folder (a copy of the repository's deploy/jupyterhub/)
  /srv/deeptrain/state/          the hub's database and cookie secret (root only)
  /srv/deeptrain/venv/           the Python environment of the hub and of the students' servers
  /srv/deeptrain/bundle/         `python -m autograder bundle`: notebooks and lib/deeptrain without reference/
  /srv/nbgrader/exchange/        nbgrader's exchange (Exchange.root), mode 1777
  /home/INSTRUCTOR/deeptrain/    the instructor's checkout (solutions, reference, gradebook); home mode 0700

Who runs what:
  - every user (student or instructor) gets a JupyterLab server running as their own Linux user
    (LocalProcessSpawner: nbgrader takes a student's id from the OS user name), with the students'
    environment, lib/deeptrain of the bundle on PYTHONPATH and the Assignment List;
  - the formgrader runs as a hub service named after the course ("deeptrain"), as the instructor's
    Linux user, in the instructor's checkout with the checkout's own .venv; the members of the group
    "formgrade-deeptrain" (the instructor and the graders) may open it at /services/deeptrain/.
"""
import os

c = get_config()  # noqa: F821 (provided by traitlets when JupyterHub loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))


def _setting(name, default):
    """A deployment setting: the environment variable DEEPTRAIN_<name>, else the default."""
    return os.environ.get("DEEPTRAIN_" + name, default)


# ---------------------------------------------------------------- SETTINGS
COURSE_ID = "deeptrain"   # autograder.COURSE_ID; the formgrader service MUST carry the course id as its name
INSTRUCTOR = _setting("INSTRUCTOR", "instructor")                     # Linux user running the formgrader
GRADERS = [g for g in _setting("GRADERS", "").split(",") if g]        # more users allowed into formgrader
COURSE_DIR = _setting("COURSE_DIR", f"/home/{INSTRUCTOR}/deeptrain")  # the instructor's checkout
INSTRUCTOR_ENV = _setting("INSTRUCTOR_ENV", os.path.join(COURSE_DIR, ".venv"))  # its `make setup` venv
STUDENT_ENV = _setting("STUDENT_ENV", "/srv/deeptrain/venv")           # students' Python environment
BUNDLE = _setting("BUNDLE", "/srv/deeptrain/bundle")                   # python -m autograder bundle OUT
EXCHANGE = _setting("EXCHANGE", "/srv/nbgrader/exchange")              # nbgrader Exchange.root
STATE = _setting("STATE", "/srv/deeptrain/state")                      # hub database, cookie secret
STUDENTS_GROUP = _setting("STUDENTS_GROUP", "deeptrain")               # Linux group allowed to log in
FORMGRADER_PORT = int(_setting("FORMGRADER_PORT", "9999"))             # the service's port on 127.0.0.1
# "none" (default): formgrader opens in a browser tab of its own (/services/deeptrain/formgrader).
# "self": the JupyterLab Formgrader panel works too (an iframe); safe only with per-user subdomains
# (c.JupyterHub.subdomain_host) or trusted users, see deploy/README.md (nbgrader issue 1870).
FORMGRADER_FRAMES = _setting("FORMGRADER_FRAMES", "none")
# ---------------------------------------------------------------- end of SETTINGS

c.JupyterHub.bind_url = _setting("HUB_URL", "http://:8000")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(STATE, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "jupyterhub-proxy.pid")

# Who may log in: Linux users (PAM) of the students' group, the instructor and the graders.
c.JupyterHub.authenticator_class = "pam"
c.LocalAuthenticator.allowed_groups = {STUDENTS_GROUP}
c.Authenticator.allowed_users = {INSTRUCTOR, *GRADERS}
c.Authenticator.admin_users = {INSTRUCTOR}

# Everyone's own server: their Linux user, the students' environment, the bundle's library.
# The library comes from the bundle (no reference/), never from the instructor's checkout.
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = [os.path.join(STUDENT_ENV, "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
_student_env = {
    # jupyter, nbgrader and alembic are found by name (COURSE_DESIGN.md, known pitfalls)
    "PATH": os.path.join(STUDENT_ENV, "bin") + ":/usr/local/bin:/usr/bin:/bin",
    "PYTHONPATH": os.path.join(BUNDLE, "lib"),
    # nbgrader_config.py (exchange, course id) and the extensions a student sees
    "JUPYTER_CONFIG_PATH": os.path.join(HERE, "student"),
    "DEEPTRAIN_EXCHANGE": EXCHANGE,
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
if os.environ.get("DEEPTRAIN_DATA"):   # else /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
    _student_env["DEEPTRAIN_DATA"] = os.environ["DEEPTRAIN_DATA"]
c.Spawner.environment = _student_env

# The instructor's formgrader: a hub service named after the course (nbgrader's "one class,
# multiple graders" set-up), running as the instructor in the checkout.
c.JupyterHub.load_groups = {
    f"formgrade-{COURSE_ID}": {"users": sorted({INSTRUCTOR, *GRADERS})},
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
        "command": [os.path.join(INSTRUCTOR_ENV, "bin", "jupyterhub-singleuser")],
        "user": INSTRUCTOR,
        # formgrader serves the course from a folder inside its root: run in the checkout's parent.
        # nbgrader_config.py in JUPYTER_CONFIG_PATH loads the checkout's, then sets the exchange.
        "cwd": os.path.dirname(COURSE_DIR.rstrip("/")),
        "oauth_no_confirm": True,
        "environment": {
            "JUPYTERHUB_DEFAULT_URL": "/formgrader",   # a tab of its own: no iframe, no framing policy
            "PATH": os.path.join(INSTRUCTOR_ENV, "bin") + ":/usr/local/bin:/usr/bin:/bin",
            "JUPYTER_CONFIG_PATH": os.path.join(HERE, "formgrader"),
            "DEEPTRAIN_EXCHANGE": EXCHANGE,
            "DEEPTRAIN_COURSE_DIR": COURSE_DIR,
            "DEEPTRAIN_FORMGRADER_FRAMES": FORMGRADER_FRAMES,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            **({"DEEPTRAIN_DATA": os.environ["DEEPTRAIN_DATA"]} if os.environ.get("DEEPTRAIN_DATA") else {}),
        },
    },
]
