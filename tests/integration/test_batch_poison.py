"""Poison rows in a batch job (issue 20, item 4): ``NaN``, ``Infinity`` or ``1e400``, an
integer past 64 bits, a line that is an array or a number, invalid UTF-8 and nesting
past any parser's depth are each one reject with its reason; the good rows around them
are scored and `rows_in = rows_out + rows_rejected` holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_batch import batch, rejects_of, summary_of

CSV_POISON = {
    "nan": "x: Input should be a finite number",
    "inf": "x: Input should be a finite number",
    "-Infinity": "x: Input should be a finite number",
    "1e400": "x: Input should be a finite number",
}

JSONL_POISON: list[tuple[bytes, str]] = [
    (b'{"key": "p1", "x": NaN}', "not valid JSON"),
    (b'{"key": "p2", "x": 1e400}', "not valid JSON"),
    (b'{"key": "p3", "x": 1, "n": 99999999999999999999999}', "n: "),
    (b"[1, 2]", "a line must hold one JSON object"),
    (b"5", "a line must hold one JSON object"),
    (b'{"key": "p4", "x": "\xff\xfe"}', "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_poison_rows_are_rejects_with_their_reasons(
    tmp_path: Path, doubler: Path, fmt: str
) -> None:
    if fmt == "csv":
        poison = [
            (f"p{i},{value}".encode(), reason)
            for i, (value, reason) in enumerate(CSV_POISON.items())
        ]
        header, good = [b"key,x"], [b"g1,1", b"g2,2"]
    else:
        poison = JSONL_POISON
        header, good = [], [b'{"key": "g1", "x": 1}', b'{"key": "g2", "x": 2}']
    source = tmp_path / f"in.{fmt}"
    source.write_bytes(b"\n".join([*header, good[0], *(p for p, _r in poison), good[1]]) + b"\n")
    out = tmp_path / "out.jsonl"
    done = batch(str(doubler), "-i", str(source), "-o", str(out), "-w", "1", "-q")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert scored == [{"key": "g1", "y": 2.0}, {"key": "g2", "y": 4.0}]
    rejects = rejects_of(tmp_path / "out.rejects.jsonl")
    assert [r["row"] for r in rejects] == list(range(2, 2 + len(poison)))
    for reject, (_payload, reason) in zip(rejects, poison, strict=True):
        assert reason in str(reject["reason"]), reject
    summary = summary_of(tmp_path / "out.summary.json")
    assert (summary["rows_in"], summary["rows_out"]) == (2 + len(poison), 2)
    assert summary["rows_rejected"] == len(poison)
