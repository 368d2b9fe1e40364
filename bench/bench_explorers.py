"""Response time of the interactive explorers: one control change -> new image.

    python -m bench explorers [--repeats N]        (or: python -m bench.bench_explorers)

For every explorer registered in ``deeptrain.explore`` (``load_all()``), the explorer is built
as a notebook builds it, then each of its controls is moved ``repeats`` times (a slider one
step back and forth, a dropdown through its options); each move runs the whole redraw that a
student waits for (compute + Matplotlib + PNG) synchronously, and is timed in wall and CPU
time. Printed: per explorer, the median over all moves, the slowest control's median, and
the machine's load average (the machine may be shared: CPU time is the load-robust figure).
The aim (issue 14): a redraw within about a second on this machine.
"""
import contextlib
import io
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

AIM_S = 1.0
_RESULTS = {}


def _load():
    return "load %.1f/%.1f/%.1f" % os.getloadavg()


def _moves(control, n):
    """n values to set one after the other, each different from the value before it."""
    options = getattr(control, "options", None)
    if options:
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        start = values.index(control.value)
        return [values[(start + 1 + k) % len(values)] for k in range(n)]
    step = control.step
    up = control.value + step <= control.max
    other = control.value + (step if up else -step)
    return [other if k % 2 == 0 else control.value for k in range(n)]


def time_explorer(name, repeats=5):
    """{control: [(wall_s, cpu_s), ...]} for `repeats` moves of each control of explorer `name`."""
    import deeptrain.explore as ex

    _, draw, controls_factory = ex.REGISTRY[name]
    controls = controls_factory()
    with contextlib.redirect_stdout(io.StringIO()):
        box = ex.explorer(draw, controls, name=name)
    times = {}
    for argument, control in controls.items():
        times[argument] = []
        for value in _moves(control, repeats):
            before = bytes(box.image.value)
            # Outside a kernel, ipywidgets' clear_output prints an ANSI line-clear: swallow it.
            with contextlib.redirect_stdout(io.StringIO()):
                wall, cpu = time.perf_counter(), time.process_time()
                control.value = value                 # the observer redraws synchronously
                times[argument].append((time.perf_counter() - wall, time.process_time() - cpu))
            if bytes(box.image.value) == before:
                print(f"    note: {name}.{argument} = {value!r} left the image unchanged", flush=True)
        # back to the default, untimed, so the next control moves from the opening setting
        with contextlib.redirect_stdout(io.StringIO()):
            control.value = controls_factory()[argument].value
    return times


def run(repeats=5):
    """Print per-explorer medians; return no Row (there is no baseline to compare with)."""
    os.environ.pop("NBGRADER_EXECUTION", None)        # the explorers draw nothing while grading
    import deeptrain.explore as ex

    ex.load_all()
    for name in sorted(ex.REGISTRY):
        times = time_explorer(name, repeats=max(2, repeats))
        walls = [w for moves in times.values() for w, _ in moves]
        cpus = [c for moves in times.values() for _, c in moves]
        per_control = {arg: statistics.median(w for w, _ in moves) for arg, moves in times.items()}
        slowest = max(per_control, key=per_control.get)
        _RESULTS[name] = dict(median=statistics.median(walls), cpu=statistics.median(cpus),
                              slowest=slowest, slowest_s=per_control[slowest], moves=len(walls),
                              load=_load())
        r = _RESULTS[name]
        print(f"  {name}: median {r['median'] * 1e3:.0f} ms per control change (CPU {r['cpu'] * 1e3:.0f} ms), "
              f"slowest control {slowest} {r['slowest_s'] * 1e3:.0f} ms, {r['moves']} moves, "
              f"aim {AIM_S:g} s: {'met' if r['median'] <= AIM_S else 'NOT met'} ({r['load']})", flush=True)
    return []


def markdown():
    """The BENCHMARKS.md section of the last run (empty before a run)."""
    if not _RESULTS:
        return []
    lines = ["## Interactive explorers (`bench/bench_explorers.py`)", "",
             "One control change -> new image (compute + Matplotlib + PNG), median over every move of",
             f"every control; aim: within {AIM_S:g} s.", "",
             "| explorer | median (ms) | CPU (ms) | slowest control (ms) | moves | load |",
             "|---|---:|---:|---|---:|---|"]
    for name, r in sorted(_RESULTS.items()):
        lines.append(f"| `{name}` | {r['median'] * 1e3:.0f} | {r['cpu'] * 1e3:.0f} | "
                     f"{r['slowest']} {r['slowest_s'] * 1e3:.0f} | {r['moves']} | {r['load']} |")
    return lines


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.bench_explorers")
    parser.add_argument("--repeats", type=int, default=5)
    run(repeats=parser.parse_args().repeats)
