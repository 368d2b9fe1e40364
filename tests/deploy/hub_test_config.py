"""The smoke test's site additions (tests/deploy/smoke_hub.py copies this file to
$DEEPTRAIN_SRV/hub/jupyterhub_config_local.py, the file the shipped jupyterhub_config.py loads last;
deploy/README.md step 7). Everything else is the shipped configuration as the guide installs it (PAM
logins, the grader account, the students' group, no admins, the default framing, the idle culler).

What a shared test machine needs and a server does not: free ports on 127.0.0.1 instead of 8000,
8001, 8081 and 9999, longer start-up timeouts, and an admin token for the test's own service. The
values come from smoke.json next to this file (root only), written by the test."""
import json
import os

c = get_config()  # noqa: F821
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "smoke.json")) as _f:
    _smoke = json.load(_f)

c.JupyterHub.bind_url = "http://127.0.0.1:%d" % _smoke["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = _smoke["hub_port"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d" % _smoke["proxy_api_port"]
for _service in c.JupyterHub.services:
    if _service["name"] == "deeptrain":   # the formgrader service (FORMGRADER_PORT)
        _service["url"] = "http://127.0.0.1:%d" % _smoke["formgrader_port"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.port = 0            # a random free port per server
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.log_level = "INFO"

# The test drives the hub through its REST API with this token (start servers, issue user tokens).
c.JupyterHub.services.append({"name": "smoke-test", "api_token": _smoke["admin_token"]})
c.JupyterHub.load_roles.append({
    "name": "smoke-test",
    "services": ["smoke-test"],
    "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users", "list:services",
               "read:services"],
})
