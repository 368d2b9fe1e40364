"""The feedback page's exporter (autograder/feedback.py) gives the page nbconvert's HTMLExporter gives.

Both exporters render a course notebook with nbgrader's feedback template, to which cells are added
that the second pass of HTMLExporter acts on or must leave alone: images without alt text (markdown,
raw HTML, a plot's PNG output), images with it, ``<img`` in code, in an output's text and in a script.
The pages are compared as documents: each parsed by BeautifulSoup, attributes in name order (the
placeholder is the last attribute in nbconvert's page, the first in ours).
"""
import copy
import os

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter
from traitlets.config import Config

from autograder import SOLUTIONS
from autograder.feedback import PLACEHOLDER, FeedbackExporter, with_alt_text

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _config():
    import nbgrader
    base = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")
    c = Config()       # what nbgrader's GenerateFeedback sets
    c.HTMLExporter.template_name = "feedback"
    c.HTMLExporter.extra_template_basedirs = [os.path.join(base, "templates")]
    c.HTMLExporter.extra_template_paths = [os.path.join(base, "static", "node_modules", "bootstrap", "dist", "css")]
    return c


def _notebook():
    nb = nbformat.read(os.path.join(SOLUTIONS, "07_optimizers", "07_optimizers.ipynb"), as_version=4)
    for cell in nb.cells:       # as nbgrader's GetGrades leaves them: every graded cell with its score
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            meta["score"] = meta.get("points", 0)
    v4 = nbformat.v4
    plot = v4.new_code_cell("plt.plot([1, 2])", outputs=[
        v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
        v4.new_output("stream", name="stdout", text="<img src='printed.png'>\n")])
    nb.cells[3:3] = [
        v4.new_markdown_cell("A figure without words: ![](figures/none.png) and one with: ![a bowl](figures/bowl.png)"),
        v4.new_markdown_cell('<img src="raw.png" width="40"> <IMG SRC="upper.png"/> <img alt="said" src="said.png">\n\n'
                             "<script>var s = '<img src=\"in-a-script.png\">';</script>"),
        v4.new_code_cell("html = '<img src=\"in-code.png\">'"),
        plot]
    return nb


def _document(page):
    soup = BeautifulSoup(page, features="html.parser")
    for tag in soup.find_all(True):
        tag.attrs = dict(sorted(tag.attrs.items()))
    return str(soup)


@pytest.fixture(scope="module")
def pages():
    nb = _notebook()
    res = {"nbgrader": {"notebook": "07_optimizers", "score": 15.5, "max_score": 17, "late_penalty": 0}}
    theirs, _ = HTMLExporter(config=_config()).from_notebook_node(copy.deepcopy(nb), copy.deepcopy(res))
    ours, _ = FeedbackExporter(config=_config()).from_notebook_node(copy.deepcopy(nb), copy.deepcopy(res))
    return theirs, ours


def test_the_page_is_the_document_nbconvert_gives(pages):
    theirs, ours = pages
    assert _document(ours) == _document(theirs)


def test_every_image_has_alt_text_and_only_tags_changed(pages):
    _, ours = pages
    soup = BeautifulSoup(ours, features="html.parser")
    images = soup.find_all("img")
    assert len(images) >= 6 and all(img.has_attr("alt") for img in images), [str(i)[:80] for i in images]
    placeheld = {img["src"][:15] for img in images if img["alt"] == PLACEHOLDER}
    assert placeheld == {"raw.png", "upper.png", "data:image/png;"}, placeheld     # markdown's ![](...) has alt=""
    assert {img["alt"] for img in images if img.get("src") == "said.png"} == {"said"}
    script = next(s for s in soup.find_all("script") if "in-a-script" in s.text)
    assert PLACEHOLDER not in script.text            # a script holds no tags
    assert "in-code.png" in ours and "&lt;img src" in ours   # code and printed text stay escaped text


def test_with_alt_text_finds_tags_across_lines():
    page = '<p>\n<img\n  src="a.png"\n/> <img alt="" src="b.png"> <img src="c.png">'
    out, n = with_alt_text(page)
    assert n == 2 and out.count(f'alt="{PLACEHOLDER}"') == 2 and 'alt="" src="b.png"' in out
    assert with_alt_text("<p>no images</p>") == ("<p>no images</p>", 0)
    odd = 'a\r\u2028b\x0c<p>\r\n<img src="d.png">'      # line breaks of str.splitlines that HTML does not count
    assert with_alt_text(odd)[0] == odd.replace("<img ", f'<img alt="{PLACEHOLDER}" ')
