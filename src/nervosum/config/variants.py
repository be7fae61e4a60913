"""The ``variants:`` block: a challenger served beside the project's model
(docs/variants.md), and how a share of traffic is written (``10%`` or ``0.1``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an HTTP header name (a token)


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
