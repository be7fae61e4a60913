"""The OpenAPI document of a served model, generated from its declared schemas.

Request and response bodies are the JSON Schemas pydantic derives from ``input_schema``
and ``output_schema``, with examples, so ``/docs`` can send a working request as is.
"""

from __future__ import annotations

from typing import Any

from nervosum.config import Project, SchemaField
from nervosum.model.outputs import PROBABILITIES
from nervosum.schema.records import RecordSchema

_ERRORS = {
    "400": "Unreadable body (not JSON, nested past 200 levels, empty, broken gzip)",
    "404": "Unknown route",
    "405": "Method not allowed on this route",
    "413": "Body larger than server.max_body_size (also once inflated), or more rows than"
    " server.max_rows",
    "415": "Content type other than JSON, or a charset or content encoding (gzip and"
    " deflate are read) that is not supported",
    "422": "Input violates the schema; details name each bad field",
    "500": "The model failed; error_id matches the server log",
    "503": "The model is not loaded yet",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _one_or_many(name: str) -> dict[str, Any]:
    return {"oneOf": [_ref(name), {"type": "array", "items": _ref(name)}]}


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message", "details"],
                "properties": {
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                    "error_id": {"type": "string"},
                },
            }
        },
    }


def _output_schema(project: Project, classifier: bool) -> dict[str, Any]:
    config = project.config
    fields = config.output_schema or (SchemaField(name="prediction", type="str"),)
    schema = RecordSchema(fields, title="Output").json_schema()
    schema.pop("additionalProperties", None)
    properties: dict[str, Any] = schema.setdefault("properties", {})
    if config.id_field:
        properties = {config.id_field: {"type": ["string", "integer"]}, **properties}
    if classifier:
        properties[PROBABILITIES] = {
            "type": "object",
            "additionalProperties": {"type": "number"},
            "description": "Probability of each class, keyed by class name.",
        }
    schema["properties"] = properties
    if not config.output_schema:
        schema["description"] = "Output fields as the model returns them."
    return schema


def _get(summary: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    body = content or {"application/json": {"schema": {"type": "object"}}}
    return {
        "get": {"summary": summary, "responses": {"200": {"description": "OK", "content": body}}}
    }


def _feedback(errors: dict[str, Any]) -> dict[str, Any]:
    item = {
        "type": "object",
        "required": ["id", "label"],
        "properties": {"id": {"description": "the prediction's id"}, "label": {}},
    }
    example = {"id": "abc-1", "label": "setosa"}
    return {
        "post": {
            "summary": "Ground truth for earlier predictions (rolling accuracy / MAE, log)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [item, {"type": "array", "items": item}]},
                        "example": example,
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "How many labels matched a prediction this server made",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "422": errors["422"],
            },
        }
    }


def build_openapi(project: Project, *, version: str, classifier: bool) -> dict[str, Any]:
    """The full OpenAPI 3.1 document for one model's HTTP API."""
    config = project.config
    inputs = RecordSchema(config.input_schema, title="Input", id_field=config.id_field)
    example = inputs.example()
    errors = {
        code: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
        for code, text in _ERRORS.items()
    }
    predict = {
        "post": {
            "summary": f"Predict with {config.name}",
            "description": "One JSON object gives one result; an array gives an array of "
            "results of the same length and order.",
            "parameters": [
                {
                    "name": "proba",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "boolean", "default": True},
                    "description": "Include class probabilities (classifiers only).",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _one_or_many("Input"),
                        "examples": {
                            "one": {"summary": "one record", "value": example},
                            "many": {"summary": "several records", "value": [example, example]},
                        },
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "Predictions",
                    "content": {"application/json": {"schema": _one_or_many("Output")}},
                },
                **{k: v for k, v in errors.items() if k not in ("404", "405")},
            },
        }
    }
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{config.name} ({config.tag})",
            "version": version,
            "description": f"Model {config.name} served by nervosum.",
        },
        "paths": {
            "/predict": predict,
            "/info": _get("Model identity, version and schemas"),
            "/schema": _get("Declared input and output schemas"),
            "/health/live": _get("Liveness: the process answers"),
            "/health/ready": _get("Readiness: the model is loaded (503 until then)"),
            "/metrics": _get("Prometheus metrics", text),
            "/feedback": _feedback(errors),
        },
        "components": {
            "schemas": {
                "Input": inputs.json_schema(),
                "Output": _output_schema(project, classifier),
                "Error": _error_schema(),
            }
        },
    }
