"""Two-factor login on the demo page, in real Chromium: enrol by the QR code's secret, keep the
recovery codes, log in with a code and with a recovery code; codes computed with pyotp from the
secret read off the page, as an authenticator app would."""

from __future__ import annotations

import base64

from playwright.async_api import Page, expect

from tests.fixtures.browser import Site, watch
from tests.fixtures.mfa import totp_code
from tests.fixtures.users import PASSWORD


async def log_in(page: Page, identifier: str, password: str = PASSWORD) -> None:
    form = page.locator("#login-form")
    await form.get_by_label("Email or username").fill(identifier)
    await form.get_by_label("Password").fill(password)
    await form.get_by_role("button", name="Sign in").click()


async def second_factor(page: Page, code: str) -> None:
    form = page.locator("#mfa-login-form")
    await expect(form).to_be_visible()
    await form.get_by_label("Authentication code").fill(code)
    await form.get_by_role("button", name="Verify").click()


async def log_out(page: Page) -> None:
    await page.locator("#logout").click()
    await expect(page.locator("#login-form")).to_be_visible()


async def test_enrol_by_qr_secret_then_log_in_with_a_code_and_a_recovery_code(page: Page, site: Site) -> None:
    traffic = watch(page)
    await page.goto(f"{site.api}/")
    form = page.locator("#sign-up-form")
    await form.get_by_label("Email").fill("ada@example.com")
    await form.get_by_label("Username").fill("ada")
    await form.get_by_label("New password").fill(PASSWORD)
    await form.get_by_role("button", name="Create account").click()
    await expect(page.locator("#mfa-status")).to_have_text("off")

    # Enrol: the QR code is an image (loaded and drawn), the secret beside it.
    enrol = page.locator("#mfa-enrol-form")
    await enrol.get_by_label("Password").fill(PASSWORD)
    await enrol.get_by_role("button", name="Set up two-factor login").click()
    qr = page.locator("#mfa-qr")
    await expect(qr).to_be_visible()
    source = await qr.get_attribute("src") or ""
    assert source.startswith("data:image/svg+xml;base64,")
    assert b"<svg" in base64.b64decode(source.split(",", 1)[1])
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")
    secret = (await page.locator("#mfa-secret").text_content() or "").strip()
    assert len(secret) >= 16

    confirm = page.locator("#mfa-confirm-form")
    await confirm.get_by_label("Code from the app").fill(totp_code(secret, 0))
    await confirm.get_by_role("button", name="Turn on two-factor login").click()
    await expect(page.locator("#mfa-status")).to_have_text("on")
    codes = page.locator("#mfa-recovery-codes li")
    await expect(codes).to_have_count(10)
    recovery = [text.strip() for text in await codes.all_text_contents()]
    await expect(page.locator("#mfa-qr")).to_be_hidden()
    assert "Two-factor login was turned on" in site.mailbox.last("ada@example.com", "turned on").subject

    # The recovery codes are shown once: a reload does not bring them back.
    await page.reload()
    await expect(page.locator("#mfa-status")).to_have_text("on")
    await expect(page.locator("#mfa-recovery")).to_be_hidden()

    # Log in again: the password, then a code of the next step (this step's was spent).
    await log_out(page)
    await log_in(page, "ada")
    await second_factor(page, "000000")
    await expect(page.locator("#message")).to_contain_text("That code is wrong")
    await second_factor(page, totp_code(secret, 1))
    await expect(page.locator("#message")).to_have_text("You are signed in.")
    await expect(page.locator('#profile [data-field="username"]')).to_have_text("ada")
    await expect(page.locator("#mfa-login-form")).to_be_hidden()

    # And with a recovery code, which then is spent.
    await log_out(page)
    await log_in(page, "ada@example.com")
    await second_factor(page, recovery[0])
    await expect(page.locator('#profile [data-field="username"]')).to_have_text("ada")
    await log_out(page)
    await log_in(page, "ada")
    await second_factor(page, recovery[0])
    await expect(page.locator("#message")).to_contain_text("That code is wrong")

    assert traffic.page_errors == []
    expected = ("status of 403 ", "status of 401 ")
    assert [error for error in traffic.console_errors if not any(text in error for text in expected)] == []
