"""Serving throughput of nervosum against a ceiling, a naive server and peers, in one run.

    python benchmarks/serve.py                      # everything, 15 s per cell
    python benchmarks/serve.py --only nervosum-batch-1w naive-fastapi-1w --seconds 5
    python benchmarks/serve.py --only nervosum-batch-1w nervosum-batch-1w-auth --concurrency 64

Every server answers the same RandomForest (100 trees, random_state=0) trained on iris,
one row per request, measured with wrk (`apt-get install wrk`) at concurrency 1, 16 and
64 after a warm-up. Peers are installed by this script into their own virtualenvs under
--venvs (once; later runs reuse them). For each cell it prints successful requests/s,
p50 and p99 latency, errors, and the CPU used by the server and by wrk, then the ratios
nervosum / naive, / best peer and / ceiling, and what authentication costs (the same
server with an API key checked on every request, ``*-auth``, against the one without).
The ``*-grpc`` cells send the same row over the Open Inference Protocol's gRPC, loaded by
benchmarks/grpc_load.py (its CPU in the wrk column), nervosum against MLServer's gRPC.
Figures, not pass/fail: the machine is small and shared, so compare cells of one run,
never across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROW = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
V2_BODY = {
    "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": list(ROW.values())}]
}
TICKS = os.sysconf("SC_CLK_TCK")
Cells = dict[int, dict[str, float]]  # one server's figures by concurrency
# The model-file cells of issue 21: compile on (the default) and off.
FILE_CELLS = {"compiled": [], "nocompile": ["--no-compile"]}

PEER_PACKAGES = {
    "naive": ["fastapi", "uvicorn[standard]", "scikit-learn", "pandas", "joblib"],
    "bentoml": ["bentoml<2", "scikit-learn", "pandas", "joblib"],
    "litserve": ["litserve", "scikit-learn", "pandas", "joblib"],
    # MLServer 1.7 fails to start its worker with uvloop >= 0.22.
    "mlserver": ["mlserver", "mlserver-sklearn", "pandas", "joblib", "uvloop<0.22"],
}

CEILING_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def predict(request):
    await request.body()
    return JSONResponse({"prediction": 2})

app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
"""

NAIVE_APP = """
import joblib, pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

MODEL = joblib.load("model.joblib")
FEATURES = __FEATURES__

class Row(BaseModel):
    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float

app = FastAPI()

@app.post("/predict")
def predict(row: Row):
    return {"prediction": int(MODEL.predict(pd.DataFrame([row.model_dump()], columns=FEATURES))[0])}
""".replace("__FEATURES__", repr(FEATURES))

BENTO_SERVICE = """
import joblib, numpy as np, pandas as pd, bentoml

FEATURES = __FEATURES__

@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Iris:
    def __init__(self):
        self.model = joblib.load("model.joblib")

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=1000)
    def predict(self, input: np.ndarray) -> np.ndarray:
        return self.model.predict(pd.DataFrame(input, columns=FEATURES))
""".replace("__FEATURES__", repr(FEATURES))

LIT_SERVER = """
import sys, joblib, pandas as pd, litserve as ls

FEATURES = __FEATURES__

class Iris(ls.LitAPI):
    def setup(self, device):
        self.model = joblib.load("model.joblib")
    def decode_request(self, request):
        return [request[f] for f in FEATURES]
    def batch(self, inputs):
        return pd.DataFrame(inputs, columns=FEATURES)
    def predict(self, x):
        return self.model.predict(x)
    def unbatch(self, output):
        return list(output)
    def encode_response(self, output):
        return {"prediction": int(output)}

if __name__ == "__main__":
    api = Iris(max_batch_size=64, batch_timeout=0.005)
    ls.LitServer(api, accelerator="cpu", workers_per_device=1).run(
        host="127.0.0.1", port=int(sys.argv[1]), generate_client_file=False, log_level="warning")
""".replace("__FEATURES__", repr(FEATURES))


