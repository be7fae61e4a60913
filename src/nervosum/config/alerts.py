"""``monitoring.alerts``: the few numbers of the Prometheus alert rules that depend on
the model (docs/monitoring.md, "Dashboards and alerts"). Everything else in the rules is
fixed, so a team tunes what differs between models and nothing more."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nervosum.config.duration import duration_seconds


class AlertsSpec(BaseModel):
    """Strict and immutable, as every block of nervosum.yaml (config/spec.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The share of requests answered with a 5xx (over 5 minutes) that pages someone;
    # for a stream worker, the share of messages read that were dead-lettered.
    error_rate: float = Field(default=0.05, gt=0, le=1)
    # Seconds: p99 of request latency (over 5 minutes) above this for 10 minutes; for a
    # stream worker, of a batch's time from read to acknowledgement.
    latency_p99: float = Field(default=1.0, gt=0)
    # PSI of a feature or of the predictions above this for 30 minutes (0.25: major).
    drift: float = Field(default=0.25, gt=0)
    # How long a model may stay not ready (loading, failing to load) before it alerts;
    # for a stream worker, how long messages may wait while none is read.
    # Spelled as every duration of nervosum.yaml (config/duration.py), which a rule's
    # ``for:`` takes as it is.
    not_ready_for: str = "5m"

    @field_validator("not_ready_for")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)  # a ValueError is pydantic's field error
        return value
