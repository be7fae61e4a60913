"""The delivery count the Kafka transport keeps in committed-offset metadata: what it
writes reads back, and metadata it did not write is not mistaken for a count."""

from __future__ import annotations

import pytest

from nervosum.brokers.kafka import Delivery


def test_a_mark_reads_back_as_written() -> None:
    mark = Delivery(first=40, last=47, count=3)
    assert mark.metadata() == "nervosum-delivery:40-47:3"
    assert Delivery.parse(mark.metadata()) == mark


@pytest.mark.parametrize(
    "metadata",
    [None, "", "checkpoint from another tool", "nervosum-delivery:40:3", "nervosum-delivery:a-b:c"],
)
def test_other_metadata_is_no_mark(metadata: str | None) -> None:
    assert Delivery.parse(metadata) is None


def test_a_mark_covers_its_offsets_only() -> None:
    mark = Delivery(first=40, last=47, count=1)
    assert mark.covers(40) and mark.covers(47)
    assert not mark.covers(39) and not mark.covers(48)
