"""Who may call nervosum's servers: API keys (stored as hashes) and JWT bearer tokens,
scopes ``predict`` and ``admin``, a per-route policy, and per-address rate limits.

- ``keys``: the hash lines, key creation, constant-time lookup
- ``tokens``: JWTs checked offline against a JWKS file (PyJWT, the ``jwt`` extra)
- ``policy``: which access a method and path need
- ``limits``: a sliding window per client address, in bounded memory
- ``gate``: the decision (transport-free), used by the HTTP front door and the side port
- ``denial``: the gate asked about an HTTP request, and its denial as a response
"""

from nervosum.serving.auth.gate import Denial, Gate, load_gate

__all__ = ["Denial", "Gate", "load_gate"]
