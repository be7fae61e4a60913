"""Every error class maps to the one JSON error shape, a distinct code, a status, an exit code."""

from __future__ import annotations

import json

import pytest

from nervosum import errors
from nervosum.errors import ConfigError, ConfigIssue, NervosumError, PredictionError
from nervosum.serving.responses import error_response


def all_error_classes() -> list[type[NervosumError]]:
    found: list[type[NervosumError]] = []
    pending: list[type[NervosumError]] = [NervosumError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def instance_of(cls: type[NervosumError]) -> NervosumError:
    if issubclass(cls, ConfigError):
        return cls("nervosum.yaml", [ConfigIssue("name", "required field is missing", 1)])
    if issubclass(cls, PredictionError):
        return cls("it failed", error_id="abc123")
    if cls is errors.InvalidInputError:
        return cls("cannot score", field="x")
    return cls("something is wrong", hint="do this instead")


def test_every_error_class_is_exported() -> None:
    exported = {getattr(errors, name) for name in errors.__all__}
    assert set(all_error_classes()) <= exported


def test_codes_are_unique() -> None:
    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_error_renders_the_one_json_shape(cls: type[NervosumError]) -> None:
    error = instance_of(cls)
    response = error_response(error)
    assert response.status_code == cls.http_status
    body = json.loads(bytes(response.body))
    assert set(body) == {"error"}
    assert {"type", "message", "details"} <= set(body["error"])
    assert body["error"]["type"] == cls.code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    assert cls.exit_code in (1, 2)
    if issubclass(cls, PredictionError):
        assert body["error"]["error_id"] == "abc123"


def test_details_can_be_hidden_from_clients() -> None:
    error = errors.InputValidationError(
        "1 invalid field", details=[{"loc": ["x"], "msg": "bad", "type": "float_type"}]
    )
    shown = json.loads(bytes(error_response(error).body))
    hidden = json.loads(bytes(error_response(error, expose_details=False).body))
    assert shown["error"]["details"][0]["loc"] == ["x"]
    assert hidden["error"]["details"] == []


def test_not_ready_tells_clients_when_to_retry() -> None:
    response = error_response(errors.NotReadyError("loading"))
    assert response.headers["retry-after"] == "1"


def test_config_error_lists_each_issue_with_its_line() -> None:
    error = ConfigError(
        "nervosum.yaml",
        [
            ConfigIssue("deployment.mode", "mode 'x' is not supported", 3),
            ConfigIssue("inputs", "unknown key", 7, "did you mean 'input_schema'?"),
        ],
    )
    assert str(error).splitlines() == [
        "nervosum.yaml:3: deployment.mode: mode 'x' is not supported",
        "nervosum.yaml:7: inputs: unknown key (did you mean 'input_schema'?)",
    ]


def drawn_tree() -> dict[str, tuple[str | None, str, int, int]]:
    """The tree drawn in ``nervosum.errors``' docstring: each class's drawn parent, code,
    HTTP status and exit code."""
    lines = (errors.__doc__ or "").split("::\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    drawn: dict[str, tuple[str | None, str, int, int]] = {}
    parents: list[str] = []
    for line in lines[1:]:  # the first is the header
        name_at = next(i for i, char in enumerate(line) if char.isalpha())
        depth = name_at // 4 - 1  # the root at 4, its children at 8 ("├── "), ...
        name, code, http, exit_code = line[name_at:].split()[:4]
        del parents[max(depth, 0) :]
        drawn[name] = (parents[-1] if parents else None, code, int(http), int(exit_code))
        parents.append(name)
    return drawn


def test_the_drawn_tree_is_the_class_tree() -> None:
    drawn = drawn_tree()
    actual = {
        cls.__name__: (
            None if cls is NervosumError else cls.__bases__[0].__name__,
            cls.code,
            cls.http_status,
            cls.exit_code,
        )
        for cls in all_error_classes()
    }
    assert drawn == actual
