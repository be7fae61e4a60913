"""What deploying a graph would do, in order, without touching anything (the dry run).

The plan keeps the seed's shape (``streams`` and ``functions``, each with ``create`` and
``delete``, plus the ``ordered`` lines) so a team reading iguazioig's dry-run output
finds the same thing; ``steps`` is the native name of ``functions``. Streams are created
before steps, so no step starts reading a stream that is not there yet. Recreating
deletes every step of the graph first, not only the included ones: a recreated stream
loses every consumer group's position, so no step may keep running against it.
"""

from __future__ import annotations

import json
from typing import Any

from nervosum.errors import RequestError
from nervosum.graph.spec import GraphSpec, Step


def plan_graph(
    spec: GraphSpec, *, recreate: bool = False, include: list[str] | None = None
) -> dict[str, Any]:
    """The dry-run plan of ``spec``; ``include`` limits the steps created (names as
    written in the file or slugged), :class:`RequestError` when one matches no step."""
    created = _included(spec, include)
    streams: dict[str, dict[str, Any]] = {"create": {}, "delete": {}}
    steps: dict[str, dict[str, Any]] = {"create": {}, "delete": {}}
    ordered: list[str] = []

    def record(
        kind: str, plan: dict[str, dict[str, Any]], action: str, name: str, entry: dict[str, Any]
    ) -> None:
        plan[action][name] = entry
        detail = f" {json.dumps(entry, default=str)}" if entry else ""
        ordered.append(f"{action.capitalize()} {kind} {name}{detail}")

    if recreate:
        for step in spec.steps:
            record("step", steps, "delete", step.name, {})
    for stream in spec.streams:
        if recreate:
            record("stream", streams, "delete", stream, {"name": spec.stream_name(stream)})
        record("stream", streams, "create", stream, _stream_entry(spec, stream))
    for step in created:
        record("step", steps, "create", step.name, _step_entry(spec, step))
    return {
        "graph": spec.slug,
        "streams": streams,
        "steps": steps,
        "functions": steps,
        "dead_letter": spec.dead_letter_name,
        "ordered": ordered,
    }


def _included(spec: GraphSpec, include: list[str] | None) -> list[Step]:
    """The steps to create, in graph order. A name matches a step exactly or, failing
    that, once both are slugged (the seed took function names as written, unslugged)."""
    if include is None:
        return list(spec.steps)
    chosen: set[str] = set()
    unknown: list[str] = []
    for name in include:
        found = spec.match_step(name)
        if found is None:
            unknown.append(name)
        else:
            chosen.add(found.name)
    if unknown:
        known = ", ".join(s.name for s in spec.steps)
        names = ", ".join(repr(name) for name in unknown)
        raise RequestError(f"--include names no step of the graph: {names}", hint=f"steps: {known}")
    return [s for s in spec.steps if s.name in chosen]


def _stream_entry(spec: GraphSpec, stream: str) -> dict[str, Any]:
    declared = spec.streams[stream]
    return {
        "name": spec.stream_name(stream),
        "partitions": declared.partitions,
        "retention_hours": declared.retention_hours,
        "groups": [s.group for s in spec.steps if stream in s.inputs],
    }


def _step_entry(spec: GraphSpec, step: Step) -> dict[str, Any]:
    runs: dict[str, Any] = {}  # a converge step without a class only merges
    if step.project is not None:
        runs = {"project": step.project}
    elif step.class_name is not None:
        runs = {
            "class_module": step.class_module,
            "class_name": step.class_name,
            "class_init": step.class_init,
            "methods": step.methods,
        }
    outputs = []
    for output in step.outputs:
        if output.stream not in spec.streams:  # an iguazioig file's: dead letters at run time
            outputs.append({"stream": None, "undeclared": output.stream})
            continue
        target: dict[str, Any] = {"stream": spec.stream_name(output.stream)}
        if output.when is not None:
            target["when"] = output.when.model_dump(by_alias=True, exclude_none=True)
        outputs.append(target)
    converge = None
    if step.converge is not None:
        converge = {
            "expect": step.expected,
            "timeout": step.converge.timeout,
            "merge": step.converge.merge,
        }
    return {
        **runs,
        "inputs": [spec.stream_name(stream) for stream in step.inputs],
        "group": step.group,
        "outputs": outputs,
        "replicas": step.replicas,
        "max_replicas": step.max_replicas,
        "resources": step.resources.model_dump(exclude_none=True) if step.resources else None,
        "env": step.env,
        "image": step.image,
        "pip": step.pip,
        "converge": converge,
    }
