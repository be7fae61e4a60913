"""When a repository refreshes by itself: on a cron schedule, and by watching a local folder.

The seed re-cloned at 02:00 every day (``0 2 * * *``) from a crontab that never ran
under ``docker run``, and its watchdog crashed on a missing import. Here both loops run
in the server's event loop; a failure in one round is logged and the next round runs.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from nervosum.repo.cron import CronSchedule
from nervosum.repo.fleet import ModelFleet

log = logging.getLogger("nervosum.repo")


async def _wait(fleet: ModelFleet) -> None:
    running = fleet.running()
    if running is not None:
        await running


async def refresh_on_schedule(fleet: ModelFleet, schedule: CronSchedule) -> None:
    """Refresh at every time ``schedule`` names, until cancelled."""
    while True:
        now = datetime.now()
        due = schedule.next_after(now)
        when = due.isoformat(timespec="minutes")
        log.info("next scheduled refresh at %s (%s)", when, schedule.expression)
        await asyncio.sleep(max(0.0, (due - now).total_seconds()))
        fleet.trigger("schedule")
        await _wait(fleet)


async def refresh_on_change(fleet: ModelFleet, interval: float) -> None:
    """Every ``interval`` seconds, refresh when a model folder changed, until cancelled."""
    while True:
        await asyncio.sleep(interval)
        if fleet.running() is not None:
            continue
        try:
            snapshot = await asyncio.to_thread(fleet.changed)
        except Exception as exc:
            log.warning("watching %s failed: %s", fleet.source.description, exc)
            continue
        if snapshot is not None:
            fleet.trigger("change", snapshot)
            await _wait(fleet)
