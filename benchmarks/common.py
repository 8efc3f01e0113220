"""Timing helpers shared by the benchmarks: best-of-N wall time, optional peers."""
import importlib
import time


def best_time(fn, *args, repeat=7, number=1):
    """Best wall time of ``number`` calls, over ``repeat`` rounds (seconds per call)."""
    fn(*args)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn(*args)
        best = min(best, (time.perf_counter() - start) / number)
    return best


def optional(module):
    """The module if it is installed, else None: peers are comparisons, never dependencies."""
    try:
        return importlib.import_module(module)
    except Exception:
        return None


def row(*cells, widths=(34, 12, 12, 12, 12)):
    out = []
    for cell, width in zip(cells, widths):
        text = f"{cell:.3g}" if isinstance(cell, float) else str(cell)
        out.append(text.ljust(width))
    print("".join(out).rstrip())
