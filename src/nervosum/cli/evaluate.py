"""`nervosum evaluate`: how good were the logged predictions, and have the inputs drifted?"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from nervosum.cli.output import reports_errors


def _moment(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date or time (2026-11-01 or 2026-11-01T08:00)", param_hint=flag
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.option(
    "--log",
    "log_source",
    required=True,
    metavar="FILE|URL",
    help="The prediction log: a .jsonl file or folder, a SQLite file, sqlite:///path or"
    " postgresql://user@host/db (password from PGPASSWORD).",
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path),
    help="Ground truth (CSV, JSON Lines or Parquet) [default: the feedback in the log].",
)
@click.option("--id-field", default="id", show_default=True, help="Labels' id column.")
@click.option("--label-field", default="label", show_default=True, help="Labels' value column.")
@click.option("--table", default="predictions", show_default=True, help="Database log's table.")
@click.option("--since", help="Only predictions from this UTC time on (2026-11-01).")
@click.option("--until", help="Only predictions before this UTC time.")
@click.option(
    "--task",
    type=click.Choice(["auto", "classification", "regression"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--reference",
    type=click.Path(path_type=Path),
    help="Training data (CSV, Parquet): input drift per feature (PSI) against it.",
)
@click.option(
    "--compare",
    is_flag=True,
    help="Champion against challenger (a log of a server with --challenger): each arm's"
    " figures, a significance test and a verdict.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="--compare: how sure the test must be before it names a better arm.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("evaluation"),
    show_default=True,
    help="Folder for metrics.json and report.html.",
)
@reports_errors
def evaluate(
    log_source: str,
    labels: Path | None,
    id_field: str,
    label_field: str,
    table: str,
    since: str | None,
    until: str | None,
    task: str,
    reference: Path | None,
    compare: bool,
    confidence: float,
    out: Path,
) -> None:
    """Join logged predictions with ground truth and measure them.

    Classifiers: accuracy, precision / recall / F1 (macro and per class), confusion
    matrix, ROC AUC and log loss when the log holds every class's probability
    (logging.n_best >= classes). Regressors: MAE, RMSE, R2. Always: coverage and a
    per-day trend; with --reference, input drift per feature (PSI); with --compare, the
    champion against the challenger on the labelled rows (the same rows in shadow mode,
    each arm's own in canary mode) with a test and a verdict. Writes metrics.json and a
    self-contained report.html to --out.

    \b
    Examples:
      nervosum evaluate --log predictions.jsonl --labels truth.csv --id-field ID
      nervosum evaluate --log sqlite:///logs/p.db --since 2026-11-01 --reference train.csv
      nervosum evaluate --log predictions.jsonl --labels truth.csv --compare
    """
    from nervosum.evaluate.run import Labels, LogQuery, evaluate_log

    query = LogQuery(log_source, table, _moment(since, "--since"), _moment(until, "--until"))
    done = evaluate_log(
        query,
        Labels(labels, id_field, label_field),
        out,
        task=task,
        reference=reference,
        compare=compare,
        confidence=confidence,
    )
    _print_summary(done.figures)
    if "comparison" in done.figures:
        _print_comparison(done.figures["comparison"])
    click.echo(f"wrote {done.metrics} and {done.report}")


def _print_summary(figures: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    overview = Table(title="Predictions", show_header=False)
    overview.add_row("task", figures["task"])
    overview.add_row("predictions", str(figures["predictions"]))
    overview.add_row("labelled", f"{figures['labelled']} ({figures['coverage']:.1%})")
    overview.add_row("failed requests", str(figures["failed_requests"]))
    scores = figures.get(figures["task"]) or {}
    for name in ("accuracy", "f1_macro", "roc_auc", "log_loss", "mae", "rmse", "r2"):
        if scores.get(name) is not None:
            overview.add_row(name, f"{scores[name]:.4f}")
    console.print(overview)
    if scores.get("per_class"):
        classes = Table(title="Per class")
        for header in ("class", "precision", "recall", "f1", "support"):
            classes.add_column(header, justify="left" if header == "class" else "right")
        for label, s in scores["per_class"].items():
            classes.add_row(
                label, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}",
                str(s["support"]),
            )  # fmt: skip
        console.print(classes)
    if figures.get("drift"):
        drift = Table(title="Input drift (PSI)")
        for header in ("feature", "psi", "level"):
            drift.add_column(header)
        for d in figures["drift"]:
            drift.add_row(d["feature"], f"{d['psi']:.3f}", d["level"])
        console.print(drift)


def _print_comparison(comparison: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from nervosum.evaluate.compare import HEADLINES, describe

    arms = comparison["arms"]
    table = Table(title=f"Champion and challenger ({comparison['design']})")
    table.add_column("")
    for arm in arms:
        table.add_column(arm["arm"], justify="right")
    for key in ("model", "tag", "uuid", "labelled"):
        table.add_row(key, *(str(arm[key]) for arm in arms))
    for name in HEADLINES[comparison["task"]]:
        table.add_row(name, *("n/a" if a[name] is None else f"{a[name]:.4f}" for a in arms))
    Console().print(table)
    click.echo(f"{comparison['verdict']} ({describe(comparison)})")
