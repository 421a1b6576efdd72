"""Every function in `api/` served by one app at the same public paths (for `scripts/dev` and tests)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

import api
from lib.app import create_app
from lib.wellknown import DOCUMENTS

ROOT = Path(__file__).resolve().parent.parent


def function_names() -> list[str]:
    return sorted(module.name for module in pkgutil.iter_modules(api.__path__) if not module.name.startswith("_"))


def create_local_app() -> FastAPI:
    routers: list[APIRouter] = []
    extra_routes: list[Route] = []
    for name in function_names():
        module = importlib.import_module(f"api.{name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            routers.append(router)
        elif name == "jwks":
            extra_routes += [Route(path, module.app, methods=["GET", "HEAD"]) for path in DOCUMENTS]
    app = create_app(*routers, docs=True, extra_routes=extra_routes)
    public = ROOT / "public"
    if public.is_dir() and any(public.iterdir()):
        app.mount("/", StaticFiles(directory=public, html=True), name="public")
    return app


app = create_local_app()
