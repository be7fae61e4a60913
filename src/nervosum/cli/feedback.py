"""`nervosum feedback`: ground truth from a file into a project's prediction log."""

from __future__ import annotations

from pathlib import Path

import click

from nervosum.cli.options import project_arguments
from nervosum.cli.output import reports_errors


@click.command()
@project_arguments
@click.option(
    "--labels",
    required=True,
    type=click.Path(path_type=Path),
    help="Ground truth: CSV, JSON Lines or Parquet with an id and a label column.",
)
@click.option("--id-field", default="id", show_default=True, help="The id column.")
@click.option("--label-field", default="label", show_default=True, help="The label column.")
@reports_errors
def feedback(project_dir: str, config: str, labels: Path, id_field: str, label_field: str) -> None:
    """Write labels for earlier predictions into the project's prediction log sinks.

    Each row becomes a `feedback` record next to the predictions (same sinks as the
    `logging:` block of nervosum.yaml), where `nervosum evaluate` finds it. A running
    server takes labels over HTTP instead: POST /feedback.

    \b
    Example:
      nervosum feedback examples/iris --labels truth.csv --id-field ID --label-field species
    """
    from nervosum.errors import RequestError
    from nervosum.evaluate.measure import read_labels
    from nervosum.predlog.events import feedback_records
    from nervosum.predlog.writer import PredictionLog
    from nervosum.project import load_config

    project = load_config(project_dir, config)
    spec = project.config.logging
    if spec is None:
        raise RequestError(
            f"{project.shown} has no logging block: there is no log to add labels to",
            hint="add `logging: {}` (a predictions.jsonl file) or the sinks you serve with",
        )
    truth = read_labels(labels, id_field, label_field)
    items = [{"id": ident, "label": label} for ident, label in truth.items()]
    dropped: list[int] = []
    log = PredictionLog(
        spec.model_copy(update={"queue_size": max(spec.queue_size, len(items))}),
        on_drop=lambda sink, count: dropped.append(count),
    )
    log.emit(feedback_records(project.config.name, items))
    log.close()
    sinks = ", ".join(log.sink_names)
    if dropped:
        raise RequestError(
            f"{sum(dropped)} labels could not be written to {sinks}",
            hint="the warnings above say why; fix the sink and run again",
        )
    click.echo(f"{len(items)} labels written to {sinks}")
