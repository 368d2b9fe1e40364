"""Delegation found by reading the student's code (ast), in the grader's process.

A function earns points only for what it computes itself. The kernel cannot be trusted to
report what a function called, so the grader reads the code the student wrote (answer cells
and cells the student added or changed, compared with the release) instead:

- **delegation** (the function's checks get 0, and the submission is flagged): the graded
  function, or anything it uses (helpers, module-level aliases, classes whose methods run
  later, e.g. a lazy array-like), names the operation it is asked to implement:
  ``scipy.special.expit``, ``tf.math.sigmoid``, ``tf.raw_ops.Sigmoid``, a Keras optimizer,
  ``deeptrain.reference`` / ``deeptrain.kernels`` (also as the string given to
  ``importlib.import_module``), as an attribute, an imported name or a string constant;
- **dynamic code** (flagged for a human, points unchanged): ``exec``, ``eval``, ``compile``,
  ``importlib``, ``__import__``, ``getattr`` with a computed name, ``sys.modules``,
  ``globals()``, ``__code__``, ``gc``, ``ctypes``, ...: whatever could hide a name from this scan.

Names the student defines (their own ``sigmoid`` used inside ``swish``) are not delegation: only
attributes, imported names and strings are matched.
"""
import ast
import re

_DOTTED = re.compile(r"^[A-Za-z_][\w.]*$")
_PATH = re.compile(r"^\S+$")            # one word with a slash: a file path, not a docstring's "1 / (1 + e^-z)"

# Delegation in every exercise: the course's own implementations and TensorFlow's raw kernels.
ALWAYS = {"reference", "kernels", "raw_ops", "deeptrain.reference", "deeptrain.kernels"}
GRADER_WORDS = {"harvest", "harvest_cases", "deeptrain.harvest", "deeptrain.harvest_cases", "_grader_model_builder"}
DYNAMIC_NAMES = {"exec", "eval", "compile", "__import__", "globals", "locals", "vars", "importlib", "gc",
                 "ctypes", "marshal", "pickle", "dill", "cloudpickle", "builtins", "__builtins__", "subprocess",
                 "inspect", "runpy", "setattr", "delattr"}
DYNAMIC_ATTRS = {"__code__", "__globals__", "__dict__", "__builtins__", "__closure__", "modules", "import_module",
                 "__subclasses__", "__getattribute__", "f_globals", "f_locals", "f_back", "_getframe",
                 "system", "popen"}


class Forbidden(set):
    """Names a graded function must not use, with the reason the student reads (e.g. the capstone:
    loading weights is not computing them)."""

    def __init__(self, names, reason):
        super().__init__(names)
        self.reason = reason


def _strip_magics(source):
    return "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


