"""The integrity guard: undo what student code changed in the libraries before a test cell runs.

Defense in depth only. Grades are decided in the grader's own process (autograder/verdicts, run
by ``autograder.preprocessors.JudgeResults``) from the results the kernel hands over, so nothing
restored or missed here can change a grade; what the guard finds makes the submission "flagged".

A hidden test is only as good as the functions it calls. Student code runs in the same Python
process as the tests, so it can replace ``numpy.isclose``, ``deeptrain.checks.assert_close``
or ``deeptrain.reference.sigmoid``, rebind ``checks`` or ``np`` in the notebook's namespace, add an
IPython input transformer that rewrites every later cell, install a trace function, or swallow
exceptions with ``set_custom_exc``. The grader (``autograder.execute.ResilientExecute``) runs
this file's code in the kernel, silently:

- once, before the first cell: ``snapshot()`` imports the libraries the tests use and records
  every function, class and code object of them, and IPython's hooks;
- before every graded test cell: ``check(expected)`` compares, puts back every difference, and
  returns a list of what it restored. ``expected`` maps names the test cell reads (``np``,
  ``checks``, ``tf``) to the module they must be; those are re-bound when the student rebound them.

The list goes into the cell's feedback and into the grade report ("tampering"), so the test then
grades the student's own work against the real libraries. This is tamper-evidence in the same
process, not a security boundary: code that finds and disables the guard itself is reported as
"the integrity check could not run".

This source is executed in the kernel (it is never imported there as a module), and must work
with only the standard library before anything else is imported.
"""

