# The formgrader service's Jupyter server (nbgrader's table for formgrader services: formgrader and
# create-assignment on, assignment list and course list off).
import os

c = get_config()  # noqa: F821
c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.formgrader": True,
    "nbgrader.server_extensions.validate_assignment": True,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.course_list": False,
}
# JupyterHub >= 4.1 sends "Content-Security-Policy: frame-ancestors 'none'" unless the server sets
# its own header, and JupyterLab's Formgrader panel is an iframe: it stays blank (nbgrader issue 1870).
# DEEPTRAIN_FORMGRADER_FRAMES=self (jupyterhub_config.py, FORMGRADER_FRAMES) allows frames from the
# same origin; keep the default "none" unless the hub uses per-user subdomains or trusts its users,
# and open formgrader in its own tab (the service's default page).
if os.environ.get("DEEPTRAIN_FORMGRADER_FRAMES") == "self":
    c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
