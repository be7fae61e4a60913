"""Hostile input, the same for every server and transport: what an attacker or a broken
client sends. Each case is a body with its headers; the tests send every case to every
route that takes one, and every payload through every broker.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field

MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One request body and the headers it comes with."""

    name: str
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


def _nested(depth: int, opening: str, closing: str, core: str = "1") -> bytes:
    return (opening * depth + core + closing * depth).encode()


def _rows(count: int) -> bytes:
    return json.dumps([{"x": i, "sepal_length": 1.0} for i in range(count)]).encode()


_V2_NAN = b'{"inputs":[{"name":"sepal_length","shape":[2],"datatype":"FP64","data":[1.0,NaN]}]}'

PAYLOADS: list[Case] = [
    Case("empty", b""),
    Case("truncated", b'{"sepal_length": 1'),
    Case("not utf-8", b'{"sepal_length": "\xff\xfe"}'),
    Case("lone surrogate", b'{"sepal_length": "\\ud800"}'),
    Case("null", b"null"),
    Case("number", b"42"),
    Case("string", b'"text"'),
    Case("empty array", b"[]"),
    Case("array of numbers", b"[1, 2, 3]"),
    Case("array of arrays", b"[[1, 2], [3]]"),
    Case("NaN in an object", b'{"sepal_length": NaN, "x": NaN}'),
    Case("NaN in an array", b'[{"sepal_length": 1.0, "x": 1}, {"sepal_length": NaN, "x": NaN}]'),
    Case("Infinity in an array", b'[{"sepal_length": Infinity, "x": -Infinity}]'),
    Case("1e400 in an array", b'[{"sepal_length": 1e400, "x": 1e400}]'),
    Case("huge integer", b'{"sepal_length": ' + b"9" * 5000 + b', "x": 1}'),
    Case("deep arrays", _nested(5000, "[", "]")),
    Case("deep objects", _nested(3000, '{"a":', "}")),
    Case(
        "deep v2 data",
        b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":'
        + _nested(990, "[", "]")
        + b"}]}",
    ),
    Case("NaN in v2 data", _V2_NAN),
    Case(
        "v2 shape lies",
        b'{"inputs":[{"name":"x","shape":[1000000],"datatype":"FP64","data":[1.0]}]}',
    ),
    Case(
        "v2 unknown datatype",
        b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP1024","data":[1]}]}',
    ),
    Case("mlflow columns not text", b'{"dataframe_split":{"columns":[1,null],"data":[[1,2]]}}'),
    Case("mlflow ragged", b'{"dataframe_split":{"columns":["x"],"data":[[1,2,3],[]]}}'),
    Case("kserve instances junk", b'{"instances": 7}'),
    Case("duplicate keys", b'{"x": 1, "x": "two", "sepal_length": 1, "sepal_length": []}'),
    # escaped into a dead letter, this passes the 1 MB message limit of NATS and Kafka
    Case("600 KB of quotes", b'"' * 600_000),
    Case("long string", json.dumps({"x": "a" * MIB, "sepal_length": "b" * MIB}).encode()),
    Case("many rows", _rows(10_000)),
    Case("many keys", json.dumps({f"k{i}": i for i in range(50_000)}).encode()),
    Case("text/plain", b'{"x": 1}', {"content-type": "text/plain"}),
    Case("form", b"x=1&y=2", {"content-type": "application/x-www-form-urlencoded"}),
    Case("no content type", b'{"x": 1}', {}),
    Case("bogus content type", b'{"x": 1}', {"content-type": "\x01/\x02; ;;="}),
    Case(
        "latin-1",
        '{"x": "é"}'.encode("latin-1"),
        {"content-type": "application/json; charset=latin-1"},
    ),
    Case("unknown charset", b'{"x": 1}', {"content-type": "application/json; charset=klingon"}),
    Case(
        "gzip garbage",
        b"\x1f\x8b not gzip",
        {"content-type": "application/json", "content-encoding": "gzip"},
    ),
    Case(
        "gzip bomb",
        gzip.compress(b"[" + b" " * (64 * MIB) + b"]"),
        {"content-type": "application/json", "content-encoding": "gzip"},
    ),
    Case(
        "deflate",
        zlib.compress(b'{"x": 1, "sepal_length": 1}'),
        {"content-type": "application/json", "content-encoding": "deflate"},
    ),
    Case(
        "brotli claimed",
        b'{"x": 1}',
        {"content-type": "application/json", "content-encoding": "br"},
    ),
    Case("csv extra columns", b"sepal_length,x\n1,2,3,4\n", {"content-type": "text/csv"}),
    Case("csv huge field", b"x\n" + b"7" * (200 * 1024) + b"\n", {"content-type": "text/csv"}),
    Case("csv binary", b"\x00\x01\x02,\xff\n\x00", {"content-type": "text/csv"}),
    Case("over the body limit", b"[" + b"0," * (5 * MIB) + b"0]"),
]

# Paths nobody should be able to turn into anything but a 404 / 405.
ODD_PATHS = [
    "/../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%00",
    "/predict/%ff",
    "/v2/models/%2e%2e/infer",
    "/v1/models/..%2f..:predict",
    "/docs/../../../../etc/passwd",
    "/" + "a" * 4000,
]
