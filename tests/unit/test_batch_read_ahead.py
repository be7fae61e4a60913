"""Reading one chunk ahead on a thread changes nothing a job sees: order, errors, stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from nervosum.batch.sources import Chunk, ReadAhead


def chunks(count: int, fail_at: int | None = None) -> Iterator[Chunk]:
    for index in range(count):
        if index == fail_at:
            raise ValueError(f"unreadable at chunk {index}")
        yield Chunk(0, index, "in.jsonl", index * 2 + 1, [{"x": index}, {"x": index}])


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "nervosum-read-ahead"]


def test_chunks_arrive_in_order_and_the_thread_ends() -> None:
    assert [c.index for c in ReadAhead(chunks(5))] == [0, 1, 2, 3, 4]
    assert not reader_threads()


def test_a_reader_error_is_raised_in_the_consumer_after_the_good_chunks() -> None:
    seen = []
    with pytest.raises(ValueError, match="unreadable at chunk 3"):
        for chunk in ReadAhead(chunks(5, fail_at=3)):
            seen.append(chunk.index)
    assert seen == [0, 1, 2]
    assert not reader_threads()


def test_closing_early_stops_the_reader_even_with_a_chunk_waiting() -> None:
    ahead = ReadAhead(chunks(100))
    assert next(ahead).index == 0
    ahead.close()  # the reader is blocked on the full queue: close must not hang
    assert not reader_threads()
