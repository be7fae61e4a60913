"""Every query of the dashboard against a live server: a real `nervosum serve` of a
project with a reference, the prediction log and a challenger (so every family a panel
may read is exported), some predictions and feedback, one scrape of /metrics. Each query
must parse (promtool check rules, as a recording rule), name only families the scrape
declares, and, fed the scraped samples as promtool's input series, return something.
The same for a `nervosum stream` worker's side port (on a real Redis) and for
`nervosum serve-repo` over a folder of two models."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from nervosum.deploy.dashboard import dashboard
from nervosum.deploy.repo_watch import folder_watched
from nervosum.deploy.watch import STREAM, watched
from nervosum.project import load_config
from tests.conftest import ProjectFactory, free_port, live_server, spawned_nervosum, wait_ready
from tests.integration.test_stream import Streams, worker
from tests.services.brokers import running

PROMTOOL = shutil.which("promtool")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed"),
]

CONFIG = """
name: churn
tag: {tag}
id_field: key
model: {{module: model, class: Model}}
input_schema:
  - {{name: x, type: float}}
  - {{name: plan, type: str}}
output_schema: {{name: label, type: str}}
{more}
"""
MODEL = """
class Model:
    def predict(self, frame):
        return ["yes" if x < 5 else "no" for x in frame["x"]]
