"""``nervosum serve --challenger PATH|NAME:TAG --shadow | --canary SHARE``: the
``variants:`` block of nervosum.yaml, written on the command line (docs/variants.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from nervosum.config import Project
from nervosum.config.variants import VariantsSpec, parse_share


def variant_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--challenger``, ``--shadow`` and ``--canary``."""
    options = [
        click.option(
            "--challenger",
            metavar="PATH|NAME:TAG",
            help="Serve this project folder, model file or registry bundle beside the model"
            " (docs/variants.md).",
        ),
        click.option(
            "--shadow",
            is_flag=True,
            help="The challenger scores a copy of every request; clients get the champion's.",
        ),
        click.option(
            "--canary",
            metavar="SHARE",
            callback=_share,
            help="The challenger answers this share of keys, in percent (10%).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _share(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    if not value.strip().endswith("%"):  # --canary 1 would be read as 100%, not 1%
        raise click.BadParameter(f"{value!r}: write the share in percent, e.g. 10%")
    try:
        return parse_share(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def with_variants(
    project: Project, challenger: str | None, shadow: bool, canary: float | None
) -> Project:
    """``project`` with the flags applied over its ``variants:`` block (or making one)."""
    if shadow and canary is not None:
        raise click.UsageError("give --shadow or --canary, not both")
    block = project.config.variants
    if challenger is None and block is None:
        if shadow or canary is not None:
            flag = "--shadow" if shadow else "--canary"
            raise click.UsageError(f"{flag} needs a challenger: add --challenger PATH")
        return project
    given: dict[str, Any] = block.model_dump() if block is not None else {}
    if challenger is not None:  # a path relative to where the command runs, or a bundle
        from nervosum.serving.challenger import challenger_source

        given["challenger"] = str(challenger_source(challenger, Path.cwd(), project.shown))
    if shadow:
        given["mode"] = "shadow"
    if canary is not None:
        given.update(mode="canary", share=canary)
    config = project.config.model_copy(update={"variants": VariantsSpec.model_validate(given)})
    return dataclasses.replace(project, config=config)
