from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from lib.accounts.links import describe_duration, email_link


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        (timedelta(hours=48), "48 hours"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(minutes=60), "1 hour"),
        (timedelta(minutes=30), "30 minutes"),
        (timedelta(minutes=90), "90 minutes"),
        (timedelta(minutes=1), "1 minute"),
    ],
)
def test_describe_duration(duration: timedelta, words: str) -> None:
    assert describe_duration(duration) == words


def test_email_link_joins_frontend_url_and_page(settings_env: Callable[..., None]) -> None:
    settings_env(FRONTEND_URL="https://accounts.example.org/app/")

    assert email_link("verify-email", "T0k_en-") == "https://accounts.example.org/app/verify-email?token=T0k_en-"
