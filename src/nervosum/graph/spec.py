"""The typed shape of an inference graph file, and the checks a graph must pass.

A graph is named streams and steps that read and write them. A step is either a Python
class (``class_module`` + ``class_name``, constructed with ``class_init``, whose
``methods`` run in the listed order) or a nervosum project folder (``project``). A step
with ``converge`` waits for several messages per partition key and emits one merged
message. The seed iguazioig 0.2.0 format is converted into this one by ``iguazio.py``.

Pydantic checks each part; :func:`reference_problems` and :func:`flow_problems` check
the whole (undeclared streams, cycles, steps no input reaches) from the raw mapping, so
every problem is reported at once with its path, even next to invalid parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nervosum.errors import ConfigIssue

DEFAULT_PARTITION_KEY = "PartitionKey"
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def slug(name: str) -> str:
    """The seed's slug: lower case, spaces and underscores become dashes
    (``super_cool_project`` -> ``super-cool-project``)."""
    return re.sub(r"[\s_]+", "-", name.strip()).lower()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class StreamDecl(_Frozen):
    """A named stream. ``name`` is what the transport calls it (a Redis stream key, a
    NATS subject, a Kafka topic); by default ``<graph>.<stream>``."""

    name: str | None = Field(default=None, pattern=NAME)
    partitions: int | None = Field(default=None, ge=1)  # Kafka partitions / seed shards
    retention_hours: float | None = Field(default=None, gt=0)


class Condition(_Frozen):
    """Route a message only when ``field`` equals ``equals``, or is one of ``in``."""

    field: str = Field(min_length=1)
    equals: Any = None
    one_of: list[Any] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        if ("equals" in self.model_fields_set) == ("one_of" in self.model_fields_set):
            raise ValueError("a condition needs exactly one of `equals` or `in`")
        return self

    def holds(self, message: dict[str, Any]) -> bool:
        """Whether ``message`` has the field with the value (``equals: null`` matches a
        field that is present and null)."""
        if self.field not in message:
            return False
        value = message[self.field]
        return value in self.one_of if self.one_of is not None else value == self.equals


class Output(_Frozen):
    """A stream a step writes to, optionally only for messages that meet ``when``."""

    stream: str = Field(min_length=1)
    when: Condition | None = None


class Converge(_Frozen):
    """Wait for ``expect`` messages per partition key (default: one from each input),
    merge them and emit once. ``merge`` names a method of the step's class taking the
    list of messages; without it the messages are merged key by key in input order
    (later inputs win on a shared key). Groups still incomplete after ``timeout``
    seconds go to the dead letter."""

    expect: int | None = Field(default=None, ge=2)
    merge: str | None = None
    timeout: float = Field(default=300.0, gt=0)


class Resources(_Frozen):
    model_config = ConfigDict(frozen=True, extra="allow")

    requests: dict[str, Any] | None = None
    limits: dict[str, Any] | None = None


class Step(_Frozen):
    """One step: what runs, what it reads and where its output goes."""

    name: str = Field(pattern=NAME)
    inputs: list[str] = Field(min_length=1)
    outputs: list[Output] = []
    project: str | None = None  # a nervosum project folder, relative to the graph file
    class_module: str | None = None
    class_name: str | None = None
    class_init: dict[str, Any] = {}
    methods: list[str] = []
    module_paths: list[str] = []
    converge: Converge | None = None
    replicas: int = Field(default=1, ge=0)  # 0: scaled to zero (the seed's min_replicas)
    max_replicas: int | None = Field(default=None, ge=1)
    resources: Resources | None = None
    env: dict[str, str] = {}
    image: str | None = None
    pip: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _outputs_as_names(cls, data: Any) -> Any:
        """``outputs: [scored]`` is short for ``outputs: [{stream: scored}]``."""
        if isinstance(data, dict) and isinstance(data.get("outputs"), list):
            data = dict(data)
            data["outputs"] = [
                {"stream": item} if isinstance(item, str) else item for item in data["outputs"]
            ]
        return data

    @model_validator(mode="after")
    def _what_runs(self) -> Step:
        has_class = self.class_module is not None or self.class_name is not None
        if self.project is not None and has_class:
            raise ValueError("give either `project` or `class_module` + `class_name`, not both")
        if self.project is None:
            if self.class_module is None or self.class_name is None:
                if self.converge is None or has_class:
                    raise ValueError(
                        "a step runs a class (`class_module` + `class_name` + `methods`)"
                        " or a nervosum project (`project: DIR`)"
                    )
            elif not self.methods and not (self.converge and self.converge.merge):
                raise ValueError("the step has no methods: list the methods to call in order")
        if self.converge and self.converge.merge and self.class_name is None:
            raise ValueError("`converge.merge` names a method, so the step needs a class")
        return self

    @property
    def group(self) -> str:
        """The consumer group the step's replicas share (the seed's snake_case name)."""
        return self.name.replace("-", "_")

    @property
    def expected(self) -> int:
        """How many messages complete a converge group."""
        if self.converge is not None and self.converge.expect is not None:
            return self.converge.expect
        return len(self.inputs)


class GraphSpec(_Frozen):
    """A whole graph file, native format."""

    graph: str = Field(min_length=1)
    partition_key: str = DEFAULT_PARTITION_KEY
    streams: dict[str, StreamDecl] = {}
    steps: list[Step] = Field(min_length=1)
    dead_letter: str | None = None  # a declared stream; default: <graph>.dead-letter
    module_paths: list[str] = []  # for every step, relative to the graph file

    @property
    def slug(self) -> str:
        return slug(self.graph)

    def stream_name(self, stream: str) -> str:
        """The transport's name for a declared stream."""
        declared = self.streams.get(stream)
        if declared is not None and declared.name:
            return declared.name
        return f"{self.slug}.{slug(stream)}"

    @property
    def dead_letter_name(self) -> str:
        if self.dead_letter is not None:
            return self.stream_name(self.dead_letter)
        return f"{self.slug}.dead-letter"

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def match_step(self, name: str) -> Step | None:
        """The step ``name`` means on a command line: exact, or else once both are
        slugged (iguazioig files name functions unslugged: ``step_1`` is ``step-1``)."""
        exact = [s for s in self.steps if s.name == name]
        found = exact or [s for s in self.steps if slug(s.name) == slug(name)]
        return found[0] if found else None

    @property
    def entry_streams(self) -> list[str]:
        """Streams steps read and no step writes: where messages come into the graph."""
        read = {i for s in self.steps for i in s.inputs}
        written = {o.stream for s in self.steps for o in s.outputs}
        return [
            name
            for name in self.streams
            if name in read and name not in written and name != self.dead_letter
        ]

    @property
    def final_streams(self) -> list[str]:
        """Declared streams written that no step reads: where the graph's results land."""
        read = {i for s in self.steps for i in s.inputs}
        written = [o.stream for s in self.steps for o in s.outputs if o.stream in self.streams]
        return list(dict.fromkeys(name for name in written if name not in read))


