"""deploy/kubernetes/: the Zero to JupyterHub values checked against the chart's own values schema
(tests/deploy/z2jh/, chart 4.2.0), the way helm validates them; grader.yaml parses as Kubernetes
objects. What this does not check: helm's templates (no helm here) and a cluster (none here)."""
import os

import jsonschema
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
Z2JH = os.path.join(ROOT, "tests", "deploy", "z2jh")
KUBE = os.path.join(ROOT, "deploy", "kubernetes")


def _load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def merged(defaults, values):
    """helm's merge of user values over the chart's defaults (maps merged key by key, the rest replaced)."""
    out = dict(defaults)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            out[key] = merged(defaults[key], value)
        else:
            out[key] = value
    return out


def schema_errors(values):
    schema = _load(os.path.join(Z2JH, "values.schema.yaml"))
    full = merged(_load(os.path.join(Z2JH, "values.yaml")), values)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(full)]


def test_the_chart_version_is_the_one_the_schema_comes_from():
    with open(os.path.join(KUBE, "values.yaml")) as f:
        assert "--version 4.2.0 " in f.read()


def test_values_pass_the_charts_schema():
    assert schema_errors(_load(os.path.join(KUBE, "values.yaml"))) == []


@pytest.mark.parametrize("broken", [
    {"singleuser": {"memory": {"limitt": "2G"}}},          # a misspelt key
    {"cull": {"timeout": "an hour"}},                     # a wrong type
    {"proxy": {"https": {"enabled": "yes"}}},
])
def test_the_schema_check_catches_a_broken_value(broken):
    values = merged(_load(os.path.join(KUBE, "values.yaml")), broken)
    assert schema_errors(values)


def test_grader_manifests_are_kubernetes_objects():
    with open(os.path.join(KUBE, "grader.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    assert docs
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), d
    kinds = {d["kind"] for d in docs}
    assert {"PersistentVolumeClaim", "Service"} <= kinds, kinds
