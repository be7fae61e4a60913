"""Arguments shared by the commands that take a project folder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from nervosum.config import DEFAULT_CONFIG


def project_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """``[DIR] [-c CONFIG]``, as the seed CLI had them: CONFIG is relative to DIR."""
    func = click.option(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        show_default=True,
        metavar="CONFIG",
        help="Config file, relative to DIR (an absolute path also works).",
    )(func)
    return click.argument(
        "project_dir", metavar="[DIR]", default=".", type=click.Path(file_okay=False)
    )(func)
