"""ipywidgets (kernel side) and JupyterLab's widget manager (browser side) fit together.

A mismatch does not fail at install time: the notebook opens, and each widget shows
"Error displaying widget: model not found" in the browser. These tests check, from the
installed packages, what the browser would run into:

- ipywidgets' own requirements on its frontend packages (``jupyterlab_widgets``,
  ``widgetsnbextension``) are met by the installed versions;
- JupyterLab lists the ``@jupyter-widgets/jupyterlab-manager`` labextension as enabled and OK;
- that labextension's JavaScript defines the widget model versions the kernel's ipywidgets
  asks for (``@jupyter-widgets/controls`` and ``base``), and was built for this JupyterLab.

Each checker returns a list of problems (empty when all is well) naming the versions, so that
the tests can also feed it a mismatch and see it fail. tests/browser/test_lab_in_browser.py
checks the same end to end in a real browser.
"""
import glob
import json
import os
import re
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

MANAGER = "@jupyter-widgets/jupyterlab-manager"
FRONTEND_PACKAGES = ("jupyterlab_widgets", "widgetsnbextension")


def installed_versions(names):
    """{canonical name: version string or None when not installed}."""
    found = {}
    for name in names:
        try:
            found[canonicalize_name(name)] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[canonicalize_name(name)] = None
    return found


def requirement_problems(requires, installed, packages=FRONTEND_PACKAGES, owner="ipywidgets"):
    """Problems with ``owner``'s requirements (``metadata.requires`` strings) on ``packages``.

    installed: {canonical name: version or None}. Requirements with an extra marker are skipped.
    """
    problems = []
    wanted = {canonicalize_name(p) for p in packages}
    seen = set()
    for text in requires or []:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name not in wanted or (req.marker is not None and "extra" in str(req.marker)):
            continue
        seen.add(name)
        version = installed.get(name)
        if version is None:
            problems.append(f"{owner} requires {req}, which is not installed")
        elif not req.specifier.contains(Version(version), prereleases=True):
            problems.append(f"{owner} requires {req} but {req.name} {version} is installed")
    for name in sorted(wanted - seen):
        problems.append(f"{owner} declares no requirement on {name}: cannot check its version")
    return problems


def find_manager():
    """Path of the widget manager labextension JupyterLab loads (first on its path), or None."""
    from jupyter_core.paths import jupyter_path

    for root in jupyter_path("labextensions"):
        path = os.path.join(root, *MANAGER.split("/"))
        if os.path.exists(os.path.join(path, "package.json")):
            return path
    return None


def served_model_versions(manager_dir):
    """{(model module, version)} that the labextension's JavaScript defines."""
    pairs = set()
    for path in glob.glob(os.path.join(manager_dir, "static", "*.js")):
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read()
        for match in re.finditer(r'_model_module:"(@jupyter-widgets/[a-z-]+)"', text):
            version = re.search(r'_model_module_version:"([0-9.]+)"', text[match.start():match.start() + 400])
            if version:
                pairs.add((match.group(1), version.group(1)))
    return pairs


def _caret(spec):
    """npm '^4.0.0' -> PEP 440 '>=4.0.0,<5' (only what package.json files here use)."""
    match = re.fullmatch(r"\^(\d+)\.(\d+)\.(\d+)", spec.strip())
    if not match:
        return None
    major = int(match.group(1))
    return SpecifierSet(f">={match.group(1)}.{match.group(2)}.{match.group(3)},<{major + 1}")


def manager_problems(manager_dir, kernel_models, jupyterlab_version):
    """Problems between the labextension at ``manager_dir``, the kernel's model versions
    ({module: version}, from ipywidgets) and the installed JupyterLab version."""
    if manager_dir is None:
        return [f"JupyterLab finds no {MANAGER} labextension: widgets would show 'model not found'"]
    with open(os.path.join(manager_dir, "package.json")) as file:
        package = json.load(file)
    problems = []
    served = served_model_versions(manager_dir)
    for module, version in kernel_models.items():
        if (module, version) not in served:
            offered = sorted(v for m, v in served if m == module) or "none"
            problems.append(f"the kernel's ipywidgets asks for {module} {version}, but {MANAGER} "
                            f"{package['version']} serves {offered}: 'model not found' in the browser")
    spec = _caret(package.get("dependencies", {}).get("@jupyterlab/application", ""))
    if spec is not None and not spec.contains(Version(jupyterlab_version)):
        problems.append(f"{MANAGER} {package['version']} was built for @jupyterlab/application "
                        f"{spec}, but JupyterLab {jupyterlab_version} is installed")
    return problems


def _kernel_models():
    import ipywidgets

    return {"@jupyter-widgets/controls": ipywidgets.__jupyter_widgets_controls_version__,
            "@jupyter-widgets/base": ipywidgets.__jupyter_widgets_base_version__}


def test_ipywidgets_requirements_on_its_frontend_packages_are_met():
    problems = requirement_problems(metadata.requires("ipywidgets"), installed_versions(FRONTEND_PACKAGES))
    assert problems == [], "\n".join(problems)


def test_requirement_checker_reports_a_mismatched_frontend_package():
    installed = installed_versions(FRONTEND_PACKAGES)
    installed["jupyterlab-widgets"] = "1.1.1"             # the ipywidgets 7 era frontend
    problems = requirement_problems(metadata.requires("ipywidgets"), installed)
    assert len(problems) == 1 and "jupyterlab_widgets 1.1.1 is installed" in problems[0], problems
    del installed["widgetsnbextension"]
    assert any("widgetsnbextension" in p and "not installed" in p
               for p in requirement_problems(metadata.requires("ipywidgets"), installed))


def test_jupyterlab_lists_the_widget_manager_enabled_and_ok():
    jupyter = os.path.join(os.path.dirname(sys.executable), "jupyter")
    result = subprocess.run([jupyter, "labextension", "list"], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, NO_COLOR="1"))
    listing = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    line = next((row for row in listing.splitlines() if MANAGER in row), None)
    assert line is not None, f"`jupyter labextension list` does not show {MANAGER}:\n{listing}"
    assert "enabled" in line and "OK" in line, f"{MANAGER} is not enabled and OK: {line.strip()}"
    # The listed version is the one shipped by the installed jupyterlab_widgets.
    with open(os.path.join(find_manager(), "package.json")) as file:
        assert f"v{json.load(file)['version']}" in line, line


def test_widget_manager_serves_the_kernels_models_for_this_jupyterlab():
    problems = manager_problems(find_manager(), _kernel_models(), metadata.version("jupyterlab"))
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("kernel_models,lab,expected", [
    ({"@jupyter-widgets/controls": "1.5.0", "@jupyter-widgets/base": "1.2.0"}, None, "asks for @jupyter-widgets/controls 1.5.0"),
    (None, "3.6.0", "JupyterLab 3.6.0 is installed"),
])
def test_manager_checker_reports_mismatches(kernel_models, lab, expected):
    problems = manager_problems(find_manager(), kernel_models or _kernel_models(),
                                lab or metadata.version("jupyterlab"))
    assert any(expected in p for p in problems), problems
    assert manager_problems(None, _kernel_models(), "4.0.0")[0].startswith("JupyterLab finds no")
