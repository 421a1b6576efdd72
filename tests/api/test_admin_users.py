from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from lib.db import get_engine
from lib.models import AuthSession, RefreshToken, User
from lib.security.tokens import decode_token
from tests.fixtures.roles import RoleFactory, count_rows, user_row
from tests.fixtures.users import SignedUp, UserFactory

USERS = "/api/v1/admin/users"


async def _id_of(client: httpx.AsyncClient, member: SignedUp) -> str:
    response = await client.get("/api/v1/user/me", headers=member.headers)
    assert response.status_code == 200, response.text
    user_id: str = response.json()["id"]
    return user_id


async def _login(client: httpx.AsyncClient, member: SignedUp) -> httpx.Response:
    return await client.post("/api/v1/login", data={"username": member.username, "password": member.password})


async def _active_admins() -> int:
    async with get_engine().connect() as connection:
        statement = (
            select(func.count()).select_from(User).where(col(User.role) == "admin", col(User.is_active).is_(True))
        )
        return (await connection.execute(statement)).scalar_one()


ROUTES = [
    ("GET", USERS, None),
    ("GET", USERS + "/{target}", None),
    ("PATCH", USERS + "/{target}", {"is_verified": True}),
    ("DELETE", USERS + "/{target}", None),
]
EXPECTED = {
    "anonymous": [401, 401, 401, 401],
    "user": [403, 403, 403, 403],
    "moderator": [200, 200, 403, 403],
    "admin": [200, 200, 200, 204],
}


@pytest.mark.parametrize("route", range(len(ROUTES)), ids=[f"{m} {p}" for m, p, _ in ROUTES])
@pytest.mark.parametrize("role", list(EXPECTED))
async def test_role_matrix(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory, role: str, route: int
) -> None:
    target = await users.sign_up()
    target_id = await _id_of(client, target)
    headers = {} if role == "anonymous" else (await accounts.create(role)).headers
    method, path, body = ROUTES[route]

    response = await client.request(method, path.format(target=target_id), headers=headers, json=body)

    expected = EXPECTED[role][route]
    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "not_authenticated"
    if expected == 403:
        assert response.json() == {"detail": "Not enough permissions", "code": "forbidden"}
        row = await user_row(target.email)
        assert row is not None
        assert row["is_verified"] is False
    if method == "DELETE" and expected == 204:
        assert await user_row(target.email) is None


