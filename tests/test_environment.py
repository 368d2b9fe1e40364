"""environment.yml (conda) and pyproject.toml list the same dependencies."""
import os
import re
import tomllib

# The repository root (not imported from conftest: tests/browser has a conftest of its own,
# and which one `import conftest` finds depends on collection order).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _norm(req):
    return re.sub(r"\s+", "", req).replace('"', "'").lower()


def pip_section():
    lines = open(os.path.join(ROOT, "environment.yml")).read().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\s*-\s*pip:\s*$", line))
    reqs = []
    for line in lines[start + 1:]:
        m = re.match(r"\s+-\s+(.*)$", line)
        if not m:
            break
        reqs.append(m.group(1).strip())
    return reqs


def test_environment_yml_pip_section_matches_pyproject_dependencies():
    meta = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))["project"]
    declared = meta["dependencies"] + meta["optional-dependencies"]["dev"]
    listed = [r for r in pip_section() if not r.startswith("-e")]
    assert sorted(map(_norm, listed)) == sorted(map(_norm, declared)), (
        "environment.yml's pip section and pyproject.toml (dependencies + dev) have drifted apart")


def test_environment_yml_pins_python_311_and_installs_the_package():
    text = open(os.path.join(ROOT, "environment.yml")).read()
    assert re.search(r"-\s*python=3\.11\b", text)
    assert "-e ." in pip_section()


def test_linux_uses_tensorflow_cpu_221():
    meta = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))["project"]
    tf = [d for d in meta["dependencies"] if d.startswith("tensorflow-cpu")]
    assert tf and "==2.21." in tf[0] and "darwin" in tf[0]


def hub_pins(root=ROOT):
    """The JupyterHub versions pinned by pyproject.toml (the grader's .venv), environment.yml and
    deploy/README.md (the hub's and students' venv, step 6, and the upgrade section)."""
    meta = tomllib.load(open(os.path.join(root, "pyproject.toml"), "rb"))["project"]
    pyproject = [d for d in meta["optional-dependencies"]["dev"] if re.match(r"jupyterhub\s*[=<>!~]", d)]
    env = [d for d in pip_section() if re.match(r"jupyterhub\s*[=<>!~]", d)] if root == ROOT else []
    guide = re.findall(r"jupyterhub==([0-9][0-9a-z.]*)", open(os.path.join(root, "deploy", "README.md")).read())
    return pyproject, env, guide


def test_jupyterhub_is_pinned_to_one_version_everywhere():
    # The hub (deploy/README.md step 6) and the formgrader service (the checkout's .venv) must run the
    # same JupyterHub: a newer one upgrades the hub's database (`jupyterhub upgrade-db`).
    pyproject, env, guide = hub_pins()
    assert len(pyproject) == 1 and re.fullmatch(r"jupyterhub==[0-9][0-9a-z.]*", _norm(pyproject[0])), (
        f"pyproject.toml must pin JupyterHub exactly (==), not {pyproject}")
    version = _norm(pyproject[0]).split("==")[1]
    assert [_norm(e) for e in env] == [_norm(pyproject[0])], "environment.yml pins another JupyterHub"
    assert guide and set(guide) == {version}, (
        f"deploy/README.md pins JupyterHub {sorted(set(guide))}, pyproject.toml {version}")
