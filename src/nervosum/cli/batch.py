"""``nervosum batch``: score files with a project's model, every row accounted for."""

from __future__ import annotations

import sys

import click

from nervosum.cli.options import model_arguments, parse_workers
from nervosum.cli.output import reports_errors
from nervosum.config import Project


def _max_rejects(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A count (`100`), a ratio (`0.01`) or a percentage (`1%`)."""
    if value is None:
        return None
    text = value.strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a count, a ratio or a percentage") from None
    if number < 0 or (number >= 1 and not number.is_integer()):
        raise click.BadParameter(f"{value!r}: use a whole count, or a ratio below 1")
    return number


@click.command()
@model_arguments
@click.option(
    "-i",
    "--input",
    "input_spec",
    required=True,
    envvar="INPUT_PATH",
    help="A file, a folder, or a quoted glob of .csv/.parquet/.jsonl [env INPUT_PATH].",
)
@click.option(
    "-o",
    "--output",
    required=True,
    envvar="OUTPUT_PATH",
    help="A file (out/scores.parquet) or a folder of part files (out/) [env OUTPUT_PATH].",
)
@click.option("--input-format", type=click.Choice(["csv", "parquet", "jsonl"]))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "parquet", "jsonl"]),
    help="Output format [default: from the output's extension, else parquet].",
)
@click.option("--rejects", help="Rejects file [default: beside the output].")
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    help="Rows per chunk, the unit of memory, work and --resume [default: 100,000; fewer"
    " for wide inputs, about 2 million cells].",
)
@click.option(
    "-w",
    "--workers",
    callback=parse_workers,
    help="Worker processes, each loading the model once: a number or auto [default: auto].",
)
@click.option("--proba/--no-proba", default=False, help="Add class probabilities.")
@click.option(
    "--explain",
    is_flag=True,
    help="Add each row's explanation: base_value and a contribution_<feature> column per"
    " feature (docs/monitoring.md).",
)
@click.option(
    "--keep-columns",
    default="",
    metavar="A,B",
    help="Input columns copied next to the predictions (the id_field always is).",
)
@click.option(
    "--max-rejects",
    callback=_max_rejects,
    metavar="N|RATIO",
    help="Abort (exit 1) when more rows than this are rejected: 100, 0.01 or 1%.",
)
@click.option("--resume", is_flag=True, help="Skip the parts an interrupted run completed.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True)
@click.option("--master", default="local[*]", show_default=True, help="Spark master URL.")
@click.option("--conf", multiple=True, metavar="K=V", help="Spark configuration, repeatable.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar; only the summary line.")
@reports_errors
def batch(
    project_dir: str,
    config: str,
    input_spec: str,
    output: str,
    input_format: str | None,
    output_format: str | None,
    rejects: str | None,
    chunk_size: int | None,
    workers: int | str | None,
    proba: bool,
    explain: bool,
    keep_columns: str,
    max_rejects: float | None,
    resume: bool,
    overwrite: bool,
    engine: str,
    master: str,
    conf: tuple[str, ...],
    quiet: bool,
) -> None:
    """Score files with a project's model: CSV, Parquet or JSON Lines in and out.

    Rows are validated by the schema (CSV text is cast to the declared types); rows that
    fail validation or make the model raise go to a rejects file with their row number,
    values and reason, so rows in = rows out + rows rejected, always. Inputs are read in
    chunks (bounded memory) and scored by worker processes. An interrupted run keeps its
    finished parts: rerun it with --resume.

    \b
    Examples:
      nervosum batch examples/iris --input data/input.csv --output out/scores.parquet
      nervosum batch DIR --input 'landing/*.jsonl' --output out/ --format csv --workers 2
      nervosum batch DIR --input s.parquet --output out/ --engine spark --master 'local[2]'
    """
    from nervosum.batch.job import (
        JobSpec,
        default_chunk_size,
        default_workers,
        describe,
        run_job,
    )
    from nervosum.batch.layout import plan_layout
    from nervosum.batch.progress import JobProgress
    from nervosum.batch.sources import count_rows, resolve_inputs
    from nervosum.cli.progress import TerminalJobProgress
    from nervosum.project import load_config

    project = load_config(project_dir, config)
    if explain:
        check_explainable(project, keep_columns)
    inputs = resolve_inputs(input_spec, input_format)
    layout = plan_layout(output, output_format, rejects)
    count = default_workers() if workers in (None, "auto") else int(workers or 1)
    kept = tuple(c.strip() for c in keep_columns.split(",") if c.strip())
    columns = len(project.config.input_schema) or 20
    spec = JobSpec(
        chunk_size=chunk_size or default_chunk_size(columns + len(kept) + 1),
        workers=count,
        proba=proba,
        explain=explain,
        keep_columns=kept,
        max_rejects=max_rejects,
        resume=resume,
    )
    layout.prepare(resume=resume, overwrite=overwrite)
    progress = JobProgress() if quiet else TerminalJobProgress()
    try:
        if engine == "spark":
            from nervosum.batch.spark import run_spark_job

            summary = run_spark_job(
                project, inputs, layout, spec, master=master, conf=conf, progress=progress
            )
        else:
            summary = run_job(
                project, inputs, layout, spec, progress=progress, total_rows=count_rows(inputs)
            )
    except KeyboardInterrupt:
        click.echo("interrupted: finished parts are kept; rerun with --resume to go on", err=True)
        sys.exit(130)
    click.echo(describe(summary))
    click.echo(f"output {layout.target}; rejects {layout.rejects}; summary {layout.summary}")
    sys.exit(0)


def check_explainable(project: Project, keep_columns: str) -> None:
    """Before scoring anything: the model can be explained (exit 2 naming why), and the
    explanation's columns take no name a kept input or an output already has."""
    from nervosum.drift.background import attach_background
    from nervosum.engine import Engine

    engine = Engine.load(project)
    attach_background(engine)
    engine.explainer.ready()
    added = {"base_value", "explained", *(f"contribution_{f}" for f in engine.handle.field_names)}
    taken = {c.strip() for c in keep_columns.split(",")} | set(engine.handle.output_names)
    clash = sorted(added & taken)
    if clash:
        raise click.UsageError(
            f"--explain adds {', '.join(clash)}, which the output already has: rename or drop it"
        )
