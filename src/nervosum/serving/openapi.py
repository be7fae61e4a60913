"""The OpenAPI document of a served model, generated from its declared schemas.

Request and response bodies are the JSON Schemas pydantic derives from ``input_schema``
and ``output_schema``, with examples, so ``/docs`` can send a working request as is.
``/explain`` takes ``/predict``'s body; its answer and ``/card``'s are described field by
field as model/explaining.py and engine.py build them, so a client can be generated from
the document rather than from docs/monitoring.md.
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
# /explain's own reasons beside the shared ones (docs/monitoring.md, "What is explained").
_EXPLAIN_ERRORS = {
    "400": _ERRORS["400"] + ", or more rows than monitoring.explain_max_rows",
    "422": _ERRORS["422"] + ", or ?class= names none of the model's outputs",
    "501": "The model cannot be explained as served (not_explainable): a text input field,"
    " no input fields, labels without class probabilities, no monitoring.background (nor"
    " reference rows or profile) for a model without trees or a file that cannot be read,"
    " or (without ?class=) a predicted class that is none of the explained outputs",
}


def _error_response(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}


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


def _numbers(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": {"type": "number"},
        "description": description,
    }


def _explanation_schema(id_field: str | None) -> dict[str, Any]:
    """``/explain``'s answer (model/explaining.py): how the rows were explained, then one
    explanation per row, of one output (``explained``) or, with ``class=all``, of every
    output, keyed by class."""
    prediction = {"description": "The model's prediction for the row, as /predict answers it"}
    echoed = {id_field: {"type": ["string", "integer"]}} if id_field else {}
    one = {
        "type": "object",
        "required": ["prediction", "explained", "base_value", "contributions"],
        "properties": {
            **echoed,
            "prediction": prediction,
            "explained": {
                "type": "string",
                "description": "The output explained: the predicted class, the one ?class="
                " names, or value for one output",
            },
            "base_value": {"type": "number"},
            "contributions": _numbers("One contribution per input feature"),
        },
    }
    every = {
        "type": "object",
        "required": ["prediction", "base_value", "contributions"],
        "properties": {
            **echoed,
            "prediction": prediction,
            "base_value": _numbers("The base value of each output, keyed by class"),
            "contributions": {
                "type": "object",
                "additionalProperties": _numbers("One contribution per input feature"),
                "description": "Each output's contributions, keyed by class (?class=all)",
            },
        },
    }
    return {
        "type": "object",
        "required": ["method", "exact", "output", "samples", "explanations"],
        "description": "base_value plus the contributions equals the model's output for"
        " the row, in output space.",
        "properties": {
            "method": {
                "type": "string",
                "description": "treeshap:nervosum, treeshap:xgboost, treeshap:lightgbm,"
                " treeshap:shap (exact) or sampled:permutation (an estimate)",
            },
            "exact": {"type": "boolean"},
            "output": {"type": "string", "enum": ["probability", "log_odds", "value", "raw"]},
            "samples": {
                "type": ["integer", "null"],
                "description": "Model calls per row of a sampled estimate; null when exact",
            },
            "explanations": {"type": "array", "items": {"oneOf": [one, every]}},
        },
    }


def _card_schema() -> dict[str, Any]:
    """``/card``'s answer: engine.py's ``card`` (identity, schemas, runtime) and
    model/card.py's ``card_facts`` (training figures, dependencies, Python)."""
    text = {"type": "string"}
    fields = {"type": "array", "items": {"type": "object"}}
    properties: dict[str, Any] = {
        "name": text,
        "version": text,
        "uuid": text,
        "created": text,
        "tag": text,
        "model": {**text, "description": "The model's class or artifact"},
        "classes": {"type": ["array", "null"], "items": text},
        "runtime": {**text, "description": "What runs the model: python, or onnxruntime X.Y"},
        "compile": {
            "type": ["object", "null"],
            "description": "The compile check against the original (docs/compile.md)",
        },
        "input_schema": fields,
        "output_schema": fields,
        # Any value: a user model's own `metrics` dict is passed through (model/card.py).
        "training_metrics": {
            "type": ["object", "null"],
            "description": "The model's metrics dict: held-out figures (numbers) for a model"
            " trained by nervosum train, any JSON values for a user model with its own"
            " .metrics; null without one",
        },
        "dependencies": {
            "type": "object",
            "additionalProperties": text,
            "description": "Each installed distribution the model depends on, and its version",
        },
        "dependencies_unresolved": {"type": "array", "items": text},
        "python": text,
        "reference": {
            "type": ["object", "null"],
            "description": "The live-drift reference profile's summary; null without one",
        },
    }
    return {"type": "object", "required": list(properties), "properties": properties}


def _records_body(example: dict[str, Any]) -> dict[str, Any]:
    """The body of ``/predict`` and ``/explain``: one input record or an array of them."""
    return {
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
    }


def _explain(errors: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``/explain``: ``errors`` are ``/predict``'s, some of them for more reasons."""
    own = {code: _error_response(text) for code, text in _EXPLAIN_ERRORS.items()}
    return {
        "post": {
            "summary": "Per-feature contributions to each row's prediction",
            "description": "The body of /predict; each row's prediction with one"
            " contribution per input feature and the base value they add up from.",
            "parameters": [
                {
                    "name": "class",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "The class explained: default the predicted one; all"
                    " explains every class.",
                }
            ],
            "requestBody": body,
            "responses": {
                "200": {
                    "description": "Explanations, one per row in request order",
                    "content": {"application/json": {"schema": _ref("Explanation")}},
                },
                **dict(sorted({**errors, **own}.items())),
            },
        }
    }


def _get(
    summary: str,
    content: dict[str, Any] | None = None,
    errors: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A GET route answering ``content`` (any JSON object by default), or ``errors`` by
    status code."""
    body = content or {"application/json": {"schema": {"type": "object"}}}
    responses = {"200": {"description": "OK", "content": body}, **(errors or {})}
    return {"get": {"summary": summary, "responses": responses}}


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
    errors = {code: _error_response(text) for code, text in _ERRORS.items()}
    posted = {k: v for k, v in errors.items() if k not in ("404", "405")}  # routed already
    body = _records_body(inputs.example())
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
            "requestBody": body,
            "responses": {
                "200": {
                    "description": "Predictions",
                    "content": {"application/json": {"schema": _one_or_many("Output")}},
                },
                **posted,
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
            "/explain": _explain(posted, body),
            "/card": _get(
                "The model card: identity, schemas, runtime, training figures, dependencies",
                {"application/json": {"schema": _ref("Card")}},
                {"503": errors["503"]},
            ),
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
                "Explanation": _explanation_schema(config.id_field),
                "Card": _card_schema(),
                "Error": _error_schema(),
            }
        },
    }
