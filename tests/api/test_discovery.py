"""OpenID discovery and RFC 8414 metadata list only what exists; HEAD answers the headers of GET."""

from __future__ import annotations

import httpx
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from api.jwks import app as jwks_app
from tests.fixtures.app import SettingsEnv
from tests.fixtures.users import UserFactory

ISSUER = "https://auth.example.com"
DOCUMENTS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
NOT_IMPLEMENTED = {
    "registration_endpoint",
    "end_session_endpoint",
    "authorization_endpoint",
    "introspection_endpoint",
    "refresh_endpoint",
}


@pytest.mark.parametrize("path", DOCUMENTS)
async def test_metadata_lists_the_endpoints_that_exist(client: httpx.AsyncClient, path: str) -> None:
    document = (await client.get(path)).json()
    assert document["issuer"] == "http://testserver"
    assert document["token_endpoint"] == "http://testserver/api/v1/login"
    assert document["revocation_endpoint"] == "http://testserver/api/v1/revoke"
    assert document["userinfo_endpoint"] == "http://testserver/api/v1/user/me"
    assert document["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert document["grant_types_supported"] == ["password", "refresh_token"]
    assert document["token_endpoint_auth_methods_supported"] == ["none"]
    assert not NOT_IMPLEMENTED & set(document)
    # every advertised endpoint answers its method with something other than 404 or 405
    for name, method in (("token_endpoint", "POST"), ("revocation_endpoint", "POST"), ("userinfo_endpoint", "GET")):
        response = await client.request(method, document[name].removeprefix("http://testserver"))
        assert response.status_code not in (404, 405), (name, response.status_code)


async def test_both_documents_pass_authlibs_validators(client: httpx.AsyncClient, settings_env: SettingsEnv) -> None:
    settings_env(JWT_ISSUER=ISSUER)  # the validators require https
    openid = (await client.get("/.well-known/openid-configuration")).json()
    OpenIDProviderMetadata(openid).validate()
    rfc8414 = (await client.get("/.well-known/oauth-authorization-server")).json()
    AuthorizationServerMetadata(rfc8414).validate()
    assert openid["issuer"] == rfc8414["issuer"] == ISSUER
    assert rfc8414["revocation_endpoint"] == f"{ISSUER}/api/v1/revoke"


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", *DOCUMENTS])
async def test_head_answers_the_headers_of_get(path: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=jwks_app), base_url="http://x") as http:
        get, head = await http.get(path), await http.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(get.content) > 0
    for name in ("content-type", "cache-control", "etag"):
        assert head.headers[name] == get.headers[name], name


async def test_user_me_carries_sub_equal_to_id(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    me = (await client.get("/api/v1/user/me", headers=user.headers)).json()
    assert me["sub"] == me["id"]
    assert isinstance(me["sub"], str)
