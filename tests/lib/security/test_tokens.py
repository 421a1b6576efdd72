"""Token verification: every check of the design holds, and tokens interoperate with an independent library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lib.config import get_settings
from lib.errors import InvalidToken, TokenExpired
from lib.security.keys import get_key_set, thumbprint
from lib.security.tokens import (
    _signing_key,
    create_access_token,
    create_mfa_token,
    create_refresh_token,
    decode_token,
    token_client_id,
)
from tests.fixtures.app import SettingsEnv


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims(**overrides: Any) -> dict[str, Any]:
    settings = get_settings()
    now = int(time.time())
    values = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "type": "access",
        "role": "user",
        "iat": now,
        "exp": now + 60,
        "jti": "jti-1",
        **overrides,
    }
    return {name: value for name, value in values.items() if value is not None}


def sign(
    payload: dict[str, Any],
    *,
    key: Any = None,
    kid: str | None = None,
    typ: str = "at+jwt",
    algorithm: str = "RS256",
    **headers: Any,
) -> str:
    header = {"kid": kid or get_key_set().signing_kid, "typ": typ, **headers}
    return pyjwt.encode(payload, key or _signing_key(), algorithm=algorithm, headers=header)


def raw_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_access_token_verifies_here_and_with_an_independent_library() -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token = create_access_token(user_id=user_id, role="admin", session_id=session_id).token

    ours = decode_token(token, "access")
    settings = get_settings()
    theirs = pyjwt.decode(
        token,
        _signing_key().public_key(),
        algorithms=["RS256"],
        audience=settings.JWT_AUDIENCE,
        issuer=settings.JWT_ISSUER,
    )
    header = pyjwt.get_unverified_header(token)

    assert ours == theirs
    assert (ours["sub"], ours["sid"], ours["role"], ours["type"]) == (str(user_id), str(session_id), "admin", "access")
    assert header == {"alg": "RS256", "kid": get_key_set().signing_kid, "typ": "at+jwt"}


def test_token_signed_by_another_library_with_our_key_is_accepted() -> None:
    payload = claims()
    assert decode_token(sign(payload), "access") == payload


def test_refresh_token_round_trip() -> None:
    jti = uuid.uuid4()
    token = create_refresh_token(user_id=uuid.uuid4(), session_id=uuid.uuid4(), jti=jti).token
    assert decode_token(token, "refresh")["jti"] == str(jti)


def test_refresh_token_is_not_an_access_token_and_the_other_way_round() -> None:
    refresh = create_refresh_token(user_id=uuid.uuid4(), session_id=uuid.uuid4(), jti=uuid.uuid4()).token
    access = create_access_token(user_id=uuid.uuid4(), role="user", session_id=uuid.uuid4()).token
    with pytest.raises(InvalidToken):
        decode_token(refresh, "access")
    with pytest.raises(InvalidToken):
        decode_token(access, "refresh")


def test_access_token_needs_the_at_jwt_header_type() -> None:
    with pytest.raises(InvalidToken):
        decode_token(sign(claims(), typ="JWT"), "access")


def test_hmac_signed_with_the_public_key_is_rejected() -> None:
    """The classic algorithm confusion: HS256 keyed with our published key."""
    public_pem = (
        _signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "kid": get_key_set().signing_kid, "typ": "at+jwt"}
    unsigned = raw_token(header, claims()).rpartition(".")[0]
    signature = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken):
        decode_token(f"{unsigned}.{b64(signature)}", "access")


@pytest.mark.parametrize("algorithm", ["none", "RS512", "PS256"])
def test_other_algorithms_are_rejected(algorithm: str) -> None:
    if algorithm == "none":
        token = raw_token({"alg": "none", "kid": get_key_set().signing_kid, "typ": "at+jwt"}, claims())
    else:
        token = sign(claims(), algorithm=algorithm)
    with pytest.raises(InvalidToken):
        decode_token(token, "access")


def test_unknown_key_id_is_rejected() -> None:
    with pytest.raises(InvalidToken):
        decode_token(sign(claims(), kid="someone-else"), "access")


def test_another_key_under_our_key_id_is_rejected() -> None:
    with pytest.raises(InvalidToken):
        decode_token(sign(claims(), key=other_key()), "access")


def test_tampered_payload_is_rejected() -> None:
    header, _, signature = sign(claims(role="user")).split(".")
    forged = b64(json.dumps(claims(role="admin")).encode())
    with pytest.raises(InvalidToken):
        decode_token(f"{header}.{forged}.{signature}", "access")


def test_expired_token_is_rejected_as_expired() -> None:
    now = int(time.time())
    with pytest.raises(TokenExpired):
        decode_token(sign(claims(iat=now - 120, exp=now - 1)), "access")


def test_token_not_yet_valid_is_rejected() -> None:
    with pytest.raises(InvalidToken):
        decode_token(sign(claims(nbf=int(time.time()) + 60)), "access")


@pytest.mark.parametrize(
    "override", [{"iss": "https://evil.example"}, {"aud": "another-service"}, {"aud": ["another-service"]}]
)
def test_wrong_issuer_or_audience_is_rejected(override: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        decode_token(sign(claims(**override)), "access")


def test_audience_list_containing_ours_is_accepted() -> None:
    audience = ["another-service", get_settings().JWT_AUDIENCE]
    assert decode_token(sign(claims(aud=audience)), "access")["aud"] == audience


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "jti", "sid", "type", "iss", "aud"])
def test_missing_claim_is_rejected(missing: str) -> None:
    with pytest.raises(InvalidToken):
        decode_token(sign(claims(**{missing: None})), "access")


@pytest.mark.parametrize("override", [{"exp": "tomorrow"}, {"exp": True}, {"nbf": "now"}, {"sub": 42}])
def test_claims_of_the_wrong_type_are_rejected(override: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        decode_token(sign(claims(**override)), "access")


def test_non_finite_expiry_is_rejected() -> None:
    with pytest.raises(InvalidToken):
        decode_token(sign(claims(exp=float("nan"))), "access")


def test_critical_header_extension_is_rejected() -> None:
    with pytest.raises(InvalidToken):
        decode_token(sign(claims(), crit=["exp"]), "access")


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "not a token", "x" * 9000])
def test_malformed_token_is_rejected(token: str) -> None:
    with pytest.raises(InvalidToken):
        decode_token(token, "access")


def test_padded_or_non_json_segments_are_rejected() -> None:
    token = sign(claims())
    header, payload, signature = token.split(".")
    for bad in (
        f"{header}=.{payload}.{signature}",
        f"{b64(b'not json')}.{payload}.{signature}",
        f"{b64(b'[1]')}.{payload}.{signature}",
    ):
        with pytest.raises(InvalidToken):
            decode_token(bad, "access")


def test_token_from_a_previous_key_is_accepted_while_published(settings_env: SettingsEnv) -> None:
    previous = other_key()
    pem = previous.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    numbers = previous.public_key().public_numbers()
    kid = thumbprint(numbers.n, numbers.e)
    token = sign(claims(), key=previous, kid=kid)
    with pytest.raises(InvalidToken):
        decode_token(token, "access")

    settings_env(RSA_PREVIOUS_PUBLIC_KEYS=base64.b64encode(pem).decode("ascii"))
    assert decode_token(token, "access")["jti"] == "jti-1"


def test_refresh_and_mfa_tokens_are_for_the_issuer_not_the_resource_servers() -> None:
    settings = get_settings()
    refresh = create_refresh_token(user_id=uuid.uuid4(), session_id=uuid.uuid4(), jti=uuid.uuid4()).token
    mfa = create_mfa_token(user_id=uuid.uuid4(), binding="b", lifetime_seconds=60).token
    for token in (refresh, mfa):
        assert pyjwt.decode(token, options={"verify_signature": False})["aud"] == settings.JWT_ISSUER
    assert decode_token(refresh, "refresh")["aud"] == settings.JWT_ISSUER
    assert decode_token(mfa, "mfa")["aud"] == settings.JWT_ISSUER


def test_a_token_for_the_issuer_is_no_access_token_even_with_type_access() -> None:
    with pytest.raises(InvalidToken):
        decode_token(sign(claims(aud=get_settings().JWT_ISSUER)), "access")


def test_a_refresh_token_for_the_resource_servers_with_a_client_id_is_refused() -> None:
    """Only a token from before refresh tokens had their own audience (none had a client_id) may
    still carry `JWT_AUDIENCE`."""
    payload = claims(type="refresh", aud=get_settings().JWT_AUDIENCE, client_id="web-app")
    with pytest.raises(InvalidToken):
        decode_token(sign(payload, typ="JWT"), "refresh")


def test_a_refresh_token_issued_before_the_audience_change_is_still_accepted() -> None:
    """Refresh tokens live 7 days: those issued with the resource servers' audience (and no
    client_id) keep working until they expire, and carry the default client on."""
    payload = claims(type="refresh", aud=get_settings().JWT_AUDIENCE, amr=["pwd"])
    accepted = decode_token(sign(payload, typ="JWT"), "refresh")
    assert accepted["sub"] == payload["sub"]
    assert token_client_id(accepted) == get_settings().DEFAULT_CLIENT_ID


def test_tokens_carry_the_client_id_they_were_issued_for() -> None:
    access = create_access_token(user_id=uuid.uuid4(), role="user", session_id=uuid.uuid4(), client_id="web-app")
    assert decode_token(access.token, "access")["client_id"] == "web-app"
    default = create_access_token(user_id=uuid.uuid4(), role="user", session_id=uuid.uuid4())
    assert decode_token(default.token, "access")["client_id"] == get_settings().DEFAULT_CLIENT_ID
    refresh = create_refresh_token(user_id=uuid.uuid4(), session_id=uuid.uuid4(), jti=uuid.uuid4(), client_id="cli")
    assert token_client_id(decode_token(refresh.token, "refresh")) == "cli"
