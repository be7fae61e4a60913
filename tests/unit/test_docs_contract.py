"""The docs cover every config key and every command, so they cannot drift silently."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from nervosum.cli import main
from nervosum.config.spec import (
    AuthSpec,
    BatchingSpec,
    BuildSpec,
    Deployment,
    ErrorsSpec,
    Interface,
    LoggingSpec,
    MetricsSpec,
    ModelSpec,
    NervosumConfig,
    SchemaField,
    ServerSpec,
    SinkSpec,
    StreamSpec,
)
from tests.conftest import ROOT

CONFIG_DOC = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")

SECTIONS: dict[str, type[BaseModel]] = {
    "": NervosumConfig,
    "deployment.": Deployment,
    "interface.": Interface,
    "model.": ModelSpec,
    "server.": ServerSpec,
    "batching.": BatchingSpec,
    "errors.": ErrorsSpec,
    "auth.": AuthSpec,
    "build.": BuildSpec,
    "metrics.": MetricsSpec,
    "logging.": LoggingSpec,
    "logging.sinks[].": SinkSpec,
    "stream.": StreamSpec,
}


def documented_keys() -> list[str]:
    keys = []
    for prefix, model in SECTIONS.items():
        for name, field in model.model_fields.items():
            key = field.alias or name
            if prefix == "" and key in {
                "deployment",
                "interface",
                "model",
                "server",
                "errors",
                "auth",
                "batching",
                "build",
                "metrics",
                "logging",
                "stream",
            }:
                continue
            keys.append(prefix + key)
    keys.extend(field.alias or name for name, field in SchemaField.model_fields.items())
    return keys


@pytest.mark.parametrize("key", documented_keys())
def test_every_config_key_is_documented(key: str) -> None:
    assert f"`{key}`" in CONFIG_DOC or f"`{key}`," in CONFIG_DOC


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_is_in_the_readme_tour(command: str) -> None:
    assert f"nervosum {command}" in README
