"""How a batch job reports progress, without tying the job to a terminal."""

from __future__ import annotations


class JobProgress:
    """Silent progress; the CLI shows a bar or periodic log lines."""

    def start(self, total_rows: int | None) -> None:
        """The job starts; ``total_rows`` when known."""

    def advance(self, rows: int) -> None:
        """``rows`` more rows are accounted for."""

    def stop(self) -> None:
        """The job has ended (finished, aborted or interrupted)."""
