"""nbgrader preprocessors the course adds to the stock pipeline."""
import re

from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class StderrToStdout(NbGraderPreprocessor):
    """Relabel stderr output of graded cells as stdout, so that it costs no points.

    nbgrader scores a graded cell that wrote to stderr 0 even when every assert passed
    (``utils.determine_grade``). Warnings from TensorFlow, Keras or NumPy are no failure;
    a failing test raises, and the error output still scores 0.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
                    output["text"] = "".join("[stderr] " + line for line in
                                             output.get("text", "").splitlines(True))
        return cell, resources


class ShortenTestTracebacks(NbGraderPreprocessor):
    """In feedback, reduce the traceback of a failed test cell to its last line.

    A traceback quotes the failing line of the test cell, which may be a hidden test. The
    exception type and message (written for students) stay.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell) and not cell.metadata["nbgrader"].get("solution"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
                    output["traceback"] = [f"{ename}: {_ANSI.sub('', evalue)}"]
        return cell, resources


class LimitOutputSize(NbGraderPreprocessor):
    """Cap the size of every output (nbgrader's LimitOutput only counts lines).

    One ``print("x" * 20_000_000)`` is one line: without this the graded notebook and the
    feedback page weigh 20 MB. Streams and error messages keep their beginning and end; a rich
    output (image, HTML) over the limit is replaced by a note. Output types are unchanged, so
    grades are unchanged.
    """

    from traitlets import Integer as _Integer
    max_chars = _Integer(20_000, help="characters kept of one stream output or error message").tag(config=True)
    max_rich_bytes = _Integer(2_000_000, help="bytes of one rich output (image, HTML)").tag(config=True)

    def _cut(self, text):
        if len(text) <= self.max_chars:
            return text
        half = self.max_chars // 2
        return (text[:half] + f"\n... {len(text) - 2 * half} characters cut by the grader ...\n"
                + text[-half:])

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                text = output.get("text", "")
                output["text"] = self._cut("".join(text) if isinstance(text, list) else text)
            elif kind == "error":
                output["evalue"] = self._cut(str(output.get("evalue", "")))
                output["traceback"] = [self._cut(line) for line in output.get("traceback", [])]
            elif kind in ("display_data", "execute_result"):
                data = output.get("data", {})
                size = sum(len(v) if isinstance(v, str) else len(str(v)) for v in data.values())
                if size > self.max_rich_bytes:
                    output["data"] = {"text/plain": f"[output of {size} bytes removed by the grader]"}
                    output["metadata"] = {}
                elif "text/plain" in data and isinstance(data["text/plain"], str):
                    data["text/plain"] = self._cut(data["text/plain"])
        return cell, resources


from nbgrader.preprocessors import DeduplicateIds as _DeduplicateIds  # noqa: E402


class DeduplicateIdsCleanly(_DeduplicateIds):
    """nbgrader's DeduplicateIds, without nbgrader issue 1941.

    Stock DeduplicateIds keeps the last copy of a duplicated graded cell and sets the other
    copies' metadata to ``{}``; CheckCellMetadata then reads ``{}`` as an outdated schema and
    fails the whole notebook ("Notebook failed to validate; the nbgrader metadata may be
    corrupted"). This removes the ``nbgrader`` key instead: the extra copies become ordinary
    cells. (python -m autograder repairs duplicates before nbgrader runs; this keeps plain
    ``nbgrader autograde`` working too.)
    """

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        for cell in nb.cells:
            if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"]:
                del cell.metadata["nbgrader"]
        return nb, resources
