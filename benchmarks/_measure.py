"""Timing and memory measurement shared by every worker (standard library only: runs in any venv)."""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Timed", "Unavailable", "current_rss_mib", "emit", "measure", "peak_rss_mib", "run_guarded", "summarise"]


class Unavailable(Exception):
    """A stage cannot run here (its code is not written yet, or a package is missing): skipped with a note."""


@dataclass
class Timed:
    """What a stage's setup returns: the timed callable and an optional untimed preparation before each run."""

    run: Callable[[], dict[str, Any] | None]
    before: Callable[[], None] | None = None
    after: Callable[[], None] | None = None


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far.

    Linux's ``VmHWM`` belongs to the current program image; ``ru_maxrss`` is carried across ``execve`` from the
    forking parent (so a worker would inherit the runner's peak), hence only the fallback.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mib() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux
        return float("nan")


def summarise(seconds: list[float]) -> dict[str, float]:
    """Median, min, max and relative spread ((max - min) / median) of a list of timings."""
    med = statistics.median(seconds)
    return {"median_s": med, "min_s": min(seconds), "max_s": max(seconds),
            "spread": (max(seconds) - min(seconds)) / med if med > 0 else 0.0}


def measure(setup: Callable[[], Timed], runs: int, budget_s: float | None = None) -> dict[str, Any]:
    """Run ``setup`` once (untimed), then the timed callable ``runs`` times; stop early past ``budget_s``."""
    rss_start = current_rss_mib()
    t0 = time.perf_counter()
    try:
        timed = setup()
    except Unavailable as exc:
        return {"status": "skipped", "note": str(exc)}
    setup_s = time.perf_counter() - t0
    rss_setup = current_rss_mib()
    _marker("SETUP", {"setup_s": setup_s})
    seconds: list[float] = []
    result: dict[str, Any] | None = None
    for _ in range(runs):
        if timed.before is not None:
            timed.before()
        t = time.perf_counter()
        result = timed.run()
        seconds.append(time.perf_counter() - t)
        _marker("RUN", {"seconds": seconds[-1]})
        if timed.after is not None:
            timed.after()
        if budget_s is not None and sum(seconds) > budget_s:
            break
    return {"status": "ok", "seconds": seconds, **summarise(seconds), "setup_s": setup_s,
            "rss_start_mib": rss_start, "rss_after_setup_mib": rss_setup, "peak_rss_mib": peak_rss_mib(),
            "result": result or {}}


def _marker(kind: str, document: dict[str, Any]) -> None:
    """Progress lines the parent reads to apply per-run timeouts and keep finished runs."""
    sys.stdout.write(f"\n@@{kind}@@" + json.dumps(document, default=str) + "\n")
    sys.stdout.flush()


def emit(document: dict[str, Any]) -> None:
    """The worker's single line of output, marked so that library chatter on stdout cannot confuse it."""
    _marker("BENCH", document)


def run_guarded(fn: Callable[[], dict[str, Any]]) -> None:
    try:
        emit(fn())
    except Exception as exc:  # a broken stage is recorded, never crashes the suite
        emit({"status": "failed", "note": f"{type(exc).__name__}: {exc}",
              "traceback": traceback.format_exc(limit=8)})
