"""Cron expressions for the refresh schedule (the seed's crontab said ``0 2 * * *``).

Five fields, minute hour day-of-month month day-of-week, with cron's ranges, steps,
lists and three-letter names, read by :mod:`cronsim`; day-of-week 0-7 with 0 and 7 both
Sunday, and, as in cron, when both day fields are restricted a day matching either
runs. ``@hourly``, ``@daily`` (``@midnight``), ``@weekly``, ``@monthly`` and
``@yearly`` are accepted. Times are the server's local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cronsim import CronSim, CronSimError

from nervosum.errors import RequestError

_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_HINT = "minute hour day-of-month month day-of-week, e.g. '0 2 * * *' (02:00 daily)"


@dataclass(frozen=True)
class CronSchedule:
    """A checked expression; :meth:`next_after` gives the next run."""

    expression: str
    fields: str  # the five fields, an alias replaced

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        """The schedule, or a :class:`RequestError` naming what is wrong with it (a
        date that never comes, such as February 30, included)."""
        fields = _ALIASES.get(expression.strip().lower(), expression.strip())
        count = len(fields.split())
        if count != 5:
            raise RequestError(
                f"cron expression {expression!r} has {count} fields, not 5", hint=_HINT
            )
        try:
            CronSim(fields, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise RequestError(f"cron expression {expression!r}: {exc}", hint=_HINT) from None
        return cls(expression, fields)

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after ``moment``."""
        return next(CronSim(self.fields, moment.replace(second=0, microsecond=0)))
