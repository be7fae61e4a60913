"""The in-flight and queue gauges: counted as numbers on the request path, written to
prometheus by a sampler and before every scrape."""

from __future__ import annotations

import asyncio

from starlette.testclient import TestClient

from nervosum import Engine, load_config
from nervosum.observe.metrics import SAMPLE_SECONDS, HttpMetrics, keep_sampled
from tests.conftest import PROJECTS


def _value(metrics: HttpMetrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"model": "m"})


def test_the_sampler_writes_the_counts_without_a_scrape() -> None:
    metrics = HttpMetrics("m")
    metrics.requests_in_flight = 3
    metrics.queued_rows = lambda: 17

    async def sample_a_while() -> None:
        task = asyncio.get_running_loop().create_task(keep_sampled(lambda: [metrics]))
        await asyncio.sleep(SAMPLE_SECONDS / 5)
        task.cancel()

    asyncio.run(sample_a_while())
    assert _value(metrics, "nervosum_http_requests_in_flight") == 3
    assert _value(metrics, "nervosum_batch_queue_rows") == 17


def test_a_scrape_shows_itself_in_flight_and_nothing_after() -> None:
    from nervosum.serving.app import create_app

    engine = Engine.load(load_config(PROJECTS / "batch_echo"))
    app = create_app(engine.project, engine=engine)
    metrics = app.state.nervosum.metrics
    with TestClient(app) as client:
        assert client.post("/predict", json={"x": 3}).status_code == 200
        page = client.get("/metrics").text
    assert 'nervosum_http_requests_in_flight{model="batch_echo"} 1.0' in page
    assert 'nervosum_batch_queue_rows{model="batch_echo"} 0.0' in page
    assert metrics.requests_in_flight == 0
