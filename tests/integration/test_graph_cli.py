"""`nervosum graph plan` as users run it: real processes, real exit codes, real output."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import nervosum

# iguazioig's own 0.2.0 graph, as published (tests/data/seeds/marcelonyc__iguazioig/SOURCE.md)
SEED_GRAPH = (
    Path(__file__).resolve().parents[1]
    / "data/seeds/marcelonyc__iguazioig/tests/api_0_2_0/util/inference_graph.yaml"
)

# A step without methods (line 6) writing to an undeclared stream (line 7).
INVALID = """\
graph: shop
streams:
  requests: {}
steps:
  - name: enrich
    inputs: [requests]
    outputs: [enriched]
    class_module: enrich
    class_name: Enricher
"""


def plan(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERVOSUM_")}
    return nervosum("graph", "plan", *args, env={**env, "COLUMNS": "400"})


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def test_plan_prints_stream_creates_then_step_creates() -> None:
    result = plan(str(SEED_GRAPH))

    assert result.returncode == 0, result.stderr
    heads = [line.split(" {")[0] for line in result.stdout.splitlines()]
    assert heads == [
        "Create stream input_stream",
        "Create stream step2",
        "Create stream converge",
        "Create step step-1",
        "Create step stream-converge",
    ]


def test_plan_plans_the_undeclared_output_and_warns_naming_it() -> None:
    """The published file as iguazioig planned it: step_1's output to `output_stream`
    (not in v3io_streams) is in the plan, no stream is created for it, and stderr says
    that its messages are dead-lettered at run time."""
    result = plan(str(SEED_GRAPH))

    undeclared, https = result.stderr.splitlines()
    assert undeclared.startswith(
        f"warning: {SEED_GRAPH}:76: project.functions.0.outputs.streams.0: output stream"
        " 'output_stream' is not declared in v3io_streams"
    )
    assert "dead-lettered at run time" in undeclared
    assert https.startswith(f"warning: {SEED_GRAPH}:107: project.functions.1.outputs.https:")
    step_1 = next(line for line in result.stdout.splitlines() if "step step-1" in line)
    assert '"outputs": [{"stream": null, "undeclared": "output_stream"}]' in step_1
    assert "Create stream output_stream" not in result.stdout


def test_recreate_deletes_steps_first_then_each_stream_before_creating_it() -> None:
    result = plan(str(SEED_GRAPH), "--recreate")

    assert result.returncode == 0, result.stderr
    heads = [line.split(" {")[0] for line in result.stdout.splitlines()]
    assert heads == [
        "Delete step step-1",
        "Delete step stream-converge",
        "Delete stream input_stream",
        "Create stream input_stream",
        "Delete stream step2",
        "Create stream step2",
        "Delete stream converge",
        "Create stream converge",
        "Create step step-1",
        "Create step stream-converge",
    ]


def test_include_creates_only_the_named_step() -> None:
    result = plan(str(SEED_GRAPH), "--include", "step_1")

    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stdout.splitlines() if line.startswith("Create step ")]
    assert [line.split(" {")[0] for line in steps] == ["Create step step-1"]


def test_include_takes_repeated_and_comma_separated_names() -> None:
    repeated = plan(
        str(SEED_GRAPH), "--json", "--include", "step_1", "--include", "stream_converge"
    )
    commas = plan(str(SEED_GRAPH), "--json", "--include", "stream-converge,step-1")

    assert repeated.returncode == commas.returncode == 0, repeated.stderr + commas.stderr
    assert json.loads(repeated.stdout) == json.loads(commas.stdout)
    assert list(json.loads(commas.stdout)["steps"]["create"]) == ["step-1", "stream-converge"]


def test_json_plan_parses_and_functions_equals_steps() -> None:
    result = plan(str(SEED_GRAPH), "--json")

    assert result.returncode == 0, result.stderr
    planned = json.loads(result.stdout)
    assert planned["functions"] == planned["steps"]
    assert list(planned["streams"]["create"]) == ["input_stream", "step2", "converge"]
    assert list(planned["steps"]["create"]) == ["step-1", "stream-converge"]
    assert planned["ordered"][0].startswith("Create stream input_stream {")
    assert "warning:" in result.stderr


def test_invalid_graph_exits_2_with_every_problem_and_its_line(tmp_path: Path) -> None:
    graph = tmp_path / "graph.yaml"
    graph.write_text(INVALID)

    result = plan(str(graph))

    assert result.returncode == 2
    assert result.stdout == ""
    assert_no_traceback(result)
    assert result.stderr.splitlines() == [
        f"error: {graph} has 2 problems:",
        f"  {graph}:5: steps.0: the step has no methods: list the methods to call in order",
        f"  {graph}:7: steps.0.outputs.0: stream 'enriched' is not declared (declared: requests)",
    ]


def test_missing_graph_file_exits_2(tmp_path: Path) -> None:
    result = plan(str(tmp_path / "nothing.yaml"))

    assert result.returncode == 2
    assert_no_traceback(result)
    assert "graph file not found" in result.stderr


def test_include_of_an_unknown_step_exits_2_naming_the_steps() -> None:
    result = plan(str(SEED_GRAPH), "--include", "nosuch")

    assert result.returncode == 2
    assert result.stdout == ""
    assert_no_traceback(result)
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
    assert errors == [
        "error: --include names no step of the graph: 'nosuch'",
        "hint: steps: step-1, stream-converge",
    ]
