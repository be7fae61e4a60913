"""Who may call nervosum's servers: API keys (stored as hashes) and JWT bearer tokens,
scopes ``predict`` and ``admin``, a per-route policy, and per-address rate limits.

- ``keys``: the hash lines, key creation, constant-time lookup
- ``tokens``: JWTs checked offline against a JWKS file (PyJWT, the ``jwt`` extra)
- ``policy``: which access a method and path need
- ``limits``: a sliding window per client address, in bounded memory
- ``gate``: the decision (transport-free), used by the HTTP middleware and the side port
- ``middleware``: the ASGI middleware every HTTP server puts in front of its router
"""

from nervosum.serving.auth.gate import Denial, Gate, load_gate
from nervosum.serving.auth.middleware import AuthMiddleware

__all__ = ["AuthMiddleware", "Denial", "Gate", "load_gate"]
