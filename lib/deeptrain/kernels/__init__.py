"""TensorFlow implementations of the reference algorithms, for training and demos.

Numerically equal to ``deeptrain.reference`` (see tests/lib) and benchmarked against the
Keras built-ins or naive loops they replace (``make bench``, BENCHMARKS.md).

Topic modules are imported on first use (``deeptrain.kernels.gradients``), so that a
notebook pays for TensorFlow only once it needs a kernel.
"""
import importlib

_TOPICS = ("activations", "batchnorm", "clipping", "gradients", "init", "monitoring",
           "optimizers", "regularization", "schedules", "transfer")


def __getattr__(name):
    if name in _TOPICS:
        from .._setup import import_tensorflow
        import_tensorflow()  # quiet on every CPU even when a kernel is the first TF user
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
