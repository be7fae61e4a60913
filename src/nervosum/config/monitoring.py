"""The ``monitoring:`` block: what a served model needs to explain and watch itself
(docs/monitoring.md): the rows a sampled explanation compares against, and the reference
live drift is measured against."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nervosum.config.alerts import AlertsSpec


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
    # a deep forest explains a few dozen rows a second on the model thread.
    explain_max_rows: int = Field(default=1000, ge=1)
    # A CSV, Parquet or JSON-lines file of typical inputs (project-relative, usually the
    # training data): its profile is what live traffic's drift is measured against. Built
    # bundles keep the profile, so they serve without the file.
    reference: str | None = Field(default=None, min_length=1)
    # The rows (the latest) each worker's live drift is computed over.
    window: int = Field(default=2000, ge=100, le=1_000_000)
    # Thresholds of the alert rules `nervosum monitoring` writes.
    alerts: AlertsSpec = AlertsSpec()
