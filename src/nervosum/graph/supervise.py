"""``graph run --transport URL``: every step as its own consumer process on a broker.

One step (``--step NAME``) runs in this process, as in a container; several are started
as child processes of this one (``nervosum graph run ... --step NAME`` each), which
forwards SIGTERM / Ctrl-C to them so each drains its batch in hand, and stops them all
when one of them dies, so a broken step is not left unnoticed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from types import FrameType

from nervosum.brokers.addresses import parse_broker
from nervosum.errors import RequestError
from nervosum.graph.consumer import StepConsumer, StepSettings
from nervosum.graph.load import Graph
from nervosum.stream.runtime import serve_stream
from nervosum.stream.sideport import SidePort

log = logging.getLogger("nervosum.graph")


@dataclass(frozen=True)
class StepRun:
    """Where and how the steps run."""

    transport: str
    settings: StepSettings
    host: str = "127.0.0.1"
    port: int | None = None  # the first step's side port; the next ones count up


def chosen_steps(graph: Graph, names: list[str]) -> list[str]:
    """The steps named (all of them when none is), matched as ``--include`` matches;
    a step named twice runs twice (two members of its group)."""
    spec = graph.spec
    found = [(name, spec.match_step(name)) for name in names]
    unknown = [name for name, step in found if step is None]
    if unknown:
        raise RequestError(
            f"no step {', '.join(map(repr, unknown))} in the graph",
            hint=f"steps: {', '.join(s.name for s in spec.steps)}",
        )
    return [step.name for _name, step in found if step is not None] or [s.name for s in spec.steps]


def run_step(graph: Graph, name: str, run: StepRun) -> int:
    """One step in this process until SIGTERM; the exit code."""
    broker = parse_broker(run.transport)
    consumer = StepConsumer(graph, graph.spec.step(name), broker, run.settings)
    side = None
    if run.port:
        side = SidePort(
            run.host,
            run.port,
            ready=lambda: consumer.connected,
            metrics=consumer.exposition,
        )
    return asyncio.run(serve_stream(consumer, side))


def _flags(graph: Graph, run: StepRun) -> list[str]:
    flags = ["--transport", run.transport, "--host", run.host]
    for folder in graph.module_paths:
        flags += ["--module-path", folder]
    for item in fields(run.settings):
        flags += [f"--{item.name.replace('_', '-')}", str(getattr(run.settings, item.name))]
    return flags


def run_steps(graph: Graph, names: list[str], run: StepRun) -> int:
    """Every step of ``names`` as a child process until SIGTERM or one of them ends;
    the highest exit code."""
    parse_broker(run.transport)  # a bad address fails here, not in every child
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    for index, name in enumerate(names):
        command = [sys.executable, "-m", "nervosum", "graph", "run", str(graph.path)]
        command += [*_flags(graph, run), "--step", name]
        if run.port:
            command += ["--port", str(run.port + index)]
        children.append((name, subprocess.Popen(command)))
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for _name, child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while any(child.poll() is None for _name, child in children):
            ended = [(n, c.returncode) for n, c in children if c.poll() is not None]
            if ended and not stopping:
                log.error("step %s ended (exit %s): stopping the others", *ended[0])
                stop(signal.SIGTERM, None)
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    codes = [child.wait() for _name, child in children]
    return max(1 if code < 0 else code for code in codes)  # < 0: killed by a signal
