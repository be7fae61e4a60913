"""The CSV reader: text cells exactly as written, fixed-size chunks, rows longer than its
read block, and the header's names."""

from __future__ import annotations

from pathlib import Path

import pytest

from nervosum.batch.sources import InputFile, read_chunks
from nervosum.errors import RequestError


def chunks_of(path: Path, size: int) -> list[list[dict[str, str]]]:
    source = InputFile(path, "csv")
    return [chunk.frame.to_dict("records") for chunk in read_chunks([source], size)]  # type: ignore[union-attr]


def test_cells_stay_text_and_chunks_have_the_asked_size(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('\ufeffx,name\n1.50,"a, b"\n,\n\n007,plain\n')
    (first, second) = chunks_of(path, 2)
    assert first == [{"x": "1.50", "name": "a, b"}, {"x": "", "name": ""}]
    assert second == [{"x": "007", "name": "plain"}]


def test_a_row_longer_than_a_read_block_is_read_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    # over a block of short rows first, so chunks were already given out when the
    # reader meets the long row and starts again with bigger blocks
    rows = [f"{i},short" for i in range(150_000)] + ["150000," + "x" * (3 << 20)]
    rows += [f"{i},after" for i in range(150_001, 150_100)]
    path.write_text("id,text\n" + "\n".join(rows) + "\n")
    read = [row for chunk in chunks_of(path, 40_000) for row in chunk]
    assert [row["id"] for row in read] == [str(i) for i in range(150_100)]
    assert len(read[150_000]["text"]) == 3 << 20 and read[-1]["text"] == "after"


def test_repeated_column_names_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(RequestError, match=r"\['a'\] more than once"):
        chunks_of(path, 10)
