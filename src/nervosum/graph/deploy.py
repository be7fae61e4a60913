"""``graph deploy``: do on a broker what ``graph plan`` prints, in the plan's order.

Only broker objects are made: the declared streams, and the consumer groups the steps
read with. Step processes are not started here (``graph run --transport URL --step
NAME``, or a container, starts them), so creating a step means creating the groups of
its inputs, each placed at the start of its stream: a step started later still reads
every message written before it joined, on every broker alike.

Creating is idempotent: a stream or group that exists is reported as present and left
as it is, settings included (``--recreate`` deletes and creates it again). Every
broker sits behind :class:`~nervosum.brokers.admin.BrokerAdmin` (each broker module has
one); the order, the reporting and the error messages are here, so a broker only says
how to create and delete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from nervosum.brokers.addresses import Endpoint
from nervosum.brokers.admin import (
    ABSENT,
    CREATED,
    DELETED,
    NOT_NEEDED,
    PRESENT,
    BrokerAdmin,
    DeploySettings,
    StreamSettings,
    reason,
)
from nervosum.brokers.schemes import open_admin
from nervosum.errors import NervosumError
from nervosum.graph.plan import Action, Plan

NOT_STARTED = "not started"  # steps: deploy runs no step processes
NOT_STOPPED = "not stopped"  # steps, before --recreate deletes their streams

_LINES = {
    ("stream", CREATED): "Created stream {name}",
    ("stream", PRESENT): "Stream {name} already present",
    ("stream", DELETED): "Deleted stream {name}",
    ("stream", ABSENT): "Stream {name} not present: nothing to delete",
    ("group", CREATED): "Created consumer group {name} on {stream}",
    ("group", PRESENT): "Consumer group {name} on {stream} already present",
    ("group", NOT_NEEDED): "Consumer group {name} on {stream}: nothing to create,"
    " groups are created when the first member joins",
    ("step", NOT_STARTED): "Step {name} is not started by deploy:"
    " creating the consumer groups of its inputs",
    ("step", NOT_STOPPED): "Step {name} is not stopped by deploy:"
    " stop its processes, the streams it reads are recreated",
    ("converge state", DELETED): "Deleted the converge groups and done marks of step {name}",
}


@dataclass(frozen=True)
class Done:
    """One action done on the broker, as it is reported. ``name`` is the broker's name
    of the stream or group (the step's name for a step); ``stream`` the stream a group
    reads."""

    action: str  # "create" or "delete"
    kind: str  # "stream", "group", "step" or "converge state"
    name: str
    result: str
    stream: str | None = None
    detail: str | None = None

    @property
    def line(self) -> str:
        text = _LINES[(self.kind, self.result)].format(name=self.name, stream=self.stream)
        return f"{text} ({self.detail})" if self.detail else text

    def to_record(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.line}


@contextmanager
def _doing(what: str, server: str) -> Iterator[None]:
    """Turn a broker failure while doing ``what`` into one line with a hint."""
    try:
        yield
    except NervosumError:
        raise
    except Exception as exc:
        raise NervosumError(
            f"could not {what} on {server}: {reason(exc)}",
            hint="the actions printed above are done; run deploy again once fixed:"
            " it creates only what is missing",
        ) from exc


async def _step(
    action: Action, admin: BrokerAdmin, report: Callable[[Done], None], graph: str
) -> None:
    """A step is not run here: creating it creates the groups of its inputs; deleting
    it deletes the converge groups and done marks it kept in the broker, which would
    otherwise refuse the recreated streams' messages for keys done before."""
    if action.verb == "delete":
        report(Done("delete", "step", action.name, NOT_STOPPED))
        with _doing(f"delete the converge state of step {action.name}", admin.broker.server):
            if await admin.forget_converge(graph, action.name):
                report(Done("delete", "converge state", action.name, DELETED))
        return
    report(Done("create", "step", action.name, NOT_STARTED))
    group = admin.group_name(action.entry["group"])
    for stream in action.entry["inputs"]:
        with _doing(f"create consumer group {group} on {stream}", admin.broker.server):
            made = await admin.create_group(stream, action.entry["group"])
        report(Done("create", "group", group, made, stream=stream))


async def _stream(action: Action, admin: BrokerAdmin, report: Callable[[Done], None]) -> None:
    name = action.entry["name"]
    if action.verb == "delete":
        with _doing(f"delete stream {name}", admin.broker.server):
            existed = await admin.delete_stream(name)
        report(Done("delete", "stream", name, DELETED if existed else ABSENT))
        return
    stream = StreamSettings(name, action.entry["partitions"], action.entry["retention_hours"])
    with _doing(f"create stream {name}", admin.broker.server):
        created = await admin.create_stream(stream)
    if created:
        report(Done("create", "stream", name, CREATED, detail=admin.applied(stream)))
    else:
        report(Done("create", "stream", name, PRESENT))


async def _deploy(
    actions: list[Action], admin: BrokerAdmin, report: Callable[[Done], None], graph: str
) -> None:
    try:
        await admin.open()
    except NervosumError:
        raise
    except Exception as exc:
        raise NervosumError(
            f"cannot reach {admin.broker.server}: {reason(exc)}",
            hint="check the address and that the broker is running",
        ) from exc
    try:
        for action in actions:
            if action.kind == "stream":
                await _stream(action, admin, report)
            else:
                await _step(action, admin, report, graph)
    finally:
        await admin.close()


def deploy_plan(
    planned: Plan,
    broker: Endpoint,
    settings: DeploySettings,
    report: Callable[[Done], None],
) -> None:
    """Carry out ``planned`` (from :func:`~nervosum.graph.plan.plan_graph`) on
    ``broker``, calling ``report`` after each action; :class:`NervosumError` (exit 1)
    when the broker cannot be reached or refuses an action."""
    admin = open_admin(broker, settings)
    asyncio.run(_deploy(list(planned.actions), admin, report, planned.graph))
