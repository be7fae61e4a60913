"""``inference.GRPCInferenceService``: each call checked by the same gate as HTTP, counted,
and answered by the model state that answers REST, so a gRPC prediction takes the REST
path from validation on (the batcher, the model thread or process, the prediction log).

Which model a call names is the :class:`Directory`'s to say: the one model of ``serve``
(:class:`OneModel`) or a serve-repo fleet's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol
from urllib.parse import unquote

import grpc
from google.protobuf import json_format

from nervosum.errors import NervosumError, NotReadyError, PredictionError, new_error_id
from nervosum.model.outputs import PROBABILITIES
from nervosum.observe.metrics import RequestMetrics
from nervosum.predlog.events import Exchange
from nervosum.serving.auth.gate import Gate
from nervosum.serving.body import PARSE_INLINE_LIMIT
from nervosum.serving.exchange import CURRENT, usable_id
from nervosum.serving.inference_grpc import messages
from nervosum.serving.inference_grpc.codec import fill_outputs, input_tensors, requested_outputs
from nervosum.serving.inference_grpc.status import status_of, trailers
from nervosum.serving.protocols import tensors
from nervosum.serving.protocols.naming import check_model_name
from nervosum.serving.state import ServingState

log = logging.getLogger("nervosum.grpc")

INFER = f"/{messages.SERVICE}/ModelInfer"

Handler = Callable[[Any, "Call"], Awaitable[Any]]
Route = tuple[str, str]  # the HTTP method and path of the same meaning, for the gate
ANY = "_"  # a model name in those paths: the policy judges the route, not the name
Context = grpc.aio.ServicerContext[Any, Any]


class Directory(Protocol):
    """The models a gRPC server answers for, its gate and its server-wide metrics."""

    gate: Gate
    metrics: RequestMetrics
    extensions: list[str]

    def lease(self, name: str, version: str) -> AbstractContextManager[ServingState]:
        """The state answering model ``name`` (and ``version``, when given) for one call;
        NotFoundError when none does."""
        ...

    def readiness(self) -> dict[str, bool]:
        """Each model's name and whether it can answer now."""
        ...

    def server_ready(self) -> bool:
        """Whether the server as a whole is ready (as its REST readiness route says)."""
        ...


class OneModel:
    """The directory of ``nervosum serve``: one model, under its name."""

    def __init__(self, state: ServingState, gate: Gate) -> None:
        self.state = state
        self.gate = gate
        self.metrics: RequestMetrics = state.metrics
        self.extensions: list[str] = []

    @contextmanager
    def lease(self, name: str, version: str) -> Iterator[ServingState]:
        check_model_name(self.state.project, name, version or None)
        yield self.state

    def readiness(self) -> dict[str, bool]:
        return {self.state.project.config.name: self.server_ready()}

    def server_ready(self) -> bool:
        return self.state.engine is not None


class Call:
    """One call in progress: its context, and the state of the model it names, once
    leased (its metrics count the call; its ``errors.expose_details`` applies)."""

    __slots__ = ("context", "state")

    def __init__(self, context: Context) -> None:
        self.context = context
        self.state: ServingState | None = None


def _client(context: Context) -> str:
    """The peer's address, the gate's rate-limit key: ``ipv4:10.0.0.1:5123`` ->
    ``10.0.0.1``, ``ipv6:%5B::1%5D:5123`` -> ``::1``."""
    peer = unquote(context.peer() or "unknown")
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rpartition(":")[0].strip("[]")
    return peer