GUARD_SOURCE = r'''
def __deeptrain_make_guard():
    import builtins, json, sys, threading, types
    PREFIXES = ("builtins", "math", "warnings", "numpy", "scipy", "deeptrain", "tensorflow", "keras",
                "IPython", "ipykernel")
    IMPORTS = ("numpy", "numpy.testing", "deeptrain", "deeptrain.checks", "deeptrain.reference",
               "tensorflow", "keras")
    # Replaced on purpose by logging (showwarning), by ipykernel for every execution (input) and
    # by IPython's builtin trap (get_ipython, exit, ...).
    IGNORE = {("warnings", "showwarning"), ("warnings", "formatwarning")} | {
        ("builtins", k) for k in ("input", "raw_input", "get_ipython", "exit", "quit", "display", "help",
                                  "copyright", "credits", "license")}
    TRUSTED_CALLBACKS = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets")
    HEAPTYPE = 1 << 9
    MISSING = object()
    _id, _isinstance, _getattr, _vars, _list, _len = id, isinstance, getattr, vars, list, len
    FUNC = types.FunctionType

    modules, classes, codes = {}, {}, {}
    state = {}

    def wanted(name):
        return name.split(".")[0] in PREFIXES

    def record_function(fn):
        fn = _getattr(fn, "__func__", fn)
        if _isinstance(fn, FUNC) and _id(fn) not in codes:
            codes[_id(fn)] = (fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__)

    def record_class(cls):
        if _id(cls) in classes or not (cls.__flags__ & HEAPTYPE) or not wanted(_getattr(cls, "__module__", "") or ""):
            return
        entries = {}
        for k, v in _list(_vars(cls).items()):
            if _isinstance(v, (FUNC, staticmethod, classmethod, property)):
                entries[k] = v
                record_function(v)
        classes[_id(cls)] = (cls, entries)

    def record_module(name, mod):
        try:
            d = _vars(mod)
        except TypeError:
            return
        entries = {}
        for k, v in _list(d.items()):
            try:
                if (name, k) in IGNORE or _isinstance(v, types.ModuleType) or not callable(v):
                    continue
                entries[k] = v
                if _isinstance(v, type):
                    record_class(v)
                else:
                    record_function(v)
                    record_function(_getattr(v, "__wrapped__", None))
            except Exception:
                pass
        modules[name] = (mod, entries)

    def record_new_modules():
        for name, mod in _list(sys.modules.items()):
            if name not in modules and _isinstance(mod, types.ModuleType) and wanted(name):
                record_module(name, mod)

    def snapshot():
        import importlib
        for name in IMPORTS:
            try:
                importlib.import_module(name)
            except Exception:
                pass
        record_new_modules()
        ip = _getattr(builtins, "get_ipython", lambda: None)()
        state["ip"] = ip
        if ip is not None:
            state["ip_lists"] = {k: _list(_getattr(ip, k)) for k in
                                 ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")}
            state["ip_attrs"] = {k: _getattr(ip, k, MISSING) for k in
                                 ("compile", "input_transformer_manager", "custom_exceptions", "CustomTB",
                                  "display_formatter", "displayhook", "user_ns", "user_global_ns",
                                  "InteractiveTB", "SyntaxTB", "kernel", "events")}
            state["ip_dict"] = set(_vars(ip))
            state["events"] = {k: _list(v) for k, v in ip.events.callbacks.items()}
            kernel = _getattr(ip, "kernel", None)
            state["kernel_dict"] = set(_vars(kernel)) if kernel is not None else set()
            for obj in (ip, kernel):
                if obj is not None:
                    for cls in type(obj).__mro__:
                        record_class(cls)
        state["meta_path"] = _list(sys.meta_path)
        state["path_hooks"] = _list(sys.path_hooks)
        return _len(modules), _len(classes), _len(codes)

    def check(expected=None):
        restored = []
        note = restored.append
        if sys.gettrace() is not None:
            sys.settrace(None); note("sys.settrace (a trace function was installed)")
        if sys.getprofile() is not None:
            sys.setprofile(None); note("sys.setprofile (a profile function was installed)")
        if _getattr(threading, "_trace_hook", None) is not None:
            threading.settrace(None); note("threading.settrace")
        if _getattr(threading, "_profile_hook", None) is not None:
            threading.setprofile(None); note("threading.setprofile")
        for name, (mod, entries) in _list(modules.items()):
            if sys.modules.get(name, mod) is not mod:
                sys.modules[name] = mod; note(f"sys.modules[{name!r}] (replaced by another module)")
            d = _vars(mod)
            for k, v in entries.items():
                if d.get(k, MISSING) is not v:
                    d[k] = v; note(f"{name}.{k}")
        for cls, entries in classes.values():
            d = _vars(cls)
            for k, v in entries.items():
                if d.get(k, MISSING) is not v:
                    try:
                        type.__setattr__(cls, k, v); note(f"{cls.__module__}.{cls.__qualname__}.{k}")
                    except (TypeError, AttributeError):
                        pass
        for fn, code, defaults, kwdefaults in codes.values():
            if fn.__code__ is not code or fn.__defaults__ is not defaults or fn.__kwdefaults__ is not kwdefaults:
                fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults
                note(f"{fn.__module__}.{fn.__qualname__} (its code was swapped)")
        if sys.meta_path != state["meta_path"]:
            sys.meta_path[:] = state["meta_path"]; note("sys.meta_path (an import hook was added)")
        if sys.path_hooks != state["path_hooks"]:
            sys.path_hooks[:] = state["path_hooks"]; note("sys.path_hooks")
        ip = state.get("ip")
        if ip is not None:
            for k, v in state["ip_lists"].items():
                cur = _getattr(ip, k)
                if _list(cur) != v:
                    cur[:] = v; note(f"IPython {k} (it rewrites the code of later cells)")
            for k, v in state["ip_attrs"].items():
                if _getattr(ip, k, MISSING) is not v:
                    object.__setattr__(ip, k, v) if v is not MISSING else None
                    note(f"IPython shell.{k}")
            for k in _list(_vars(ip)):
                if k not in state["ip_dict"] and callable(_getattr(type(ip), k, None)):
                    del _vars(ip)[k]; note(f"IPython shell.{k} (a method was overridden)")
            kernel = state["ip_attrs"].get("kernel")
            if kernel is not None and kernel is not MISSING:
                for k in _list(_vars(kernel)):
                    if k not in state["kernel_dict"] and callable(_getattr(type(kernel), k, None)):
                        del _vars(kernel)[k]; note(f"ipykernel kernel.{k} (a method was overridden)")
            for k, cur in _list(ip.events.callbacks.items()):
                for cb in _list(cur):
                    owner = _getattr(_getattr(cb, "__func__", cb), "__module__", None) or ""
                    if cb not in state["events"].get(k, ()) and owner.split(".")[0] not in TRUSTED_CALLBACKS:
                        cur.remove(cb); note(f"IPython event callback {k} ({_getattr(cb, '__qualname__', cb)!r})")
            ns = ip.user_ns
            if ns.get("__builtins__", builtins) is not builtins:
                ns["__builtins__"] = builtins; note("__builtins__ of the notebook")
            for name, modname in (expected or {}).items():
                real = modules.get(modname, (sys.modules.get(modname),))[0]
                if real is not None and name in ns and ns[name] is not real:
                    ns[name] = real; note(f"the name {name!r} (rebound; it must be the module {modname})")
        record_new_modules()
        return json.dumps(restored)

    return types.SimpleNamespace(snapshot=snapshot, check=check)


__import__("sys").modules["__deeptrain_guard__"] = __deeptrain_make_guard()
del __deeptrain_make_guard
'''

SNAPSHOT = "__import__('sys').modules['__deeptrain_guard__'].snapshot()"


def check_expression(expected):
    """The user expression that runs the check; ``expected`` maps names to module names."""
    return f"__import__('sys').modules['__deeptrain_guard__'].check({dict(expected)!r})"
