"""``ResilientExecute``: nbgrader's Execute step, made safe against hostile or broken notebooks.

**By default it runs no kernel.** No grade depends on the notebook's run: ``JudgeResults`` runs the
submission's answer cells in the grader's clean room (autograder/cleanroom.py) and writes each test
cell's verdict. Executing the notebook too would cost a TensorFlow import and every demo per notebook
for outputs that grading does not read; so the autograded notebook keeps the student's cells with the
outputs nbgrader's sanitize step cleared, and each test cell gets its verdict. A notebook with a graded
test cell that no verdict judges (``graded_without_verdict``) is still executed, since then the kernel's
run decides that cell's grade as in stock nbgrader. ``ResilientExecute.run_notebook = True``
(``python -m autograder grade --run-notebooks``) executes every notebook as described below, for
feedback that shows the demos' outputs and the visible checks; the grades are the same.

When it executes a notebook, it is stock ``Execute`` made safe.
Stock ``nbgrader.preprocessors.Execute`` stops grading a notebook when the kernel dies
(``os._exit``, a crash, a memory kill) or a cell ignores the interrupt sent at its timeout: the
whole notebook then gets no grade. This subclass instead

- runs kernels under the sandbox (``autograder.sandbox.SandboxedKernelManager``: memory and CPU
  caps, private file system view, no way to reach other processes);
- limits each cell (``timeout``) and the whole notebook (``notebook_timeout``, wall clock,
  restarts included);
- when a cell kills or hangs the kernel: records a readable error in that cell (so it scores 0
  if it is a test), starts a fresh kernel, runs the notebook again without that cell, and goes
  on (at most ``max_restarts`` times): the other exercises keep their grades;
- before each graded test cell, runs the integrity guard (``autograder.guard``): whatever student
  code changed in numpy, deeptrain, TensorFlow, Keras, builtins or IPython is put back, and the
  test cell's output starts with a ``[grader]`` line saying what was restored (the submission is
  then flagged for a look). The guard decides nothing: a test cell only hands the student's
  results over, and ``autograder.preprocessors.JudgeResults`` grades them in the grader's process;
- gives the kernel a library without ``deeptrain.reference`` (``autograder.sandbox.kernel_library``).

Configured in ``autograder/nbgrader_config.py`` in place of ``Execute``; plain
``nbgrader autograde`` uses it too.
"""
import ast
import json
import os
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.client import NotebookClient
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_solution
from traitlets import Bool, Integer

from .guard import GUARD_SOURCE, SNAPSHOT, check_expression

MARK = "[grader]"


class _Restart(Exception):
    def __init__(self, index, message):
        super().__init__(message)
        self.index, self.message = index, message


def _error(ename, message):
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def _gb(n):
    return f"{n / 1024 ** 3:.1f} GB"


