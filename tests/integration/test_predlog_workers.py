"""Several pre-forked workers rotating one JSON Lines log: no record vanishes and the
counters equal what is on disk (issue 20, item 5: 1200 predictions gave 1126 lines, and
counters saying 1104 written and 96 dropped)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from nervosum.evaluate.logsource import read_log
from tests.conftest import ProjectFactory, live_server, metric_samples

PREDICTIONS = 1200
CONFIG = """
name: doubled
model: {{module: doubled, class: Doubled}}
input_schema:
  - {{name: x, type: float}}
logging:
  batch_size: 5
  sinks:
    - {{type: jsonl, path: '{path}', max_bytes: 4096, backups: 10000}}
"""
CODE = """
class Doubled:
    def predict(self, frame):
        return frame["x"] * 2
"""


def _counted(client: httpx.Client, name: str) -> float:
    return sum(metric_samples(client, f"nervosum_predlog_{name}_total").values())


def _settled(client: httpx.Client) -> tuple[float, float]:
    """Written and dropped once every prediction's record is accounted for."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        written, dropped = _counted(client, "written"), _counted(client, "dropped")
        if written + dropped >= PREDICTIONS:
            return written, dropped
        time.sleep(0.2)
    return _counted(client, "written"), _counted(client, "dropped")


def test_workers_rotating_one_log_lose_no_record(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "predictions.jsonl"
    project = make_project(CONFIG.format(path=log), {"doubled.py": CODE})
    with live_server(project, "--workers", "2") as server, server.client() as client:

        def predict(number: int) -> int:
            return client.post("/predict", json={"x": number}).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(predict, range(PREDICTIONS))) == {200}
        written, dropped = _settled(client)
    files = list(log.parent.glob("predictions.jsonl*"))
    assert len(files) > 20  # the log really rotated many times under both workers
    lines = sum(len(f.read_bytes().splitlines()) for f in files if not f.name.endswith(".lock"))
    assert (lines, written, dropped) == (PREDICTIONS, PREDICTIONS, 0)
    records = read_log(str(log))  # evaluate's reader finds every rotated file
    assert sorted(r["outputs"]["prediction"] for r in records) == [
        2.0 * n for n in range(PREDICTIONS)
    ]