class _Uses(ast.NodeVisitor):
    """What a piece of code names: attributes, imported names, strings, names loaded, dynamic constructs."""

    def __init__(self):
        self.words, self.loads, self.dynamic = set(), set(), set()

    def visit_Attribute(self, node):
        self.words.add(node.attr)
        if node.attr in DYNAMIC_ATTRS:
            self.dynamic.add(f"the attribute {node.attr}")
        self.generic_visit(node)

    def visit_Import(self, node):
        for a in node.names:
            self.words.update(a.name.split("."))
            self.words.add(a.name)
            if a.name.split(".")[0] in DYNAMIC_NAMES:
                self.dynamic.add(f"import {a.name}")

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self.words.update(module.split("."))
        self.words.add(module)
        for a in node.names:
            self.words.add(a.name)
            self.words.add(f"{module}.{a.name}")
        if module.split(".")[0] in DYNAMIC_NAMES:
            self.dynamic.add(f"from {module} import ...")

    def visit_Constant(self, node):
        if isinstance(node.value, str) and len(node.value) < 200 and _DOTTED.match(node.value):
            self.words.add(node.value)                     # "deeptrain.reference", "Sigmoid"
            self.words.update(node.value.split("."))
        elif (isinstance(node.value, str) and len(node.value) < 500 and _PATH.match(node.value)
              and ("/" in node.value or "\\" in node.value)):
            self.words.update(re.split(r"[^\w]+", node.value))   # a file path: its parts ("t10k", ...)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            self.loads.add(node.id)
            if node.id in DYNAMIC_NAMES:
                self.dynamic.add(f"{node.id}")
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else None
        if name in ("getattr", "hasattr") and len(node.args) >= 2 and not (
                isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            self.dynamic.add("getattr with a computed name")
        self.generic_visit(node)


def _local_names(node):
    """Parameters and names assigned inside a function or class (they shadow module-level names)."""
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            out.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            out.add(sub.id)
    return out


def _uses(node):
    u = _Uses()
    u.visit(node)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        u.loads -= _local_names(node)
    return u


def _bound(stmt):
    """Names a module-level statement binds."""
    out = set()
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        out.add(stmt.name)
    elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for a in stmt.names:
            out.add(a.asname or a.name.split(".")[0])
    else:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                out.add(node.id)
    return out


def scan(sources, forbidden, protected=()):
    """Delegation in the student's code.

    sources: the code the student wrote (strings, in notebook order).
    forbidden: {graded function: names it must not use (besides ALWAYS)}. Another graded function
    that a function calls is not followed: it is judged (and flagged) on its own, so a delegating
    sigmoid costs sigmoid's points, not those of every function that uses it.
    protected: names the notebook's own cells bind (checks, np, tf, ...): student code that assigns
    one of them (not an import of it) is flagged for a look.
    Returns (delegated, dynamic): {function: reason} (the function earns nothing), and
    {function: reason} for dynamic code a human should look at.
    """
    statements = []
    unparsable = []
    for source in sources:
        try:
            tree = ast.parse(_strip_magics(source))
        except SyntaxError as e:
            unparsable.append(f"a cell could not be read as Python ({e.msg}, line {e.lineno})")
            continue
        statements.extend(tree.body)
    # name -> (words, loads, dynamic) of every statement that binds it
    by_name = {}
    for stmt in statements:
        u = _uses(stmt)
        for name in _bound(stmt):
            words, loads, dynamic = by_name.setdefault(name, (set(), set(), set()))
            words |= u.words
            loads |= u.loads - {name}
            dynamic |= u.dynamic
    # Module-level code that binds nothing the graded functions read (an expression statement,
    # a loop that patches a library) still runs: its dynamic constructs are flagged for every function.
    loose = set()
    for stmt in statements:
        u = _uses(stmt)
        if not _bound(stmt):
            loose |= u.dynamic
        if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for name in sorted(_bound(stmt) & set(protected)):
                loose.add(f"rebinds the notebook's name {name!r}")
        if u.words & GRADER_WORDS:
            loose.add("code that touches the grader's harvester")
    delegated, dynamic = {}, {}
    for fn, names in forbidden.items():
        if fn not in by_name:
            continue
        words, dyn, seen, todo = set(), set(loose), set(), [fn]
        while todo:  # everything the function reaches through names bound at module level
            name = todo.pop()
            if name in seen or name not in by_name:
                continue
            seen.add(name)
            w, loads, d = by_name[name]
            words |= w
            dyn |= d
            todo.extend(n for n in loads if n == fn or n not in forbidden)
        hits = sorted(words & (set(names) | ALWAYS))
        if hits:
            why = getattr(names, "reason", None) or ("this exercise asks you to compute it yourself, "
                                                     "not to call a library or the course's implementation")
            delegated[fn] = f"{fn} uses {', '.join(hits[:3])}: {why}"
        if dyn or unparsable:
            dynamic[fn] = f"{fn} relies on code this check cannot follow ({', '.join(sorted(dyn)[:3] + unparsable[:1])})"
    return delegated, dynamic
