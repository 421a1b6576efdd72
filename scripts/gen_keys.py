"""Print a new RSA-2048 signing key as base64 of its PEM (the value for RSA_PRIVATE_KEY_CONTENT),
or with --mfa a new Fernet key (the value for MFA_ENCRYPTION_KEY).

With --write, store it in .env instead (replacing an existing line for the same variable).
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def new_key_value(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return base64.b64encode(pem).decode("ascii")


def write_env(path: Path, name: str, value: str) -> None:
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [line for line in lines if not line.removeprefix("export ").lstrip().startswith(f"{name}=")]
    lines.append(f"{name}={value}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the key into .env instead of printing it")
    parser.add_argument("--env-file", default=".env", help="the file --write updates (default: .env)")
    parser.add_argument("--bits", type=int, default=2048, choices=[2048, 3072, 4096])
    parser.add_argument("--mfa", action="store_true", help="a Fernet key for MFA_ENCRYPTION_KEY instead")
    args = parser.parse_args()
    if args.mfa:
        name, value = "MFA_ENCRYPTION_KEY", Fernet.generate_key().decode("ascii")
    else:
        name, value = "RSA_PRIVATE_KEY_CONTENT", new_key_value(args.bits)
    if args.write:
        write_env(Path(args.env_file), name, value)
        print(f"wrote {name} to {args.env_file}", file=sys.stderr)
    else:
        print(value)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
