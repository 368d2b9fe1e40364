"""Running nbgrader commands in subprocesses, with the course configuration.

A subprocess per step keeps one student's crash from taking the grader down and makes
parallel grading a matter of running several at once.
"""
import os
import subprocess
import sys

from . import ROOT


def nbgrader_env(grading_dir=None):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # nbgrader runs `alembic` (and kernels run `python`) from PATH: use this environment's.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONWARNINGS"] = env.get("PYTHONWARNINGS", "ignore::DeprecationWarning")
    if grading_dir is not None:
        env["DEEPTRAIN_GRADING_DIR"] = os.path.abspath(grading_dir)
    return env


def run_nbgrader(args, grading_dir=None, timeout=None):
    """Run ``nbgrader ARGS`` from the repository root; returns the CompletedProcess.

    The nbgrader of this interpreter's environment is used (``python -m nbgrader``), so the
    kernels it starts see the same ``deeptrain``.
    """
    from . import grading_dir as default_grading_dir
    os.makedirs(grading_dir or default_grading_dir(), exist_ok=True)  # the gradebook lives there
    cmd = [sys.executable, "-m", "nbgrader", *args]
    return subprocess.run(cmd, cwd=ROOT, env=nbgrader_env(grading_dir), capture_output=True,
                          text=True, timeout=timeout)
