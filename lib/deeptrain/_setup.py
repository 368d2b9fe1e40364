"""``deeptrain.setup()``: one call at the top of every notebook."""
import contextlib
import logging
import os
import random
import sys
import warnings

import numpy as np

DEFAULT_SEED = 42

# Warnings that TensorFlow, Keras and their dependencies emit on perfectly good code.
# Python warnings go to stderr, and nbgrader scores a graded cell that wrote to stderr 0.
_QUIET_MODULES = ("tensorflow", "keras", "absl", "google.protobuf", "h5py", "jax", "ml_dtypes")


def is_grading():
    """True while nbgrader executes the notebook (autograde or validate).

    nbgrader sets ``NBGRADER_EXECUTION`` in the kernel's environment; demo cells that
    train models check this and skip, so grading a submission costs seconds.
    """
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def _silence():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for module in _QUIET_MODULES:
        warnings.filterwarnings("ignore", module=module)
    # Keras warns (UserWarning) about input_shape arguments and build() details.
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*input_shape.*")
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*build\(\).*")
    for name in ("tensorflow", "absl", "keras", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def native_stderr_silenced():
    """Point file descriptor 2 at /dev/null while the block runs, then put it back.

    Why the descriptor and not ``sys.stderr``: TensorFlow's C++ runtime writes straight to
    fd 2 while it loads (on AMD CPUs, an absl pre-init warning and "oneDNN custom operations
    are on", whatever ``TF_CPP_MIN_LOG_LEVEL`` says), and ipykernel forwards fd 2 to the
    cell as a red stderr block, which nbgrader scores 0. Only the import is silenced: a
    Python exception raised inside the block still propagates, with stderr restored.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """``import tensorflow`` with its load-time native chatter silenced (see above).

    The first call pays for the import; later calls return the loaded module.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with native_stderr_silenced():
        import tensorflow as tf
    return tf


def setup(seed=DEFAULT_SEED, threads=None, determinism=True, quiet=True):
    """Seed everything, make TensorFlow repeatable and quiet. Safe to call any number of times.

    seed: seeds Python's ``random``, NumPy's global generator and TensorFlow/Keras.
    threads: TensorFlow intra-op threads (default: all cores); only takes effect before
        TensorFlow has run its first op, later calls leave it as it is.
    determinism: turn on ``tf.config.experimental.enable_op_determinism()``.
    quiet: silence TensorFlow's C++ log, its Python logger and known warnings.

    Returns the TensorFlow module, so that ``tf = dt.setup()`` is enough.
    """
    if quiet:
        _silence()
    random.seed(seed)
    np.random.seed(seed)

    tf = import_tensorflow()  # imported here so that `import deeptrain` stays light

    if quiet:
        tf.get_logger().setLevel(logging.ERROR)
        try:
            from absl import logging as absl_logging
            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # absl ships with TF; keep going without it
            pass
        # Keras' progress bars and per-epoch lines go to stdout, never stderr: fine.
    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:
            pass  # TensorFlow is already initialised; thread pools cannot change now
    tf.keras.utils.set_random_seed(seed)  # seeds random, numpy and the TF global generator
    if determinism:
        tf.config.experimental.enable_op_determinism()
    # In a student's notebook (never while grading): one-line "not solved yet" messages and the
    # record of which test cells passed, for dt.progress (deeptrain/exercises.py).
    from .exercises import student_session
    student_session()
    return tf
