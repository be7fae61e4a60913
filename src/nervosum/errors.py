"""Every error nervosum raises, in one tree.

Each class carries a stable ``code`` (the ``type`` in the JSON error body), the HTTP
status a server answers with, and the exit code the CLI ends with, so the HTTP, stream,
batch and CLI front ends map an error the same way without knowing its details::

    class                            code                    http exit
    NervosumError                    internal_error           500   1  a bug: report it
    ├── ConfigError                  config_error             500   2  nervosum.yaml is wrong
    ├── ModelDefinitionError         model_definition         500   2  user code unusable
    ├── RequestError                 bad_request              400   2  unreadable request
    │   ├── PayloadTooLargeError     payload_too_large        413   2
    │   ├── UnsupportedMediaTypeError unsupported_media_type  415   2
    │   ├── NotFoundError            not_found                404   2
    │   ├── MethodNotAllowedError    method_not_allowed       405   2
    │   ├── UnauthorizedError        unauthorized             401   2  no or wrong credentials
    │   ├── ForbiddenError           forbidden                403   2  the scope is missing
    │   ├── RateLimitedError         rate_limited             429   2  retry after Retry-After
    │   ├── ReadTimeoutError         read_timeout             408   2  head or body too slow
    │   ├── UrlTooLongError          url_too_long             414   2
    │   ├── HeaderTooLargeError      header_too_large         431   2
    │   └── InputValidationError     validation_error         422   2  ``details`` per field
    │       └── InvalidInputError    invalid_input            422   2  raised by user models
    ├── StepError                    step_failed              422   1  a graph step raised
    ├── PredictionError              prediction_error         500   1  the model raised
    │   └── ModelOutputError         model_output             500   1  unusable output shape
    ├── BatchAbortedError            batch_aborted            500   1  --max-rejects exceeded
    ├── BuildError                   build_error              500   1  a bundle or image failed
    ├── RegistryError                not_in_registry          404   1  no bundle matches
    ├── SourceError                  source_error             502   1  git clone / fetch failed
    ├── ConflictError                conflict                 409   1  e.g. nothing to promote
    ├── NotExplainableError          not_explainable          501   2  /explain cannot apply
    ├── NotReadyError                not_ready                503   1  model still loading
    │   └── OverloadedError          overloaded               503   1  queue full: retry later
    └── RequestTimeoutError          timeout                  504   1  no answer in server.timeout

``InvalidInputError`` is the one exception user code raises itself: a model that finds
a request it cannot score raises it, and HTTP answers 422, streams dead-letter the
message, batch writes the row to the rejects file.

Errors cross process boundaries only as :meth:`NervosumError.to_record` dictionaries,
never as pickled exceptions (user exceptions may not unpickle in the parent).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

__all__ = [
    "BatchAbortedError",
    "BuildError",
    "ConfigError",
    "ConfigIssue",
    "ConflictError",
    "ForbiddenError",
    "HeaderTooLargeError",
    "InputValidationError",
    "InvalidInputError",
    "MethodNotAllowedError",
    "ModelDefinitionError",
    "ModelOutputError",
    "NervosumError",
    "NotExplainableError",
    "NotFoundError",
    "NotReadyError",
    "OverloadedError",
    "PayloadTooLargeError",
    "PredictionError",
    "RateLimitedError",
    "ReadTimeoutError",
    "RegistryError",
    "RequestError",
    "RequestTimeoutError",
    "SourceError",
    "StepError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "UrlTooLongError",
    "error_from_record",
    "new_error_id",
]


def new_error_id() -> str:
    """The id that ties a client's 500 (or a dead letter) to the log line with the details."""
    return uuid.uuid4().hex[:12]


class NervosumError(Exception):
    """Base of every error nervosum raises on purpose."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: list[dict[str, Any]] | None = None,
        error_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or []
        self.error_id = error_id

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"

    def to_record(self, *, expose_details: bool = True) -> dict[str, Any]:
        """The plain, JSON-able form sent to clients and across processes."""
        message = str(self)
        if self.details and not expose_details:
            # The message summarises the details, so it is withheld with them.
            message = "the request was rejected; the server log has the details"
        record: dict[str, Any] = {"type": self.code, "message": message}
        record["details"] = self.details if expose_details else []
        if self.error_id:
            record["error_id"] = self.error_id
        return record


class ConfigIssue:
    """One problem found in a configuration file, with where it is."""

    __slots__ = ("hint", "line", "message", "path")

    def __init__(self, path: str, message: str, line: int | None = None, hint: str | None = None):
        self.path = path
        self.message = message
        self.line = line
        self.hint = hint

    def render(self, filename: str) -> str:
        where = f"{filename}:{self.line}" if self.line else filename
        field = f" {self.path}:" if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}:{field} {self.message}{hint}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "message": self.message, "line": self.line, "hint": self.hint}


class ConfigError(NervosumError):
    """nervosum.yaml could not be read or is invalid; ``issues`` lists every problem."""

    code = "config_error"
    exit_code = 2

    def __init__(self, filename: str, issues: list[ConfigIssue]) -> None:
        self.filename = filename
        self.issues = issues
        lines = [issue.render(filename) for issue in issues]
        super().__init__("\n".join(lines), details=[i.to_dict() for i in issues])

    def __str__(self) -> str:
        return self.message


class ModelDefinitionError(NervosumError):
    """The user's model code or artifact cannot be imported, found or constructed."""

    code = "model_definition"
    exit_code = 2


