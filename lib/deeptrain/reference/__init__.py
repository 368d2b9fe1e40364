"""NumPy reference implementations: the ground truth of grading.

Plain NumPy in float64, readable as the seeds' equations, no TensorFlow import. One module
a topic; every public function of every module is also reachable from here, e.g.
``deeptrain.reference.sigmoid`` is ``deeptrain.reference.gradients.sigmoid``.

This package is left out of the student bundle, so nothing students run may import it.
"""
import importlib
import pkgutil

__all__ = []

# Import every topic module found here, so that adding a topic needs no edit of this file.
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    globals()[_info.name] = _module
    for _name in getattr(_module, "__all__", []):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