def reference_problems(
    data: dict[str, Any], *, undeclared_outputs: bool = False
) -> list[ConfigIssue]:
    """Streams named but not declared, and steps declared twice. Read from the raw
    mapping, so they are reported even when other parts of a step are invalid.
    ``undeclared_outputs`` lets outputs name undeclared streams (iguazioig files: their
    messages are dead letters at run time)."""
    streams = data.get("streams")
    declared = set(streams) if isinstance(streams, dict) else set()
    steps = data.get("steps")
    issues: list[ConfigIssue] = []
    seen: set[str] = set()
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        name = step.get("name")
        if isinstance(name, str) and name in seen:
            issues.append(ConfigIssue(f"steps.{index}.name", f"step {name!r} is declared twice"))
        seen.add(str(name))
        for key in ("inputs",) if undeclared_outputs else ("inputs", "outputs"):
            named = step.get(key)
            for position, item in enumerate(named if isinstance(named, list) else []):
                stream = item.get("stream") if isinstance(item, dict) else item
                if isinstance(stream, str) and stream not in declared:
                    where = f"steps.{index}.{key}.{position}"
                    issues.append(_undeclared(where, stream, declared))
    dead = data.get("dead_letter")
    if isinstance(dead, str) and dead not in declared:
        issues.append(_undeclared("dead_letter", dead, declared))
    return issues


