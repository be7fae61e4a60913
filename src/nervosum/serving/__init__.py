"""The HTTP front end: an ASGI app around the engine, run by uvicorn."""

from nervosum.serving.app import create_app
from nervosum.serving.server import ServeOptions, serve

__all__ = ["ServeOptions", "create_app", "serve"]
