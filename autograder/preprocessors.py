"""nbgrader preprocessors the course adds to the stock pipeline."""
import re

from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_COLLECT = re.compile(r"^\s*(?:\w+\.)*collect\(", re.M)   # the hidden harvest line of a converted test cell


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


def judged_by_verdict(cell, found):
    """True when JudgeResults decides this graded test cell's grade: a verdict of the notebook
    ({grade_id: Verdict}, autograder/verdicts) names it and its source has the hidden collect line."""
    meta = cell.metadata.get("nbgrader", {}) if "nbgrader" in cell.metadata else {}
    source = "".join(cell.source) if isinstance(cell.source, list) else cell.source
    return meta.get("grade_id") in found and bool(_COLLECT.search(source))


class JudgeResults(NbGraderPreprocessor):
    """Decide the grade of each converted test cell in the grader's process (autograder/verdicts).

    What is judged never comes from the notebook's kernel. The submission's answer cells run again
    in the grader's clean room (``autograder/cleanroom.py``: a sandboxed process of the grader's,
    fresh per case, NumPy only for a NumPy exercise) on inputs drawn from the grading folder's
    secret and the submission (``secret``, else ``GRADING/.judge-secret``); its results come back
    over a socket the grader holds. The verdict module then rebuilds the same inputs, runs
    ``deeptrain.reference`` and judges. The hidden ``collect(...)`` line of a test cell only marks
    the cell (it does nothing in the kernel). The cell's outputs are replaced by the verdict: an
    ``execute_result`` holding the points earned (nbgrader's partial credit) and one stdout message
    per failed check. Whatever the kernel printed or raised in the cell no longer counts.

    The student's code (answer cells, cells they added or changed) is also read for delegation
    (``autograder/verdicts/delegation.py``): a delegating function earns 0 and the submission is
    flagged (a ``[grader]`` line, which ``python -m autograder grade`` reports for review).
    """

    from traitlets import Float as _Float, Unicode as _Unicode
    secret = _Unicode("", help="the grading folder's secret (hex); empty: read or draw GRADING/.judge-secret"
                      ).tag(config=True)
    case_timeout = _Float(20, help="clean room: seconds for one case of a function").tag(config=True)
    runner_timeout = _Float(60, help="clean room: seconds for a Keras exercise's whole runner").tag(config=True)
    budget = _Float(300, help="clean room: seconds for all the cases of one notebook and kind").tag(config=True)

    def preprocess(self, nb, resources):
        from nbformat.notebooknode import NotebookNode
        from nbgrader.utils import is_solution
        from . import verdicts as V
        from .verdicts.delegation import scan

        nbg = (resources or {}).get("nbgrader", {})
        found = V.for_notebook(nbg.get("notebook") or "")
        if not found:
            return nb, resources
        forbidden = {}
        for v in found.values():
            for fn in v.functions:
                forbidden[fn] = v.forbidden.get(fn) or set()   # a Forbidden keeps its reason
        sources, protected = self._student_sources(nb, nbg)
        delegated, dynamic = scan(sources, forbidden, protected)
        room, room_problem, key = self._clean_room(nb, nbg, found)
        from . import cases
        previous = cases.use_key(key)          # the reference runs on the room's inputs
        ran = (resources or {}).get("deeptrain", {}).get("kernel", True)
        try:
            self._judge_cells(nb, found, room, room_problem, delegated, dynamic, ran)
        finally:
            cases.use_key(previous)
        return nb, resources

    def _clean_room(self, nb, nbg, found):
        """({exercise: results}, a problem sentence or "", the submission's key) from the clean room."""
        from . import cleanroom, cases, grading_dir
        secret = self.secret or cleanroom.grading_secret(grading_dir())
        exercises = sorted({v.exercise for v in found.values()})
        results, self._cell_errors, problems = cleanroom.results(nb, self._release_cells(nbg), exercises, secret,
                                                           case_timeout=self.case_timeout,
                                                           runner_timeout=self.runner_timeout, budget=self.budget)
        key = cases.submission_key(secret, cleanroom.digest(cleanroom.answer_cells(nb)))
        return results, "; ".join(problems), key

    @staticmethod
    def _release_cells(nbg):
        """The instructor's code cells (not answer cells) of the released notebook."""
        import json
        import os
        from . import COURSE, SOLUTIONS
        for folder in (COURSE, SOLUTIONS):
            path = os.path.join(folder, nbg.get("assignment") or "", f"{nbg.get('notebook')}.ipynb")
            try:
                with open(path, encoding="utf-8") as f:
                    return ["".join(c["source"]) for c in json.load(f)["cells"]
                            if c["cell_type"] == "code" and not c["metadata"].get("nbgrader", {}).get("solution")]
            except (OSError, ValueError, KeyError):
                continue
        return ["import numpy as np", "import deeptrain as dt\ntf = dt.setup()\nkeras = tf.keras"]

    def _judge_cells(self, nb, found, room, room_problem, delegated, dynamic, ran=True):
        from nbformat.notebooknode import NotebookNode
        from nbgrader.utils import is_solution
        from . import verdicts as V
        answers = self._answer_errors(nb)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {}) if "nbgrader" in cell.metadata else {}
            verdict = found.get(meta.get("grade_id"))
            if (cell.cell_type != "code" or not is_grade(cell) or is_solution(cell) or verdict is None
                    or not _COLLECT.search(cell.source)):
                continue
            results, problem, errors = self._room_results(cell, verdict, room, room_problem)
            # The kernel's error in this cell (the visible checks) when the notebook ran, else the errors the
            # answer cells before this test cell raised in the clean room of this exercise's kind.
            stopped = "your visible checks stopped with" if errors else "your answer cell stopped with"
            if not errors:
                from .cleanroom import kind_of
                mine = answers.get(id(cell), set())
                errors = "; ".join(e for n, e in self._room_errors.get(kind_of(verdict.exercise), []) if n in mine)
            judgement = V.judge(verdict, results, delegated)
            notes = [o for o in cell.outputs if o.get("output_type") == "stream"
                     and str(o.get("text", "")).startswith("[grader]")]
            lines = [f"{', '.join(verdict.functions)}: {judgement.score:g} of {judgement.max_score:g} points"]
            if problem:
                lines.append(f"  {problem}")
            lines += ["  " + m.replace("\n", "\n  ") for m in judgement.messages()]
            if errors and judgement.score < judgement.max_score:
                lines.append(f"  ({stopped}: {errors})")
            elif not judgement.failures:
                lines.append("  every check passed")
            if judgement.summary:
                lines.append(f"  {judgement.summary}")
            flags = [f"[grader] delegation: {r}\n" for fn, r in delegated.items() if fn in verdict.functions]
            flags += [f"[grader] needs a look: {r}\n" for fn, r in dynamic.items() if fn in verdict.functions]
            flags += [f"[grader] needs a look: {r}\n" for r in judgement.review]
            if problem and results is not None:
                flags.append(f"[grader] {problem}\n")
            shown = self._kernel_output(cell)
            # The points (the execute_result nbgrader's determine_grade reads), the judgement as data
            # for the report and the exports (autograder/judgement.py; a display_data, which
            # determine_grade ignores), then the messages the student reads.
            from .judgement import as_data, output as judgement_output
            cell.outputs = ([NotebookNode(output_type="execute_result", execution_count=cell.get("execution_count"),
                                          metadata={}, data={"text/plain": f"{judgement.score:g}"})]
                            + [judgement_output(as_data(judgement, verdict))]
                            + [NotebookNode(output_type="stream", name="stdout", text="\n".join(lines) + "\n")]
                            + notes
                            + [NotebookNode(output_type="stream", name="stdout", text=f) for f in flags]
                            + ([NotebookNode(output_type="stream", name="stdout", text=shown)] if shown else []))

    def _answer_errors(self, nb):
        """{id(test cell): the numbers of the answer cells between the previous graded test cell and this
        one} (cleanroom.answer_cells numbers them from 1, in order), and sets ``self._room_errors``:
        {kind: [(answer cell number, its error)]} from the clean room's report."""
        import re as _re
        from nbgrader.utils import is_solution
        self._room_errors = {}
        for kind, errors in (getattr(self, "_cell_errors", None) or {}).items():
            for e in errors:
                m = _re.match(r"answer cell (\d+): (.*)", str(e), _re.S)
                if m:
                    self._room_errors.setdefault(kind, []).append((int(m.group(1)), m.group(2)[:300]))
        out, pending, n = {}, set(), 0
        for cell in nb.cells:
            if cell.cell_type != "code" or "nbgrader" not in cell.metadata:
                continue
            if is_solution(cell) and not is_grade(cell):
                n += 1
                pending.add(n)
            elif is_grade(cell) and not is_solution(cell):
                out[id(cell)] = pending
                pending = set()
        return out

    @staticmethod
    def _kernel_output(cell, limit=20_000):
        """What the cell itself printed (streams; errors as one line), as plain stdout text.

        Kept for the student's benefit only: no stderr and no error output stays in a graded cell,
        so nbgrader's determine_grade reads nothing but the verdict's number.
        """
        parts = []
        for o in cell.outputs:
            kind = o.get("output_type")
            if kind == "stream" and not str(o.get("text", "")).startswith("[grader]"):
                text = "".join(o.get("text", ""))
                if o.get("name") == "stderr":
                    text = "".join("[stderr] " + line for line in text.splitlines(True))
                parts.append(text)
            elif kind == "error":
                parts.append(f"{o.get('ename')}: {_ANSI.sub('', str(o.get('evalue', '')))}\n")
        text = "".join(parts)
        if not text.strip():
            return ""
        if len(text) > limit:
            text = text[: limit // 2] + "\n... cut by the grader ...\n" + text[-limit // 2:]
        return "Output of the code in this cell (not graded):\n" + text + ("" if text.endswith("\n") else "\n")

    def _room_results(self, cell, verdict, room, room_problem):
        """(results or None, a problem to report or None, the kernel's error in this cell in one line or "")."""
        errors = "; ".join(f"{o.get('ename')}: {_ANSI.sub('', str(o.get('evalue', '')))[:300]}"
                           for o in cell.outputs if o.get("output_type") == "error")
        results = room.get(verdict.exercise)
        if results is None:   # the grader's own failure: a human must look
            from nbformat.notebooknode import NotebookNode
            why = room_problem or "the clean room returned none"
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout",
                                             text=f"[grader] needs a look: no results from the clean room: {why}\n"))
            return None, f"no results reached the grader: {why}", errors
        # A function missing after the answer cells ran says why in its own record (room.py).
        return results, None, errors

    @staticmethod
    def _results(cell, verdict):
        """(results or None, a problem to report or None, the kernel's error in one line or "")."""
        import json
        from deeptrain.harvest import MIME
        payloads = [o for o in cell.outputs if o.get("output_type") in ("display_data", "execute_result")
                    and MIME in o.get("data", {})]
        errors = "; ".join(f"{o.get('ename')}: {_ANSI.sub('', str(o.get('evalue', '')))[:300]}"
                           for o in cell.outputs if o.get("output_type") == "error")
        if not payloads:
            why = f" ({errors})" if errors else ""
            return None, f"no results reached the grader: the cell stopped before collecting them{why}", errors
        problem = None
        if len(payloads) > 1:
            problem = f"{len(payloads)} result blocks in one cell (code in the notebook displayed its own?); the first was judged"
        try:
            data = json.loads(payloads[0]["data"][MIME])
            if data.get("exercise") != verdict.exercise:
                return None, "the results in this cell are not this exercise's", errors
            return data["results"], problem, errors
        except (ValueError, KeyError, TypeError, AttributeError):
            return None, "the results in this cell could not be read", errors

    @staticmethod
    def _student_sources(nb, nbg):
        """(code the student wrote: answer cells and code cells that are not in the release,
        names the instructor's cells bind at top level)."""
        import ast
        import json
        import os
        from . import COURSE
        from . import SOLUTIONS
        released, read = set(), False
        for folder in (COURSE, SOLUTIONS):   # the instructor's cells, as released and at the source
            path = os.path.join(folder, nbg.get("assignment") or "", f"{nbg.get('notebook')}.ipynb")
            try:
                with open(path, encoding="utf-8") as f:
                    for c in json.load(f)["cells"]:
                        if c["cell_type"] == "code" and not c["metadata"].get("nbgrader", {}).get("solution"):
                            released.add("".join(c["source"]).strip())
                read = True
            except (OSError, ValueError, KeyError):
                pass
        released = released if read else None
        out = []
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {}) if "nbgrader" in cell.metadata else {}
            if meta.get("solution"):
                out.append(cell.source)
            elif not meta.get("grade") and not meta.get("locked") and released is not None \
                    and cell.source.strip() not in released:
                out.append(cell.source)
        protected = set()
        for source in released or ():
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for stmt in tree.body:   # the modules and helpers the checks use (np, checks, tf = dt.setup())
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    protected |= {a.asname or a.name.split(".")[0] for a in stmt.names}
                elif (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
                      and isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == "setup"):
                    protected |= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
        return out, protected
