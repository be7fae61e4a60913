"""Requests per client address in a sliding window, in bounded memory.

Used twice per server: failed authentications (``auth.max_failures`` a minute) and admin
requests (``server.admin_rate_limit`` a minute). Each address keeps the times of its
last ``limit`` events (a deque of at most ``limit`` floats), so the window is exact, not
the two-bucket approximation; at most ``max_addresses`` addresses are kept, the least
recently seen dropped first, so a flood of addresses costs a fixed amount of memory
(4096 x 30 floats is about 4 MB). The servers are single-threaded event loops: no lock.
Hand-written because the maintained limiters (``limits``, ``slowapi``) bring storage
back ends and timer threads for what is forty lines here.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_ADDRESSES = 4096


class SlidingWindow:
    """At most ``limit`` events per address in any ``window`` seconds."""

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        *,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self.clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> int:
        """Whole seconds until ``address`` may have another event; 0: it may now."""
        events = self._events.get(address)
        if events is None or len(events) < self.limit:
            return 0
        wait = events[0] + self.window - self.clock()
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def record(self, address: str) -> None:
        """Count one event for ``address`` now."""
        events = self._events.get(address)
        if events is None:
            events = self._events[address] = deque(maxlen=self.limit)
            if len(self._events) > self.max_addresses:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(address)
        events.append(self.clock())

    def take(self, address: str) -> int:
        """Count an event if one is allowed now (0), else the seconds to wait (none counted)."""
        wait = self.retry_after(address)
        if not wait:
            self.record(address)
        return wait
