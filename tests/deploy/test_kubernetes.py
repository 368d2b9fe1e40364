"""deploy/kubernetes/: what can be checked without helm, the chart or a cluster: the values parse
and install the chart version they were written for, name the roles the hub kit has (no admins, the
formgrader service, limits, the culler, the exchange volume), and grader.yaml parses as Kubernetes
objects. Not checked: the chart's values schema (the chart is not in the package registries this
CI reaches, and it is not copied in), helm's templates, a cluster."""
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KUBE = os.path.join(ROOT, "deploy", "kubernetes")


def _load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def _gib(quantity):
    """A Kubernetes memory quantity ("2G", "1536Mi") in GiB."""
    units = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "K": 1e3, "M": 1e6, "G": 1e9}
    for suffix in sorted(units, key=len, reverse=True):
        if str(quantity).endswith(suffix):
            return float(str(quantity)[: -len(suffix)]) * units[suffix] / 2 ** 30
    return float(quantity) / 2 ** 30


def _objects():
    with open(os.path.join(KUBE, "grader.yaml")) as f:
        return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(f) if d}


def test_values_keep_the_hub_kits_roles_and_limits():
    values = _load(os.path.join(KUBE, "values.yaml"))
    assert values["hub"]["config"]["Authenticator"]["admin_users"] == []          # no hub admins
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] > 0     # the idle culler
    env = values["singleuser"]["extraEnv"]
    assert all(env[k] == env["TF_NUM_INTRAOP_THREADS"] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    # The limit holds a server (0.16 GB idle) with the heaviest module's kernel at its peak
    # (deploy/README.md "Sizing": 06, 1.43 GiB), so no student is killed by following the course.
    memory = values["singleuser"]["memory"]
    assert _gib(memory["limit"]) >= 1.43 + 0.16 and _gib(memory["limit"]) >= _gib(memory["guarantee"])


def test_values_and_grader_manifests_name_the_same_service_and_exchange():
    values, objects = _load(os.path.join(KUBE, "values.yaml")), _objects()
    url = values["hub"]["services"]["deeptrain"]["url"]                 # http://NAME:PORT
    name, port = url.split("//")[1].split(":")
    service = objects[("Service", name)]
    assert int(port) in [p["port"] for p in service["spec"]["ports"]]
    claim = values["singleuser"]["storage"]["extraVolumes"][0]["persistentVolumeClaim"]["claimName"]
    assert objects[("PersistentVolumeClaim", claim)]["spec"]["accessModes"] == ["ReadWriteMany"]
    mount = values["singleuser"]["storage"]["extraVolumeMounts"][0]["mountPath"]
    assert values["singleuser"]["extraEnv"]["DEEPTRAIN_EXCHANGE"] == mount


def test_grader_manifests_are_kubernetes_objects():
    with open(os.path.join(KUBE, "grader.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    assert docs
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), d
    kinds = {d["kind"] for d in docs}
    assert {"PersistentVolumeClaim", "Service"} <= kinds, kinds