def module_bindings(cells):
    """Names that instructor cells bind to modules or module attributes, e.g. {"np": "numpy",
    "checks": "deeptrain.checks", "tf": "tensorflow", "assert_close": "deeptrain.checks:assert_close"}.

    cells: the code sources of the instructor's (non-solution) cells, in order.
    """
    out = {}
    for source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        out[a.asname] = a.name
                    else:
                        out[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    if a.name != "*":
                        out[a.asname or a.name] = f"{node.module}:{a.name}"
            elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                  and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "setup"
                  and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
                out[node.targets[0].id] = "tensorflow"        # tf = dt.setup()
    return out


def names_read(source):
    """Names a cell reads (loads) anywhere."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def graded_without_verdict(nb, resources):
    """grade_ids of the notebook's graded test cells whose grade no verdict decides (the kernel's run then
    decides it, as stock nbgrader does): a test cell without a verdict of autograder/verdicts for this
    notebook, or without the hidden ``collect(...)`` line that JudgeResults looks for."""
    from . import verdicts
    from .preprocessors import judged_by_verdict
    try:
        found = verdicts.for_notebook((resources or {}).get("nbgrader", {}).get("notebook") or "")
    except Exception:   # noqa: BLE001 (a verdict module that does not import: the kernel decides)
        found = {}
    out = []
    for cell in nb.cells:
        if cell.cell_type == "code" and is_grade(cell) and not is_solution(cell) and not judged_by_verdict(cell, found):
            out.append(cell.metadata["nbgrader"].get("grade_id") or "?")
    return out


class ResilientExecute(Execute):
    """Execute that survives dead and hung kernels and undoes tampering before graded tests."""

    notebook_timeout = Integer(600, help="wall-clock seconds for the whole notebook, restarts included"
                               ).tag(config=True)
    max_restarts = Integer(3, help="fresh kernels after a cell killed or hung one").tag(config=True)
    guard = Bool(True, help="undo changes to the libraries before each graded test cell").tag(config=True)
    run_notebook = Bool(False, help="execute the notebook in the sandboxed kernel (its outputs and the visible "
                        "checks in the feedback). Off: no kernel when every graded test cell gets its grade from a "
                        "verdict (autograder/verdicts), which the clean room decides without the notebook's run; a "
                        "notebook with a graded cell that has none is still executed").tag(config=True)

    def __init__(self, *args, **kwargs):
        # Kernels run under the sandbox (SandboxedKernelManager.sandbox = False turns it off).
        from .sandbox import SandboxedKernelManager
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self.shutdown_kernel = "immediate"
        self.iopub_timeout = max(self.iopub_timeout, 10)

    # -- timeouts ------------------------------------------------------------------------
    def _remaining(self):
        return self._deadline - time.monotonic()

    def _cell_timeout(self, cell):
        return max(1, int(min(self.timeout or 10 ** 6, self._remaining())))

    # -- the guard -----------------------------------------------------------------------
    def _silent(self, code, expression=None):
        """Run code in the kernel without recording it; returns the value of expression (text)."""
        msg_id = self.kc.execute(code, silent=True, store_history=False,
                                 user_expressions={"r": expression} if expression else {})
        reply = self.wait_for_reply(msg_id)
        if reply is None or reply["content"].get("status") != "ok":
            return None
        value = reply["content"].get("user_expressions", {}).get("r", {})
        if value.get("status") != "ok":
            return None
        return value.get("data", {}).get("text/plain")

    def _guard_check(self, cell):
        expected = {name: self._bindings[name] for name in names_read(cell.source) if name in self._bindings}
        text = self._silent("", check_expression(expected))
        try:
            restored = json.loads(ast.literal_eval(text))
        except (ValueError, SyntaxError, TypeError):
            # Not a flag: no grade depends on the kernel (the clean room judges), and a busy machine or a
            # flood of output can delay the reply just as well as a notebook that disabled the guard.
            self.log.info("the integrity guard gave no answer before %s", cell.metadata.get("nbgrader", {}).get("grade_id"))
            return []
        if not restored:
            return []
        shown = ", ".join(restored[:12]) + (f" and {len(restored) - 12} more" if len(restored) > 12 else "")
        return [f"{MARK} Before this test ran, the grader undid changes that code in this notebook made to: "
                f"{shown}. The test used the real functions.\n"]

    def _secrets_notes(self):
        """A [grader] line, the first time the kernel opened the decoy Jupyter runtime files that the
        sandbox shows where the grading account's real ones are (autograder/sandbox.py)."""
        touched = self.km.secrets_touched() if hasattr(self.km, "secrets_touched") else []
        if not touched or getattr(self, "_secrets_seen", None) is self.km:
            return []
        self._secrets_seen = self.km
        return [f"{MARK} Code in this cell looked for the grading account's Jupyter server: it listed or read "
                f"decoys ({', '.join(touched)}) where Jupyter keeps its login tokens. The sandbox hides the real "
                "ones and has no network; this submission needs a manual review.\n"]

    def _load_bindings(self, resources):
        """Module names bound by the instructor's cells of this notebook's source."""
        self._bindings = {}
        try:
            from . import COURSE, SOLUTIONS
            nbg = resources.get("nbgrader", {})
            name, notebook = nbg.get("assignment"), nbg.get("notebook")
            for folder in (SOLUTIONS, COURSE):
                path = os.path.join(folder, name or "", f"{notebook}.ipynb")
                if name and os.path.isfile(path):
                    with open(path, encoding="utf-8") as f:
                        source_nb = json.load(f)
                    cells = ["".join(c["source"]) for c in source_nb["cells"]
                             if c["cell_type"] == "code" and not c["metadata"].get("nbgrader", {}).get("solution")]
                    self._bindings = module_bindings(cells)
                    return
        except Exception:  # no source: the guard still restores the libraries themselves
            self._bindings = {}

    # -- execution -----------------------------------------------------------------------
    def _kernel_alive(self):
        try:
            return self.km.provisioner.process.poll() is None
        except AttributeError:
            return True

    def _death_message(self, what):
        status = {}
        if self.km is not None and hasattr(self.km, "sandbox_status"):
            status = self.km.sandbox_status()
        reason = status.get("reason", "")
        if reason == "memory":
            return ("MemoryLimit", f"The kernel was stopped while running this cell: the code used more than "
                    f"{_gb(getattr(self.km, 'memory_limit', 0))} of memory.")
        if reason == "cpu":
            return ("CPULimit", f"The kernel was stopped while running this cell: it used more than "
                    f"{getattr(self.km, 'cpu_limit', 0)} s of CPU time.")
        if reason.startswith("exit"):
            return ("KernelExited", f"The kernel exited ({reason}) while running this cell: does the code call "
                    "os._exit(), or end the Python process some other way?")
        if reason.startswith("signal"):
            return ("KernelDied", f"The kernel died ({reason[7:]}) while running this cell.")
        return ("KernelDied", f"The kernel {what} while running this cell.")

    def _run_once(self, nb, resources, skip, km):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.timeout_func = self._cell_timeout
        self._ran = set()
        previous = None
        with self.setup_kernel():
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            if self.guard:
                self._silent(GUARD_SOURCE + "\n" + SNAPSHOT)
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code":
                    continue
                if index in skip:
                    cell.outputs = [skip[index]]
                    continue
                if self._remaining() <= 0:
                    cell.outputs = [_error("NotebookTimeout", f"Not run: the notebook used up its time limit of "
                                           f"{self.notebook_timeout} s before this cell.")]
                    continue
                notes = []
                if previous is not None and not self._kernel_alive():
                    # The kernel died after the previous cell replied (a delayed exit): that cell is the cause.
                    raise _Restart(previous, _error(*self._death_message("died after this cell finished")))
                try:
                    if self.guard and is_grade(cell) and not is_solution(cell):
                        notes = self._guard_check(cell)
                    self.preprocess_cell(cell, resources, index)
                except DeadKernelError:
                    raise _Restart(index, _error(*self._death_message("died")))
                except CellTimeoutError:
                    if self._remaining() <= 0:
                        msg = (f"This cell was stopped when the notebook reached its time limit of "
                               f"{self.notebook_timeout} s.")
                    else:
                        msg = (f"This cell did not finish within {self._cell_timeout(cell)} s and did not stop "
                               "when interrupted (an infinite loop?).")
                    raise _Restart(index, _error("CellTimeout", msg))
                if any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError"
                       for o in cell.outputs):
                    cell.outputs = [o for o in cell.outputs if o.get("ename") != "CellTimeoutError"] + [
                        _error("CellTimeout", f"This cell did not finish within {self._cell_timeout(cell)} s "
                               "and was interrupted (an infinite loop, or far too slow).")]
                notes += self._secrets_notes()
                if notes:
                    cell.outputs.insert(0, NotebookNode(output_type="stream", name="stdout", text="".join(notes)))
                self._ran.add(index)
                previous = index
        self.set_widgets_metadata()
        return self.nb, self.resources

    def preprocess(self, nb, resources=None, km=None):
        resources = {} if resources is None else resources
        unjudged = graded_without_verdict(nb, resources)
        if not self.run_notebook and not unjudged:
            # Nothing the kernel would do decides a grade: JudgeResults runs the answer cells in the clean
            # room. The cells keep the outputs nbgrader's sanitize step cleared (ClearOutput).
            resources.setdefault("deeptrain", {})["kernel"] = False
            self.log.info("not executed in a kernel: every graded test cell is judged by the clean room "
                          "(ResilientExecute.run_notebook=True executes it)")
            return nb, resources
        if unjudged and not self.run_notebook:
            self.log.warning("executed in a kernel: graded cells without a verdict: %s", ", ".join(unjudged))
        resources.setdefault("deeptrain", {})["kernel"] = True
        return self._execute(nb, resources, km)

    def _execute(self, nb, resources, km):
        self._deadline = time.monotonic() + self.notebook_timeout
        try:   # the clean room's servers start now: TensorFlow's import overlaps this notebook's run
            from . import verdicts
            from .cleanroom import kind_of, prewarm
            found = verdicts.for_notebook((resources or {}).get("nbgrader", {}).get("notebook") or "")
            prewarm(sorted({kind_of(v.exercise) for v in found.values()}))
        except Exception:   # noqa: BLE001 (JudgeResults starts them and reports)
            pass
        self._load_bindings(resources or {})
        skip = {}
        for attempt in range(self.max_restarts + 1):
            try:
                return self._run_once(nb, resources, skip, km)
            except _Restart as restart:
                skip[restart.index] = restart.message
                self.log.warning("cell %d: %s; restarting the kernel without it", restart.index,
                                 restart.message["evalue"])
            finally:
                self.km = None if km is None else km
                self.kc = None
        # Too many restarts: every cell not yet run gets a note; the grades of the rest stand.
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and index not in skip and index not in self._ran:
                cell.outputs = [_error("NotRun", "Not run: earlier cells stopped the kernel "
                                       f"{self.max_restarts + 1} times.")]
            elif index in skip:
                cell.outputs = [skip[index]]
        return nb, resources
