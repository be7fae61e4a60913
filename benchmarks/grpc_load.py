"""A small gRPC load generator for benchmarks/serve.py: ``concurrency`` callers, each
sending one ModelInfer after another for ``seconds``, on one asyncio loop.

    python benchmarks/grpc_load.py 127.0.0.1:8081 iris 64 10

ghz is not installable here (no internet beyond PyPI, Debian and npm), so this is the
load generator; it prints one JSON line: requests/s, p50 and p99 in ms, errors, and the
CPU it used itself per second (it shares the machine with the server: read its CPU
beside the server's).

The request is one [1, 4] FP32 tensor in ``contents`` (no raw bytes), which every
Open Inference Protocol server reads, MLServer's included.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import grpc

from nervosum.serving.inference_grpc.messages import InferRequest, InferResponse

ROW = [6.7, 3.0, 5.2, 2.3]
CONNECTIONS = 8


def request(model: str) -> object:
    message = InferRequest(model_name=model)
    tensor = message.inputs.add(name="x", datatype="FP32", shape=[1, len(ROW)])
    tensor.contents.fp32_contents.extend(ROW)
    return message


async def load(target: str, model: str, concurrency: int, seconds: float) -> dict[str, float]:
    sent = request(model)
    latencies: list[float] = []
    errors = 0
    # Several connections, as wrk opens one per caller: the server's workers share the
    # port by SO_REUSEPORT, which spreads connections, not calls.
    channels = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(min(concurrency, CONNECTIONS))
    ]
    calls = [
        channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=InferRequest.SerializeToString,
            response_deserializer=InferResponse.FromString,
        )
        for channel in channels
    ]
    for infer in calls:
        await infer(sent, timeout=30)  # connected before the clock starts
    stop = time.perf_counter() + seconds

    async def caller(infer: grpc.aio.UnaryUnaryMultiCallable) -> None:
        nonlocal errors
        while (started := time.perf_counter()) < stop:
            try:
                await infer(sent, timeout=10)
            except grpc.aio.AioRpcError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    cpu = os.times()
    began = time.perf_counter()
    await asyncio.gather(*(caller(calls[i % len(calls)]) for i in range(concurrency)))
    elapsed = time.perf_counter() - began
    used = os.times()
    for channel in channels:
        await channel.close()
    latencies.sort()
    count = len(latencies)
    return {
        "rps": count / elapsed,
        "p50": latencies[count // 2] * 1000 if count else 0.0,
        "p99": latencies[min(count - 1, int(count * 0.99))] * 1000 if count else 0.0,
        "errors": float(errors),
        "requests": float(count + errors),
        "load_cpu": (used.user + used.system - cpu.user - cpu.system) / elapsed,
    }


def main() -> None:
    target, model, concurrency, seconds = sys.argv[1:5]
    figures = asyncio.run(load(target, model, int(concurrency), float(seconds)))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
