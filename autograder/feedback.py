"""The feedback page's exporter: nbconvert's HTMLExporter without its second pass through BeautifulSoup.

nbgrader's ``generate_feedback`` renders each graded notebook with nbconvert's ``HTMLExporter`` (the
"feedback" template, on nbconvert's classic one). After rendering, ``HTMLExporter`` parses the whole
page again with BeautifulSoup's pure-Python parser, gives every ``<img>`` without an ``alt`` attribute
nbconvert's placeholder text, sets ``tabindex`` on JupyterLab-template cells, and prints the tree
back: about 0.6 s of the 0.9 s a course notebook's feedback costs (05, 07, 08; the page is 0.75-0.85
MB), and about a third of grading one notebook. The feedback template has none of the JupyterLab
classes, so only the images need it: ``with_alt_text`` finds the ``<img>`` start tags without ``alt``
with the standard library's HTML tokenizer (0.1 s on such a page; it knows that ``<script>`` and
``<style>`` hold no tags) and splices the placeholder in. The page is the same document:
tests/grading/test_feedback.py compares both exporters' pages parsed by BeautifulSoup.

Selected by ``GenerateFeedback.exporter_class`` in autograder/nbgrader_config.py, so that formgrader's
"generate feedback" uses it too.
"""
from html.parser import HTMLParser

from nbconvert.exporters import HTMLExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

PLACEHOLDER = "No description has been provided for this image"     # nbconvert's own text
LAB_CELLS = ("jp-Cell-inputWrapper", "jp-OutputArea-output")          # what HTMLExporter makes focusable


class _ImagesWithoutAlt(HTMLParser):
    """Positions (line, column) of the ``<img>`` start tags that have no ``alt`` attribute."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.found = []

    def handle_starttag(self, tag, attrs):     # <img ...> and <img .../> alike
        if tag == "img" and not any(name == "alt" for name, _ in attrs):
            self.found.append(self.getpos())


def with_alt_text(html):
    """(html with ``alt="<PLACEHOLDER>"`` in every ``<img>`` start tag that had none, how many)."""
    if "<img" not in html.lower():
        return html, 0
    parser = _ImagesWithoutAlt()
    parser.feed(html)
    parser.close()
    if not parser.found:
        return html, 0
    # Offset of each line as HTMLParser counts them: from 1, at "\n" only (not str.splitlines' \r, \u2028...).
    starts, at = [0], html.find("\n")
    while at != -1:
        starts.append(at + 1)
        at = html.find("\n", at + 1)
    cuts = sorted(starts[line - 1] + col + len("<img") for line, col in parser.found)
    pieces, last = [], 0
    for cut in cuts:
        pieces += [html[last:cut], f' alt="{PLACEHOLDER}"']
        last = cut
    return "".join(pieces + [html[last:]]), len(cuts)


class FeedbackExporter(HTMLExporter):
    """HTMLExporter, the same page, without the BeautifulSoup pass (the module's docstring)."""

    def from_notebook_node(self, nb, resources=None, **kw):
        lang = nb.metadata.get("language_info", {})
        # HTMLExporter's own set-up before rendering (nbconvert 7): highlighting and widget filters.
        highlight = self.filters.get("highlight_code", Highlight2HTML(
            pygments_lexer=lang.get("pygments_lexer", lang.get("name", None)), parent=self))
        resources = self._init_resources(resources)
        self.register_filter("highlight_code", highlight)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        if any(cls in html for cls in LAB_CELLS):     # another template: nbconvert's full pass
            return super().from_notebook_node(nb, resources, **kw)
        html, missing = with_alt_text(html)
        if missing:
            self.log.warning("Alternative text is missing on %s image(s).", missing)
        return html, resources
