from __future__ import annotations

import importlib
import re
from collections import Counter

import httpx
from fastapi import APIRouter
from fastapi.routing import APIRoute

from api._local import create_local_app, function_names


async def test_openapi_document_describes_every_route_and_the_password_flow(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    for path in ("/api/v1/sign-up", "/api/v1/login", "/api/v1/refresh", "/api/v1/logout", "/api/v1/user/me"):
        assert path in document["paths"], path
    flows = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["tokenUrl"] == "/api/v1/login"
    # One description of the token request, the form, under a name of its own (generators fail on
    # two media types for one body); JSON is still accepted but not in the document.
    login_body = document["paths"]["/api/v1/login"]["post"]["requestBody"]["content"]
    assert login_body == {
        "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/TokenRequest"}}
    }
    token_request = document["components"]["schemas"]["TokenRequest"]["properties"]
    assert {"grant_type", "username", "password", "refresh_token"} <= set(token_request)
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_docs_page_loads_its_assets_from_the_service(client: httpx.AsyncClient) -> None:
    """No CDN: every script, style sheet and icon of /docs is a path of the service, and is there."""
    page = (await client.get("/docs")).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page)
    assert {url.rsplit("/", 1)[-1] for url in urls} == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}
    assert "://" not in page
    for url in urls:
        assert url.startswith("/docs/assets/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    script = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in script.text


def api_routes() -> list[APIRoute]:
    """The documented routes of every function in `api/`."""
    routers = [getattr(importlib.import_module(f"api.{name}"), "router", APIRouter()) for name in function_names()]
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    return [route for route in routes if route.include_in_schema]


def test_operation_ids_are_the_endpoint_function_names_and_unique() -> None:
    document = create_local_app().openapi()
    routes = api_routes()
    names = Counter(route.endpoint.__name__ for route in routes for _ in route.methods)
    assert [name for name, count in names.items() if count > 1] == []  # two api/ functions share a name
    for route in routes:
        for method in route.methods:
            operation = document["paths"][route.path_format][method.lower()]
            assert operation["operationId"] == route.endpoint.__name__
    for name in ("login", "refresh", "revoke", "sign_up", "get_me", "logout"):
        assert name in names


async def test_swagger_authorize_form_logs_in(client: httpx.AsyncClient) -> None:
    """What the "Authorize" dialog of /docs sends: the password grant with empty scope and client fields."""
    await client.post(
        "/api/v1/sign-up", json={"email": "docs@example.com", "username": "docs", "password": "correct horse battery"}
    )
    response = await client.post(
        "/api/v1/login",
        data={
            "grant_type": "password",
            "username": "docs",
            "password": "correct horse battery",
            "scope": "",
            "client_id": "",
            "client_secret": "",
        },
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
