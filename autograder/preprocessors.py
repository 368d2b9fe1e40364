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
