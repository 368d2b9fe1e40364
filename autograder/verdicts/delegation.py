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
attributes, imported names and strings are matched, and an attribute of the student's own objects
(``self.gradient()`` of their class, ``Ops.f`` of their class ``Ops``) is theirs, not a library's.

Every binding is followed (issue 18): imports anywhere (inside ``try``/``if``/``with`` at module level, or
inside functions), containers filled later (``OPS.update(...)``, ``OPS[k] = ...``, ``.setdefault``,
``.append``, ``setattr(OPS, ...)``: the statement counts for ``OPS``), class attributes, and names given as
strings, also when assembled from constant pieces (``"ex" + "pit"``, f-strings of constants,
``"".join([...])``) or handed to ``getattr``/``operator.attrgetter``/``methodcaller``/``functools.reduce``.
What it cannot resolve -- a name computed at run time given to one of those, or ``getattr`` itself passed
as a value -- is flagged for a human, never zeroed.
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
# Functions that turn a string into an attribute or a module: a constant argument is read as a name, a
# computed one cannot be resolved (flagged).
BY_NAME = {"getattr", "hasattr", "attrgetter", "methodcaller", "import_module", "__import__"}
# Methods that put something into a container (the statement then belongs to the container's binding).
FILLERS = {"update", "setdefault", "append", "extend", "insert", "add", "__setitem__", "register"}
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


def _folded(node):
    """The value of a string expression built from constants only ("ex" + "pit", f"{'ex'}pit",
    "".join(["ex", "pit"]), "tipxe"[::-1]), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = _folded(node.left), _folded(node.right)
        return a + b if a is not None and b is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_folded(v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple))):
        sep, items = _folded(node.func.value), [_folded(e) for e in node.args[0].elts]
        return sep.join(items) if sep is not None and all(i is not None for i in items) else None
    if (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.lower is None
            and node.slice.upper is None and isinstance(node.slice.step, ast.UnaryOp)
            and isinstance(node.slice.step.operand, ast.Constant) and node.slice.step.operand.value == 1):
        s = _folded(node.value)
        return s[::-1] if s is not None else None
    return None


def _root(node):
    """The leftmost name of an attribute chain (a.b.c -> a), or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


class _Uses(ast.NodeVisitor):
    """What a piece of code names: attributes, imported names, strings, names loaded, dynamic constructs.

    own: (member names, root names) of the student's own classes: an attribute whose name is one of the
    members, read from one of those roots (self, cls, the class, an instance of it), is not a library's.
    """

    def __init__(self, own=(frozenset(), frozenset())):
        self.words, self.loads, self.dynamic = set(), set(), set()
        self.members, self.roots = own

    def visit_Attribute(self, node):
        if not (node.attr in self.members and _root(node.value) in self.roots):
            self.words.add(node.attr)
        if node.attr in DYNAMIC_ATTRS:
            self.dynamic.add(f"the attribute {node.attr}")
        self.generic_visit(node)

    def _string(self, text):
        if len(text) < 200 and _DOTTED.match(text):
            self.words.add(text)                     # "deeptrain.reference", "Sigmoid"
            self.words.update(text.split("."))

    def visit_BinOp(self, node):
        text = _folded(node)
        if text is not None:
            self._string(text)
        self.generic_visit(node)

    def visit_JoinedStr(self, node):
        text = _folded(node)
        if text is not None:
            self._string(text)
        self.generic_visit(node)

    def visit_Subscript(self, node):
        text = _folded(node)
        if text is not None:
            self._string(text)
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
            self._string(node.value)
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
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if name in BY_NAME:
            named = node.args[1:2] if name in ("getattr", "hasattr") else node.args[:1]
            for arg in named + [k.value for k in node.keywords if k.arg == "name"]:
                text = _folded(arg)
                if text is None:
                    self.dynamic.add(f"{name} with a computed name")
                else:
                    self._string(text)
        if (name == "join" and isinstance(f, ast.Attribute)) or name in BY_NAME:
            text = _folded(node)
            if text is not None:
                self._string(text)
        for arg in list(node.args) + [k.value for k in node.keywords]:   # getattr handed over as a value
            if isinstance(arg, ast.Name) and arg.id in ("getattr", "__import__"):
                self.dynamic.add(f"{arg.id} passed as a value")
            elif isinstance(arg, ast.Attribute) and arg.attr in ("attrgetter", "methodcaller", "import_module"):
                self.dynamic.add(f"{arg.attr} passed as a value")
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


def _uses(node, own=(frozenset(), frozenset())):
    u = _Uses(own)
    u.visit(node)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        u.loads -= _local_names(node)
    return u


def _bound(stmt):
    """Names a module-level statement binds (also inside try/if/with/for at module level, imports included)."""
    out = set()
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        out.add(stmt.name)
    elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for a in stmt.names:
            out.add(a.asname or a.name.split(".")[0])
    elif isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While, getattr(ast, "TryStar", ast.Try),
                           getattr(ast, "Match", ast.If))):
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for sub in getattr(stmt, field, None) or []:
                out |= _bound(sub) if isinstance(sub, ast.stmt) else set().union(*(_bound(s) for s in sub.body))
        for node in ast.iter_child_nodes(stmt):
            if isinstance(node, ast.expr):
                out |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        for item in getattr(stmt, "items", None) or []:
            if item.optional_vars is not None:
                out |= {n.id for n in ast.walk(item.optional_vars) if isinstance(n, ast.Name)}
        for h in getattr(stmt, "handlers", None) or []:
            if h.name:
                out.add(h.name)
    else:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                out.add(node.id)
    return out


def _filled(stmt):
    """Containers and objects a statement fills in place: X.update(...), X[k] = v, X.a = v, setattr(X, ...)."""
    out = set()
    for node in ast.walk(stmt):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and node is not stmt:
            continue
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FILLERS
                and isinstance(node.func.value, ast.Name)):
            out.add(node.func.value.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" and node.args:
            root = _root(node.args[0]) if not isinstance(node.args[0], ast.Name) else node.args[0].id
            if root:
                out.add(root)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            root = _root(node.value)
            if root:
                out.add(root)
    return out


def _own(statements):
    """(members, roots) of the student's own classes: method and attribute names (class level, self.x = ...),
    and the names that stand for the class or an instance of it (self, cls, the class, v = TheClass(...))."""
    members, classes = set(), set()
    for stmt in statements:
        for node in ast.walk(stmt):
            if isinstance(node, ast.ClassDef):
                classes.add(node.name)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        members.add(item.name)
                    elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                        for t in (item.targets if isinstance(item, ast.Assign) else [item.target]):
                            members |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
                for sub in ast.walk(node):
                    if (isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store)
                            and isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls")):
                        members.add(sub.attr)
    roots = {"self", "cls"} | classes
    for stmt in statements:
        for node in ast.walk(stmt):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Name) and node.value.func.id in classes):
                roots |= {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return frozenset(members), frozenset(roots)


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
    # name -> (words, loads, dynamic) of every statement that binds it, or fills it in place
    own = _own(statements)
    by_name = {}
    for stmt in statements:
        u = _uses(stmt, own)
        for name in _bound(stmt) | _filled(stmt):
            words, loads, dynamic = by_name.setdefault(name, (set(), set(), set()))
            words |= u.words
            loads |= u.loads - {name}
            dynamic |= u.dynamic
    # Module-level code that binds nothing the graded functions read (an expression statement,
    # a loop that patches a library) still runs: its dynamic constructs are flagged for every function.
    loose = set()
    for stmt in statements:
        u = _uses(stmt, own)
        if not _bound(stmt) and not _filled(stmt):
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
