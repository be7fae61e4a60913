"""``nervosum train``: train a training project, report held-out metrics, save one artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from nervosum.cli.options import project_arguments
from nervosum.cli.output import reports_errors


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _print_metrics(metrics: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, _shown(value))
    Console().print(table)


def _report(task: str, model: Any, rows: int, metrics: dict[str, Any], stratified: str) -> None:
    """What was trained on how many rows, and the held-out figures."""
    test_rows = metrics["test_rows"]
    click.echo(
        f"trained a {task} model ({type(model).__name__}) on {metrics['train_rows']} of"
        f" {rows} rows; held out {test_rows}{stratified}"
    )
    click.echo(f"metrics on the {test_rows} held-out rows:")
    _print_metrics(metrics)


def _train_checkout(
    root: Path, model_path: Path | None, n_rows: int | None, test_size: float, seed: int
) -> None:
    """[compat] A microservice-template checkout (no features.yaml): its own Model,
    trained and pickled where config.yaml says, as the template did (issue 19)."""
    from nervosum.training.template import (
        default_model_path,
        save_checkout_model,
        train_checkout,
    )

    target = model_path or default_model_path(root)
    training = train_checkout(root, n_rows=n_rows, test_size=test_size, seed=seed)
    for warning in training.warnings:
        click.echo(f"warning: {warning}", err=True)
    label = training.features.target_label
    stratified = f", stratified by {label}" if training.stratified and label else ""
    _report(
        training.features.task, training.model.model, training.rows, training.metrics, stratified
    )
    requirements = save_checkout_model(training.model, target, root.resolve())
    model = training.model
    click.echo(f"saved {target} (id {model.id}, created {model.creation_time})")
    click.echo(f"wrote {requirements} (what the model needs to serve, for nervosum build)")


@click.command()
@project_arguments
@click.option(
    "--model-path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to save the artifact [default: model.artifact of nervosum.yaml, else"
    " model_bin/model.joblib]; nervosum.yaml is updated to serve it.",
)
@click.option(
    "--test-size",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of the rows held out to measure the model.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@click.option(
    "--n-rows",
    type=click.IntRange(min=2),
    help="Rows to ask DataLoader.load_data for [default: all].",
)
@reports_errors
def train(
    project_dir: str,
    config: str,
    model_path: Path | None,
    test_size: float,
    seed: int,
    n_rows: int | None,
) -> None:
    """Train a project's model and save it as one servable artifact.

    Runs DataLoader.load_data, Preprocessor.split_X_y, holds out --test-size of the rows,
    then fit_X, fit_y, process_X, process_y, train_model and get_classes on the rest;
    prints the held-out metrics; saves the preprocessor, the model, the class names, a
    uuid, the creation time, the features, the metrics and the library versions in one
    file; and writes model.artifact, id_field, input_schema and output_schema into the
    marked block of nervosum.yaml.

    A checkout of the microservice template (source/model/mdl.py, no features.yaml)
    trains its own Model the same way and pickles it to config.yaml's model_path /
    model_name (model_bin/model.pkl), with the packages it needs beside it.

    \b
    Examples:
      nervosum init my-model --template training && cd my-model
      nervosum train . && nervosum serve .
      nervosum train . --model-path model_bin/candidate.joblib --test-size 0.3
    """
    from nervosum.detect.template import is_checkout
    from nervosum.project import load_config
    from nervosum.training.artifact import save_artifact
    from nervosum.training.configblock import (
        artifact_path,
        check_artifact_inside,
        check_block,
        write_block,
    )
    from nervosum.training.features import FEATURES_FILE
    from nervosum.training.profile import write_training_profile
    from nervosum.training.run import train_project

    root = Path(project_dir)
    config_path = root / config
    # A checkout trains its own Model, also once `init --detect` wrote a nervosum.yaml.
    if is_checkout(root) and not (root / FEATURES_FILE).is_file():
        _train_checkout(root, model_path, n_rows, test_size, seed)
        click.echo(f"next: nervosum serve {project_dir}")
        return
    check_block(config_path)
    target = model_path or artifact_path(config_path)
    check_artifact_inside(config_path, target)
    training = train_project(root, n_rows=n_rows, test_size=test_size, seed=seed)
    artifact = training.artifact
    stratified = f", stratified by {training.features.target}" if training.stratified else ""
    _report(artifact.task, artifact.model, training.rows, artifact.metrics, stratified)
    save_artifact(artifact, target)
    click.echo(f"saved {target} (id {artifact.id}, created {artifact.creation_time})")
    write_block(config_path, training.features, target, training.output_type)
    project = load_config(root, config)  # what was written must serve: fail here, not later
    click.echo(f"updated {config_path} (model.artifact, id_field, input_schema, output_schema)")
    profiled = write_training_profile(project, training.inputs)
    if profiled is not None:
        click.echo(f"wrote {profiled.name} (live drift's reference: the {training.rows} rows)")
    click.echo(f"next: nervosum serve {project_dir}")
