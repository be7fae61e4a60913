"""The prediction log's writers: the caller never waits, drops are counted, close flushes."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from nervosum.config.spec import LoggingSpec
from nervosum.config.types import Record
from nervosum.predlog.sinks import Sink
from nervosum.predlog.writer import PredictionLog


class SlowSink(Sink):
    """Takes ``delay`` seconds per write; ``fail`` makes writes raise."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        super().__init__("slow")
        self.delay = delay
        self.fail = fail
        self.written: list[Record] = []
        self.closes = 0
        self.threads: set[str] = set()

    def write(self, records: Sequence[Record]) -> None:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if self.fail:
            raise ConnectionError("down")
        self.written.extend(records)

    def close(self) -> None:
        self.closes += 1


def counter() -> tuple[dict[str, int], object]:
    counts: dict[str, int] = {}

    def count(sink: str, number: int) -> None:
        counts[sink] = counts.get(sink, 0) + number

    return counts, count


def test_a_slow_sink_never_makes_emit_wait_and_overflow_is_counted() -> None:
    sink = SlowSink(delay=0.2)
    dropped, on_drop = counter()
    log = PredictionLog(
        LoggingSpec(queue_size=50, batch_size=10, flush_timeout=5),
        on_drop=on_drop,  # type: ignore[arg-type]
        sinks=[sink],
    )
    started = time.perf_counter()
    for number in range(1000):
        log.emit([{"n": number}])
    emitting = time.perf_counter() - started
    log.close()
    assert emitting < 0.5  # 1000 emits against a sink taking 0.2 s per write
    assert len(sink.written) + dropped["slow"] == 1000  # every record written or counted
    assert dropped["slow"] >= 900
    numbers = [r["n"] for r in sink.written]
    assert numbers == sorted(numbers)
    assert sink.threads == {"predlog-slow"}


def test_a_failing_sink_drops_counts_closes_and_retries_later() -> None:
    sink = SlowSink(fail=True)
    dropped, on_drop = counter()
    written, on_write = counter()
    log = PredictionLog(LoggingSpec(), on_drop=on_drop, on_write=on_write, sinks=[sink])  # type: ignore[arg-type]
    log.emit([{"n": 1}, {"n": 2}])
    time.sleep(0.3)
    sink.fail = False
    log.emit([{"n": 3}])  # within the backoff: dropped without trying
    time.sleep(1.2)
    log.emit([{"n": 4}])  # after it: written
    log.close()
    assert dropped["slow"] == 3 and written["slow"] == 1
    assert [r["n"] for r in sink.written] == [4]
    assert sink.closes >= 2  # after the failure, and at the end


def test_close_flushes_what_is_buffered() -> None:
    sink = SlowSink(delay=0.01)
    log = PredictionLog(LoggingSpec(batch_size=5), sinks=[sink])
    log.emit([{"n": n} for n in range(100)])
    log.close()
    assert [r["n"] for r in sink.written] == list(range(100))
