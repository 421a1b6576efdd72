"""Just enough DER to read the numbers out of an RSA PEM.

The JWKS function publishes public keys on nearly every invocation from a cold
start; reading `n` and `e` here keeps `cryptography` out of its import path. The
token code builds its key from the private numbers read here, which keeps
`cryptography`'s serialization stack (SSH keys, ciphers, bcrypt) out of the rest.
"""

from __future__ import annotations

import base64
import binascii

RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")


class KeyFormatError(ValueError):
    pass


def _read(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """Read one TLV at `offset`; return (tag, value, next offset)."""
    if offset + 2 > len(data):
        raise KeyFormatError("truncated DER")
    tag = data[offset]
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise KeyFormatError("bad DER length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise KeyFormatError("truncated DER")
    return tag, data[offset:end], end


def _sequence(data: bytes) -> list[tuple[int, bytes]]:
    tag, body, _ = _read(data, 0)
    if tag != 0x30:
        raise KeyFormatError("expected a DER SEQUENCE")
    items = []
    offset = 0
    while offset < len(body):
        item_tag, value, offset = _read(body, offset)
        items.append((item_tag, value))
    return items


def _integer(item: tuple[int, bytes]) -> int:
    if item[0] != 0x02:
        raise KeyFormatError("expected a DER INTEGER")
    return int.from_bytes(item[1], "big")


def pem_to_der(pem: str) -> tuple[str, bytes]:
    """Return the PEM label (e.g. 'PRIVATE KEY') and the decoded DER body."""
    lines = [line.strip() for line in pem.strip().splitlines() if line.strip()]
    if len(lines) < 3 or not lines[0].startswith("-----BEGIN ") or not lines[-1].startswith("-----END "):
        raise KeyFormatError("not a PEM document")
    label = lines[0].removeprefix("-----BEGIN ").removesuffix("-----")
    try:
        return label, base64.b64decode("".join(lines[1:-1]), validate=True)
    except binascii.Error as exc:
        raise KeyFormatError("bad base64 in PEM") from exc


def _algorithm_is_rsa(item: tuple[int, bytes]) -> bool:
    if item[0] != 0x30:
        return False
    tag, oid, _ = _read(item[1], 0)
    return tag == 0x06 and oid == RSA_ENCRYPTION_OID


def _private_key_fields(label: str, der: bytes) -> list[tuple[int, bytes]]:
    """The PKCS#1 RSAPrivateKey fields, from a PKCS#1 or PKCS#8 document."""
    fields = _sequence(der)
    if label == "PRIVATE KEY":
        if len(fields) < 3 or fields[2][0] != 0x04 or not _algorithm_is_rsa(fields[1]):
            raise KeyFormatError("not an RSA private key")
        fields = _sequence(fields[2][1])
    if len(fields) < 3:
        raise KeyFormatError("not an RSA private key")
    return fields


def rsa_private_numbers(pem: str) -> tuple[int, ...]:
    """(n, e, d, p, q, d mod (p-1), d mod (q-1), q^-1 mod p) of an RSA private key in PKCS#1 or PKCS#8 PEM."""
    label, der = pem_to_der(pem)
    if label not in {"RSA PRIVATE KEY", "PRIVATE KEY"}:
        raise KeyFormatError(f"unsupported private key PEM type {label!r}")
    fields = _private_key_fields(label, der)
    if len(fields) < 9 or _integer(fields[0]) != 0:
        raise KeyFormatError("not a two-prime RSA private key")
    return tuple(_integer(field) for field in fields[1:9])


def rsa_public_numbers(pem: str) -> tuple[int, int]:
    """(n, e) of an RSA private or public key in PKCS#1, PKCS#8 or SubjectPublicKeyInfo PEM."""
    label, der = pem_to_der(pem)
    if label in {"RSA PRIVATE KEY", "PRIVATE KEY"}:
        fields = _private_key_fields(label, der)
        return _integer(fields[1]), _integer(fields[2])
    if label == "RSA PUBLIC KEY":
        fields = _sequence(der)
        return _integer(fields[0]), _integer(fields[1])
    if label == "PUBLIC KEY":
        fields = _sequence(der)
        if len(fields) != 2 or fields[1][0] != 0x03 or not _algorithm_is_rsa(fields[0]):
            raise KeyFormatError("not an RSA public key")
        bits = fields[1][1]
        if not bits or bits[0] != 0:
            raise KeyFormatError("bad BIT STRING")
        inner = _sequence(bits[1:])
        return _integer(inner[0]), _integer(inner[1])
    raise KeyFormatError(f"unsupported PEM type {label!r}")
