"""The `nervosum` command as users run it: real processes, real exit codes, real output."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from nervosum.cli import main
from tests.conftest import (
    EXAMPLES,
    IRIS_SETOSA,
    IRIS_VIRGINICA,
    PROJECTS,
    ROOT,
    ProjectFactory,
    free_port,
    live_server,
    spawned_server,
    wait_ready,
)

pytestmark = pytest.mark.slow

COMMANDS = (
    "serve",
    "token",
    "serve-repo",
    "stream",
    "graph",
    "check",
    "predict",
    "batch",
    "build",
    "deploy",
    "monitoring",
    "notebooks",
    "ls",
    "run",
    "inspect",
    "rm",
    "export",
    "evaluate",
    "feedback",
    "init",
    "train",
    "version",
)
IRIS = EXAMPLES / "iris"
FAILING = PROJECTS / "failing"

# A config with three problems: a bad mode (line 3), an unknown top-level key (line 5)
# and an unknown nested key (line 8).
BAD_CONFIG = """\
name: bad
deployment:
  mode: kafka
model: {module: m, class: M}
input_schma:
  - {name: x, type: float}
server:
  prot: 8080
"""

TINY_CONFIG = """\
name: NAME
model: {module: m, class: M}
input_schema:
  - {name: x, type: float}
