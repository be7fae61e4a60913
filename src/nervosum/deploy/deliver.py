"""Where rendered objects go: printed (the dry run, the default), written to a folder,
applied with kubectl, or both of the last two. Shared by ``nervosum deploy`` and
``nervosum graph deploy --target kubernetes``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nervosum.deploy.files import to_yaml, write_manifests
from nervosum.deploy.kubectl import Kubectl
from nervosum.deploy.objects import Object
from nervosum.errors import RequestError


@dataclass(frozen=True)
class Delivery:
    """What the command line asked for: ``-o DIR``, ``--apply``, ``--dry-run``, ``--context``.

    Without ``-o`` and ``--apply`` the objects are printed and nothing else happens;
    ``--dry-run --apply`` stops after the cluster's server-side dry run.
    """

    output: Path | None = None
    apply: bool = False
    dry_run: bool = False
    context: str | None = None

    def __post_init__(self) -> None:
        if self.dry_run and self.output is not None:
            raise RequestError(
                "--dry-run writes nothing, and -o asks to write the manifests",
                hint="drop --dry-run to write them, or -o to print them",
            )
        if self.context is not None and not self.apply:
            raise RequestError("--context picks the cluster --apply applies to", hint="add --apply")


@dataclass
class Delivered:
    """What to show: ``stdout`` (the YAML, or kubectl's report) and ``notes`` for stderr."""

    stdout: str = ""
    notes: list[str] = field(default_factory=list)


def deliver(objects: list[Object], delivery: Delivery, source: str) -> Delivered:
    """Print, write and / or apply ``objects`` rendered for ``source`` (a description)."""
    shown = Delivered()
    kinds = ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    if delivery.output is not None:
        written, stale = write_manifests(objects, delivery.output, source)
        shown.notes.append(f"wrote {len(written)} manifests for {source} to {delivery.output}")
        shown.notes += [f"removed {path}: no longer rendered" for path in stale]
    if delivery.apply:
        kubectl = Kubectl.find(delivery.context)
        kubectl.reachable()
        manifests = to_yaml(objects)
        report = kubectl.apply(manifests, dry_run=True)
        if delivery.dry_run:
            shown.notes.append(f"server-side dry run passed for {kinds}; nothing was applied")
        else:
            report = kubectl.apply(manifests, dry_run=False)
            shown.notes.append(f"applied {len(objects)} objects for {source} ({kubectl.where})")
        shown.stdout = report
    elif delivery.output is None:
        shown.stdout = to_yaml(objects)
        shown.notes.append(f"dry run: {kinds} for {source}; nothing was written or applied")
    return shown
