"""``--target helm``: a Helm chart whose values are the resolved settings.

The templates are fixed files (``deploy/templates``); what differs per bundle is
``values.yaml`` (every setting with its value, then the facts nervosum read from the
bundle) and ``Chart.yaml``. ``helm template`` of the chart gives the objects
``--target kubernetes`` prints for the same values, so a team can move from one to
the other, and change values with ``helm upgrade --set``.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")

_VALUES_HEADER = """\
# Values of the chart nervosum deploy wrote for {description}.
# Every setting of docs/deploy.md, resolved; change them here or with --set.
# `workload` is what nervosum read from the bundle: its mode, id, drain time and,
# for a model repository, its source and credentials Secret.
"""


def chart_version(tag: str) -> str:
    """A chart version is SemVer: ``v1.2.3`` -> ``1.2.3``; another tag becomes a
    pre-release of 0.0.0 (``latest`` -> ``0.0.0-latest``)."""
    bare = tag.removeprefix("v")
    if SEMVER.match(bare):
        return bare
    return "0.0.0-" + (re.sub(r"[^0-9A-Za-z-]+", "-", tag).strip("-") or "untagged")


def write_chart(values: dict[str, Any], folder: Path, description: str) -> list[Path]:
    """Write the chart into ``folder``; the files written."""
    tag = str(values["image"]["tag"])
    chart = {
        "apiVersion": "v2",
        "name": values["name"],
        "description": f"{description}, deployed by nervosum",
        "type": "application",
        "version": chart_version(tag),
        "appVersion": tag,
    }
    templates = folder / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    written = [folder / "Chart.yaml", folder / "values.yaml"]
    written[0].write_text(yaml.safe_dump(chart, sort_keys=False), encoding="utf-8")
    header = _VALUES_HEADER.format(description=description)
    written[1].write_text(
        header + yaml.safe_dump(values, sort_keys=False, default_flow_style=False),
        encoding="utf-8",
    )
    shipped = files("nervosum.deploy").joinpath("templates")
    for source in sorted(shipped.iterdir(), key=lambda item: item.name):
        target = templates / source.name
        target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        written.append(target)
    return written
