from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic_core import PydanticCustomError

from lib.security.password_policy import check_password, common_passwords
from tests.fixtures.servers import ROOT


def rule(password: str, **names: str) -> str | None:
    try:
        check_password(password, **names)
    except PydanticCustomError as exc:
        return exc.type
    return None


def test_common_list_comes_from_the_offline_package() -> None:
    common = common_passwords()
    assert len(common) > 20_000
    assert {"123456", "password", "iloveyou", "trustno1"} <= common


@pytest.mark.parametrize(
    ("password", "names", "expected"),
    [
        ("zz-ADA-lovelace-zz", {"username": "ada"}, "password_contains_username"),
        ("zz-ab-lovelace-zz", {"email": "ab@example.com"}, None),  # local parts under 3 characters are not checked
        ("zz-Ada.L-zz-horse", {"email": "ada.l@example.com"}, "password_contains_email"),
        ("example.com horse", {"email": "ada@example.com"}, None),  # the domain is not the person's name
        ("qwertyuiop", {}, "password_too_common"),
        ("QWERTYUIOP", {}, "password_too_common"),
        ("qwertyuiop-7f3k", {}, None),
    ],
)
def test_rules(password: str, names: dict[str, str], expected: str | None) -> None:
    assert rule(password, **names) == expected


def test_the_list_is_loaded_only_when_a_password_is_checked() -> None:
    code = (
        "import sys, lib.security.password_policy, lib.accounts.schemas;"
        "assert not any(name.startswith(('zxcvbn', '_zxcvbn')) for name in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
