"""The kernel launcher (autograder/sandbox.py) enforces its limits, whatever the kernel does.

Fast: the "kernel" is a few lines of Python, not IPython. The oracle is the launcher's status
file and the process table.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from autograder import kernel_hidden_paths, sandbox

LAUNCHER = sandbox.__file__
MiB = 1024 ** 2


def _launch(tmp_path, code, *options, wait=True, timeout=60):
    status = tmp_path / "status.json"
    cmd = [sys.executable, LAUNCHER, "--status", str(status), *options, "--", sys.executable, "-c", code]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    if not wait:
        return proc, status
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, json.loads(status.read_text()), out


def _wait_for(path, key, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            data = json.loads(path.read_text())
            if key in data:
                return data
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"no {key} in {path}")


def test_memory_watchdog_stops_a_kernel_over_its_cap(tmp_path):
    hog = "import time\nx = []\nwhile True:\n    x.append(b'1' * (50 * 2**20))\n    time.sleep(0.01)"
    code, status, _ = _launch(tmp_path, hog, "--no-isolation", "--memory", str(300 * MiB),
                              "--address-space", "0")
    assert code == 128 + signal.SIGKILL and status["reason"] == "memory"
    assert status["rss"] > 300 * MiB and status["peak_rss"] < 3 * 300 * MiB


def test_address_space_limit_turns_a_giant_allocation_into_memory_error(tmp_path):
    code, status, out = _launch(tmp_path, "try:\n    b = bytearray(4 * 2**30)\nexcept MemoryError:\n"
                                "    print('MemoryError')", "--no-isolation", "--address-space", str(1024 * MiB))
    assert code == 0 and "MemoryError" in out


def test_cpu_limit_ends_a_busy_loop_that_ignores_interrupts(tmp_path):
    loop = "while True:\n    try:\n        pass\n    except KeyboardInterrupt:\n        pass"
    code, status, _ = _launch(tmp_path, loop, "--no-isolation", "--cpu", "1")
    assert status["reason"] == "cpu"


def test_interrupt_sent_to_the_launcher_reaches_the_kernel(tmp_path):
    proc, status = _launch(tmp_path, "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n"
                           "    print('interrupted')\n    raise SystemExit(3)", wait=False)
    _wait_for(status, "kernel_pid")
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)          # what jupyter_client does to interrupt a kernel
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 3 and "interrupted" in out


def test_kernel_dies_with_its_launcher(tmp_path):
    proc, status = _launch(tmp_path, "import time\ntime.sleep(120)", "--no-isolation", wait=False)
    kernel = _wait_for(status, "kernel_pid")["kernel_pid"]
    proc.kill()
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(kernel, 0)
            with open(f"/proc/{kernel}/stat") as f:
                if f.read().split()[2] == "Z":
                    break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.1)
    else:
        os.kill(kernel, signal.SIGKILL)
        pytest.fail("the kernel outlived its launcher")


def test_isolation_hides_course_files_and_freezes_the_file_system(tmp_path):
    ok, what = sandbox.self_test(kernel_hidden_paths(str(tmp_path)))
    if not what.startswith("namespaces"):
        pytest.skip(f"no Linux namespaces here: {what}")
    assert ok, what


def test_cpu_limit_holds_inside_the_isolation(tmp_path):
    if not sandbox.bwrap_works()[0]:
        pytest.skip(f"no isolation here: {sandbox.bwrap_works()[1]}")
    loop = "while True:\n    try:\n        pass\n    except KeyboardInterrupt:\n        pass"
    code, status, _ = _launch(tmp_path, loop, "--cpu", "1")
    assert status["isolation"].startswith("namespaces") and status["reason"] == "cpu", status
