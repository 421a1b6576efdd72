"""Passkeys on the demo page, in real Chromium with its DevTools virtual authenticator (CTAP2,
internal transport, resident keys, user verification): add one, rename it, log out, sign in
with it without typing a username, and an MFA account that skips the code step.

The page is opened at http://localhost:<port>: with a loopback FRONTEND_URL the relying party id
is `localhost` (browsers refuse an IP address as RP id), as the README tells demo users.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import CDPSession, Page, expect

from tests.fixtures.browser import Site, watch
from tests.fixtures.mfa import totp_code
from tests.fixtures.users import PASSWORD


def localhost(site: Site) -> str:
    return site.api.replace("http://127.0.0.1:", "http://localhost:") + "/"


async def virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    added = await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(added["authenticatorId"])


async def credentials(cdp: CDPSession, authenticator_id: str) -> list[dict[str, Any]]:
    found = await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    return list(found["credentials"])


async def sign_up(page: Page, email: str, username: str) -> None:
    form = page.locator("#sign-up-form")
    await form.get_by_label("Email").fill(email)
    await form.get_by_label("Username").fill(username)
    await form.get_by_label("New password").fill(PASSWORD)
    await form.get_by_role("button", name="Create account").click()
    await expect(page.locator('#profile [data-field="username"]')).to_have_text(username)


async def add_passkey(page: Page, name: str = "") -> None:
    form = page.locator("#passkey-add-form")
    await form.get_by_label("Name (optional)").fill(name)
    await form.get_by_role("button", name="Add a passkey").click()
    await expect(page.locator("#message")).to_contain_text("Passkey added")


async def log_out(page: Page) -> None:
    await page.locator("#logout").click()
    await expect(page.locator("#login-form")).to_be_visible()


async def sign_in_with_passkey(page: Page) -> None:
    await page.get_by_role("button", name="Sign in with a passkey").click()
    await expect(page.locator("#message")).to_have_text("You are signed in.")


async def test_add_a_passkey_then_sign_in_with_it_without_a_username(page: Page, site: Site) -> None:
    traffic = watch(page)
    cdp, authenticator_id = await virtual_authenticator(page)
    await page.goto(localhost(site))
    await sign_up(page, "grace@example.com", "grace")
    await expect(page.locator("#passkey-none")).to_be_visible()

    await add_passkey(page, "Laptop")
    stored = await credentials(cdp, authenticator_id)
    assert len(stored) == 1
    assert stored[0]["isResidentCredential"] is True
    assert stored[0]["rpId"] == "localhost"
    items = page.locator("#passkey-list li")
    await expect(items).to_have_count(1)
    await expect(items.locator(".passkey-name")).to_have_text("Laptop")
    notice = site.mailbox.last("grace@example.com", "A passkey was added")
    assert "Laptop" not in notice.text

    rename = items.locator("form")
    await rename.get_by_label("New name").fill("Work laptop")
    await rename.get_by_role("button", name="Rename").click()
    await expect(items.locator(".passkey-name")).to_have_text("Work laptop")

    await log_out(page)
    await expect(page.locator('#login-form input[name="username"]')).to_have_value("")
    await sign_in_with_passkey(page)
    await expect(page.locator('#profile [data-field="username"]')).to_have_text("grace")
    await expect(items.locator(".meta")).to_contain_text("last used")
    assert (await credentials(cdp, authenticator_id))[0]["signCount"] >= 1

    # The session survives a reload through the refresh cookie, like a password session.
    await page.reload()
    await expect(page.locator('#profile [data-field="username"]')).to_have_text("grace")

    await items.get_by_role("button", name="Delete").click()
    await expect(page.locator("#passkey-list li")).to_have_count(0)
    assert "A passkey was removed" in site.mailbox.last("grace@example.com", "removed").subject
    await log_out(page)
    await page.get_by_role("button", name="Sign in with a passkey").click()
    await expect(page.locator("#message")).to_contain_text("could not sign you in")

    assert traffic.page_errors == []
    expected = ("status of 401 ",)
    assert [error for error in traffic.console_errors if not any(text in error for text in expected)] == []


async def test_an_mfa_account_skips_the_code_step_with_a_passkey(page: Page, site: Site) -> None:
    traffic = watch(page)
    await virtual_authenticator(page)
    await page.goto(localhost(site))
    await sign_up(page, "alan@example.com", "alan")

    enrol = page.locator("#mfa-enrol-form")
    await enrol.get_by_label("Password").fill(PASSWORD)
    await enrol.get_by_role("button", name="Set up two-factor login").click()
    await expect(page.locator("#mfa-qr")).to_be_visible()
    secret = (await page.locator("#mfa-secret").text_content() or "").strip()
    confirm = page.locator("#mfa-confirm-form")
    await confirm.get_by_label("Code from the app").fill(totp_code(secret, 0))
    await confirm.get_by_role("button", name="Turn on two-factor login").click()
    await expect(page.locator("#mfa-status")).to_have_text("on")

    await add_passkey(page)
    await expect(page.locator("#passkey-list .passkey-name")).to_have_text("Passkey")
    await log_out(page)

    # A password sign-in asks for the code; the passkey does not.
    login = page.locator("#login-form")
    await login.get_by_label("Email or username").fill("alan")
    await login.get_by_label("Password").fill(PASSWORD)
    await login.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#mfa-login-form")).to_be_visible()
    await page.locator("#mfa-login-cancel").click()

    async with page.expect_response(lambda response: response.url.endswith("/api/v1/login/passkey")) as answer:
        await sign_in_with_passkey(page)
    assert (await answer.value).status == 200
    await expect(page.locator("#mfa-login-form")).to_be_hidden()
    await expect(page.locator('#profile [data-field="username"]')).to_have_text("alan")
    await expect(page.locator("#mfa-status")).to_have_text("on")

    assert traffic.page_errors == []
    expected = ("status of 403 ",)
    assert [error for error in traffic.console_errors if not any(text in error for text in expected)] == []
