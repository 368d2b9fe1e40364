"""deeptrain.setup(): seeds, determinism, quiet, idempotent."""
import os
import subprocess
import sys
import textwrap

from conftest import ROOT


def run_python(code, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_setup_twice_is_safe_repeatable_and_writes_nothing_to_stderr():
    r = run_python("""
        import deeptrain as dt
        tf = dt.setup(seed=7, threads=2)
        import numpy as np
        a = (np.random.rand(), float(tf.random.uniform(())))
        tf = dt.setup(seed=7, threads=2)
        b = (np.random.rand(), float(tf.random.uniform(())))
        assert a == b, (a, b)
        # A small fit: with TF 2.21 this is where an E-level C++ log used to appear.
        m = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2, input_shape=(3,))])
        m.compile("sgd", "mse")
        m.fit(np.ones((8, 3)), np.ones((8, 2)), epochs=1, verbose=0)
        print("ok")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("ok")
    assert r.stderr == "", f"setup left output on stderr:\n{r.stderr}"


def test_import_deeptrain_does_not_import_tensorflow():
    r = run_python("import sys, deeptrain, deeptrain.checks, deeptrain.data; print('tensorflow' in sys.modules)")
    assert r.stdout.strip() == "False", r.stderr


def test_setup_turns_on_op_determinism():
    r = run_python("""
        import deeptrain as dt
        tf = dt.setup()
        from tensorflow.python.framework import config  # no public getter in TF 2.21
        print(config.is_op_determinism_enabled())
    """)
    assert r.stdout.strip() == "True", r.stderr


def test_is_grading_follows_nbgrader_execution():
    r = run_python("import deeptrain as dt; print(dt.is_grading())", {"NBGRADER_EXECUTION": "autograde"})
    assert r.stdout.strip() == "True"
    r = run_python("import deeptrain as dt; print(dt.is_grading())")
    assert r.stdout.strip() == "False"
