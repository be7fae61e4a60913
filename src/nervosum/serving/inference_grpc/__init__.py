"""The Open Inference Protocol over gRPC, next to the HTTP server of ``serve`` and
``serve-repo``: the same models, prediction path, authentication and TLS (docs/protocols.md).
"""