"""
REFERENCE = "x,plan\n" + "".join(f"{i % 10}.5,{'ab'[i % 2]}\n" for i in range(200))
# Drift measured over rows (a gauge is NaN until the window has some), the log written.
MEASURED = [
    re.compile(rf"_{family}\{{[^}}]*\}} (?!NaN)")
    for family in (
        "prediction_drift",
        "feature_drift",
        "feature_out_of_range",
        "feature_unseen",
        "predlog_written_total",
    )
]
NAME = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*[{\[]")  # a series selector's metric


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False)


def _observed(make_project: ProjectFactory, tmp_path: Path, name: str, more: str = "") -> Path:
    """The project with a reference and the prediction log (and ``more``)."""
    more = (
        f"logging: {{sinks: [{{type: jsonl, path: {tmp_path / 'log.jsonl'}}}]}}\n"
        "monitoring: {reference: ref.csv, window: 100}\n"  # a PSI from its 100th row
        f"{more}"
    )
    files = {"model.py": MODEL, "ref.csv": REFERENCE}
    return make_project(CONFIG.format(tag="v1", more=more), files, name=name)


def _served_project(make_project: ProjectFactory, tmp_path: Path) -> Path:
    make_project(CONFIG.format(tag="v2", more=""), {"model.py": MODEL}, name="v2")
    return _observed(make_project, tmp_path, "v1", "variants: {challenger: ../v2, mode: shadow}\n")


def _row(i: int) -> dict[str, object]:
    return {"key": f"k{i}", "x": i % 12, "plan": "abc"[i % 3]}  # out of range, unseen


def _scrape(client: httpx.Client, predict: str = "/predict", feedback: bool = True) -> str:
    """Traffic of every kind a panel shows, then /metrics once drift is measured and the
    log written."""
    for i in range(120):
        assert client.post(predict, json=_row(i)).status_code == 200
    assert client.post(predict, json={"key": "bad", "x": "many"}).status_code >= 400
    if feedback:
        labels = [{"id": f"k{i}", "label": "yes"} for i in range(10)]
        assert client.post("/feedback", json=labels).status_code == 200
    return _measured(client)


def _measured(client: httpx.Client) -> str:
    """/metrics once drift is measured and the log written."""
    deadline = time.monotonic() + 30
    while not all(part.search(text := client.get("/metrics").text) for part in MEASURED):
        assert time.monotonic() < deadline, "drift was never measured, or the log never written"
        time.sleep(0.2)
    return text


def _declared(text: str) -> tuple[set[str], list[str]]:
    """Every sample name the scrape's families declare (a family with no sample yet, as
    the log's drop counter, declares its names too), and the samples as promtool input
    series: counters growing by their value each minute, gauges held."""
    names: set[str] = set()
    series: list[str] = []
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    for family in text_string_to_metric_families(text):
        names.update(family.name + end for end in suffixes.get(family.type, ("",)))
        for sample in family.samples:
            if sample.name.endswith("_created") or sample.value != sample.value:  # NaN
                continue
            labels = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(sample.labels.items()))
            grows = family.type in suffixes
            values = f"0+{sample.value:f}x20" if grows else f"{sample.value:f}x20"
            series.append(
                yaml.safe_dump({"series": f"{sample.name}{{{labels}}}", "values": values})
            )
    return names, series


def _queries(board: dict[str, Any], model: str) -> list[str]:
    """Every panel's query, as Grafana sends it with ``model`` picked."""
    return [
        target["expr"].replace("$model", model).replace("$__rate_interval", "5m")
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def test_every_dashboard_query_reads_what_a_live_server_exports(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    project = _served_project(make_project, tmp_path)
    board = dashboard(watched(load_config(project).config))
    titles = {panel["title"] for panel in board["panels"]}
    assert {"Feature drift (PSI)", "Quality per arm", "Prediction log"} <= titles
    assert "Predicted values" not in titles  # a classifier: classes, not a value histogram
    with live_server(project) as server, server.client() as client:
        text = _scrape(client)
    _check(_queries(board, "churn"), text, tmp_path)


def test_every_stream_dashboard_query_reads_what_a_live_worker_exports(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    """A `nervosum stream` worker on a real Redis, scraped on its side port."""
    project = _observed(make_project, tmp_path, "streamed")
    board = dashboard(watched(load_config(project).config, STREAM))
    titles = {panel["title"] for panel in board["panels"]}
    assert {"Messages/s by outcome", "Consumer lag", "Feature drift (PSI)"} <= titles
    assert not titles & {"Latency", "Model ready", "Feedback accuracy", "Quality per arm"}
    streams = Streams("in", "out", "dead")
    messages = [(f"m{i}".encode(), json.dumps(_row(i)).encode()) for i in range(120)]
    with running("redis") as broker, worker(project, broker, streams) as streamed:
        broker.put(streams.source, [*messages, (b"bad", b'{"key": "bad", "x": "many"}')])
        broker.take_until(streams.dead, 1)
        with httpx.Client(base_url=f"http://127.0.0.1:{streamed.port}", timeout=30) as side:
            text = _measured(side)
    _check(_queries(board, "churn"), text, tmp_path)


def test_every_repository_dashboard_query_reads_what_a_live_serve_repo_exports(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    """`nervosum serve-repo` over a folder of two models, one with a reference and the
    prediction log; the panels for all models at once (Grafana's "All")."""
    _observed(make_project, tmp_path, "models/churn")
    make_project(CONFIG.format(tag="v1", more=""), {"model.py": MODEL}, name="models/plain")
    root = tmp_path / "models"
    board = dashboard(folder_watched(root))
    titles = {panel["title"] for panel in board["panels"]}
    assert {"Requests/s by route and status", "Feature drift (PSI)", "Prediction log"} <= titles
    assert "Feedback accuracy" not in titles  # serve-repo takes no feedback
    port = free_port()
    with spawned_nervosum("serve-repo", str(root), "--port", str(port), port=port) as server:
        wait_ready(server)
        with server.client() as client:
            for model in ("churn", "plain"):
                text = _scrape(client, f"/models/{model}/predict", feedback=False)
    _check(_queries(board, ".+"), text, tmp_path)


def _check(queries: list[str], text: str, tmp_path: Path) -> None:
    """Each query names only families ``text`` declares, parses, and returns samples when
    fed ``text``'s samples (the drop counter's may have none)."""
    names, series = _declared(text)

    for query in queries:
        used = set(NAME.findall(query))
        assert used, query
        assert set(re.findall(r"nervosum_\w+", query)) <= used
        assert used <= names, f"{query} names {sorted(used - names)}, not on /metrics"

    recording = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{n}", "expr": query}
                    for n, query in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump(recording))
    checked = promtool("check", "rules", str(tmp_path / "queries.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    sampled = {name for name in names if f"\n{name}{{" in text or f"\n{name} " in text}
    answering = [query for query in queries if set(NAME.findall(query)) <= sampled]
    silent = [query for query in queries if query not in answering]
    assert all("predlog_dropped" in query for query in silent), silent  # no drop yet
    suite = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [yaml.safe_load(item) for item in series],
                "promql_expr_test": [
                    {
                        "expr": f"count({query}) > bool 0",
                        "eval_time": "10m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                    for query in answering
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    tested = promtool("test", "rules", str(tmp_path / "test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
