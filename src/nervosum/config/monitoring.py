"""The ``monitoring:`` block: what a served model needs to explain and watch itself
(docs/monitoring.md): the rows a sampled explanation compares against, and the reference
live drift is measured against."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nervosum.config.alerts import AlertsSpec
from nervosum.config.duration import duration_seconds

# The bounds of a window of rows, and the most rows a time window may keep.
WINDOW_ROWS = (100, 1_000_000)


class MonitoringSpec(BaseModel):
    """Strict and immutable, as every block of nervosum.yaml (config/spec.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A CSV or Parquet file of typical inputs (project-relative): a model without trees
    # is explained against these rows. The first ``background_rows`` are used.
    background: str | None = Field(default=None, min_length=1)
    background_rows: int = Field(default=100, ge=1, le=10_000)
    # Seconds a sampled explanation of one request may take: it samples less to fit.
    explain_budget: float = Field(default=2.0, gt=0)
    # Rows one /explain request may hold: an exact explanation cannot stop halfway, and
    # a fully grown forest explains about a thousand rows a second on the model thread.
    explain_max_rows: int = Field(default=1000, ge=1)
    # A CSV, Parquet or JSON-lines file of typical inputs (project-relative, usually the
    # training data): its profile is what live traffic's drift is measured against. Built
    # bundles keep the profile, so they serve without the file.
    reference: str | None = Field(default=None, min_length=1)
    # What each worker's live drift is computed over: the latest rows (a number), or the
    # rows answered within the latest span of time (a duration: 30s, 10m, 1h30m).
    window: int | str = 2000
    # The most rows a time window keeps (spread over its span): its memory bound,
    # allocated whole.
    window_max_rows: int = Field(default=100_000, ge=WINDOW_ROWS[0], le=WINDOW_ROWS[1])
    # Thresholds of the alert rules `nervosum monitoring` writes.
    alerts: AlertsSpec = AlertsSpec()

    @field_validator("window")
    @classmethod
    def _rows_or_duration(cls, value: int | str) -> int | str:
        """A number counts rows, text spells a duration: a quoted ``"5"`` is refused
        rather than guessed (seconds? minutes?)."""
        low, high = WINDOW_ROWS
        wanted = f"window must be {low:,} to {high:,} rows or a duration such as 30s, 10m or 1h30m"
        if isinstance(value, int):
            if not low <= value <= high:
                raise ValueError(f"{wanted}, not {value}")
            return value
        try:
            seconds = duration_seconds(value)
        except ValueError:
            raise ValueError(f"{wanted}, not {value!r}") from None
        if not seconds:
            raise ValueError(f"a time window must be longer than 0s, not {value!r}")
        return value

    @property
    def window_seconds(self) -> int | None:
        """The span of a time window; None for a window of rows."""
        return duration_seconds(self.window) if isinstance(self.window, str) else None

    @property
    def window_rows(self) -> int:
        """The most rows the window keeps: the window's own count, else the bound."""
        return self.window if isinstance(self.window, int) else self.window_max_rows