def name_problems(spec: GraphSpec) -> list[ConfigIssue]:
    """Names the transports would get that clash or that they cannot take: two steps
    sharing a consumer group would each see half the messages, two streams one name
    would mix their messages."""
    issues: list[ConfigIssue] = []
    pattern = re.compile(NAME)
    owners: dict[str, str] = {}
    for stream in spec.streams:
        name = spec.stream_name(stream)
        if not pattern.match(name):
            issues.append(
                ConfigIssue(
                    f"streams.{stream}",
                    f"its transport name {name!r} is not one brokers take",
                    hint="letters, digits, `_`, `.` and `-`: give the stream a `name:`, or"
                    " the graph a name of those",
                )
            )
        if name in owners:
            issues.append(
                ConfigIssue(
                    f"streams.{stream}",
                    f"streams {owners[name]!r} and {stream!r} both have the transport"
                    f" name {name!r}",
                    hint="give one of them a `name:`",
                )
            )
        owners.setdefault(name, stream)
    groups: dict[str, str] = {}
    for index, step in enumerate(spec.steps):
        if step.group in groups and groups[step.group] != step.name:
            issues.append(
                ConfigIssue(
                    f"steps.{index}.name",
                    f"steps {groups[step.group]!r} and {step.name!r} share the consumer"
                    f" group {step.group!r} (a step's `-` reads as `_`)",
                    hint="rename one of them",
                )
            )
        groups.setdefault(step.group, step.name)
    return issues


@dataclass(frozen=True)
class _Wiring:
    """A step's name and streams as the raw file has them (usable even when other
    parts of the step are invalid)."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _wiring(data: dict[str, Any]) -> list[_Wiring | None]:
    steps = data.get("steps")
    found: list[_Wiring | None] = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict) or not isinstance(step.get("name"), str):
            found.append(None)
            continue
        inputs = step.get("inputs")
        outputs = step.get("outputs")
        named = [o.get("stream") if isinstance(o, dict) else o for o in _list(outputs)]
        found.append(
            _Wiring(
                step["name"],
                tuple(i for i in _list(inputs) if isinstance(i, str)),
                tuple(o for o in named if isinstance(o, str)),
            )
        )
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def flow_problems(data: dict[str, Any]) -> list[ConfigIssue]:
    """Converge steps that cannot complete, steps that no message entering the graph
    can reach, and cycles; read from the raw mapping like :func:`reference_problems`."""
    issues: list[ConfigIssue] = []
    steps = data.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        converge = step.get("converge") if isinstance(step, dict) else None
        inputs = step.get("inputs") if isinstance(step, dict) else None
        if (
            isinstance(converge, dict)
            and converge.get("expect") is None
            and isinstance(inputs, list)
            and len(inputs) < 2
        ):
            issues.append(
                ConfigIssue(
                    f"steps.{index}.converge",
                    "a converge step with one input needs `expect`",
                    hint="how many messages per partition key make a group",
                )
            )
    return issues + _reach_problems(_wiring(data))


def _undeclared(path: str, stream: str, declared: set[str]) -> ConfigIssue:
    known = ", ".join(sorted(declared)) or "none"
    return ConfigIssue(path, f"stream {stream!r} is not declared", hint=f"declared: {known}")


def _reach_problems(wiring: list[_Wiring | None]) -> list[ConfigIssue]:
    """Steps that no message entering the graph can reach, and a cycle."""
    steps = [w for w in wiring if w is not None]
    readers: dict[str, list[_Wiring]] = {}
    for step in steps:
        for stream in step.inputs:
            readers.setdefault(stream, []).append(step)
    written = {o for step in steps for o in step.outputs}
    issues: list[ConfigIssue] = []
    reached: set[str] = set()
    frontier = [s for stream in readers if stream not in written for s in readers[stream]]
    while frontier:
        step = frontier.pop()
        if step.name in reached:
            continue
        reached.add(step.name)
        frontier += [r for o in step.outputs for r in readers.get(o, [])]
    for index, wired in enumerate(wiring):
        if wired is not None and wired.name not in reached:
            issues.append(
                ConfigIssue(
                    f"steps.{index}",
                    f"no message reaches step {wired.name!r}",
                    hint="its inputs are only written by steps in a cycle, or by nothing"
                    " that starts from a stream no step writes",
                )
            )
    cycle = _cycle(steps, readers)
    if cycle:
        issues.append(ConfigIssue("steps", "the steps form a cycle: " + " -> ".join(cycle)))
    return issues


def _cycle(steps: list[_Wiring], readers: dict[str, list[_Wiring]]) -> list[str]:
    """One cycle of step names (first repeated at the end), or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(step: _Wiring) -> list[str]:
        state[step.name] = 1
        path.append(step.name)
        for output in step.outputs:
            for after in readers.get(output, []):
                if state.get(after.name) == 1:
                    return [*path[path.index(after.name) :], after.name]
                if after.name not in state:
                    found = visit(after)
                    if found:
                        return found
        path.pop()
        state[step.name] = 2
        return []

    for step in steps:
        if step.name not in state:
            found = visit(step)
            if found:
                return found
    return []