class RequestError(NervosumError):
    """The client sent something the server cannot read."""

    code = "bad_request"
    http_status = 400
    exit_code = 2


class PayloadTooLargeError(RequestError):
    code = "payload_too_large"
    http_status = 413


class UnsupportedMediaTypeError(RequestError):
    code = "unsupported_media_type"
    http_status = 415


class NotFoundError(RequestError):
    code = "not_found"
    http_status = 404


class MethodNotAllowedError(RequestError):
    code = "method_not_allowed"
    http_status = 405


class UnauthorizedError(RequestError):
    """No credentials, or credentials no key or token matches (``WWW-Authenticate`` says how)."""

    code = "unauthorized"
    http_status = 401


class ForbiddenError(RequestError):
    """Valid credentials without the scope the route needs."""

    code = "forbidden"
    http_status = 403


class RateLimitedError(RequestError):
    """Too many failed authentications or admin requests from one client address."""

    code = "rate_limited"
    http_status = 429


class ReadTimeoutError(RequestError):
    """The client did not send the request head or body within the server's read timeouts."""

    code = "read_timeout"
    http_status = 408


class UrlTooLongError(RequestError):
    code = "url_too_long"
    http_status = 414


class HeaderTooLargeError(RequestError):
    code = "header_too_large"
    http_status = 431


class InputValidationError(RequestError):
    """Input records break the declared schema; ``details`` names each bad field."""

    code = "validation_error"
    http_status = 422


class InvalidInputError(InputValidationError):
    """Raise this from model code to reject an input as unscorable (HTTP 422).

    ``field`` names the offending input field when there is one.
    """

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        details = [{"loc": [field] if field else [], "msg": message, "type": "invalid_input"}]
        super().__init__(message, details=details)


class StepError(NervosumError):
    """A graph step's method raised, or returned something that is not a message."""

    code = "step_failed"
    http_status = 422


class PredictionError(NervosumError):
    """The model raised while predicting; ``error_id`` ties the client's answer to the log."""

    code = "prediction_error"

    def __init__(self, message: str, *, error_id: str) -> None:
        super().__init__(message, error_id=error_id)


class ModelOutputError(PredictionError):
    """The model returned something that cannot be turned into one output per input row."""

    code = "model_output"


class BatchAbortedError(NervosumError):
    """A batch job stopped early (too many rejects); the parts written so far are kept."""

    code = "batch_aborted"


class BuildError(NervosumError):
    """Building a bundle or an image failed for a reason outside nervosum.yaml."""

    code = "build_error"


class RegistryError(NervosumError):
    """No bundle in the local registry matches what was asked for."""

    code = "not_in_registry"
    http_status = 404


class SourceError(NervosumError):
    """A model repository could not be read (a clone or fetch failed); nothing changed."""

    code = "source_error"
    http_status = 502


class ConflictError(NervosumError):
    """The request cannot apply to the server as it is now (promote with no challenger
    ready, roll back with no promotion); the message names why."""

    code = "conflict"
    http_status = 409


class NotExplainableError(NervosumError):
    """This model cannot be explained as it is served (no numeric inputs, labels without
    probabilities, no background rows for a model without trees): the server's
    limitation, not the request's fault; the message says what would make it work."""

    code = "not_explainable"
    http_status = 501
    exit_code = 2  # nervosum batch --explain: the model, as configured, cannot be


class NotReadyError(NervosumError):
    code = "not_ready"
    http_status = 503


class OverloadedError(NotReadyError):
    """The request queue is full; the client should retry after a moment (backpressure)."""

    code = "overloaded"


class RequestTimeoutError(NervosumError):
    """The model did not answer within ``server.timeout``."""

    code = "timeout"
    http_status = 504


def _codes(cls: type[NervosumError]) -> dict[str, type[NervosumError]]:
    found = {cls.code: cls}
    for sub in cls.__subclasses__():
        found.update(_codes(sub))
    return found


def error_from_record(record: dict[str, Any]) -> NervosumError:
    """Rebuild an error sent across a process boundary as :meth:`NervosumError.to_record`."""
    cls = _codes(NervosumError).get(str(record.get("type")), NervosumError)
    error = cls.__new__(cls)
    NervosumError.__init__(
        error,
        str(record.get("message", "")),
        details=list(record.get("details") or []),
        error_id=record.get("error_id"),
    )
    return error
