"""A compressed body is inflated a bounded piece at a time (issue 20, item 14): a gzip bomb
is refused once the limit is passed, without inflating the rest."""

from __future__ import annotations

import gzip
import zlib

import pytest

from nervosum.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from nervosum.serving.inflate import Inflater, inflater

MIB = 1024 * 1024


def test_a_bomb_stops_one_byte_past_the_limit() -> None:
    bomb = gzip.compress(bytes(64 * MIB), compresslevel=9)  # 64 KiB that inflate to 64 MiB
    assert len(bomb) < 128 * 1024
    inflating = Inflater("gzip", MIB)
    with pytest.raises(PayloadTooLargeError, match="larger than the 1048576 byte limit"):
        inflating.feed(bomb)
    assert inflating.size == MIB + 1  # never more was inflated


def test_chunks_inflate_to_the_body_up_to_exactly_the_limit() -> None:
    body = b'{"x": 1}' * 1000
    packed = zlib.compress(body)
    inflating = Inflater("deflate", len(body))
    pieces = [inflating.feed(packed[i : i + 7]) for i in range(0, len(packed), 7)]
    inflating.finish()
    assert b"".join(pieces) == body


@pytest.mark.parametrize("header", ["", "identity", " Identity "])
def test_identity_needs_no_inflater(header: str) -> None:
    assert inflater(header, MIB) is None


def test_codings_are_read_case_insensitively() -> None:
    made = inflater(" GZip ", MIB)
    assert made is not None and made.coding == "gzip"


def test_stacked_codings_are_refused() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="'gzip, deflate' is not supported"):
        inflater("gzip, deflate", MIB)
