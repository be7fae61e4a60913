"""`nervosum batch --resume` reuses parts only when they were cut and scored the same way
(issue 20, item 10). A resume with another chunk size used to mix the parts: 3000 rows in
were reported as 4000 in, status ok. Now a resume whose layout differs is refused with
the reason, and one that matches continues with every input row accounted for once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.test_batch import batch, summary_of, write_csv

ROWS = 3000


@pytest.fixture
def interrupted(tmp_path: Path, doubler: Path) -> tuple[Path, Path]:
    """A run stopped by --max-rejects after three parts of 1000 rows (row 2500 makes the
    model raise): the input and the output whose work folder holds those parts."""
    rows = [f"r{i},{13 if i == 2500 else i % 7}" for i in range(ROWS)]
    source = write_csv(tmp_path / "in.csv", ["key,x", *rows])
    out = tmp_path / "out.csv"
    first = batch(str(doubler), "-i", str(source), "-o", str(out), *CUT, "--max-rejects", "0")
    assert first.returncode == 1 and "stopped" in first.stderr, first.stderr
    assert len(list((tmp_path / ".out.csv.nervosum").glob("part-*.json"))) == 3
    return source, out


CUT = ("--chunk-size", "1000", "-w", "1", "-q")


def _resume(doubler: Path, source: Path, out: Path, *options: str) -> tuple[int, str]:
    result = batch(str(doubler), "-i", str(source), "-o", str(out), "--resume", *options)
    return result.returncode, result.stderr


def test_a_resume_with_another_chunk_size_is_refused(
    doubler: Path, interrupted: tuple[Path, Path]
) -> None:
    source, out = interrupted
    code, error = _resume(doubler, source, out, "--chunk-size", "500", "-w", "1", "-q")
    assert code == 2, error
    assert "--chunk-size 1000 then, 500 now" in error
    assert "rerun without --resume" in error and "Traceback" not in error
    assert not out.exists()


def test_a_resume_keeping_other_columns_is_refused(
    doubler: Path, interrupted: tuple[Path, Path]
) -> None:
    source, out = interrupted
    code, error = _resume(doubler, source, out, *CUT, "--keep-columns", "x")
    assert code == 2 and "--keep-columns (none) then, x now" in error, error


def test_a_resume_after_the_input_changed_is_refused(
    doubler: Path, interrupted: tuple[Path, Path]
) -> None:
    source, out = interrupted
    with source.open("a") as more:
        more.write("late,1\n")
    code, error = _resume(doubler, source, out, *CUT)
    assert code == 2 and f"the input {source} changed" in error, error


def test_a_resume_after_the_model_changed_is_refused(
    doubler: Path, interrupted: tuple[Path, Path]
) -> None:
    source, out = interrupted
    code_file = doubler / "doubler.py"
    code_file.write_text(code_file.read_text().replace("* 2 *", "* 3 *"))
    code, error = _resume(doubler, source, out, *CUT)
    assert code == 2 and "the model's project files changed" in error, error


def test_parts_without_a_record_of_their_layout_are_refused(
    doubler: Path, interrupted: tuple[Path, Path]
) -> None:
    """Parts left by a version that kept no record cannot be checked: refused too."""
    source, out = interrupted
    (out.parent / ".out.csv.nervosum" / "job.json").unlink()
    code, error = _resume(doubler, source, out, *CUT)
    assert code == 2 and "no record of how its parts were cut" in error, error


def test_a_matching_resume_accounts_for_every_input_row_once(
    doubler: Path, interrupted: tuple[Path, Path], tmp_path: Path
) -> None:
    source, out = interrupted
    os.utime(doubler / "nervosum.yaml")  # touched, not changed: the content decides
    code, error = _resume(doubler, source, out, *CUT)
    assert code == 0, error
    summary = summary_of(tmp_path / "out.summary.json")
    assert summary["parts_resumed"] == 3 and summary["status"] == "ok"
    assert (summary["rows_in"], summary["rows_out"], summary["rows_rejected"]) == (ROWS, 2999, 1)
    lines = out.read_text().splitlines()
    assert len(lines) == 1 + 2999
    rejects = [
        json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text().splitlines()
    ]
    assert len(rejects) == 1
