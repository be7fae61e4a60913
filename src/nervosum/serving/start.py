"""How ``nervosum serve`` runs: one process, several workers forked from one loaded model
(``prefork.py``), or the model in a process of its own (``model_process.py``)."""

from __future__ import annotations

from nervosum.config import Project
from nervosum.drift.live import LiveDrift
from nervosum.model.compile.threads import serving_threads
from nervosum.serving.auth import load_gate
from nervosum.serving.challenger import load_models
from nervosum.serving.inference_grpc.beside import check_grpc
from nervosum.serving.prefork import serve_prefork
from nervosum.serving.promotion_state import refuse_unusable_state
from nervosum.serving.server import ServeOptions, run_server
from nervosum.serving.tls import server_context


def serve(project: Project, options: ServeOptions) -> int:
    """Serve until stopped (SIGTERM drains in-flight requests); returns the exit code."""
    settings = options.settings(project.config.server)
    server_context(settings)  # a bad certificate is one error before the model loads
    check_grpc(settings)
    refuse_unusable_state(project)  # one error here, not one per worker
    LiveDrift.for_project(project)  # a missing monitoring.reference: the same
    workers = settings.worker_count
    if workers > 1:
        # A bad keys file or JWKS is one error here, not a traceback in every worker.
        load_gate(
            options.auth_settings(project.config.auth),
            admin_rate_limit=settings.admin_rate_limit,
        )
        return serve_prefork(project, settings, options, workers)
    if settings.model_process:  # the model must be loaded before it can be forked
        # The model's process has no event loop: it takes every core but the HTTP one.
        engine, challenger = load_models(project, debug=options.debug, threads=serving_threads(1))
        return run_server(project, settings, options, engine=engine, challenger=challenger)
    return run_server(project, settings, options)
