"""Live drift in the stream runtime (docs/streams.md, docs/monitoring.md): a `nervosum
stream` worker on a real Redis keeps the messages it answered against the project's
reference and exports the HTTP server's drift gauges on its side port. Same seeded data
and thresholds as tests/integration/test_live_drift.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.conftest import metric_samples, nervosum
from tests.integration.test_live_drift import NUMBERS, rows, until, write_project
from tests.integration.test_stream import Streams, worker
from tests.services.brokers import Broker, Item, running

pytestmark = pytest.mark.slow  # a real broker and a worker process


@pytest.fixture(scope="module")
def redis() -> Iterator[Broker]:
    with running("redis") as started:
        yield started


@pytest.fixture
def streams() -> Streams:
    tag = uuid.uuid4().hex[:8]
    return Streams(f"in-{tag}", f"out-{tag}", f"dlq-{tag}")


def messages(frame: pd.DataFrame, per_message: int = 50) -> list[Item]:
    """The rows as JSON arrays of ``per_message`` records, one message each."""
    records = frame.to_dict("records")
    return [
        (f"m{start}".encode(), json.dumps(records[start : start + per_message]).encode())
        for start in range(0, len(records), per_message)
    ]


def by_feature(side: httpx.Client, name: str) -> dict[str, float]:
    """A per-feature drift gauge on the side port's /metrics, keyed by feature."""
    return {dict(labels)["feature"]: value for labels, value in metric_samples(side, name).items()}


def test_a_shifted_feature_is_major_drift_on_the_side_port(
    tmp_path: Path, redis: Broker, streams: Streams
) -> None:
    project = write_project(tmp_path / "drifty")
    shifted = rows(2000, seed=1, shift=0.5)
    shifted.loc[:99, "x3"] = 1e6  # 5% above the reference's maximum
    batches = messages(shifted)
    with worker(project, redis, streams) as running_worker:
        side = httpx.Client(base_url=f"http://127.0.0.1:{running_worker.port}", timeout=5)
        # The profile is made in the background; its first refresh exports NaN gauges.
        until(lambda: by_feature(side, "nervosum_feature_drift"))
        redis.put(streams.source, batches)
        assert len(redis.take_until(streams.sink, len(batches))) == len(batches)
        # Counted as written once kept for drift: the next refresh has every row.
        until(lambda: running_worker.metric("written") == len(batches))

        def refreshed() -> dict[str, float] | None:
            out_of_range = by_feature(side, "nervosum_feature_out_of_range")
            return out_of_range if out_of_range.get("x3", 0) >= 0.05 else None  # not NaN

        out_of_range = until(refreshed, timeout=30)
        psi = by_feature(side, "nervosum_feature_drift")
        unseen = by_feature(side, "nervosum_feature_unseen")
        prediction = metric_samples(side, "nervosum_prediction_drift")
    assert psi["x1"] > 0.25
    assert {name: psi[name] < 0.1 for name in ("x2", "x3", "colour")} == dict.fromkeys(
        ("x2", "x3", "colour"), True
    )
    # The 100 rows set far above, and the odd normal value beyond the reference's range.
    assert set(out_of_range) == set(NUMBERS) and out_of_range["x3"] == pytest.approx(0.05, abs=3e-3)
    assert set(unseen) == {"colour"} and unseen["colour"] == 0
    assert list(prediction) == [(("model", "drifty"),)]


def test_without_a_reference_the_worker_exports_no_drift(
    tmp_path: Path, redis: Broker, streams: Streams
) -> None:
    project = write_project(tmp_path / "plain", monitoring=None)
    with worker(project, redis, streams) as running_worker:
        redis.put(streams.source, messages(rows(100, seed=2)))
        redis.take_until(streams.sink, 2)
        page = httpx.get(f"http://127.0.0.1:{running_worker.port}/metrics", timeout=5).text
    assert "nervosum_stream_messages_total" in page
    assert "feature_drift" not in page and "prediction_drift" not in page


def test_a_missing_reference_is_exit_2_naming_the_key_before_connecting(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    project = write_project(tmp_path / "bad", monitoring="{reference: nowhere.csv}")
    # Nothing listens at port 1: had the worker tried to connect, it would exit 1.
    result = nervosum(
        "stream", str(project), "--source", "redis://127.0.0.1:1/0/in",
        "--sink", "redis://127.0.0.1:1/0/out", env=home_env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "monitoring.reference" in result.stderr and "nowhere.csv" in result.stderr
    assert "Traceback" not in result.stderr
