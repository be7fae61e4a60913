"""The generated OpenAPI document and the offline /docs page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import TypeAdapter
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from starlette.testclient import TestClient

from nervosum import Engine, load_config
from nervosum.schema.records import RecordSchema
from nervosum.serving.app import _ROUTES, create_app
from tests.conftest import EXAMPLES, PROJECTS
from tests.integration.test_explain_http import FEATURES, ROW, serve


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    project = load_config(EXAMPLES / "iris")
    with TestClient(create_app(project, engine=Engine.load(project))) as test_client:
        yield test_client


def test_openapi_describes_predict_with_generated_models(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "Iris (v0.0.1)"
    schemas = document["components"]["schemas"]
    assert list(schemas["Input"]["properties"]) == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert schemas["Input"]["properties"]["sepal_length"]["type"] == "number"
    assert schemas["Input"]["additionalProperties"] is False
    assert "probabilities" in schemas["Output"]["properties"]
    predict = document["paths"]["/predict"]["post"]
    assert {"200", "400", "413", "415", "422", "500", "503"} <= set(predict["responses"])
    for path in ("/info", "/schema", "/health/live", "/health/ready", "/metrics", "/card"):
        assert "get" in document["paths"][path]
    explain = document["paths"]["/explain"]["post"]
    assert explain["requestBody"] == predict["requestBody"]
    assert [p["name"] for p in explain["parameters"]] == ["class"]
    assert {"200", "400", "413", "415", "422", "500", "501", "503"} == set(explain["responses"])
    assert "explain_max_rows" in explain["responses"]["400"]["description"]
    not_explainable = explain["responses"]["501"]["description"]
    for case in (
        "a text input field",
        "no input fields",
        "labels without class probabilities",
        "no monitoring.background (nor reference rows or profile)",
        "cannot be read",
        "a predicted class that is none of the explained outputs",  # model/explaining.py
    ):
        assert case in not_explainable, case


def test_every_native_route_is_in_the_document(client: TestClient) -> None:
    """Each route the app itself serves is described, with a method it answers, but the
    pages, the document itself, the seed's alias of /info and the challenger's admin
    routes (docs/variants.md)."""
    paths = client.get("/openapi.json").json()["paths"]
    left_out = {"/", "/docs", "/openapi.json", "/metadata", "/-/arms", "/-/promote", "/-/rollback"}
    for route in _ROUTES:
        if route.path not in left_out:
            assert {m.lower() for m in route.methods or ()} & set(paths[route.path]), route.path


def test_openapi_examples_are_accepted_by_the_server(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    examples = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]
    single = client.post("/predict", json=examples["one"]["value"])
    several = client.post("/predict", json=examples["many"]["value"])
    assert single.status_code == 200
    assert several.status_code == 200
    assert len(several.json()) == 2


def test_schema_examples_and_constraints_appear_in_openapi() -> None:
    project = load_config(PROJECTS / "types")
    schema = RecordSchema(project.config.input_schema, id_field="request_id").json_schema()
    count = schema["properties"]["count"]
    assert (count["minimum"], count["maximum"]) == (0, 10)
    assert schema["properties"]["label"]["enum"] == ["a", "b"]
    assert "count" in schema["required"]
    assert "note" not in schema["required"]
    TypeAdapter(dict).validate_python(schema["example"])


def test_docs_page_loads_only_local_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    for source in sources:
        assert source.startswith("/"), f"{source} is not served locally"
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 100
    assert "/openapi.json" in page.text


def _holds(answer: dict[str, Any], schema: dict[str, Any]) -> bool:
    """``answer`` has every field ``schema`` requires and none it does not declare."""
    return set(schema["required"]) <= set(answer) <= set(schema["properties"])


def test_explain_and_card_answer_what_the_document_says(tmp_path: Path) -> None:
    data = load_iris()
    frame = pd.DataFrame(data.data, columns=FEATURES)
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(frame, data.target)
    forest.metrics = {"accuracy": 0.95, "dataset": "iris", "folds": [0.9, 1.0]}  # a user's dict
    with serve(tmp_path / "forest", forest) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        one = client.post("/explain", json={**ROW, "key": "r1"}).json()
        every = client.post("/explain?class=all", json=[ROW, ROW]).json()
        card = client.get("/card").json()
    explanation = schemas["Explanation"]
    shapes = explanation["properties"]["explanations"]["items"]["oneOf"]
    assert _holds(one, explanation) and _holds(every, explanation)
    (row,) = one["explanations"]
    assert _holds(row, shapes[0]) and not _holds(row, shapes[1])
    assert row["key"] == "r1" and "key" in shapes[0]["properties"]
    for row in every["explanations"]:
        assert _holds(row, shapes[1]) and not _holds(row, shapes[0])
    assert one["output"] in explanation["properties"]["output"]["enum"]
    assert set(card) == set(schemas["Card"]["required"]) == set(schemas["Card"]["properties"])
    training_metrics = schemas["Card"]["properties"]["training_metrics"]
    assert card["training_metrics"] == forest.metrics
    assert training_metrics.get("additionalProperties", {}) in ({}, True)  # any values
