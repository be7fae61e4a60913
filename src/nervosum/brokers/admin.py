"""What ``graph deploy`` asks of a broker: create and delete streams and consumer groups,
and forget a converge step's state. Each broker module implements :class:`BrokerAdmin`;
the order of the actions, their reporting and the error messages are the executor's
(``graph/deploy.py``), so a broker only says how to create and delete."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from nervosum.brokers.addresses import Endpoint

CREATED = "created"
PRESENT = "present"
DELETED = "deleted"
ABSENT = "absent"
NOT_NEEDED = "not needed"  # Kafka groups: made by the broker when a member joins


@dataclass(frozen=True)
class DeploySettings:
    idle_ms: int = 30_000  # NATS: the ack wait of the consumers created, as graph run's
    timeout: float = 30.0  # seconds to wait for each answer of the broker


@dataclass(frozen=True)
class StreamSettings:
    """A stream to create, from its plan entry."""

    name: str
    partitions: int | None
    retention_hours: float | None


class BrokerAdmin(ABC):
    """Creates and deletes streams and consumer groups on one broker."""

    def __init__(self, broker: Endpoint, settings: DeploySettings) -> None:
        self.broker = broker
        self.settings = settings

    @abstractmethod
    async def open(self) -> None:
        """Connect; raise when the broker cannot be reached."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def create_stream(self, stream: StreamSettings) -> bool:
        """Create ``stream`` empty if missing; whether it was created."""

    @abstractmethod
    async def delete_stream(self, name: str) -> bool:
        """Delete the stream with its messages and groups; whether it existed."""

    @abstractmethod
    async def create_group(self, stream: str, group: str) -> str:
        """Create ``group`` on ``stream`` at the stream's start if missing: CREATED,
        PRESENT or NOT_NEEDED."""

    def group_name(self, group: str) -> str:
        """What the broker calls the step's consumer group."""
        return group

    async def forget_converge(self, graph: str, step: str) -> bool:
        """Delete a converge step's open groups and done marks (kept in the broker);
        whether there were any. Kafka keeps none."""
        return False

    def applied(self, stream: StreamSettings) -> str | None:
        """The settings a created stream got, said in the broker's terms."""
        return None


class BrokerRefusal(Exception):
    """The broker answered with an error, put into words by the admin class."""


def reason(exc: BaseException) -> str:
    if isinstance(exc, BrokerRefusal):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
