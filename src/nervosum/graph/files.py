"""``graph run --local``: messages from a JSON Lines file through the whole graph in
this process, results and dead letters to JSON Lines files, every message accounted for.

Each input line is one message, fed to the graph's entry stream. Each output line is
``{"stream", "key", "message"}`` for a message that reached a stream no step reads;
each dead-letter line names the step, the reason and the payload. A converge group
still open when the input ends is a dead letter too.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nervosum.errors import RequestError
from nervosum.graph.load import Graph
from nervosum.graph.local import GraphCode, LocalRun
from nervosum.jsonio import dumps


@dataclass(frozen=True)
class LocalSummary:
    fed: int
    results: dict[str, int]  # per final stream
    dead_lettered: int
    filtered: int
    output: str
    dead_letter: str

    def lines(self) -> list[str]:
        per_stream = ", ".join(f"{name} {count}" for name, count in self.results.items())
        return [
            f"fed {self.fed} messages: {sum(self.results.values())} results"
            + (f" ({per_stream})" if per_stream else ""),
            f"{self.filtered} filtered out by a step, {self.dead_lettered} dead-lettered",
            f"results: {self.output}",
            f"dead letters: {self.dead_letter}",
        ]


def entry_stream(graph: Graph, into: str | None) -> str:
    """The stream the input feeds: ``into``, or the graph's only entry stream."""
    spec = graph.spec
    if into is not None:
        if into not in spec.streams:
            raise RequestError(
                f"--into {into!r} is not a stream of the graph",
                hint=f"streams: {', '.join(spec.streams)}",
            )
        return into
    entries = spec.entry_streams
    if len(entries) != 1:
        raise RequestError(
            f"the graph has {len(entries)} entry streams ({', '.join(entries)}):"
            " say which one the input feeds",
            hint="--into STREAM",
        )
    return entries[0]


@contextmanager
def _open_out(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdout.buffer
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        yield handle


def _lines(path: str) -> Iterator[bytes]:
    if path == "-":
        yield from sys.stdin.buffer
        return
    if not Path(path).is_file():
        raise RequestError(
            f"--input {path}: no such file", hint="a JSON Lines file, or - for stdin"
        )
    with open(path, "rb") as handle:
        yield from handle


def default_dead_letter(output: str) -> str:
    if output == "-":
        return "dead-letter.jsonl"
    out = Path(output)
    return str(out.with_name(out.name.removesuffix(".jsonl") + ".dead-letter.jsonl"))


class _Writer:
    """Moves what a run produced so far into the files, and counts it."""

    def __init__(self, run: LocalRun, out: IO[bytes], dead: IO[bytes], graph: str) -> None:
        self.run, self.out, self.dead, self.graph = run, out, dead, graph
        self.results: Counter[str] = Counter()
        self.letters = 0

    def drain(self) -> None:
        for emit in self.run.results:
            line = {"stream": emit.stream, "key": emit.key, "message": emit.message}
            self.out.write(dumps(line) + b"\n")
            self.results[emit.stream] += 1
        for letter in self.run.letters:
            self.dead.write(dumps(letter.to_record(self.graph)) + b"\n")
        self.letters += len(self.run.letters)
        self.run.results.clear()
        self.run.letters.clear()


def run_files(
    graph: Graph, input_path: str, output: str, dead_letter: str | None, into: str | None
) -> LocalSummary:
    """Run every line of ``input_path`` through the graph; the summary."""
    stream = entry_stream(graph, into)
    if input_path != "-" and not Path(input_path).is_file():
        raise RequestError(
            f"--input {input_path}: no such file", hint="a JSON Lines file, or - for stdin"
        )
    dead_path = dead_letter or default_dead_letter(output)
    code = GraphCode(graph)
    run = LocalRun(code)

    async def feed(writer: _Writer) -> None:
        await code.start()
        try:
            for number, line in enumerate(_lines(input_path), start=1):
                if line.strip():
                    await run.feed(stream, line.strip(), f"line {number}")
                    writer.drain()
            await run.finish()
            writer.drain()
        finally:
            await code.close()

    with _open_out(output) as out, _open_out(dead_path) as dead:
        writer = _Writer(run, out, dead, graph.spec.slug)
        asyncio.run(feed(writer))
    return LocalSummary(
        fed=run.fed,
        results=dict(writer.results),
        dead_lettered=writer.letters,
        filtered=run.filtered,
        output=output,
        dead_letter=dead_path,
    )