class InferenceService:
    """The protocol's methods over a :class:`Directory`."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        # Each method and the HTTP route of the same meaning, whose access the gate knows:
        # fixed per method (a name in the message must not choose the route class).
        self._methods: dict[str, tuple[Handler, Route]] = {
            "ServerLive": (self.server_live, ("GET", "/v2/health/live")),
            "ServerReady": (self.server_ready, ("GET", "/v2/health/ready")),
            "ModelReady": (self.model_ready, ("GET", f"/v2/models/{ANY}/ready")),
            "ServerMetadata": (self.server_metadata, ("GET", "/v2")),
            "ModelMetadata": (self.model_metadata, ("GET", f"/v2/models/{ANY}")),
            "ModelInfer": (self.model_infer, ("POST", f"/v2/models/{ANY}/infer")),
        }

    def add_method(self, name: str, handler: Handler, route: Route) -> None:
        """Answer ``name`` with ``handler`` (the repository extension adds its three)."""
        self._methods[name] = (handler, route)

    def rpc_handler(self) -> grpc.GenericRpcHandler:
        """The service's handlers, each wrapped in the gate, the metrics and the error
        mapping."""
        handlers = {}
        for name, (handler, route) in self._methods.items():
            request_type, response_type = messages.method_types(name)
            handlers[name] = grpc.unary_unary_rpc_method_handler(
                self._answered(name, handler, route),
                request_deserializer=request_type.FromString,
                response_serializer=response_type.SerializeToString,
            )
        return grpc.method_handlers_generic_handler(messages.SERVICE, handlers)

    def _answered(
        self, method: str, handler: Handler, route: Route
    ) -> Callable[[Any, Context], Awaitable[Any]]:
        async def answer(request: Any, context: Context) -> Any:
            started = time.perf_counter()
            call = Call(context)
            code = grpc.StatusCode.OK
            try:
                try:
                    self._admit(route, context)
                    return await handler(request, call)
                except NervosumError as exc:
                    error = exc
                except asyncio.CancelledError:
                    remaining = context.time_remaining()
                    passed = remaining is not None and remaining <= 0
                    code = (
                        grpc.StatusCode.DEADLINE_EXCEEDED if passed else grpc.StatusCode.CANCELLED
                    )
                    raise
                except Exception:
                    error = PredictionError("the server failed to answer", error_id=new_error_id())
                    log.exception("%s failed (error id %s)", method, error.error_id)
                code = status_of(error)
                self._metrics(call).grpc.error(method, error.code)
            finally:
                self._metrics(call).grpc.observe(method, code.name, time.perf_counter() - started)
            expose = call.state.expose_details if call.state is not None else True
            context.set_code(code)
            context.set_details(error.to_record(expose_details=expose)["message"])
            context.set_trailing_metadata(trailers(error))
            return None

        return answer

    def _metrics(self, call: Call) -> RequestMetrics:
        """A call counts as its model's once it names one, else as the server's."""
        return call.state.metrics if call.state is not None else self.directory.metrics

    def _admit(self, route: Route, context: Context) -> None:
        """Raise the gate's refusal, if it refuses this call."""
        gate = self.directory.gate
        http_method, path = route

        def credentials() -> tuple[str | None, str | None]:
            metadata = dict(context.invocation_metadata() or ())
            authorization, api_key = metadata.get("authorization"), metadata.get("x-api-key")
            return (
                authorization if isinstance(authorization, str) else None,
                api_key if isinstance(api_key, str) else None,
            )

        denial = gate.check(http_method, path, _client(context), credentials)
        if denial is not None:
            raise denial.error

    async def server_live(self, request: Any, call: Call) -> Any:
        return messages.message("ServerLiveResponse")(live=True)

    async def server_ready(self, request: Any, call: Call) -> Any:
        return messages.message("ServerReadyResponse")(ready=self.directory.server_ready())

    async def model_ready(self, request: Any, call: Call) -> Any:
        try:
            with self.directory.lease(request.name, request.version) as state:
                ready = state.engine is not None
        except NotReadyError:  # a known model that cannot answer now (unloaded, failed)
            ready = False
        return messages.message("ModelReadyResponse")(ready=ready)

    async def server_metadata(self, request: Any, call: Call) -> Any:
        answer = tensors.server_metadata(self.directory.extensions)
        return json_format.ParseDict(answer, messages.message("ServerMetadataResponse")())

    async def model_metadata(self, request: Any, call: Call) -> Any:
        with self.directory.lease(request.name, request.version) as state:
            answer = tensors.model_metadata(state.project)
        return json_format.ParseDict(answer, messages.message("ModelMetadataResponse")())

    async def model_infer(self, request: Any, call: Call) -> Any:
        with self.directory.lease(request.model_name, request.model_version) as state:
            call.state = state
            exchange = Exchange(
                usable_id(request.id), INFER, staggered=True, headers=_headers(state, call)
            )
            token = CURRENT.set(exchange)
            failure: NervosumError | None = None
            try:
                return await self._infer(state, request, call)
            except NervosumError as exc:
                failure = exc
                raise
            except asyncio.CancelledError:
                failure = NervosumError("the client cancelled the call or its deadline passed")
                raise
            except Exception as exc:  # a nervosum bug: the client and the log get its id
                failure = PredictionError("the server failed to answer", error_id=new_error_id())
                log.exception("ModelInfer failed (error id %s)", failure.error_id)
                raise failure from exc
            finally:
                CURRENT.reset(token)
                state.log_exchange(exchange, failure, {})

    async def _infer(self, state: ServingState, request: Any, call: Call) -> Any:
        engine = state.require_engine()
        names = engine.inputs.names
        if request.ByteSize() > PARSE_INLINE_LIMIT:
            records = await asyncio.to_thread(_records, state, request, names)
        else:
            records = _records(state, request, names)
        wanted = requested_outputs(request)
        outputs = await state.infer(records, proba=bool(wanted and PROBABILITIES in wanted))
        name, version = state.answering_model()
        response = messages.InferResponse(model_name=name, model_version=version, id=request.id)
        declared = tensors.declared_outputs(state.project, engine.handle.output_names)
        answer = tensors.encode_outputs(outputs, wanted, declared)
        fill_outputs(response, answer, raw=bool(request.raw_input_contents))
        exchange = CURRENT.get()
        if exchange is not None and exchange.request_id != request.id:  # none, or unusable
            call.context.set_trailing_metadata((("x-request-id", exchange.request_id),))
        return response


def _headers(state: ServingState, call: Call) -> Sequence[tuple[bytes, bytes]]:
    """The call's metadata as HTTP headers, for a canary keyed on a header
    (``header:X-User-ID``); built only for such a canary, as gRPC is the fast path.
    Metadata keys are lowercase already, as ``routing_key`` compares them; a ``-bin``
    key's value is bytes already, the others' printable ASCII."""
    arms = state.arms
    if arms is None or arms.spec.mode != "canary" or not arms.key.startswith("header:"):
        return ()
    return [
        (
            name.encode("latin-1"),
            value if isinstance(value, bytes) else value.encode("latin-1", "replace"),
        )
        for name, value in call.context.invocation_metadata() or ()
    ]


def _records(state: ServingState, request: Any, names: tuple[str, ...]) -> list[Any]:
    rows = tensors.rows_of(input_tensors(request), names)
    return state.runtime.validate(rows)
