"""Test-only overlay on the deployment's jupyterhub_config.py (tests/deploy/smoke_hub.py starts the hub
with it). Loads the shipped configuration unchanged (PAM logins, the grader account, the students'
group, no admins, the default framing unless the test's environment says otherwise), then swaps what
a test machine cannot have: fixed ports (free ports on 127.0.0.1), a global configurable-http-proxy
(the one npm installed for the test), and adds an admin token for the test's own service."""
import os

c = get_config()  # noqa: F821
load_subconfig(os.environ["DEEPTRAIN_SMOKE_HUB_CONFIG"])  # noqa: F821 (the copy of deploy/jupyterhub/...)

c.JupyterHub.bind_url = "http://127.0.0.1:%s" % os.environ["DEEPTRAIN_SMOKE_PORT"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ["DEEPTRAIN_SMOKE_HUB_PORT"])
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%s" % os.environ["DEEPTRAIN_SMOKE_PROXY_API_PORT"]
c.ConfigurableHTTPProxy.command = [os.environ["DEEPTRAIN_SMOKE_CHP"]]
c.Spawner.ip = "127.0.0.1"
c.Spawner.port = 0            # a random free port per server
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.log_level = "INFO"

# The test drives the hub through its REST API with this token (start servers, issue user tokens).
c.JupyterHub.services.append({"name": "smoke-test", "api_token": os.environ["DEEPTRAIN_SMOKE_ADMIN_TOKEN"]})
c.JupyterHub.load_roles.append({
    "name": "smoke-test",
    "services": ["smoke-test"],
    "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"],
})

# Variables the test's copy of the users' Python needs (LD_LIBRARY_PATH when .venv's interpreter
# lives where users cannot run it; empty otherwise).
_extra = __import__("json").loads(os.environ.get("DEEPTRAIN_SMOKE_USER_ENV_VARS", "{}"))
c.Spawner.environment.update(_extra)
for _service in c.JupyterHub.services:
    if "command" in _service:
        _service.setdefault("environment", {}).update(_extra)
