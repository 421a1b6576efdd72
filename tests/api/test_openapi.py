from __future__ import annotations

import httpx


async def test_openapi_document_describes_every_route_and_the_password_flow(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    for path in ("/api/v1/sign-up", "/api/v1/login", "/api/v1/refresh", "/api/v1/logout", "/api/v1/user/me"):
        assert path in document["paths"], path
    flows = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["tokenUrl"] == "/api/v1/login"
    login_body = document["paths"]["/api/v1/login"]["post"]["requestBody"]["content"]
    assert {"application/x-www-form-urlencoded", "application/json"} <= set(login_body)
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


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
