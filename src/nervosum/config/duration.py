"""Durations as nervosum.yaml spells them: whole days, hours, minutes and seconds, the
largest first (``30s``, ``10m``, ``1h30m``, ``2d``), as Prometheus writes durations, so
a key's duration reads like ``monitoring.alerts.not_ready_for`` and the dashboards'.
Prometheus' ``ms``, ``w`` and ``y`` are not accepted: no key needs less than a second,
and ``7d`` says a week as plainly. Neither the dependencies nor the standard library
parse this spelling (pydantic's ``timedelta`` reads ISO 8601's ``PT10M``, which nobody
writes in a YAML file)."""

from __future__ import annotations

import re

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
_DURATION = re.compile("".join(rf"(?:(\d+){unit})?" for unit, _ in _UNITS))


def duration_seconds(text: str) -> int:
    """The seconds ``text`` spells. ValueError for anything else, a number without a unit
    included: ``5`` could mean seconds or minutes."""
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a duration such as 30s, 10m or 1h30m")
    spelled = zip(match.groups(), _UNITS, strict=True)
    return sum(int(count) * seconds for count, (_, seconds) in spelled if count)
