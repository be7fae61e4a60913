"""The HTTP front end: an ASGI app around the engine (``app.py``), run by uvicorn
(``start.py``)."""
