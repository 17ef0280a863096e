"""Scheduled re-scoring: a cron expression (``CRMSCORE_SCORE_SCHEDULE``), catch-up after downtime, never two
runs at once, and the snapshot retention policy.

The schedule logic is pure (:func:`due_since`) and the :class:`Scheduler` thread only asks it, so the rules are
testable without waiting: after downtime the missed run is made up once (not once per missed period).

>>> from datetime import datetime
>>> due_since("0 2 * * *", last_run=datetime(2024, 1, 1, 2, 0), now=datetime(2024, 1, 3, 9, 0))
datetime.datetime(2024, 1, 3, 2, 0)
>>> due_since("0 2 * * *", last_run=datetime(2024, 1, 3, 2, 0, 5), now=datetime(2024, 1, 3, 9, 0)) is None
True
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from croniter import croniter

from crmscore.errors import ConfigError, ConfigIssue
from crmscore.services.snapshots import delete_snapshot, list_snapshots
from crmscore.store.warehouse import Warehouse

__all__ = ["Scheduler", "apply_retention", "due_since", "validate_cron"]

log = logging.getLogger("crmscore.scheduler")


def validate_cron(expression: str) -> str:
    if not croniter.is_valid(expression) or len(expression.split()) != 5:
        raise ConfigError("CRMSCORE_SCORE_SCHEDULE", [ConfigIssue(
            "score_schedule", f"{expression!r} is not a 5-field cron expression", "e.g. '0 2 * * *' (daily 02:00)")])
    return expression


def due_since(expression: str, last_run: datetime | None, now: datetime) -> datetime | None:
    """The latest scheduled time <= ``now`` that has no run yet (``last_run`` started before it), else None."""
    previous: datetime = croniter(validate_cron(expression), now).get_prev(datetime)
    if last_run is None or last_run < previous:
        return previous
    return None


def apply_retention(wh: Warehouse, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest snapshots (0 keeps everything); returns the deleted ids."""
    if keep <= 0:
        return []
    snaps = list_snapshots(wh)
    doomed = [s.snapshot_id for s in snaps[:-keep]] if len(snaps) > keep else []
    for snapshot_id in doomed:
        delete_snapshot(wh, snapshot_id)
    return doomed


class Scheduler:
    """A daemon thread that starts a scoring run whenever the cron schedule says one is due.

    ``submit`` starts a run (the server's job queue, which runs one job at a time); ``last_run`` returns the
    start time of the latest scoring run (any outcome); ``busy`` says whether one is running now.
    """

    def __init__(self, expression: str, submit: Callable[[], object], last_run: Callable[[], datetime | None],
                 busy: Callable[[], bool], clock: Callable[[], datetime] = datetime.now,
                 poll_seconds: float = 30.0) -> None:
        self.expression = validate_cron(expression)
        self.submit, self.last_run, self.busy, self.clock = submit, last_run, busy, clock
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def tick(self) -> bool:
        """Start a run if one is due and none is running; returns whether one was started."""
        with self._guard:
            if self.busy():
                return False
            if due_since(self.expression, self.last_run(), self.clock()) is None:
                return False
            log.info("scheduled scoring run due (%s): starting", self.expression)
            self.submit()
            return True

    def next_run(self) -> datetime:
        return croniter(self.expression, self.clock()).get_next(datetime)  # type: ignore[no-any-return]

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:  # keep the scheduler alive; the failed run is recorded by the job itself
                    log.exception("scheduled scoring failed to start")
                self._stop.wait(self.poll_seconds)

        self._thread = threading.Thread(target=loop, name="crmscore-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
