"""The protocol's message classes, built at import from ``inference.binpb`` (compiled from
``inference.proto`` by ``scripts/compile-proto``).

No generated ``_pb2`` module: generated code checks the protobuf runtime against the
release that generated it, and nervosum runs beside user code that pins its own protobuf.
A descriptor set is read by every runtime from 4.21 on. The file lives in a pool of its
own: tritonclient, imported in the same process, registers its own ``inference`` package
in the default pool. Server reflection is given this pool (``grpcurl`` without a .proto).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"
PROTO = "inference.proto"


def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    raw = files(__package__).joinpath("inference.binpb").read_bytes()
    for proto in descriptor_pb2.FileDescriptorSet.FromString(raw).file:
        pool.Add(proto)
    return pool


POOL = _pool()


def message(name: str) -> Any:
    """The class of the protocol's message ``name`` (e.g. ``ModelInferRequest``)."""
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


def method_types(name: str) -> tuple[Any, Any]:
    """The request and response classes of the service's method ``name``."""
    method = POOL.FindServiceByName(SERVICE).methods_by_name[name]
    return (
        message_factory.GetMessageClass(method.input_type),
        message_factory.GetMessageClass(method.output_type),
    )


METHODS = tuple(m.name for m in POOL.FindServiceByName(SERVICE).methods)
InferRequest = message("ModelInferRequest")
InferResponse = message("ModelInferResponse")
