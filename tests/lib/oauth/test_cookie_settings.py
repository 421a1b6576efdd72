"""The refresh cookie's settings: SameSite=None only with credentialed CORS, in every environment."""

from __future__ import annotations

import pytest

from lib.config import ConfigError
from tests.lib.test_config import SAFE_PRODUCTION, load_settings

DEVELOPMENT = {"ENVIRONMENT": "development"}


@pytest.mark.parametrize("environment", [DEVELOPMENT, SAFE_PRODUCTION], ids=["development", "production"])
def test_samesite_none_without_credentialed_cors_is_refused_with_one_line(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(monkeypatch, **environment, REFRESH_COOKIE_SAMESITE="None", CORS_ALLOW_CREDENTIALS="false")
    message = str(error.value)
    assert message.startswith("REFRESH_COOKIE_SAMESITE=none needs CORS_ALLOW_CREDENTIALS=true"), message
    assert "\n" not in message


@pytest.mark.parametrize("environment", [DEVELOPMENT, SAFE_PRODUCTION], ids=["development", "production"])
def test_samesite_none_with_credentialed_cors_is_accepted(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    settings = load_settings(monkeypatch, **environment, REFRESH_COOKIE_SAMESITE="none", CORS_ALLOW_CREDENTIALS="true")
    assert settings.REFRESH_COOKIE_SAMESITE == "none"


@pytest.mark.parametrize("samesite", ["lax", "strict"])
def test_same_site_cookies_do_not_need_credentialed_cors(monkeypatch: pytest.MonkeyPatch, samesite: str) -> None:
    settings = load_settings(monkeypatch, REFRESH_COOKIE_SAMESITE=samesite, CORS_ALLOW_CREDENTIALS="false")
    assert settings.REFRESH_COOKIE_SAMESITE == samesite


def test_default_is_lax_and_unknown_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(monkeypatch, REFRESH_COOKIE_SAMESITE=None).REFRESH_COOKIE_SAMESITE == "lax"
    with pytest.raises(ConfigError, match=r"^REFRESH_COOKIE_SAMESITE: "):
        load_settings(monkeypatch, REFRESH_COOKIE_SAMESITE="sometimes")
