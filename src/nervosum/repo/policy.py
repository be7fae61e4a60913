"""serve-repo's route policy: the core's, plus each model's promote and rollback.

The core's :class:`~nervosum.serving.auth.policy.Policy` knows the single-model server's
``/-/promote`` and ``/-/rollback``; serve-repo changes a model's arms under its name
(``/models/<name>/promote``), which must need the admin scope too.
"""

from __future__ import annotations

import re

from nervosum.config.spec import AuthSpec
from nervosum.serving.auth.policy import Policy

_MODEL_VARIANT_CHANGES = re.compile(r"/models/[^/]+/(promote|rollback)")


class RepoPolicy(Policy):
    """The access each route of a serve-repo server needs."""

    def is_admin(self, method: str, path: str) -> bool:
        """The core's admin routes, and a model's promote and rollback (any method, as
        the core's: a GET is refused by the gate before the router answers 405)."""
        return super().is_admin(method, path) or _MODEL_VARIANT_CHANGES.fullmatch(path) is not None


def repo_policy(auth: AuthSpec, base: str) -> RepoPolicy:
    """The policy of a serve-repo server under ``base`` with ``auth``'s settings."""
    return RepoPolicy(metrics=auth.metrics, docs=auth.docs, base=base)
