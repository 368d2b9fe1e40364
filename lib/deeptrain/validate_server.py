"""Jupyter server extension: nbgrader's Validate button without freezing the student's server.

nbgrader's own handler (``nbgrader.server_extensions.validate_assignment``) runs the whole
validation, a full run of the notebook in a new kernel, inside the server's event loop: for as
long as it runs (20-60 s for a module of this course, minutes on a loaded hub) the server
answers nothing, so saving, autosave, the running kernel's outputs and every other tab stall
(nbgrader issue 1232, open since 2019). This extension serves the same two URLs with the same
replies, the validation moved to a worker thread; nbgrader's extension is turned off where this
one is turned on (etc/jupyter/jupyter_server_config.json, the bundle, the hub's student servers).

Written by hand because nbgrader offers no setting for it; the validation itself is nbgrader's
(``ValidateAssignmentHandler.validate_notebook``), unchanged.
"""
import asyncio
import json

from jupyter_server.utils import url_path_join
from nbgrader.server_extensions.validate_assignment.handlers import (NbGraderVersionHandler,
                                                                     ValidateAssignmentHandler)
from tornado import web


class ValidateInThread(ValidateAssignmentHandler):
    """POST /assignments/validate: nbgrader's validation of the notebook at ``path``, in a thread."""

    @web.authenticated
    async def post(self):
        try:
            path = self.get_argument("path")
        except web.MissingArgumentError:
            path = self.get_json_body()["path"]
        # A thread has no running event loop, so nbclient runs the kernel in a loop of its own.
        output = await asyncio.to_thread(self.validate_notebook, path)
        self.finish(json.dumps(output))


def _jupyter_server_extension_points():
    return [{"module": "deeptrain.validate_server"}]


def _load_jupyter_server_extension(serverapp):
    web_app = serverapp.web_app
    web_app.settings["root_dir"] = serverapp.root_dir     # read by nbgrader's handler
    base = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [(url_path_join(base, "assignments/validate"), ValidateInThread),
                                 (url_path_join(base, "nbgrader_version"), NbGraderVersionHandler)])
    serverapp.log.info("deeptrain.validate_server: nbgrader's Validate runs in a thread")