@dataclass
class Server:
    name: str
    kind: str  # ceiling, naive, peer, nervosum
    command: list[str]
    path: str = "/predict"
    body: dict[str, object] = field(default_factory=lambda: dict(ROW))
    env: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # A gRPC cell: the load goes to port2 over the Open Inference Protocol's gRPC, to this
    # model (benchmarks/grpc_load.py); HTTP is only asked whether the server answers.
    grpc_model: str | None = None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_python(venvs: Path, name: str) -> Path | None:
    """The peer's virtualenv, created on first use; None when it cannot be installed."""
    folder = venvs / name
    python = folder / "bin" / "python"
    marker = folder / ".installed"
    if marker.exists():
        return python
    print(f"installing {name} into {folder} ...", flush=True)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES[name]],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"  {name} did not install: {result.stderr.strip().splitlines()[-1:]}")
        return None
    marker.write_text(f"{time.monotonic() - started:.0f}s\n")
    return python


def prepare(work: Path) -> None:
    """Train the shared model and write every server's files into ``work``."""
    import joblib
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    iris = load_iris()
    model = RandomForestClassifier(n_estimators=100, random_state=0)
    model.fit(pd.DataFrame(iris.data, columns=FEATURES), iris.target)
    joblib.dump(model, work / "model.joblib")
    (work / "ceiling_app.py").write_text(CEILING_APP)
    (work / "naive_app.py").write_text(NAIVE_APP)
    (work / "bento_service.py").write_text(BENTO_SERVICE)
    (work / "lit_server.py").write_text(LIT_SERVER)
    mls = work / "mls"
    mls.mkdir(exist_ok=True)
    shutil.copy(work / "model.joblib", mls / "model.joblib")
    (mls / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "iris",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "max_batch_size": 64,
                "max_batch_time": 0.005,
                "parameters": {"uri": "./model.joblib"},
            }
        )
    )
    schema = "".join(f"  - {{name: {f}, type: float}}\n" for f in FEATURES)
    from nervosum.serving.auth.keys import key_line, new_key

    key = new_key()
    (work / "api-key").write_text(key)
    (work / "keys.txt").write_text(key_line(key, "predict", "bench") + "\n")
    for name, batching in (("batch", "true"), ("nobatch", "false")):
        (work / f"nervosum-{name}.yaml").write_text(
            "name: iris\nmodel: {artifact: model.joblib, probabilities: false}\n"
            f"batching: {{enabled: {batching}}}\ninput_schema:\n{schema}"
            "output_schema: {name: prediction, type: int}\n"
        )
    # The model file's own inferred settings, with a reference (live drift on, issue 25)
    # and without, so the two cells differ by the reference only.
    pd.DataFrame(iris.data, columns=FEATURES).to_csv(work / "reference.csv", index=False)
    settings = f"name: model\nmodel: {{artifact: model.joblib}}\ninput_schema:\n{schema}"
    (work / "nervosum-nodrift.yaml").write_text(settings)
    (work / "nervosum-drift.yaml").write_text(
        f"{settings}monitoring: {{reference: reference.csv}}\n"
    )


