"""Math renders with the network off, in formgrader's grading view and in the feedback HTML.

A real Chromium (Playwright) whose every request to anything but 127.0.0.1 (or a local file) is
aborted, as on a machine without internet. MathJax comes from the environment
(jupyter-server-mathjax): formgrader loads it from its own server (autograder/formgrader.py installs
the template override, as ``make formgrader`` does), and the feedback HTML carries it inline
(autograder/formgrader.py's offline_mathjax, which autograder/task.py applies to every feedback
file). The formula must be typeset (MathJax's output elements in the page, no raw ``$...$``), and
no request may have left the machine. The pages are made without grading (fast): a gradebook
made with nbgrader's API and an autograded notebook holding a written answer with a formula.
"""
import os
import shutil
import sys

import nbformat
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from servers import TOKEN, make_server  # noqa: E402

from autograder import COURSE_ID  # noqa: E402

pytestmark = pytest.mark.slow

MODULE = "01_unstable_gradients"
FORMULA = r"The update is $\theta \leftarrow \theta - \eta \frac{g}{\sqrt{s + \epsilon}}$ (equation 11-6)."
TYPESET = "document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML, mjx-container').length"


@pytest.fixture
def offline_page(browser):
    """A page with the network off: only 127.0.0.1 and local files answer; the rest is recorded."""
    context = browser.new_context()
    page = context.new_page()
    page.left = []

    def route(r):
        url = r.request.url
        if url.startswith(("http://127.0.0.1", "file://", "data:")):
            return r.continue_()
        page.left.append(url)
        return r.abort()
    page.route("**/*", route)
    yield page
    context.close()


def _notebook():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## AdaGrad\n\n" + FORMULA)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _typeset(page, timeout=60_000):
    page.wait_for_function(TYPESET + " > 0", timeout=timeout)
    text = page.inner_text("body")
    return page.evaluate(TYPESET), text


def test_feedback_html_renders_math_offline(offline_page, tmp_path):
    """nbgrader's feedback template, as generate_feedback renders it, then offline_mathjax."""
    import nbgrader
    from nbconvert import HTMLExporter
    from autograder.formgrader import offline_mathjax
    formgrader = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")
    exporter = HTMLExporter(template_name="feedback", extra_template_basedirs=[os.path.join(formgrader, "templates")],
                            extra_template_paths=[os.path.join(formgrader, "static", "node_modules", "bootstrap",
                                                               "dist", "css")])    # as GenerateFeedback sets them
    html, _ = exporter.from_notebook_node(_notebook(), resources={"nbgrader": {
        "notebook": MODULE, "score": 1.5, "max_score": 2, "late_penalty": 0}})
    assert "cdnjs.cloudflare.com/ajax/libs/mathjax" in html          # what nbgrader writes: a CDN
    page_path = tmp_path / "feedback.html"
    page_path.write_text(offline_mathjax(html), encoding="utf-8")
    assert "cdnjs" not in page_path.read_text(encoding="utf-8")
    offline_page.goto(f"file://{page_path}")
    n, text = _typeset(offline_page)
    assert n > 0 and "$\\theta" not in text and "\\frac" not in text, text[:500]
    assert offline_page.left == [], offline_page.left


@pytest.fixture(scope="module")
def grading(tmp_path_factory):
    """A grading folder as grading leaves it: one submission, its autograded notebook."""
    from nbgrader.api import Gradebook
    tmp = tmp_path_factory.mktemp("mathjax")
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + old     # nbgrader runs alembic
    try:
        with Gradebook("sqlite:///" + str(tmp / "gradebook.db"), COURSE_ID) as gb:
            gb.add_assignment(MODULE)
            gb.add_notebook(MODULE, MODULE)
            gb.update_or_create_student("ann")
            sub = gb.add_submission(MODULE, "ann")
            notebook_id = sub.notebooks[0].id
    finally:
        os.environ["PATH"] = old
    folder = tmp / "autograded" / "ann" / MODULE
    folder.mkdir(parents=True)
    nbformat.write(_notebook(), str(folder / f"{MODULE}.ipynb"))
    shutil.copytree(folder, tmp / "submitted" / "ann" / MODULE)
    return tmp, notebook_id


def test_formgrader_renders_math_offline(offline_page, grading, tmp_path):
    folder, notebook_id = grading
    with make_server("formgrader", str(tmp_path / "server.log"), GRADING=str(folder)) as base:
        offline_page.goto(f"{base}/formgrader/submissions/{notebook_id}/?token={TOKEN}")
        n, text = _typeset(offline_page)
    assert "AdaGrad" in text and n > 0 and "$\\theta" not in text, text[:500]
    assert offline_page.left == [], offline_page.left
