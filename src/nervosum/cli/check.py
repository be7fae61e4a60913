"""``nervosum check``: everything ``serve`` would do, short of serving."""

from __future__ import annotations

import click

from nervosum.cli.options import model_arguments
from nervosum.cli.output import reports_errors


@click.command()
@model_arguments
@reports_errors
def check(project_dir: str, config: str) -> None:
    """Validate a project, load its model and score its example.

    The example is built from the input_schema; a project without one has none.

    Exits 0 when the project is ready to serve, 2 with the reason when it is not.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from nervosum.engine import Engine
    from nervosum.errors import NervosumError
    from nervosum.jsonio import dumps
    from nervosum.model.artifact import compile_summary
    from nervosum.project import load_config

    project = load_config(project_dir, config)
    cfg = project.config
    console = Console()
    console.print(f"[green]ok[/] {escape(project.shown)}", soft_wrap=True)
    for block in cfg.reserved_blocks_in_use():
        console.print(f"[yellow]note[/] `{block}:` is reserved; this version does not use it yet")
    engine = Engine.load(project)
    handle = engine.handle
    console.print(f"[green]ok[/] loaded {handle.label} in {handle.load_seconds:.2f}s")
    example = engine.inputs.example() if cfg.input_schema else None
    outputs: list[dict[str, object]] = []
    if example is not None:
        try:
            outputs = engine.predict(engine.inputs.validate([example]))
        except NervosumError as exc:
            exc.message = f"the schema example failed: {exc.message}"
            raise
    table = Table(show_header=False, box=None)
    table.add_row("name", f"{cfg.name} ({cfg.tag})")
    table.add_row("mode", cfg.deployment.mode)
    table.add_row("model", handle.label + (" (per record)" if handle.per_record else ""))
    table.add_row("uuid", handle.identity.uuid)
    compiled = handle.loaded.compile_info
    if compiled is not None:
        table.add_row("runtime", compile_summary(compiled, handle.runtime))
    table.add_row("inputs", ", ".join(f"{f.name}: {f.type}" for f in cfg.input_schema) or "(any)")
    table.add_row("outputs", ", ".join(handle.output_names))
    if handle.classes:
        table.add_row("classes", ", ".join(handle.classes))
    if example is None:
        table.add_row("example", "none scored: without an input_schema any input is accepted")
    else:
        table.add_row("example in", dumps(example).decode())
        table.add_row("example out", dumps(outputs[0]).decode())
    console.print(table)
    console.print("[green]ready to serve[/]: nervosum serve " + project_dir)
