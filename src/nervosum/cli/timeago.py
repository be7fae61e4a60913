"""Relative times for tables ("2 hours ago"), as the seed's `ls` printed them."""

from __future__ import annotations

import time

_UNITS = (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def ago(timestamp: float, now: float | None = None) -> str:
    """How long before ``now`` ``timestamp`` was, in its largest whole unit."""
    seconds = max(0, int((time.time() if now is None else now) - timestamp))
    if seconds < 2:
        return "just now"
    for unit, size in _UNITS:
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' * (count != 1)} ago"
    return "just now"
