"""Benchmarks of deeptrain.kernels against what they replace (``make bench``).

Each ``bench/bench_<topic>.py`` defines ``run(repeats)`` returning a list of
:class:`Row`; ``python -m bench`` runs them all in one process, prints the table and
rewrites BENCHMARKS.md. Times are medians of repeated runs measured in the same process,
after a warm-up, so that both sides pay the same compile and cache costs.
"""
import statistics
import time
from dataclasses import dataclass


@dataclass
class Row:
    kernel: str            # what we measure, e.g. "kernels.optimizers.Adam"
    baseline: str          # what it replaces, e.g. "keras.optimizers.Adam"
    workload: str          # e.g. "MLP 784-300-100-10, batch 256, 200 steps"
    ours_s: float          # median seconds, ours
    baseline_s: float      # median seconds, baseline
    aim: float             # required speed-up (baseline_s / ours_s), e.g. 0.9 for "at most 10% slower"
    note: str = ""
    spread: float = None   # optional: interquartile range / median of the per-round speed-ups (wall)
    cpu_ratio: float = None  # optional: the speed-up in this process's CPU time, load-robust
    rounds: int = None     # optional: interleaved rounds measured (more when the machine is noisy)

    @property
    def ratio(self):
        """Speed-up: baseline time / our time (above 1 means ours is faster)."""
        return self.baseline_s / self.ours_s

    @property
    def met(self):
        """Aim reached. With a CPU-time ratio, that one is judged: on a shared machine the wall
        time also measures the other processes' load (both are printed)."""
        return (self.cpu_ratio if self.cpu_ratio is not None else self.ratio) >= self.aim

    def detail(self):
        """'spread 3%, CPU time x1.05, 9 rounds' for the rows that measured them, else ''."""
        parts = []
        if self.spread is not None:
            parts.append(f"spread {self.spread:.0%}")
        if self.cpu_ratio is not None:
            parts.append(f"CPU time x{self.cpu_ratio:.2f}")
        if self.rounds is not None:
            parts.append(f"{self.rounds} rounds")
        return ", ".join(parts)


def median_time(fn, repeats=5, warmup=1):
    """Median wall time of fn() over `repeats` runs, after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(fn_ours, fn_baseline, repeats=5, warmup=1):
    """Median times of two functions, measured interleaved (ours, baseline, ours, ...)
    so that a slow spell of the machine hits both alike. Returns (ours_s, baseline_s)."""
    for _ in range(warmup):
        fn_ours()
        fn_baseline()
    ours, base = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn_ours()
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fn_baseline()
        base.append(time.perf_counter() - t0)
    return statistics.median(ours), statistics.median(base)


def write_block(lines, begin, end, path=None):
    """Put a bench's block (lines, starting with `begin` and ending with `end`) into BENCHMARKS.md in
    place between its markers, or append it: each bench owns one block, the rest of the file is kept."""
    import os
    path = path or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    block = "\n".join(lines)
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
