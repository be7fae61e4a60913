"""`nervosum deploy` with authentication: the key hashes come from a Secret, and the
probes still reach the health routes, which need no credentials."""

from __future__ import annotations

import kubernetes_validate

from nervosum.config.spec import DeploySpec
from nervosum.deploy.manifests import render
from nervosum.deploy.values import chart_values
from nervosum.serving.auth.keys import ENV_KEYS
from nervosum.serving.auth.policy import Policy
from tests.unit.test_deploy_manifests import HTTP, K8S_VERSION, by_kind, env_of, main_container


def test_the_key_hashes_are_read_from_a_secret_and_the_probes_stay_open() -> None:
    settings = DeploySpec.model_validate({"secret_env": {ENV_KEYS: "nervosum-keys/hashes"}})
    objects = render(chart_values(HTTP, settings))
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    deployment = by_kind(objects)["Deployment"]
    assert env_of(deployment)[ENV_KEYS] == {
        "secretKeyRef": {"name": "nervosum-keys", "key": "hashes"}
    }
    container = main_container(deployment)
    policy = Policy(metrics="admin", docs="predict")
    for probe in ("livenessProbe", "readinessProbe"):
        path = container[probe]["httpGet"]["path"]
        assert policy.access("GET", path) == "open", path
