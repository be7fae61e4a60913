"""The ``nervosum`` command: parses arguments and calls into the packages, nothing more.

Commands import their heavy dependencies (pandas, uvicorn) when they run, so ``--help``
and ``version`` answer instantly.
"""

from __future__ import annotations

import logging

import click

from nervosum.cli.batch import batch
from nervosum.cli.build import build
from nervosum.cli.check import check
from nervosum.cli.deploy import deploy
from nervosum.cli.evaluate import evaluate
from nervosum.cli.feedback import feedback
from nervosum.cli.graph import graph
from nervosum.cli.init import init
from nervosum.cli.monitoring import monitoring
from nervosum.cli.notebooks import notebooks
from nervosum.cli.predict import predict
from nervosum.cli.registry import export, inspect_bundle, ls, rm
from nervosum.cli.run import run
from nervosum.cli.serve import serve
from nervosum.cli.serve_repo import serve_repo
from nervosum.cli.stream import stream
from nervosum.cli.token import token
from nervosum.cli.train import train
from nervosum.cli.version import version

_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logs.")
def main(debug: bool) -> None:
    """nervosum: take a trained model from a folder to a production service.

    A project is a folder with a nervosum.yaml and the model's code or saved artifact.
    Start with `nervosum init NAME` or `nervosum serve examples/iris`.
    """
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format=_LOG_FORMAT)


for command in (
    serve,
    serve_repo,
    stream,
    graph,
    check,
    predict,
    batch,
    build,
    deploy,
    monitoring,
    notebooks,
    ls,
    run,
    inspect_bundle,
    rm,
    export,
    evaluate,
    feedback,
    init,
    train,
    token,
    version,
):
    main.add_command(command)

__all__ = ["main"]
