"""Interactive API docs served entirely from local files, so /docs works offline.

The Swagger UI assets come from the ``swagger-ui-bundle`` wheel; no CDN is contacted.
"""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API docs</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, tryItOutEnabled: true}});
</script>
</body>
</html>
"""

_HOME = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>{title}</h1>
<p>Model <b>{name}</b>, version <b>{tag}</b>, served by nervosum.</p>
<p>POST JSON to <code>/predict</code>.</p>
<ul>
<li><a href="/docs">/docs</a>: interactive API documentation</li>
<li><a href="/info">/info</a>: model identity and schemas</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="/health/ready">/health/ready</a>: readiness</li>
</ul>
</body>
</html>
"""


def docs_page(title: str) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), assets=ASSETS))


def home_page(name: str, tag: str) -> HTMLResponse:
    title = html.escape(f"{name} ({tag})")
    return HTMLResponse(_HOME.format(title=title, name=html.escape(name), tag=html.escape(tag)))


def docs_assets() -> StaticFiles:
    return StaticFiles(directory=str(swagger_ui_path))
