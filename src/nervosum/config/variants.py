"""The ``variants:`` block: a challenger served beside the project's model
(docs/variants.md), and how a share of traffic is written (``10%`` or ``0.1``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an HTTP header name (a token)
# The figures a rule can judge: each is a mean of a loss or a hit per labelled row, so
# a paired or two-sample test says whether a difference is chance. AUC is not.
RULE_METRICS = ("accuracy", "log_loss", "mae", "rmse")


class PromoteSpec(BaseModel):
    """``variants.promote``: when the server makes the challenger the champion by itself
    (docs/variants.md, "Promotion by rule"). Also the minimum of labels a manual
    ``POST /-/promote`` needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    better_by: float = Field(default=0.0, ge=0)  # the challenger's margin on the metric
    min_labels: int = Field(default=500, ge=1)  # labelled rows per arm before judging
    confidence: float = Field(default=0.95, gt=0, lt=1)  # of the test on the difference
    window: int = Field(default=10_000, ge=1)  # the most recent labelled rows judged

    @field_validator("metric")
    @classmethod
    def _testable(cls, value: str) -> str:
        if value == "auc":
            raise ValueError(
                "auc cannot be tested row by row: use accuracy or log_loss for a classifier"
            )
        if value not in RULE_METRICS:
            raise ValueError(f"{value!r} is not one of {', '.join(RULE_METRICS)}")
        return value

    @model_validator(mode="after")
    def _window_holds_the_minimum(self) -> PromoteSpec:
        if self.window < self.min_labels:
            raise ValueError(f"window ({self.window}) must be at least min_labels")
        return self


class VariantsSpec(BaseModel):
    """A challenger served beside the project's model, the champion (docs/variants.md).
    Strict and immutable, as every block of nervosum.yaml (config/spec.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    challenger: str = Field(min_length=1)  # a project folder or model file, project-relative
    mode: Literal["shadow", "canary"] = "shadow"
    share: float = Field(default=0.1, ge=0, le=1)  # canary: the challenger's share of keys
    # id: the id_field of the first record; header:<Name>; random. None: id when the
    # project has an id_field, else header:X-User-ID (random when it is absent).
    key: str | None = None
    shadow_queue: int = Field(default=1024, ge=1)  # copies waiting for the challenger
    promote: PromoteSpec | None = None  # promotion by rule; None: only POST /-/promote
    # A file keeping which arm is the champion across restarts (project-relative).
    state: str | None = Field(default=None, min_length=1)

    @field_validator("share", mode="before")
    @classmethod
    def _percent(cls, value: object) -> object:
        if isinstance(value, bool):  # YAML's yes / true would be read as 100%
            raise ValueError(f"{value!r} is not a share: write 10% or 0.1")
        return parse_share(value) if isinstance(value, str) else value

    @field_validator("key")
    @classmethod
    def _known_key(cls, value: str | None) -> str | None:
        if value is None or value in ("id", "random"):
            return value
        name = value.removeprefix("header:")
        if name == value or not re.fullmatch(HEADER_NAME, name):
            raise ValueError(f"{value!r} is not a key: use id, random or header:<Name>")
        return value


def parse_share(text: str) -> float:
    """A share written as ``10%`` or ``0.1``, as a number between 0 and 1."""
    given = text.strip()
    try:
        share = float(given[:-1]) / 100 if given.endswith("%") else float(given)
    except ValueError:
        raise ValueError(f"{text!r} is not a share: write 10% or 0.1") from None
    if not 0 <= share <= 1:
        raise ValueError(f"{text!r} is not between 0% and 100%")
    return share
