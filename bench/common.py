"""Shared plumbing for the `make bench-*` commands: the one-line JSON result every bench ends with."""
from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).resolve().parent / "results"


def finish(name: str, figures: dict) -> None:
    """Print the figures as the last line (one line of JSON) and write bench/results/<name>.json."""
    from extract.fileio import atomic_json_dump

    figures = dict(figures)
    figures.setdefault("machine", f"{platform.machine()} {platform.processor() or ''}".strip())
    figures.setdefault("date", time.strftime("%Y-%m-%d"))
    atomic_json_dump(figures, RESULTS / f"{name}.json")
    print(json.dumps(figures, sort_keys=False), flush=True)


def rate(fn: Callable[[], int], repeats: int = 3, warmup: int = 1) -> float:
    """Median items/s of fn() (which returns how many items it processed) over `repeats` timed calls."""
    for _ in range(warmup):
        fn()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)
