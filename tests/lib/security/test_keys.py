from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from lib.config import ConfigError
from lib.security.keys import decode_pem_setting, get_key_set
from tests.fixtures.app import SettingsEnv
from tests.fixtures.keys import b64, new_private_key


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    "form",
    [
        (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8),
        (serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL),
    ],
)
def test_private_pem_formats_give_the_public_numbers(
    key: rsa.RSAPrivateKey, form: tuple[object, object], settings_env: SettingsEnv
) -> None:
    pem = key.private_bytes(form[0], form[1], serialization.NoEncryption()).decode()  # type: ignore[arg-type]
    settings_env(RSA_PRIVATE_KEY_CONTENT=b64(pem), RSA_PUBLIC_KEY_ID="")
    numbers = key.public_key().public_numbers()
    (published,) = get_key_set().public_keys.values()
    assert (published.n, published.e) == (numbers.n, numbers.e)


@pytest.mark.parametrize("form", [serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1])
def test_previous_public_pem_formats_give_the_public_numbers(
    key: rsa.RSAPrivateKey, form: serialization.PublicFormat, settings_env: SettingsEnv
) -> None:
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, form).decode()
    settings_env(RSA_PREVIOUS_PUBLIC_KEYS=b64(pem))
    numbers = key.public_key().public_numbers()
    previous = [k for kid, k in get_key_set().public_keys.items() if kid != get_key_set().signing_kid]
    assert [(k.n, k.e) for k in previous] == [(numbers.n, numbers.e)]


def test_encrypted_or_non_rsa_keys_are_refused_naming_the_problem(settings_env: SettingsEnv) -> None:
    encrypted = new_private_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    settings_env(RSA_PRIVATE_KEY_CONTENT=b64(encrypted.decode()))
    with pytest.raises(ConfigError, match="RSA private key"):
        get_key_set()
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    settings_env(RSA_PRIVATE_KEY_CONTENT=b64(ec_key.decode()))
    with pytest.raises(ConfigError, match="expected an RSA key"):
        get_key_set()


def test_key_setting_accepts_base64_raw_and_escaped_newlines(key: rsa.RSAPrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert decode_pem_setting(base64.b64encode(pem.encode()).decode(), "X").strip() == pem.strip()
    assert decode_pem_setting(pem, "X").strip() == pem.strip()
    assert decode_pem_setting(pem.replace("\n", "\\n"), "X").strip() == pem.strip()


def test_garbage_key_setting_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="RSA_PRIVATE_KEY_CONTENT"):
        decode_pem_setting("not base64 at all!", "RSA_PRIVATE_KEY_CONTENT")


def test_key_from_path_and_explicit_kid(
    key: rsa.RSAPrivateKey, tmp_path: pytest.TempPathFactory, settings_env: SettingsEnv
) -> None:
    pem_file = tmp_path / "key.pem"  # type: ignore[operator]
    pem_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    settings_env(RSA_PRIVATE_KEY_CONTENT="", RSA_PRIVATE_KEY_PATH=str(pem_file), RSA_PUBLIC_KEY_ID="key-2026")
    key_set = get_key_set()
    assert key_set.signing_kid == "key-2026"
    assert key_set.public_keys["key-2026"].n == key.public_key().public_numbers().n


def test_small_keys_are_refused(settings_env: SettingsEnv) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    settings_env(RSA_PRIVATE_KEY_CONTENT=base64.b64encode(pem).decode())
    with pytest.raises(ConfigError, match="2048"):
        get_key_set()
