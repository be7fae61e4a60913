"""The generated OpenAPI document and the offline /docs page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pydantic import TypeAdapter
from starlette.testclient import TestClient

from nervosum import Engine, load_config
from nervosum.schema.records import RecordSchema
from nervosum.serving.app import create_app
from tests.conftest import EXAMPLES, PROJECTS


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
    for path in ("/info", "/schema", "/health/live", "/health/ready", "/metrics"):
        assert "get" in document["paths"][path]


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
