"""The order of a converge step's parts: which part a message is, and the order they are
merged in (the store that keeps them is the broker's: :mod:`nervosum.brokers.converge`)."""

from __future__ import annotations

import re
from typing import Any

from nervosum.brokers.converge import Body
from nervosum.graph.spec import Step


def natural(text: str) -> tuple[Any, ...]:
    """Sort key for positions: ``1733-10`` after ``1733-9``; numbers compare as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def part_id(step: Step, source: str, position: str) -> str:
    """Which part of its group a message is: its input stream when the step waits for
    one message per input, else its position (so a redelivery rewrites its own part)."""
    if step.converge is not None and step.converge.expect is None:
        return source
    return f"{source}@{position}"


def ordered(step: Step, parts: dict[str, Body]) -> list[Body]:
    """A group's parts in the merge order: by input (as ``inputs`` lists them), then by
    position in the stream."""

    def order(part: str) -> tuple[int, tuple[Any, ...]]:
        source, _, position = part.partition("@")
        index = step.inputs.index(source) if source in step.inputs else len(step.inputs)
        return index, natural(position)

    return [parts[p] for p in sorted(parts, key=order)]
