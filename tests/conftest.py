import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# A notebook sentence (dt.claim) that this run's numbers do not support fails the test; the
# notebooks' kernels (nbval) inherit it. Students get a note instead (lib/deeptrain/claims.py).
os.environ.setdefault("DEEPTRAIN_STRICT_CLAIMS", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # for `import autograder`


import pytest  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so that fixtures can tell a failure
    (tests/browser saves a screenshot of the page when its test failed)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def pytest_collection_modifyitems(session, config, items):
    """Collect module 09's notebook first: it is the longest notebook (a 14-run ablation), and
    with `--dist loadfile` a long file handed out last keeps one worker busy while the other
    waits. The sort is stable: every other test keeps its order."""
    items.sort(key=lambda item: 0 if "09_capstone" in str(item.path) else 1)


@pytest.fixture(scope="session", autouse=True)
def shared_template_cache(tmp_path_factory):
    """Every grading run of the session (both xdist workers, and the grade commands tests start)
    keeps its assignment templates in one folder: each set of modules is built once, not once per
    test's grading folder (autograder/templates.py, $DEEPTRAIN_TEMPLATE_CACHE)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if base.name.startswith("popen-gw") else base
    os.environ["DEEPTRAIN_TEMPLATE_CACHE"] = str(root / "template-cache")
    yield
    os.environ.pop("DEEPTRAIN_TEMPLATE_CACHE", None)
