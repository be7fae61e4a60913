"""A nervosum error as a gRPC status: the code a gRPC client expects for it, the same
message the JSON error carries, and the error's type, hint and id as trailing metadata."""

from __future__ import annotations

import grpc

from nervosum.errors import NervosumError

# By the HTTP status each error already has: one table, so both protocols agree.
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

ERROR_TYPE = "nervosum-error-type"
ERROR_HINT = "nervosum-hint"
ERROR_ID = "nervosum-error-id"


def status_of(error: NervosumError) -> grpc.StatusCode:
    status = error.http_status
    fallback = grpc.StatusCode.INTERNAL if status >= 500 else grpc.StatusCode.FAILED_PRECONDITION
    return _CODES.get(status, fallback)


def trailers(error: NervosumError) -> tuple[tuple[str, str], ...]:
    """The error's type, hint (retry advice for UNAVAILABLE) and id, for clients that
    read trailing metadata; ASCII only, as gRPC metadata values must be."""
    pairs = [(ERROR_TYPE, error.code)]
    if error.hint:
        pairs.append((ERROR_HINT, error.hint.encode("ascii", "replace").decode()))
    if error.error_id:
        pairs.append((ERROR_ID, error.error_id))
    return tuple(pairs)
