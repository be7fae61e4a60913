"""The front door of the model servers: which routes it calls directly, and that the app
it fronts stays an ordinary Starlette app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nervosum import Engine, load_config
from nervosum.serving.app import create_app
from nervosum.serving.front import exact_routes
from nervosum.serving.guard import guarded
from tests.conftest import PROJECTS


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(load_config(PROJECTS / "batch_echo"))


async def _plain(request: Request) -> Response:
    return PlainTextResponse("plain")


def test_only_guarded_routes_without_path_parameters_are_called_directly() -> None:
    routes = [
        Route("/a", guarded(_plain), methods=["POST"]),
        Route("/a", guarded(_plain), methods=["GET"]),
        Route("/b", _plain),  # not guarded: Starlette's error middleware must see it
        Route("/c/{name}", guarded(_plain)),  # path parameters: Starlette's router
    ]
    table = exact_routes(routes)
    assert list(table) == ["/a"]
    assert [sorted(route.methods or ()) for route in table["/a"]] == [["POST"], ["GET", "HEAD"]]


@dataclass
class _Unhashable:
    """An embedder's ASGI app as a route's endpoint: a dataclass, so not hashable."""

    text: str

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse(self.text)(scope, receive, send)


def test_an_endpoint_that_cannot_be_hashed_goes_through_starlette() -> None:
    assert exact_routes([Route("/x", _Unhashable("x"))]) == {}


def test_an_app_with_a_body_limit_sends_every_route_through_starlette(engine: Engine) -> None:
    app = create_app(engine.project, engine=engine)
    app.max_body_size = 10  # Starlette's own limit: its middleware must see every body
    with TestClient(app) as client:
        refused = client.post("/predict", json={"x": 3, "padding": "x" * 100})
    assert refused.status_code == 413


def test_an_app_started_twice_answers_both_times(engine: Engine) -> None:
    """The second start gets a new model thread (the first one's was shut down)."""
    app = create_app(engine.project, engine=engine)
    for _ in range(2):
        with TestClient(app) as client:
            assert client.post("/predict", json={"x": 3}).status_code == 200


def test_the_prediction_route_and_the_probes_are_called_directly(engine: Engine) -> None:
    app = create_app(engine.project, engine=engine)
    table = exact_routes(app.routes)
    for path in ("/predict", "/health/live", "/health/ready", "/metrics", "/info"):
        assert path in table, path


class _Tag:
    """Middleware an embedder adds after create_app: it marks every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-tag", b"1")]
            await send(message)

        await self.app(scope, receive, tagged)


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = create_app(engine.project, engine=engine)
    app.add_middleware(_Tag)  # after create_app, as an embedder would
    with TestClient(app) as served:
        yield served


def test_middleware_added_after_create_app_sees_every_route(client: TestClient) -> None:
    # With middleware of its own, no route is called directly: each one goes through it.
    live = client.get("/health/live")
    assert live.status_code == 200
    assert live.headers["x-tag"] == "1"
    missing = client.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.headers["x-tag"] == "1"
    assert missing.json()["error"]["type"] == "not_found"
    answered = client.post("/predict", json={"x": 3})
    assert answered.status_code == 200
    assert answered.headers["x-tag"] == "1"
    assert answered.headers["x-request-id"]