async def test_malformed_user_id_is_422_for_staff_and_401_for_anonymous(
    client: httpx.AsyncClient, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    for method, body in (("GET", None), ("PATCH", {"is_verified": True}), ("DELETE", None)):
        response = await client.request(method, f"{USERS}/not-a-uuid", headers=admin.headers, json=body)
        assert response.status_code == 422, (method, response.text)
        assert response.json()["detail"][0]["loc"] == ["path", "user_id"]
        anonymous = await client.request(method, f"{USERS}/not-a-uuid", json=body)
        assert anonymous.status_code == 401


async def test_unknown_user_is_404(client: httpx.AsyncClient, accounts: RoleFactory) -> None:
    admin = await accounts.create("admin")
    for method, body in (("GET", None), ("PATCH", {"is_verified": True}), ("DELETE", None)):
        response = await client.request(method, f"{USERS}/{uuid.uuid4()}", headers=admin.headers, json=body)
        assert response.status_code == 404, method
        assert response.json() == {"detail": "User not found", "code": "not_found"}


async def test_get_user_returns_public_fields_only(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    moderator = await accounts.create("moderator")
    target = await users.sign_up(first_name="Grace", last_name="Hopper")
    response = await client.get(f"{USERS}/{await _id_of(client, target)}", headers=moderator.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "sub",
        "email",
        "username",
        "first_name",
        "last_name",
        "full_name",
        "role",
        "is_active",
        "is_verified",
        "mfa_enabled",
        "background_questionnaire",
        "created_at",
        "updated_at",
    }
    assert (body["email"], body["full_name"], body["role"]) == (target.email, "Grace Hopper", "user")


# Listing, pagination and search


async def _list(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> httpx.Response:
    return await client.get(USERS, headers=headers, params=params)


async def test_list_pages_through_every_user_in_a_stable_order(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    for _ in range(4):
        await users.sign_up()

    everyone = (await _list(client, admin.headers, limit=100)).json()
    assert everyone["total"] == 5
    assert (everyone["limit"], everyone["offset"]) == (100, 0)
    all_ids = [item["id"] for item in everyone["items"]]
    assert len(set(all_ids)) == 5

    paged: list[str] = []
    for offset in (0, 2, 4):
        page = (await _list(client, admin.headers, limit=2, offset=offset)).json()
        assert (page["total"], page["limit"], page["offset"]) == (5, 2, offset)
        paged += [item["id"] for item in page["items"]]
    assert paged == all_ids


async def test_list_defaults_to_50_from_the_start(client: httpx.AsyncClient, accounts: RoleFactory) -> None:
    admin = await accounts.create("admin")
    body = (await _list(client, admin.headers)).json()
    assert (body["limit"], body["offset"], body["total"]) == (50, 0, 1)
    assert [item["email"] for item in body["items"]] == [admin.email]


async def test_list_offset_past_the_end_gives_no_items_and_the_total(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    await users.sign_up()
    response = await _list(client, admin.headers, offset=10)
    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 2, "limit": 50, "offset": 10}


@pytest.mark.parametrize(
    ("params", "field", "error_type"),
    [
        ({"limit": 0}, "limit", "greater_than_equal"),
        ({"limit": 101}, "limit", "less_than_equal"),
        ({"limit": "ten"}, "limit", "int_parsing"),
        ({"offset": -1}, "offset", "greater_than_equal"),
        ({"offset": 2**63}, "offset", "less_than_equal"),
        ({"q": "x" * 321}, "q", "string_too_long"),
        ({"q": "nul\x00"}, "q", "string_nul_character"),
    ],
)
async def test_list_rejects_out_of_range_parameters(
    client: httpx.AsyncClient, accounts: RoleFactory, params: dict[str, Any], field: str, error_type: str
) -> None:
    admin = await accounts.create("admin")
    response = await _list(client, admin.headers, **params)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(error["loc"] == ["query", field] and error["type"] == error_type for error in errors), errors


async def test_list_limits_of_1_and_100_are_accepted(client: httpx.AsyncClient, accounts: RoleFactory) -> None:
    admin = await accounts.create("admin")
    await accounts.create("user")
    one = (await _list(client, admin.headers, limit=1)).json()
    assert (len(one["items"]), one["total"]) == (1, 2)
    hundred = (await _list(client, admin.headers, limit=100)).json()
    assert (len(hundred["items"]), hundred["total"]) == (2, 2)


async def _search(client: httpx.AsyncClient, headers: dict[str, str], q: str) -> tuple[set[str], int]:
    response = await _list(client, headers, q=q)
    assert response.status_code == 200, response.text
    body = response.json()
    return {item["username"] for item in body["items"]}, body["total"]


async def test_search_matches_part_of_email_or_username_in_any_case(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    moderator = await accounts.create("moderator", username="moderator1", email="mod@staff.example")
    await users.sign_up(username="Alice_Smith", email="alice@wonder.example")
    await users.sign_up(username="bob", email="bob.smith@builders.example")
    await users.sign_up(username="carol", email="carol@wonder.example")

    assert await _search(client, moderator.headers, "WONDER.EX") == ({"Alice_Smith", "carol"}, 2)
    assert await _search(client, moderator.headers, "smith") == ({"Alice_Smith", "bob"}, 2)
    assert await _search(client, moderator.headers, "aRo") == ({"carol"}, 1)
    assert await _search(client, moderator.headers, "nobody") == (set(), 0)


async def test_search_treats_like_wildcards_literally(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin", username="admin1", email="admin@staff.example")
    await users.sign_up(username="under_score", email="under@example.org")
    await users.sign_up(username="plain", email="plain@example.org")

    assert await _search(client, admin.headers, "_") == ({"under_score"}, 1)
    assert await _search(client, admin.headers, "%") == (set(), 0)
    assert await _search(client, admin.headers, "\\") == (set(), 0)
    assert await _search(client, admin.headers, "r_s") == ({"under_score"}, 1)


# Changes by an admin


async def test_admin_patch_changes_role_and_flags(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    target = await users.sign_up()
    target_id = await _id_of(client, target)

    response = await client.patch(
        f"{USERS}/{target_id}", headers=admin.headers, json={"role": "moderator", "is_verified": True}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["role"], body["is_verified"], body["is_active"]) == ("moderator", True, True)
    row = await user_row(target.email)
    assert row is not None
    assert (row["role"], row["is_verified"]) == ("moderator", True)


async def test_promotion_takes_effect_on_existing_tokens(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    target = await users.sign_up()
    assert (await _list(client, target.headers)).status_code == 403
    await client.patch(f"{USERS}/{await _id_of(client, target)}", headers=admin.headers, json={"role": "moderator"})
    assert (await _list(client, target.headers)).status_code == 200


@pytest.mark.parametrize(
    ("start_role", "change"),
    [
        ("moderator", {"role": "user"}),
        ("admin", {"role": "moderator"}),
        ("user", {"is_active": False}),
        ("moderator", {"is_active": False}),
    ],
)
async def test_demotion_and_deactivation_end_existing_tokens_at_once(
    client: httpx.AsyncClient, accounts: RoleFactory, start_role: str, change: dict[str, Any]
) -> None:
    admin = await accounts.create("admin")
    target = await accounts.create(start_role)
    target_id = await _id_of(client, target)

    response = await client.patch(f"{USERS}/{target_id}", headers=admin.headers, json=change)
    assert response.status_code == 200, response.text

    rejected = await client.get("/api/v1/user/me", headers=target.headers)
    assert rejected.status_code == 401
    assert rejected.json()["code"] == "token_revoked"
    refresh = await client.post("/api/v1/refresh", json={"refresh_token": target.refresh_token})
    assert refresh.status_code == 401
    login = await _login(client, target)
    if change.get("is_active") is False:
        assert login.status_code == 401
        assert login.json()["code"] == "invalid_credentials"
    else:
        assert login.status_code == 200
        assert login.json()["access_token"]


async def test_reactivated_user_can_log_in_again(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    target = await users.sign_up()
    target_id = await _id_of(client, target)
    await client.patch(f"{USERS}/{target_id}", headers=admin.headers, json={"is_active": False})
    response = await client.patch(f"{USERS}/{target_id}", headers=admin.headers, json={"is_active": True})
    assert response.json()["is_active"] is True
    assert (await _login(client, target)).status_code == 200


async def test_changing_only_is_verified_keeps_sessions(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    target = await users.sign_up()
    await client.patch(f"{USERS}/{await _id_of(client, target)}", headers=admin.headers, json={"is_verified": True})
    me = await client.get("/api/v1/user/me", headers=target.headers)
    assert me.status_code == 200
    assert me.json()["is_verified"] is True


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [
        ({"role": "superuser"}, "enum"),
        ({"role": None}, "null_not_allowed"),
        ({"is_active": None}, "null_not_allowed"),
        ({"is_active": "maybe"}, "bool_parsing"),
        ({"email": "new@example.com"}, "extra_forbidden"),
        ({"hashed_password": "x"}, "extra_forbidden"),
    ],
)
async def test_admin_patch_rejects_invalid_fields(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory, payload: dict[str, Any], error_type: str
) -> None:
    admin = await accounts.create("admin")
    target = await users.sign_up()
    response = await client.patch(f"{USERS}/{await _id_of(client, target)}", headers=admin.headers, json=payload)
    assert response.status_code == 422
    field = next(iter(payload))
    errors = response.json()["detail"]
    assert any(error["loc"] == ["body", field] and error["type"] == error_type for error in errors), errors
    row = await user_row(target.email)
    assert row is not None
    assert (row["role"], row["is_active"]) == ("user", True)


async def test_admin_delete_removes_the_row_with_its_sessions_and_refresh_tokens(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    target = await users.sign_up()
    target_id = await _id_of(client, target)
    assert await count_rows(RefreshToken, uuid.UUID(target_id)) == 1

    response = await client.delete(f"{USERS}/{target_id}", headers=admin.headers)
    assert response.status_code == 204
    assert response.content == b""

    assert await user_row(target.email) is None
    assert await count_rows(RefreshToken, uuid.UUID(target_id)) == 0
    assert await count_rows(AuthSession, uuid.UUID(target_id)) == 0
    assert (await client.get("/api/v1/user/me", headers=target.headers)).status_code == 401
    assert (await client.post("/api/v1/refresh", json={"refresh_token": target.refresh_token})).status_code == 401
    assert (await client.get(f"{USERS}/{target_id}", headers=admin.headers)).status_code == 404
    assert (await client.delete(f"{USERS}/{target_id}", headers=admin.headers)).status_code == 404


# The last active admin


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PATCH", {"role": "user"}),
        ("PATCH", {"role": "moderator"}),
        ("PATCH", {"is_active": False}),
        ("DELETE", None),
    ],
)
async def test_last_active_admin_cannot_remove_themself(
    client: httpx.AsyncClient, accounts: RoleFactory, method: str, body: dict[str, Any] | None
) -> None:
    admin = await accounts.create("admin")
    response = await client.request(method, f"{USERS}/{await _id_of(client, admin)}", headers=admin.headers, json=body)
    assert response.status_code == 409
    assert response.json()["code"] == "last_admin"
    row = await user_row(admin.email)
    assert row is not None
    assert (row["role"], row["is_active"]) == ("admin", True)
    assert (await client.get("/api/v1/user/me", headers=admin.headers)).status_code == 200


async def test_inactive_admins_do_not_count_as_remaining(client: httpx.AsyncClient, accounts: RoleFactory) -> None:
    admin = await accounts.create("admin")
    other = await accounts.create("admin")
    other_id = await _id_of(client, other)
    assert (
        await client.patch(f"{USERS}/{other_id}", headers=admin.headers, json={"is_active": False})
    ).status_code == 200
    response = await client.patch(
        f"{USERS}/{await _id_of(client, admin)}", headers=admin.headers, json={"role": "user"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "last_admin"


async def test_admin_may_step_down_while_another_admin_remains(
    client: httpx.AsyncClient, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    successor = await accounts.create("admin")
    response = await client.patch(
        f"{USERS}/{await _id_of(client, admin)}", headers=admin.headers, json={"role": "user"}
    )
    assert response.status_code == 200
    assert response.json()["role"] == "user"
    assert (await client.get("/api/v1/user/me", headers=admin.headers)).status_code == 401
    assert (await _list(client, successor.headers)).status_code == 200
    assert await _active_admins() == 1


async def test_last_admin_may_change_own_verified_flag(client: httpx.AsyncClient, accounts: RoleFactory) -> None:
    admin = await accounts.create("admin")
    response = await client.patch(
        f"{USERS}/{await _id_of(client, admin)}", headers=admin.headers, json={"is_verified": True, "role": "admin"}
    )
    assert response.status_code == 200
    assert response.json()["is_verified"] is True


@pytest.mark.parametrize("attempt", range(3))
async def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    client: httpx.AsyncClient, accounts: RoleFactory, attempt: int
) -> None:
    first = await accounts.create("admin")
    second = await accounts.create("admin")
    first_id, second_id = await _id_of(client, first), await _id_of(client, second)

    responses = await asyncio.gather(
        client.patch(f"{USERS}/{second_id}", headers=first.headers, json={"role": "user"}),
        client.patch(f"{USERS}/{first_id}", headers=second.headers, json={"role": "user"}),
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses[0] == 200, [response.text for response in responses]
    assert statuses[1] in (401, 409), [response.text for response in responses]
    assert await _active_admins() == 1


@pytest.mark.parametrize("attempt", range(3))
async def test_two_admins_deleting_each_other_at_once_leave_one_admin(
    client: httpx.AsyncClient, accounts: RoleFactory, attempt: int
) -> None:
    first = await accounts.create("admin")
    second = await accounts.create("admin")
    first_id, second_id = await _id_of(client, first), await _id_of(client, second)

    responses = await asyncio.gather(
        client.delete(f"{USERS}/{second_id}", headers=first.headers),
        client.delete(f"{USERS}/{first_id}", headers=second.headers),
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses[0] == 204, [response.text for response in responses]
    assert statuses[1] in (401, 409), [response.text for response in responses]
    assert await _active_admins() == 1


async def test_admin_token_ends_when_their_account_is_deleted_by_another_admin(
    client: httpx.AsyncClient, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    other = await accounts.create("admin")
    assert (await client.delete(f"{USERS}/{await _id_of(client, other)}", headers=admin.headers)).status_code == 204
    assert (await _list(client, other.headers)).status_code == 401


async def test_a_refresh_after_a_promotion_carries_the_new_role(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory
) -> None:
    """The refresh reads the role in the statement that moves the session on: the new access
    token names the role the account has now, not the one the refresh token was issued under."""
    admin = await accounts.create("admin")
    target = await users.sign_up()
    promoted = await client.patch(
        f"{USERS}/{await _id_of(client, target)}", headers=admin.headers, json={"role": "moderator"}
    )
    assert promoted.status_code == 200, promoted.text
    refreshed = await client.post("/api/v1/refresh", json={"refresh_token": target.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    assert decode_token(refreshed.json()["access_token"], "access")["role"] == "moderator"
