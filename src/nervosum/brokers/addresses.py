"""Stream addresses: ``redis://host:port/db/stream``, ``nats://host:port/subject``,
``kafka://host:port/topic`` (``schemes.py`` opens what serves one)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from nervosum.errors import RequestError

SCHEMES = ("redis", "nats", "kafka")
DEFAULT_PORTS = {"redis": 6379, "nats": 4222, "kafka": 9092}


@dataclass(frozen=True)
class Endpoint:
    """A broker and one stream (Redis), subject (NATS) or topic (Kafka) on it."""

    scheme: str
    host: str
    port: int
    name: str
    database: int = 0  # Redis only

    @property
    def server(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.server}/{self.name}"


def _split(url: str, what: str, example: str) -> SplitResult:
    """``url`` split, its scheme one of the brokers'; ``what`` names it in the error."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise RequestError(
            f"{what} {url!r}: the scheme must be one of {', '.join(SCHEMES)}",
            hint=f"e.g. {example}",
        )
    return parts


def _endpoint(parts: SplitResult, name: str, database: int) -> Endpoint:
    """The endpoint of ``parts``, loopback and the broker's usual port by default."""
    host = parts.hostname or "127.0.0.1"
    return Endpoint(parts.scheme, host, parts.port or DEFAULT_PORTS[parts.scheme], name, database)


def parse_endpoint(url: str, what: str) -> Endpoint:
    """``url`` as an endpoint; ``what`` (``--source`` ...) names it in errors."""
    example = (
        "redis://127.0.0.1:6379/0/iris-in, nats://127.0.0.1:4222/scores.in, kafka://broker:9092/in"
    )
    parts = _split(url, what, example)
    segments = [s for s in parts.path.split("/") if s]
    database = 0
    if parts.scheme == "redis" and len(segments) == 2 and segments[0].isdigit():
        database, segments = int(segments[0]), segments[1:]
    if len(segments) != 1:
        raise RequestError(
            f"{what} {url!r} must name one stream after the server",
            hint=f"{parts.scheme}://{parts.hostname or '127.0.0.1'}:PORT/NAME",
        )
    return _endpoint(parts, segments[0], database)


def parse_broker(url: str) -> Endpoint:
    """``redis://host:port/db``, ``nats://host:port`` or ``kafka://host:port`` as an
    endpoint without a stream (each stream's name comes from the graph)."""
    parts = _split(url, "--transport", "redis://127.0.0.1:6379/0 or nats://127.0.0.1:4222")
    path = parts.path.strip("/")
    if path and not (parts.scheme == "redis" and path.isdigit()):
        raise RequestError(
            f"--transport {url!r} names the broker only (and a Redis database number)",
            hint="the graph file names the streams",
        )
    return _endpoint(parts, "", int(path) if path else 0)
