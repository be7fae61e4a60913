"""The seed iguazioig 0.2.0 graph file, converted to the native graph format.

A team's file loads unchanged: ``project`` (``name``, ``partition_key_name``,
``env_defaults``, ``v3io_streams``) and ``functions`` (inside ``project`` as the seed's
test graph has them, or at the top level) become the graph's streams and steps. A v3io
stream path becomes the transport's stream name with dots for slashes; the seed's
default path ``/<project>/streams/<stream>`` becomes ``<project>.streams.<stream>``.
Keys that only meant something on the vendor's platform (containers, volumes, triggers'
polling settings, function tags and log levels) are read and not used.

Where the seed silently did something else, the conversion says so: an output stream
missing from ``v3io_streams`` is planned, as the seed planned it, with a warning (its
messages, which the seed logged as undeliverable, are dead letters here), and
``env_defaults.stream_retention``, which the seed ignored in favour of ``retention``, is
read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nervosum.errors import ConfigIssue
from nervosum.graph.spec import slug

SUPPORTED = ("0.2.0",)
DEFAULT_SHARDS = 3
DEFAULT_RETENTION_HOURS = 48

Path = tuple[str | int, ...]


@dataclass
class Converted:
    """The native mapping, where each native path came from, and what was said."""

    data: dict[str, Any]
    origins: dict[Path, Path] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)

    def origin_of(self, native: Path) -> Path:
        """The original file's path for a native path (its longest mapped prefix)."""
        for end in range(len(native), -1, -1):
            found = self.origins.get(native[:end])
            if found is not None:
                return (*found, *native[end:])
        return native


def is_iguazio(data: dict[str, Any]) -> bool:
    return "apiVersion" in data


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def convert(data: dict[str, Any]) -> Converted:
    """``data`` (an iguazioig file) as a native graph mapping."""
    converted = Converted({})
    version = str(data.get("apiVersion"))
    if version not in SUPPORTED:
        converted.issues.append(
            ConfigIssue(
                "apiVersion",
                f"apiVersion {version!r} is not supported",
                hint=f"supported: {', '.join(SUPPORTED)} (iguazioig), or the native format,"
                " which has no apiVersion",
            )
        )
        return converted
    project = _mapping(data.get("project"))
    name = project.get("name")
    if not isinstance(name, str) or not name.strip():
        converted.issues.append(
            ConfigIssue("project.name", "the project name is missing from the inference graph")
        )
        name = "unnamed"  # to go on checking the rest of the file
    defaults = _mapping(project.get("env_defaults"))
    streams = {
        stream: _stream(slug(name), stream, _mapping(spec), defaults)
        for stream, spec in _mapping(project.get("v3io_streams")).items()
    }
    converted.origins[("streams",)] = ("project", "v3io_streams")
    where: Path = ("project", "functions") if "functions" in project else ("functions",)
    functions = project.get("functions", data.get("functions"))
    steps = []
    for index, function in enumerate(functions if isinstance(functions, list) else []):
        converted.origins[("steps", index)] = (*where, index)
        steps.append(
            _step(function, converted, (*where, index)) if isinstance(function, dict) else function
        )
    if not steps:
        converted.issues.append(
            ConfigIssue(".".join(map(str, where)), "the graph has no functions")
        )
    converted.data = {
        "graph": name,
        "partition_key": project.get("partition_key_name") or "PartitionKey",
        "streams": streams,
        "steps": steps,
    }
    _warn_undeclared(converted, set(streams))
    return converted


def _stream(
    project: str, stream: str, spec: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    path = spec.get("path") or f"/{project}/streams/{slug(stream)}"
    retention = spec.get(
        "retention",
        defaults.get("retention", defaults.get("stream_retention", DEFAULT_RETENTION_HOURS)),
    )
    return {
        "name": ".".join(part for part in str(path).split("/") if part),
        "partitions": spec.get("shards", defaults.get("stream_shards", DEFAULT_SHARDS)),
        "retention_hours": retention,
    }


def _step(function: dict[str, Any], converted: Converted, where: Path) -> dict[str, Any]:
    outputs = _mapping(function.get("outputs"))
    streams = outputs.get("streams") or []
    if not isinstance(streams, list) or not all(isinstance(name, str) for name in streams):
        converted.issues.append(
            ConfigIssue(
                ".".join(map(str, (*where, "outputs", "streams"))),
                "`outputs.streams` must be a list of stream names",
                hint="e.g. streams: [step2]",
            )
        )
        streams = []
    for kind in ("https", "function"):
        if outputs.get(kind):
            converted.warnings.append(
                ConfigIssue(
                    ".".join(map(str, (*where, "outputs", kind))),
                    f"`{kind}` outputs are not run; only `streams` outputs are",
                )
            )
    step: dict[str, Any] = {
        "name": slug(str(function.get("name", ""))),
        "inputs": list(_mapping(function.get("input_streams"))),
        "outputs": list(streams),
        "class_module": function.get("class_module"),
        "class_name": function.get("class_name"),
        "class_init": function.get("class_init") or {},
        "methods": function.get("methods") or [],
        "module_paths": function.get("module_paths") or [],
        "replicas": function.get("min_replicas", 1),
        "max_replicas": function.get("max_replicas"),
        "resources": function.get("resources"),
        "env": {k: str(v) for k, v in _mapping(function.get("env_custom")).items()},
        "image": function.get("docker_image"),
        "pip": function.get("pip") or [],
    }
    return {key: value for key, value in step.items() if value is not None}


def _warn_undeclared(converted: Converted, declared: set[str]) -> None:
    """The seed planned outputs to streams missing from ``v3io_streams`` and, at run
    time, logged each message for them as undeliverable. nervosum plans them too, says
    so at load time, and dead-letters those messages with the reason."""
    for index, step in enumerate(converted.data["steps"]):
        if not isinstance(step, dict):
            continue
        for position, stream in enumerate(step.get("outputs", [])):
            if stream in declared:
                continue
            place = (*converted.origins[("steps", index)], "outputs", "streams", position)
            converted.warnings.append(
                ConfigIssue(
                    ".".join(map(str, place)),
                    f"output stream {stream!r} is not declared in v3io_streams: planned as"
                    " iguazioig did, and the messages for it are dead-lettered at run time",
                    hint="declare it under v3io_streams to deliver them",
                )
            )
