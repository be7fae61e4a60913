"""What deploying a graph would do, in order, without touching anything (the dry run).

A :class:`Plan` is a list of typed actions: ``graph plan`` prints them, ``graph deploy``
carries them out (``deploy.py``). Its record keeps the seed's shape (``streams`` and
``functions``, each with ``create`` and ``delete``, plus the ``ordered`` lines) so a team
reading iguazioig's dry-run output finds the same thing; ``steps`` is the native name of
``functions``. Streams are created
before steps, so no step starts reading a stream that is not there yet. Recreating
deletes every step of the graph first, not only the included ones: a recreated stream
loses every consumer group's position, so no step may keep running against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nervosum.errors import RequestError
from nervosum.graph.spec import GraphSpec, Step


@dataclass(frozen=True)
class Action:
    """One thing deploying does: ``verb`` ("create" or "delete") a ``kind`` ("stream" or
    "step") named as the graph file names it, with what the plan says of it."""

    verb: str
    kind: str
    name: str
    entry: dict[str, Any]

    @property
    def line(self) -> str:
        detail = f" {json.dumps(self.entry, default=str)}" if self.entry else ""
        return f"{self.verb.capitalize()} {self.kind} {self.name}{detail}"


@dataclass(frozen=True)
class Plan:
    """What deploying a graph does, in order."""

    graph: str
    dead_letter: str
    actions: tuple[Action, ...]

    def of(self, kind: str, verb: str) -> dict[str, dict[str, Any]]:
        """The entries of one kind and verb, by name, in order."""
        return {a.name: a.entry for a in self.actions if (a.kind, a.verb) == (kind, verb)}

    @property
    def lines(self) -> list[str]:
        return [action.line for action in self.actions]

    def to_record(self) -> dict[str, Any]:
        """The plan as ``graph plan --json`` prints it (the seed's dry-run shape)."""
        steps = {verb: self.of("step", verb) for verb in ("create", "delete")}
        return {
            "graph": self.graph,
            "streams": {verb: self.of("stream", verb) for verb in ("create", "delete")},
            "steps": steps,
            "functions": steps,
            "dead_letter": self.dead_letter,
            "ordered": self.lines,
        }


def plan_graph(
    spec: GraphSpec, *, recreate: bool = False, include: list[str] | None = None
) -> Plan:
    """The dry-run plan of ``spec``; ``include`` limits the steps created (names as
    written in the file or slugged), :class:`RequestError` when one matches no step."""
    created = _included(spec, include)
    actions: list[Action] = []
    if recreate:
        actions += [Action("delete", "step", step.name, {}) for step in spec.steps]
    for stream in spec.streams:
        if recreate:
            actions.append(Action("delete", "stream", stream, {"name": spec.stream_name(stream)}))
        actions.append(Action("create", "stream", stream, _stream_entry(spec, stream)))
    actions += [Action("create", "step", step.name, _step_entry(spec, step)) for step in created]
    return Plan(spec.slug, spec.dead_letter_name, tuple(actions))


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
