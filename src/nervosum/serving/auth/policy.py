"""Which access a request needs, from its method and path alone.

The check runs before routing (one middleware in front of the router), so the policy is
a pure function of the path: exact paths in sets, a few patterns for the admin routes.
Anything not named here needs ``predict``, so a route added later is closed by default,
and an unknown path answers 401 rather than revealing whether it exists.
"""

from __future__ import annotations

import re

from nervosum.config.spec import Access

# Probes must work without credentials (Kubernetes sends none).
HEALTH = frozenset(
    {"/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready", "/ping", "/health"}
)
DOCS = frozenset({"/docs", "/openapi.json", "/schema"})
DOCS_ASSETS = "/docs/assets/"
METRICS = "/metrics"
# The Open Inference Protocol's model repository extension (serve-repo).
_REPOSITORY = re.compile(r"/v2/repository/(index|models/[^/]+/(load|unload))")
# Champion and challenger (docs/variants.md): these change which model answers, in one
# server or (serve-repo) for one model of many.
VARIANT_CHANGES = frozenset({"/-/promote", "/-/rollback"})
_MODEL_VARIANT_CHANGES = re.compile(r"/models/[^/]+/(promote|rollback)")


def is_probe(method: str, path: str) -> bool:
    """A health probe: open without credentials, and never refused by the connection cap.
    GET and HEAD only: a serve-repo model folder may take a path like /health/live."""
    return path in HEALTH and method in ("GET", "HEAD")


class Policy:
    """The access each route of a server needs.

    ``base`` is serve-repo's base path (its refresh routes are admin); ``metrics`` and
    ``docs`` are ``auth.metrics`` and ``auth.docs``.
    """

    def __init__(self, *, metrics: Access, docs: Access, base: str | None = None) -> None:
        self.metrics = metrics
        self.docs = docs
        self.refresh = f"/{base}/-/refresh" if base else None
        self.refactor = f"/{base}/refactor" if base else None

    def access(self, method: str, path: str) -> Access:
        if is_probe(method, path):
            return "open"
        if path == METRICS:
            return self.metrics
        if path in DOCS or path.startswith(DOCS_ASSETS):
            return self.docs
        if self.is_admin(method, path):
            return "admin"
        return "predict"

    def is_admin(self, method: str, path: str) -> bool:
        """Routes that change what is served: refresh (POST; its GET is the report), the
        seed's refactor (any method: it refreshed on GET), load, unload, the index,
        promote and rollback (a serve-repo model's too)."""
        if path in VARIANT_CHANGES or _MODEL_VARIANT_CHANGES.fullmatch(path) is not None:
            return True
        if path == self.refresh:
            return method == "POST"
        return path == self.refactor or _REPOSITORY.fullmatch(path) is not None
