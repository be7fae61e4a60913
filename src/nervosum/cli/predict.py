"""``nervosum predict``: one prediction from the command line, no server."""

from __future__ import annotations

import sys

import click

from nervosum.cli.options import model_arguments
from nervosum.cli.output import reports_errors


@click.command()
@model_arguments
@click.option(
    "-i",
    "--input",
    "input_path",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="JSON, JSON Lines or CSV file; - reads standard input.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "json", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="Input format; auto uses the file extension, else looks at the text.",
)
@click.option("--proba/--no-proba", default=True, help="Include class probabilities.")
@reports_errors
def predict(project_dir: str, config: str, input_path: str, fmt: str, proba: bool) -> None:
    """Predict from a file or stdin, without a server.

    \b
    Examples:
      echo '{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}' \\
        | nervosum predict examples/iris
      nervosum predict examples/iris --input rows.csv
    """
    from nervosum.jsonio import dumps
    from nervosum.oneshot import predict_text, sniff_format
    from nervosum.project import load_config

    project = load_config(project_dir, config)
    if input_path == "-":
        text, filename = sys.stdin.read(), None
    else:
        with open(input_path, encoding="utf-8") as handle:
            text, filename = handle.read(), input_path
    chosen = sniff_format(text, filename) if fmt == "auto" else fmt
    result = predict_text(project, text, chosen, proba=proba)
    sys.stdout.write(dumps(result).decode() + "\n")
