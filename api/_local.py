"""Every function in `api/` served by one app at the same public paths (for `scripts/dev` and tests)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

import api
from lib.app import create_app
from lib.wellknown import DOCUMENTS

ROOT = Path(__file__).resolve().parent.parent
# Paths the functions own: the page never answers for them, so their 404 and 405 stay the API's.
API_PREFIXES = ("/api/", "/.well-known/")


class PublicFiles(Mount):
    """The demo page (`public/`) at `/`, for every path the functions do not own."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and str(scope["path"]).startswith(API_PREFIXES):
            return Match.NONE, {}
        return super().matches(scope)


# Functions with no HTTP route, invoked by a queue on Lambda only: not served here nor on Vercel.
QUEUE_CONSUMERS = frozenset({"mailer"})


def function_names() -> list[str]:
    """The HTTP functions: every `api/` file but the private ones and the queue consumers."""
    return sorted(
        module.name
        for module in pkgutil.iter_modules(api.__path__)
        if not module.name.startswith("_") and module.name not in QUEUE_CONSUMERS
    )


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
        app.router.routes.append(PublicFiles("/", app=StaticFiles(directory=public, html=True), name="public"))
    return app


app = create_local_app()