def servers(work: Path, venvs: Path, peers: list[str]) -> list[Server]:
    port = "{port}"
    uvicorn_flags = [
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    naive = venv_python(venvs, "naive")
    found: list[Server] = []
    if naive is not None:
        ceiling = [str(naive), "-m", "uvicorn", "ceiling_app:app", *uvicorn_flags]
        found.append(Server("ceiling-starlette", "ceiling", ceiling))
        found.append(Server("ceiling-starlette-2w", "ceiling", [*ceiling, "--workers", "2"]))
        for workers in (1, 2):
            found.append(
                Server(
                    f"naive-fastapi-{workers}w",
                    "naive",
                    [
                        str(naive),
                        "-m",
                        "uvicorn",
                        "naive_app:app",
                        "--workers",
                        str(workers),
                        *uvicorn_flags,
                    ],
                )
            )
    if "bentoml" in peers and (bento := venv_python(venvs, "bentoml")):
        found.append(
            Server(
                "bentoml-batch64",
                "peer",
                [
                    str(bento.parent / "bentoml"),
                    "serve",
                    "bento_service:Iris",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    port,
                ],
                body={"input": [list(ROW.values())]},
            )
        )
    if "litserve" in peers and (lit := venv_python(venvs, "litserve")):
        found.append(Server("litserve-batch64", "peer", [str(lit), "lit_server.py", port]))
    if "mlserver" in peers and (mls := venv_python(venvs, "mlserver")):
        mlserver = Server(
            "mlserver-batch64",
            "peer",
            [str(mls.parent / "mlserver"), "start", "mls"],
            path="/v2/models/iris/infer",
            body=V2_BODY,
            env={
                "MLSERVER_HTTP_PORT": port,
                "MLSERVER_HOST": "127.0.0.1",
                "MLSERVER_GRPC_PORT": "{port2}",
                "MLSERVER_METRICS_PORT": "{port3}",
            },
        )
        found.append(mlserver)
        found.append(
            replace(mlserver, name="mlserver-batch64-grpc", kind="grpc-peer", grpc_model="iris")
        )
    serve = [
        sys.executable,
        "-m",
        "nervosum",
        "serve",
        str(work),
        "--port",
        port,
        "--log-level",
        "warning",
    ]
    found += [
        Server("nervosum-nobatch-1w", "nervosum", [*serve, "-c", "nervosum-nobatch.yaml"]),
        Server("nervosum-batch-1w", "nervosum", [*serve, "-c", "nervosum-batch.yaml"]),
        Server(
            "nervosum-batch-1w-auth",
            "nervosum",
            [*serve, "-c", "nervosum-batch.yaml", "--api-keys-file", "keys.txt"],
            headers={"Authorization": f"Bearer {(work / 'api-key').read_text()}"},
        ),
        Server(
            "nervosum-batch-2w", "nervosum", [*serve, "-c", "nervosum-batch.yaml", "--workers", "2"]
        ),
        Server(
            "nervosum-batch-model-process",
            "nervosum",
            [*serve, "-c", "nervosum-batch.yaml", "--model-process"],
        ),
    ]
    # The joblib file served as it is (issue 21): compiled to ONNX by default, and with
    # --no-compile; ?proba=false so it computes the same `predict` as every other server.
    model_file = [*serve[:4], str(work / "model.joblib"), *serve[5:]]
    for compiled, flags in FILE_CELLS.items():
        for workers in (1, 2):
            found.append(
                Server(
                    f"nervosum-file-{compiled}-{workers}w",
                    "nervosum",
                    [*model_file, *flags, "--workers", str(workers)],
                    path="/predict?proba=false",
                )
            )
    # Champion and challenger (issue 24): the same file as both arms, the challenger
    # scoring a copy of every request (shadow) or answering 10% of them (canary); and
    # with --model-process, each arm in a process of its own, against the champion alone
    # in its model process.
    challenger = ["--challenger", str(work / "model.joblib")]
    for arm, flags in VARIANT_CELLS.items():
        found.append(
            Server(
                f"nervosum-file-compiled-1w-{arm}",
                "variants",
                [*model_file, *(challenger if arm != "mp" else []), *flags],
                path="/predict?proba=false",
            )
        )
    # Live drift (issue 25): the same file and settings with a reference, every answered
    # request's rows kept for the drift window, and without one.
    for cell, config in (("nodrift", "nervosum-nodrift.yaml"), ("drift", "nervosum-drift.yaml")):
        found.append(
            Server(
                f"nervosum-file-compiled-1w-{cell}",
                "monitoring",
                [*serve, "-c", config, "--workers", "1"],
                path="/predict?proba=false",
            )
        )
    # The same file over gRPC (issue 23), beside its REST cells.
    for workers in (1, 2):
        found.append(
            Server(
                f"nervosum-file-compiled-{workers}w-grpc",
                "grpc-nervosum",
                [*model_file, "--workers", str(workers), "--grpc-port", "{port2}"],
                path="/predict?proba=false",
                grpc_model="model",
            )
        )
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = (Path("/proc") / str(current) / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        except (OSError, IndexError, ValueError):
            pass
        pending.extend(children.get(current, []))
    return total


def wrk(
    url: str,
    body: dict[str, object],
    concurrency: int,
    seconds: float,
    headers: dict[str, str] | None = None,
) -> dict[str, float]:
    """One wrk run; its own CPU comes from the rusage of finished children."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\n'
            f"wrk.body = [==[{json.dumps(body)}]==]\n"  # level-2 long string: bodies hold ]]
        )
        for name, value in (headers or {}).items():
            script.write(f'wrk.headers["{name}"] = "{value}"\n')
    before = os.times()
    try:
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{seconds:g}s",
                "--timeout",
                "10s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    after = os.times()
    figures = {
        "errors": 0.0,
        "wrk_cpu": (
            after.children_user
            + after.children_system
            - before.children_user
            - before.children_system
        )
        / seconds,
    }
    for line in output.splitlines():
        parts = line.split()
        if line.strip().startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif parts[:1] in (["50%"], ["99%"]):
            figures[f"p{parts[0][:-1]}"] = _ms(parts[1])
        elif "requests in" in line:
            figures["requests"] = float(parts[0])
        elif "Non-2xx" in line or line.strip().startswith("Socket errors"):
            figures["errors"] += sum(float(p.rstrip(",")) for p in parts if p.rstrip(",").isdigit())
    if figures.get("requests"):
        figures["ok_rps"] = figures["rps"] * max(0.0, 1 - figures["errors"] / figures["requests"])
    return figures


def grpc_load(target: str, model: str, concurrency: int, seconds: float) -> dict[str, float]:
    """One run of benchmarks/grpc_load.py, in wrk's figures (its CPU as ``wrk_cpu``)."""
    output = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("grpc_load.py")),
            target,
            model,
            str(concurrency),
            f"{seconds:g}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = json.loads(output)
    figures = {key: float(found[key]) for key in ("rps", "p50", "p99", "errors", "requests")}
    figures["wrk_cpu"] = float(found["load_cpu"])
    figures["ok_rps"] = figures["rps"]  # counted from answered calls only
    return figures


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def measure(
    server: Server, work: Path, levels: list[int], seconds: float, warmup: float
) -> dict[int, dict[str, float]]:
    ports = {"port": str(free_port()), "port2": str(free_port()), "port3": str(free_port())}
    command = [part.format(**ports) for part in server.command]
    env = {**os.environ, **{k: v.format(**ports) for k, v in server.env.items()}}
    url = f"http://127.0.0.1:{ports['port']}{server.path}"
    log = (work / f"{server.name}.log").open("w")
    process = subprocess.Popen(
        command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    results: dict[int, dict[str, float]] = {}
    try:
        if not _wait_answering(url, server.body, server.headers, process, timeout=180):
            print(f"  {server.name}: never answered (see {log.name})")
            return results
        for concurrency in levels:
            if server.grpc_model is not None:
                target = f"127.0.0.1:{ports['port2']}"
                grpc_load(target, server.grpc_model, concurrency, warmup)
                cpu = tree_cpu(process.pid)
                figures = grpc_load(target, server.grpc_model, concurrency, seconds)
            else:
                wrk(url, server.body, concurrency, warmup, server.headers)
                cpu = tree_cpu(process.pid)
                figures = wrk(url, server.body, concurrency, seconds, server.headers)
            figures["server_cpu"] = (tree_cpu(process.pid) - cpu) / seconds
            results[concurrency] = figures
            print(f"  {server.name:30} c={concurrency:<3} {_row(figures)}", flush=True)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    return results


def _wait_answering(
    url: str,
    body: dict[str, object],
    headers: dict[str, str],
    process: subprocess.Popen[bytes],
    timeout: float,
) -> bool:
    import urllib.request

    deadline = time.monotonic() + timeout
    data = json.dumps(body).encode()
    while time.monotonic() < deadline and process.poll() is None:
        try:
            request = urllib.request.Request(
                url, data=data, headers={"content-type": "application/json", **headers}
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def _row(f: dict[str, float]) -> str:
    return (
        f"{f.get('ok_rps', 0):8.0f} req/s  p50 {f.get('p50', 0):7.1f} ms  "
        f"p99 {f.get('p99', 0):7.1f} ms  errors {int(f.get('errors', 0)):5}  "
        f"server {f.get('server_cpu', 0):.2f} cores  wrk {f.get('wrk_cpu', 0):.2f}"
    )


def _cell(f: dict[str, float]) -> str:
    return f"{f['ok_rps']:.0f} ({f.get('p50', 0):.0f} / {f.get('p99', 0):.0f})"


def report(
    all_results: dict[str, dict[int, dict[str, float]]], kinds: dict[str, str], levels: list[int]
) -> None:
    print("\n| server | " + " | ".join(f"c={c} req/s (p50 / p99 ms)" for c in levels) + " |")
    print("|---|" + "---|" * len(levels))
    for name, cells in all_results.items():
        row = [_cell(cells[c]) if c in cells else "-" for c in levels]
        print(f"| {name} | " + " | ".join(row) + " |")
    print("\n| nervosum config | c | vs naive 1w | vs best peer | vs ceiling |")
    print("|---|---|---|---|---|")

    def best(kind: str, c: int) -> float:
        cells = [r[c]["ok_rps"] for n, r in all_results.items() if kinds[n] == kind and c in r]
        return max(cells, default=0.0)

    for c in levels:
        naive = all_results.get("naive-fastapi-1w", {}).get(c, {}).get("ok_rps", 0.0)
        peer, ceiling = best("peer", c), best("ceiling", c)
        for name, cells in all_results.items():
            if kinds[name] == "nervosum" and c in cells:
                rps = cells[c]["ok_rps"]
                ratios = [f"{rps / base:.1f}x" if base else "-" for base in (naive, peer, ceiling)]
                print(f"| {name} | {c} | " + " | ".join(ratios) + " |")
    _auth_cost(all_results, levels)
    _cpu_per_request(all_results, levels)
    _targets(all_results, kinds)
    _grpc_targets(all_results)
    _variant_costs(all_results)
    _drift_cost(all_results)


VARIANT_CELLS = {
    "shadow": ["--shadow"],
    "canary10": ["--canary", "10%"],
    "mp": ["--model-process"],
    "mp-shadow": ["--model-process", "--shadow"],
}


def _variant_costs(all_results: dict[str, Cells]) -> None:
    """Issue 24: the champion's latency and throughput with a challenger beside it, against
    the champion alone served the same way (target: p99 at most 5% higher at c=64 with
    shadow on)."""
    base = "nervosum-file-compiled-1w"
    pairs = (("shadow", base), ("canary10", base), ("mp-shadow", f"{base}-mp"))
    rows = [
        (name, all_results.get(f"{base}-{name}", {}).get(64), all_results.get(alone, {}).get(64))
        for name, alone in pairs
    ]
    if not any(cell and alone for _, cell, alone in rows):
        return
    print("\nchallenger beside the champion (c=64, against the champion alone served alike)")
    print("| mode | req/s | alone | vs alone | p99 ms | alone | vs alone | target |")
    print("|---|---|---|---|---|---|---|---|")
    for name, cell, alone in rows:
        if not cell or not alone:
            continue
        growth = cell["p99"] / alone["p99"] - 1
        target = _verdict(growth <= 0.05) if "shadow" in name else "-"
        print(
            f"| {name} | {cell['ok_rps']:.0f} | {alone['ok_rps']:.0f} |"
            f" {cell['ok_rps'] / alone['ok_rps']:.0%} | {cell['p99']:.1f} | {alone['p99']:.1f} |"
            f" {growth:+.0%} | {target} |"
        )


def _drift_cost(all_results: dict[str, Cells]) -> None:
    """Issue 25: live drift on costs at most 3% of requests/s at c=64, against the same
    settings without a reference."""
    cell = all_results.get("nervosum-file-compiled-1w-drift", {}).get(64)
    alone = all_results.get("nervosum-file-compiled-1w-nodrift", {}).get(64)
    if not cell or not alone:
        return
    share = cell["ok_rps"] / alone["ok_rps"]
    print("\nlive drift on (c=64, against the same settings without a reference)")
    print("| req/s | without | vs without | p99 ms | without | target |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {cell['ok_rps']:.0f} | {alone['ok_rps']:.0f} | {share:.1%} | {cell['p99']:.1f} |"
        f" {alone['p99']:.1f} | {_verdict(share >= 0.97)} |"
    )


def _grpc_targets(all_results: dict[str, Cells]) -> None:
    """Issue 23's gRPC targets at c=64, against MLServer's gRPC with adaptive batching
    and against nervosum's own REST path with as many workers."""
    peer = all_results.get("mlserver-batch64-grpc", {}).get(64, {}).get("ok_rps", 0.0)
    cells = [(f"nervosum-file-compiled-{w}w-grpc", f"nervosum-file-compiled-{w}w") for w in (1, 2)]
    cells = [(name, rest) for name, rest in cells if 64 in all_results.get(name, {})]
    if not cells or not peer:
        print("\ntargets of issue 23: need the gRPC cells and mlserver-batch64-grpc at c=64")
        return
    print(f"\ntargets of issue 23 (c=64; MLServer gRPC {peer:.0f} calls/s)")
    print("| target | " + " | ".join(name for name, _ in cells) + " |")
    print("|---|" + "---|" * len(cells))

    def line(label: str, figure: Callable[[str, str], tuple[str, bool]]) -> None:
        row = []
        for name, rest in cells:
            shown, passed = figure(name, rest)
            row.append(f"{shown} {_verdict(passed)}")
        print(f"| {label} | " + " | ".join(row) + " |")

    def ratio_to_peer(name: str, rest: str) -> tuple[str, bool]:
        rps = all_results[name][64]["ok_rps"]
        return f"{rps / peer:.1f}x", rps >= 3 * peer

    def p99(name: str, rest: str) -> tuple[str, bool]:
        value = all_results[name][64]["p99"]
        return f"{value:.1f} ms", value <= 100

    def errors(name: str, rest: str) -> tuple[str, bool]:
        count = sum(int(c.get("errors", 0)) for c in all_results[name].values())
        return f"{count} errors", count == 0

    def against_rest(name: str, rest: str) -> tuple[str, bool]:
        rest_rps = all_results.get(rest, {}).get(64, {}).get("ok_rps", 0.0)
        if not rest_rps:
            return "no REST cell", False
        rps = all_results[name][64]["ok_rps"]
        return f"{rps / rest_rps:.0%} of REST", rps >= rest_rps

    line(">= 3x MLServer gRPC", ratio_to_peer)
    line("p99 <= 100 ms", p99)
    line("no errors", errors)
    line(">= nervosum REST, same workers", against_rest)


def _cpu_per_request(all_results: dict[str, Cells], levels: list[int]) -> None:
    """Server CPU per successful request: what each server's own path costs, the model
    call included (the ceiling's figure is the HTTP stack alone)."""
    print("\n| server | " + " | ".join(f"c={c} CPU µs / request" for c in levels) + " |")
    print("|---|" + "---|" * len(levels))
    for name, cells in all_results.items():
        row = [
            f"{cells[c]['server_cpu'] / cells[c]['ok_rps'] * 1e6:.0f}"
            if cells.get(c, {}).get("ok_rps")
            else "-"
            for c in levels
        ]
        print(f"| {name} | " + " | ".join(row) + " |")


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _targets(all_results: dict[str, Cells], kinds: dict[str, str]) -> None:
    """Issue 21's serving targets for the model file compiled (PASS / FAIL), with the
    same file served with --no-compile beside it (figures only)."""
    peers = [(r[64]["ok_rps"], n) for n, r in all_results.items() if kinds[n] == "peer" and 64 in r]
    ceilings = [r for n, r in all_results.items() if kinds[n] == "ceiling"]
    ceiling = max((r[64]["ok_rps"] for r in ceilings if 64 in r), default=0.0)
    hello_p50 = min((r[1]["p50"] for r in ceilings if 1 in r and "p50" in r[1]), default=0.0)
    peer, peer_name = max(peers, default=(0.0, "none"))
    cells = [
        (f"nervosum-file-{compiled}-{workers}w", compiled == "compiled")
        for compiled in FILE_CELLS
        for workers in (1, 2)
    ]
    cells = [(name, judged) for name, judged in cells if 64 in all_results.get(name, {})]
    if not cells or not peer or not ceiling:
        print("\ntargets of issue 21: need the model-file cells, a peer and the ceiling at c=64")
        return
    print(
        f"\ntargets of issue 21 (c=64; best peer {peer_name} {peer:.0f} req/s, ceiling: best "
        f"hello-world {ceiling:.0f} req/s, hello-world p50 at c=1 {hello_p50:.2f} ms);"
        " compile off is shown, not judged"
    )
    print("| target | " + " | ".join(name for name, _ in cells) + " |")
    print("|---|" + "---|" * len(cells))

    def line(label: str, figure: Callable[[Cells], str], passes: Callable[[Cells], bool]) -> None:
        row = []
        for name, judged in cells:
            results = all_results[name]
            shown = figure(results)
            row.append(f"{shown} {_verdict(passes(results))}" if judged else shown)
        print(f"| {label} | " + " | ".join(row) + " |")

    line(
        ">= 6x the best peer",
        lambda r: f"{r[64]['ok_rps'] / peer:.1f}x",
        lambda r: r[64]["ok_rps"] >= 6 * peer,
    )
    line(
        ">= 60% of the ceiling",
        lambda r: f"{r[64]['ok_rps'] / ceiling:.0%}",
        lambda r: r[64]["ok_rps"] >= 0.6 * ceiling,
    )
    line("p99 <= 30 ms", lambda r: f"{r[64]['p99']:.1f} ms", lambda r: r[64]["p99"] <= 30)
    line(
        "no errors",
        lambda r: f"{sum(int(c.get('errors', 0)) for c in r.values())} errors",
        lambda r: not any(c.get("errors") for c in r.values()),
    )
    line(
        "c=1 p50 <= 2x hello-world p50",
        lambda r: f"{r[1]['p50']:.2f} ms ({r[1]['p50'] / hello_p50:.1f}x)" if 1 in r else "-",
        lambda r: 1 in r and r[1]["p50"] <= 2 * hello_p50,
    )


def _auth_cost(all_results: dict[str, dict[int, dict[str, float]]], levels: list[int]) -> None:
    """Requests/s with authentication against the same server without it (target: at
    most 3% fewer at c=64, issue 20)."""
    pairs = [(n, n.removesuffix("-auth")) for n in all_results if n.endswith("-auth")]
    pairs = [(auth, plain) for auth, plain in pairs if plain in all_results]
    if not pairs:
        return
    print("\n| authentication | c | req/s with | req/s without | change |")
    print("|---|---|---|---|---|")
    for auth, plain in pairs:
        for c in levels:
            if c in all_results[auth] and c in all_results[plain]:
                with_auth = all_results[auth][c]["ok_rps"]
                without = all_results[plain][c]["ok_rps"]
                change = f"{(with_auth / without - 1) * 100:+.1f}%" if without else "-"
                print(f"| {auth} | {c} | {with_auth:.0f} | {without:.0f} | {change} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--peers", nargs="*", default=["bentoml", "litserve", "mlserver"])
    parser.add_argument("--only", nargs="*", help="run just these server names")
    parser.add_argument("--venvs", type=Path, default=Path.home() / ".cache" / "nervosum-bench")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    args.venvs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nervosum-bench-"))
    prepare(work)
    chosen = [
        s for s in servers(work, args.venvs, args.peers) if not args.only or s.name in args.only
    ]
    print(f"{len(chosen)} servers, concurrency {args.concurrency}, {args.seconds:g} s per cell")
    print(f"work dir (logs, model, server files): {work}")
    results = {
        s.name: measure(s, work, args.concurrency, args.seconds, args.warmup) for s in chosen
    }
    report(
        {n: r for n, r in results.items() if r}, {s.name: s.kind for s in chosen}, args.concurrency
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
