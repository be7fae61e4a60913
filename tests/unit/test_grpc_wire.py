"""The gRPC protocol's definition: the committed descriptor set is the .proto compiled, and
every message and method of it is wire-compatible with tritonclient's own definitions (the
protocol's most used client): same names, field numbers, types and method signatures."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from tritonclient.grpc import service_pb2

from nervosum.serving.inference_grpc import messages

FOLDER = Path(messages.__file__).parent


def _nested(message: Descriptor) -> Iterator[Descriptor]:
    yield message
    for inner in message.nested_types:
        yield from _nested(inner)


def _shape(field: FieldDescriptor) -> tuple[int, int, bool, str | None]:
    kind = field.message_type.full_name if field.message_type is not None else None
    repeated = bool(field.is_repeated)
    return field.number, field.type, repeated, kind


def test_the_descriptor_set_is_the_proto_compiled(tmp_path: Path) -> None:
    out = tmp_path / "inference.binpb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{FOLDER}",
            f"--descriptor_set_out={out}",
            "inference.proto",
        ],
        check=True,
    )
    committed = (FOLDER / "inference.binpb").read_bytes()
    assert out.read_bytes() == committed, "run scripts/compile-proto after editing the .proto"


def test_every_message_matches_tritonclients() -> None:
    ours = messages.POOL.FindFileByName(messages.PROTO)
    theirs = service_pb2.DESCRIPTOR.pool
    checked = 0
    for top in ours.message_types_by_name.values():
        for message in _nested(top):
            other = theirs.FindMessageTypeByName(message.full_name)
            mine = {f.name: _shape(f) for f in message.fields}
            assert mine == {f.name: _shape(f) for f in other.fields}, message.full_name
            checked += 1
    assert checked >= 30


def test_every_method_matches_tritonclients() -> None:
    ours = messages.POOL.FindServiceByName(messages.SERVICE)
    theirs = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert ours.full_name == theirs.full_name == "inference.GRPCInferenceService"
    for method in ours.methods:
        other = theirs.methods_by_name[method.name]
        assert method.input_type.full_name == other.input_type.full_name
        assert method.output_type.full_name == other.output_type.full_name
    assert set(messages.METHODS) >= {"ServerLive", "ModelInfer", "RepositoryIndex"}
