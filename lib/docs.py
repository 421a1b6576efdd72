"""Swagger UI at `/docs`, with its CSS and JS served by the app itself (no CDN): the copy of
Swagger UI's dist files that the `fastapi-offline` package ships and keeps current.

Only an app built with `create_app(docs=True)` (the local server) imports this module; the
functions never do, so their cold start pays nothing for it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
ASSETS_PACKAGE = "fastapi_offline"  # in requirements-dev.txt
# No badge fetched from the public validator, whatever the layout.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
INIT_OAUTH = {"usePkceWithAuthorizationCodeGrant": False}


def assets_directory() -> Path:
    """Where the installed package keeps Swagger UI's files (found without importing its code)."""
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"/docs needs the {ASSETS_PACKAGE!r} package: install requirements-dev.txt")
    return Path(spec.origin).parent / "static"


def install_docs(app: FastAPI, *, openapi_url: str) -> None:
    """Serve Swagger UI for `openapi_url` at `/docs`, its assets under `/docs/assets`."""
    directory = assets_directory()

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", ""))
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
            init_oauth=INIT_OAUTH,
        )

    app.add_api_route(DOCS_PATH, swagger_ui, methods=["GET"], include_in_schema=False, response_class=HTMLResponse)
    app.mount(ASSETS_PATH, StaticFiles(directory=directory), name="docs-assets")
