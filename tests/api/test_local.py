from __future__ import annotations

import httpx
import pytest


async def test_demo_page_is_served_at_root(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-page="home"' in response.text
    script = await client.get("/app.js")
    assert script.status_code == 200
    assert "refreshTokens" in script.text


@pytest.mark.parametrize("page", ["reset-password", "verify-email"])
async def test_email_link_pages_keep_their_token_through_the_redirect(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(f"/{page}?token=abc-123")
    assert response.status_code == 307
    assert response.headers["location"].endswith(f"/{page}/?token=abc-123")
    landing = await client.get(f"/{page}/?token=abc-123")
    assert landing.status_code == 200
    assert f'data-page="{page}"' in landing.text


async def test_static_files_do_not_shadow_the_api_or_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/health")).json()["status"] == "ok"
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/openapi.json")).json()["info"]["title"]
    assert (await client.get("/.well-known/jwks.json")).json()["keys"]
    unknown = await client.get("/api/v1/no-such-endpoint")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Not Found", "code": "not_found"}


async def test_api_paths_keep_their_405_and_404(client: httpx.AsyncClient) -> None:
    wrong_method = await client.get("/api/v1/login")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    unknown = await client.post("/api/v1/no-such-endpoint")
    assert unknown.status_code == 404
    assert (await client.get("/.well-known/nothing")).status_code == 404