"""

TINY_MODEL = """\
class M:
    def predict(self, df):
        return df["x"] * 2
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without NERVOSUM_* settings, wide enough that rich never wraps."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERVOSUM_")}
    env.update(COLUMNS="400", PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def nervosum(
    *args: str,
    stdin: str | None = None,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m nervosum ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "nervosum", *args],
        input=stdin,
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout
    assert "Traceback" not in result.stderr


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


# --------------------------------------------------------------------------- help, version


def test_help_lists_every_command_with_a_one_line_purpose() -> None:
    console_script = Path(sys.executable).with_name("nervosum")
    result = subprocess.run(
        [str(console_script), "--help"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: nervosum [OPTIONS] COMMAND [ARGS]...")
    section = result.stdout.split("Commands:\n", 1)[1]
    purposes = dict(
        re.match(r"^  (\S+)\s+(.+)$", line).groups()  # type: ignore[union-attr]
        for line in section.splitlines()
        if line.strip()
    )
    assert sorted(purposes) == sorted(COMMANDS)
    for command, purpose in purposes.items():
        assert purpose.endswith("."), (command, purpose)
        assert len(purpose.split()) >= 4, (command, purpose)
        assert not purpose.endswith("..."), (command, purpose)  # not truncated


def test_short_help_option(runner: CliRunner) -> None:
    result = runner.invoke(main, ["-h"])
    assert result.exit_code == 0
    assert "Commands:" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(runner: CliRunner, command: str) -> None:
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: main {command} ")
    assert "Show this message and exit." in result.stdout


def test_version_prints_the_installed_version() -> None:
    result = nervosum("version")
    assert result.returncode == 0, result.stderr
    expected = f"nervosum {installed_version('nervosum')} (Python {platform.python_version()})"
    assert result.stdout == expected + "\n"
    assert result.stderr == ""


def test_unknown_command_exits_2_with_usage(runner: CliRunner) -> None:
    result = runner.invoke(main, ["frobnicate"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Usage: main [OPTIONS] COMMAND [ARGS]...")
    assert "Error: No such command 'frobnicate'." in result.stderr


def test_missing_argument_exits_2_with_usage(runner: CliRunner) -> None:
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: main init [OPTIONS] NAME")
    assert "Error: Missing argument 'NAME'." in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", str(FAILING), "--port", "eighty"], "Invalid value for '--port'"),
        (["serve", str(FAILING), "--max-body-size", "0"], "Invalid value for '--max-body-size'"),
        (["predict", str(FAILING), "--format", "yaml"], "Invalid value for '--format'"),
        (["check", str(FAILING), "--no-such-flag"], "No such option '--no-such-flag'"),
    ],
)
def test_bad_option_values_exit_2_with_usage(
    runner: CliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert "Usage: main " in result.stderr
    assert message in result.stderr


# --------------------------------------------------------------------------- check


def test_check_iris_prints_the_example_output() -> None:
    result = nervosum("check", "examples/iris")
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok {IRIS / 'nervosum.yaml'}"
    assert re.fullmatch(r"ok loaded model\.model\.IrisModel in \d+\.\d\ds", lines[1])
    rows = {
        match.group(1): match.group(2).strip()
        for line in lines
        if (
            match := re.match(
                r"^\s*(name|mode|model|inputs|outputs|classes|example in|"
                r"example out)\s{2,}(.*)$",
                line,
            )
        )
    }
    assert rows["name"] == "Iris (v0.0.1)"
    assert rows["mode"] == "http"
    assert rows["outputs"] == "prediction"
    assert rows["classes"] == "0, 1, 2"
    assert json.loads(rows["example in"]) == dict.fromkeys(IRIS_SETOSA, 0.0)
    example_out = json.loads(rows["example out"])
    assert example_out["prediction"] == 0
    assert set(example_out["probabilities"]) == {"0", "1", "2"}
    assert sum(example_out["probabilities"].values()) == pytest.approx(1.0)
    assert lines[-1] == "ready to serve: nervosum serve examples/iris"


def test_check_bad_config_lists_every_problem_with_its_line(make_project: ProjectFactory) -> None:
    project = make_project(BAD_CONFIG, {"m.py": TINY_MODEL})
    result = nervosum("check", str(project))
    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stdout == ""
    path = f"{project}/nervosum.yaml"
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {path} has 3 problems:"
    problems = sorted(lines[1:])
    assert len(problems) == 3, result.stderr
    assert problems[0].startswith(f"  {path}:3: deployment.mode: ")
    assert "'kafka'" in problems[0]
    assert problems[1].startswith(f"  {path}:5: input_schma: unknown key")
    assert "did you mean 'input_schema'?" in problems[1]
    assert problems[2].startswith(f"  {path}:8: server.prot: unknown key")
    assert "did you mean 'port'?" in problems[2]


@pytest.mark.parametrize(
    ("fixture", "fragments"),
    [
        ("import_error", ["not_a_real_package_xyz", "import_error/model.py"]),
        ("syntax_error", ["syntax error", "syntax_error/model.py:3"]),
        ("init_raises", ["FileNotFoundError: weights.bin is missing", "init_raises/model.py:3"]),
    ],
)
def test_check_broken_model_gives_one_readable_line(fixture: str, fragments: list[str]) -> None:
    result = nervosum("check", str(PROJECTS / fixture))
    assert result.returncode == 2
    assert_no_traceback(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    others = [line for line in result.stderr.splitlines() if not line.startswith("error: ")]
    assert all(line.startswith("hint: ") for line in others), result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


@pytest.mark.parametrize("fixture", ["import_error", "syntax_error", "init_raises"])
def test_debug_flag_adds_the_traceback(fixture: str) -> None:
    result = nervosum("--debug", "check", str(PROJECTS / fixture))
    assert result.returncode == 2
    assert "Traceback (most recent call last):" in result.stderr
    assert "ModelDefinitionError" in result.stderr
    assert result.stderr.count("\nerror: ") + result.stderr.startswith("error: ") == 1


def test_config_option_is_relative_to_the_project_dir(make_project: ProjectFactory) -> None:
    other = TINY_CONFIG.replace("NAME", "other-name")
    # The default file is broken, so success proves -c was read, relative to DIR.
    project = make_project("name: broken\n", {"m.py": TINY_MODEL, "conf/other.yaml": other})
    result = nervosum("check", str(project), "-c", "conf/other.yaml", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"ok {project.resolve() / 'conf' / 'other.yaml'}"
    assert re.search(r"^\s*name\s+other-name \(latest\)\s*$", result.stdout, re.M)
    assert re.search(r'^\s*example out\s+\{"prediction":0\.0\}\s*$', result.stdout, re.M)

    default = nervosum("check", str(project), cwd=ROOT)
    assert default.returncode == 2
    assert f"{project}/nervosum.yaml" in default.stderr

    missing = nervosum("check", str(project), "-c", "nope.yaml", cwd=ROOT)
    assert missing.returncode == 2
    assert f"{project}/nope.yaml" in missing.stderr
    assert "config file not found" in missing.stderr


# --------------------------------------------------------------------------- predict


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        ('{"x": 2, "ID": "a"}', {"ID": "a", "prediction": 20.0}),
        ('[{"x": 2}, {"x": 3, "ID": 9}]', [{"prediction": 20.0}, {"ID": 9, "prediction": 30.0}]),
        (
            '{"x": 2}\n{"x": 0.5, "ID": "b"}\n\n',
            [{"prediction": 20.0}, {"ID": "b", "prediction": 5.0}],
        ),
        ("ID,x\nr1,1\n,2.5\n", [{"ID": "r1", "prediction": 10.0}, {"prediction": 25.0}]),
    ],
    ids=["object", "array", "json-lines", "csv"],
)
def test_predict_from_stdin(stdin: str, expected: Any) -> None:
    result = nervosum("predict", str(FAILING), stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected
    assert result.stdout.count("\n") == 1  # one JSON document on one line


def test_predict_csv_file_casts_strings_and_predicts_setosa(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    header = ",".join(IRIS_SETOSA)
    lines = [header]
    for record in (IRIS_SETOSA, IRIS_VIRGINICA):
        lines.append(",".join(str(v) for v in record.values()))
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = nervosum("predict", "examples/iris", "--input", str(rows))
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["prediction"] for a in answers] == [0, 2]
    assert all(set(a["probabilities"]) == {"0", "1", "2"} for a in answers)
    assert answers[0]["probabilities"]["0"] > 0.9


def test_predict_no_proba() -> None:
    stdin = json.dumps([IRIS_SETOSA, IRIS_VIRGINICA])
    result = nervosum("predict", "examples/iris", "--no-proba", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stdout == '[{"prediction":0},{"prediction":2}]\n'


@pytest.mark.parametrize(
    ("stdin", "fmt", "message"),
    [
        (
            '{"x": "abc"}',
            "auto",
            "error: 1 invalid field: x: Input should be a valid number, unable to parse string "
            "as a number",
        ),
        ('{"y": 1}', "auto", "error: 2 invalid fields: x: required field is missing; y: "),
        ("x\n1\nlots\n", "csv", "error: 1 invalid field: 1.x: Input should be a valid number"),
        ("", "auto", "error: the input is empty"),
    ],
    ids=["wrong-type", "missing-and-unknown", "csv-row", "empty"],
)
def test_predict_invalid_input_exits_2_naming_the_field(stdin: str, fmt: str, message: str) -> None:
    result = nervosum("predict", str(FAILING), "--format", fmt, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0].startswith(message), result.stderr
    assert_no_traceback(result)


# --------------------------------------------------------------------------- init


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`nervosum init churn` in an empty folder: (project folder, stdout)."""
    parent = tmp_path_factory.mktemp("init")
    result = nervosum("init", "churn", cwd=parent)
    assert result.returncode == 0, result.stderr
    return parent / "churn", result.stdout


def test_init_creates_a_project(generated: tuple[Path, str]) -> None:
    project, stdout = generated
    expected = [
        "README.md",
        "conftest.py",
        "model/__init__.py",
        "model/model.py",
        "nervosum.yaml",
        "requirements.txt",
        "tests/test_model.py",
    ]
    files = sorted(
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".pytest_cache" not in p.parts
    )
    assert files == expected
    lines = stdout.splitlines()
    assert lines[0] == f"created churn/ ({len(expected)} files)"
    assert [line.strip() for line in lines[1:-1]] == expected
    assert lines[-1] == "next: nervosum check churn && nervosum serve churn"
    assert "name: churn\n" in (project / "nervosum.yaml").read_text(encoding="utf-8")
    assert "$name" not in (project / "README.md").read_text(encoding="utf-8")


def test_init_project_checks(generated: tuple[Path, str]) -> None:
    project, _ = generated
    result = nervosum("check", "churn", cwd=project.parent)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s*name\s+churn \(v0\.1\.0\)\s*$", result.stdout, re.M)
    assert result.stdout.splitlines()[-1] == "ready to serve: nervosum serve churn"


def test_init_project_serves(generated: tuple[Path, str]) -> None:
    project, _ = generated
    with live_server(project) as server, server.client() as client:
        response = client.post(
            "/predict", json={"id": "c-1", "tenure_months": 3, "monthly_spend": 95}
        )
        many = client.post(
            "/predict",
            json=[
                {"tenure_months": 1, "monthly_spend": 120},
                {"tenure_months": 60, "monthly_spend": 10},
            ],
        )
    assert response.status_code == 200, response.text
    # score = sigmoid(-0.5 - 0.08 * 3 + 0.03 * 95), rounded to 4 places
    assert response.json() == {"id": "c-1", "score": 0.8919, "label": "churn"}
    assert many.status_code == 200, many.text
    assert [a["label"] for a in many.json()] == ["churn", "stay"]


def test_init_project_tests_pass(generated: tuple[Path, str]) -> None:
    project, _ = generated
    env = clean_env()
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^2 passed", result.stdout, re.M), result.stdout


def test_init_into_a_non_empty_dir_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine", encoding="utf-8")
    result = nervosum("init", "taken", cwd=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stderr.splitlines()[0] == "error: taken already exists and is not empty"
    other = nervosum("init", "fresh", "-d", str(target), cwd=tmp_path)
    assert other.returncode == 2
    assert f"error: {target} already exists and is not empty" in other.stderr
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert not (tmp_path / "fresh").exists()


def test_init_into_an_empty_dir_works(tmp_path: Path, runner: CliRunner) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    result = runner.invoke(main, ["init", "demo", "-d", str(target)])
    assert result.exit_code == 0, result.output
    assert "name: demo\n" in (target / "nervosum.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["1churn", "has space", "semi;colon", "ünï", "a/b", "_x"])
def test_init_invalid_name_exits_2(tmp_path: Path, runner: CliRunner, name: str) -> None:
    target = tmp_path / "target"
    result = runner.invoke(main, ["init", name, "-d", str(target)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"error: project name {name!r} is not usable"
    assert result.stderr.splitlines()[1].startswith("hint: start with a letter")
    assert not target.exists()


# --------------------------------------------------------------------------- serve


def assert_not_listening(port: int) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2)


def test_serve_broken_model_exits_quickly_with_one_readable_message() -> None:
    started = time.monotonic()
    result = nervosum(
        "serve", str(PROJECTS / "import_error"), "--port", str(free_port()), timeout=60
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert elapsed < 20
    assert_no_traceback(result)
    output = result.stdout + result.stderr
    mentions = [line for line in output.splitlines() if "not_a_real_package_xyz" in line]
    assert len(mentions) == 1, output
    assert "importing 'model' failed: No module named 'not_a_real_package_xyz'" in mentions[0]


def test_serve_bad_config_exits_2(make_project: ProjectFactory) -> None:
    project = make_project(BAD_CONFIG, {"m.py": TINY_MODEL})
    port = free_port()
    result = nervosum("serve", str(project), "--port", str(port), timeout=60)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stderr.splitlines()[0] == f"error: {project}/nervosum.yaml has 3 problems:"
    assert "Uvicorn running" not in result.stdout + result.stderr
    assert_not_listening(port)


def port_project(make_project: ProjectFactory, port: int | None) -> Path:
    config = TINY_CONFIG.replace("NAME", "ports")
    if port is not None:
        config += f"server: {{port: {port}}}\n"
    return make_project(config, {"m.py": TINY_MODEL})


@pytest.mark.parametrize(
    ("use_flag", "use_env", "use_file", "winner"),
    [
        (False, True, False, "env"),
        (True, True, False, "flag"),
        (False, True, True, "env"),
        (False, False, True, "file"),
        (True, True, True, "flag"),
    ],
    ids=["env", "flag-beats-env", "env-beats-file", "file", "flag-beats-env-and-file"],
)
def test_port_precedence(
    make_project: ProjectFactory,
    use_flag: bool,
    use_env: bool,
    use_file: bool,
    winner: str,
) -> None:
    ports = {"flag": free_port(), "env": free_port(), "file": free_port()}
    assert len(set(ports.values())) == 3
    project = port_project(make_project, ports["file"] if use_file else None)
    args = ["--port", str(ports["flag"])] if use_flag else []
    env = clean_env(**({"NERVOSUM_PORT": str(ports["env"])} if use_env else {}))
    with spawned_server(project, *args, env=env, port=ports[winner]) as spawned:
        wait_ready(spawned)
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[winner]}", timeout=10) as client:
            answer = client.post("/predict", json={"x": 4})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"prediction": 8.0}
        for source, port in ports.items():
            if source != winner:
                assert_not_listening(port)
        assert f"Uvicorn running on http://127.0.0.1:{ports[winner]}" in spawned.output()
