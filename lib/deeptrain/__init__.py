"""deeptrain: the shared library of the course "Training Deep Neural Networks".

Layers, one name per idea across all of them:

- ``deeptrain.reference``: readable NumPy implementations, the ground truth of grading
  (not shipped in the student bundle).
- ``deeptrain.kernels``: the same algorithms in TensorFlow, for training and demos.
- ``deeptrain.data``: Fashion-MNIST, found offline first.
- ``deeptrain.checks``: student-facing checks with clear messages.
- ``deeptrain.viz``: the plots the notebooks share.

Importing this package never imports TensorFlow; it only sets ``TF_CPP_MIN_LOG_LEVEL``
so that a later ``import tensorflow`` prints nothing on stderr (a graded cell that
writes to stderr scores 0 under nbgrader).
"""
import os

# Level 3, not 2: with TF 2.21 on CPU, level 2 still lets `fit` print an E-level tf.data
# message ("NodeDef mentions attribute use_unbounded_threadpool") on stderr.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from ._setup import setup, is_grading, import_tensorflow, native_stderr_silenced  # noqa: E402
from .claims import claim  # noqa: E402
from .exercises import needs, progress  # noqa: E402

__all__ = ["setup", "is_grading", "import_tensorflow", "native_stderr_silenced", "claim", "needs", "progress"]
__version__ = "0.1.0"
