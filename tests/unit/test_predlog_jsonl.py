"""The JSON Lines sink shared by several writers (pre-forked workers each have one on the
same path): rotation never loses a line, and a batch that raised is not on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nervosum.config.spec import SinkSpec
from nervosum.evaluate.logsource import read_log
from nervosum.predlog.sinks import JsonlSink


def _sink(path: Path, backups: int) -> JsonlSink:
    return JsonlSink(
        "jsonl", SinkSpec(type="jsonl", path=str(path), max_bytes=1024, backups=backups)
    )


def _lines(path: Path) -> list[int]:
    files = [f for f in path.parent.iterdir() if f.is_file() and f.suffix != ".lock"]
    return sorted(json.loads(line)["n"] for f in files for line in f.read_text().splitlines())


def test_two_writers_rotating_one_file_keep_every_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    first, second = _sink(path, 1000), _sink(path, 1000)
    for number in range(400):
        (first if number % 3 else second).write([{"n": number, "pad": "x" * 40}])
    first.close()
    second.close()
    assert _lines(path) == list(range(400))
    assert len(list(tmp_path.glob("p.jsonl.*"))) > 10  # it rotated, from both writers
    assert [r["n"] for r in read_log(str(path))] == list(range(400))  # evaluate reads all


def test_a_batch_whose_rotation_failed_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    sink = _sink(path, 1)
    sink.write([{"n": n, "pad": "x" * 2000} for n in range(2)])  # past max_bytes
    (tmp_path / "p.jsonl.1").mkdir()
    (tmp_path / "p.jsonl.1" / "in-the-way").touch()  # the rename to .1 fails
    with pytest.raises(OSError):
        sink.write([{"n": 2}])  # the writer counts this batch as dropped ...
    sink.close()
    assert _lines(path) == [0, 1]  # ... and it is not on disk
