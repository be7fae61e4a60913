"""Registry commands: ``ls``, ``inspect``, ``rm`` and ``export``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nervosum.cli.output import reports_errors

_FILTER_HELP = (
    "key=value, repeatable, all must match; keys id (prefix), name, tag, mode;"
    " values exact or globs (name=iris*)."
)


@click.command("ls")
@click.option("-f", "--filter", "filters", multiple=True, metavar="KEY=VALUE", help=_FILTER_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the ids.")
@reports_errors
def ls(filters: tuple[str, ...], fmt: str, quiet: bool) -> None:
    """List the bundles in the registry, newest first.

    \b
    Examples:
      nervosum ls
      nervosum ls -f mode=batch -f name=iris
      nervosum ls -f id=3fa9c1 --format json
    """
    from nervosum.cli.timeago import ago
    from nervosum.home import Home
    from nervosum.registry.select import Filter, apply_filters
    from nervosum.registry.store import Registry

    conditions = [Filter.parse(text) for text in filters]
    found = apply_filters(Registry(Home.from_env()).entries(), conditions)
    if quiet:
        for entry in found:
            click.echo(entry.short_id)
    elif fmt == "json":
        click.echo(json.dumps([entry.to_dict() for entry in found], indent=2))
    else:
        rows = [("ID", "NAME", "TAG", "MODE", "CREATED", "IMAGE")]
        rows += [
            (e.short_id, e.name, e.tag, e.mode, ago(e.created), e.image_ref or "-") for e in found
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            click.echo(
                "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )


@click.command("inspect")
@click.argument("reference")
@reports_errors
def inspect_bundle(reference: str) -> None:
    """Print a bundle's manifest, registry record and model card as JSON.

    REFERENCE is NAME:TAG, NAME (its newest bundle) or an id prefix.
    """
    from nervosum.home import Home
    from nervosum.registry.card import bundle_card
    from nervosum.registry.select import resolve_reference
    from nervosum.registry.store import Registry

    entry = resolve_reference(Registry(Home.from_env()).entries(), reference)
    described = {**entry.to_dict(), "manifest": entry.manifest, "card": bundle_card(entry)}
    click.echo(json.dumps(described, indent=2))


@click.command("rm")
@click.argument("references", nargs=-1, required=True, metavar="REFERENCE...")
@click.option("--image", is_flag=True, help="Also remove the bundle's image from its builder.")
@reports_errors
def rm(references: tuple[str, ...], image: bool) -> None:
    """Remove bundles from the registry (NAME:TAG, NAME or an id prefix)."""
    from nervosum.build.builders import find_builder
    from nervosum.home import Home
    from nervosum.registry.select import resolve_reference
    from nervosum.registry.store import Registry

    registry = Registry(Home.from_env())
    for reference in references:
        entry = resolve_reference(registry.entries(), reference)
        registry.remove(entry)
        click.echo(f"removed {entry.reference} ({entry.short_id})")
        builder = find_builder()
        if image and entry.image_ref and builder is not None:
            builder.remove_image(entry.image_ref)
            click.echo(f"removed image {entry.image_ref}")


@click.command(
    "export", short_help="Write a bundle as a .tar.gz, to run or build it on another machine."
)
@click.argument("reference")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Archive to write [default: NAME-TAG.tar.gz here].",
)
@reports_errors
def export(reference: str, output: str | None) -> None:
    """Write a bundle as a .tar.gz, to copy it to another machine or build its image there."""
    from nervosum.home import Home
    from nervosum.registry.archive import export_bundle
    from nervosum.registry.select import resolve_reference
    from nervosum.registry.store import Registry

    entry = resolve_reference(Registry(Home.from_env()).entries(), reference)
    target = Path(output or f"{entry.name}-{entry.tag}.tar.gz")
    export_bundle(entry, target)
    click.echo(f"exported {entry.reference} ({entry.short_id}) to {target}")
