"""Every deploy setting and option is documented, so docs/deploy.md and docs/config.md
cannot drift from the code."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from nervosum.cli.deploy import deploy
from nervosum.config.spec import DeploySpec
from tests.conftest import ROOT

DEPLOY_DOC = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
CONFIG_DOC = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")


def setting_keys(model: type[BaseModel] = DeploySpec, prefix: str = "") -> list[str]:
    """Dotted keys of the settings, down to the leaves (``service.node_port``)."""
    keys = []
    for name, field in model.model_fields.items():
        inner = field.annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel) and name != "resources":
            keys += setting_keys(inner, f"{prefix}{name}.")
        elif name == "resources":
            keys += [f"{prefix}resources.requests", f"{prefix}resources.limits"]
        else:
            keys.append(prefix + name)
    return keys


@pytest.mark.parametrize("key", setting_keys())
def test_every_setting_is_documented(key: str) -> None:
    assert f"| `{key}` |" in DEPLOY_DOC
    assert f"| `deploy.{key}` |" in CONFIG_DOC


@pytest.mark.parametrize(
    "option", sorted(opt for param in deploy.params for opt in param.opts if opt.startswith("--"))
)
def test_every_option_is_documented(option: str) -> None:
    assert f"`{option}" in DEPLOY_DOC
