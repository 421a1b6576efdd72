"""Clients generated from the OpenAPI document, used unchanged against a real server: one by
openapi-python-client, one by @hey-api/openapi-ts (compiled by TypeScript, run by Node). Both
are generated here, so a change of the document that breaks a generator fails the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from api._local import create_local_app
from tests.fixtures.live import serve
from tests.fixtures.users import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NODE_MODULES = Path(os.environ.get("DEPLOY_NODE_MODULES") or ROOT / ".cache/node/node_modules")

# Each client signs up, logs in with the password grant, reads its profile, refreshes, revokes
# the new refresh token, and sees that token refused; it prints what it saw as JSON.
PYTHON_CLIENT = """
import json, sys
from auth_client import AuthenticatedClient, Client
from auth_client.api.auth import login, refresh, revoke, sign_up
from auth_client.api.user import get_me
from auth_client.models import (
    RefreshRequest, RevokeBody, RevokeBodyTokenTypeHint, TokenRequest, TokenRequestGrantType, TokenResponse,
    UserCreate, UserPublic,
)

base_url, email, username, password = sys.argv[1:]
with Client(base_url=base_url) as client:
    signed_up = sign_up.sync_detailed(client=client, body=UserCreate(email=email, username=username, password=password))
    pair = login.sync(client=client, body=TokenRequest(
        grant_type=TokenRequestGrantType.PASSWORD, username=username, password=password))
    assert isinstance(pair, TokenResponse), pair
with AuthenticatedClient(base_url=base_url, token=pair.access_token) as authenticated:
    me = get_me.sync(client=authenticated)
    assert isinstance(me, UserPublic), me
with Client(base_url=base_url) as client:
    rotated = refresh.sync(client=client, body=RefreshRequest(refresh_token=pair.refresh_token))
    assert isinstance(rotated, TokenResponse), rotated
    revoked = revoke.sync_detailed(client=client, body=RevokeBody(
        token=rotated.refresh_token, token_type_hint=RevokeBodyTokenTypeHint.REFRESH_TOKEN))
    refused = refresh.sync_detailed(client=client, body=RefreshRequest(refresh_token=rotated.refresh_token))
print(json.dumps({
    "sign_up": signed_up.status_code.value,
    "token_type": pair.token_type,
    "me": {"email": me.email, "username": me.username},
    "rotated": rotated.refresh_token != pair.refresh_token,
    "revoke": revoked.status_code.value,
    "refused": [refused.status_code.value, refused.parsed.code],
}))
"""

TYPESCRIPT_CLIENT = """
import { getMe, login, refresh, revoke, signUp } from "./client";
import { client } from "./client/client.gen";

declare const process: { argv: string[]; exitCode?: number };

async function main(): Promise<void> {
  const [baseUrl, email, username, password] = process.argv.slice(2);
  client.setConfig({ baseUrl });
  const signedUp = await signUp({ body: { email, username, password } });
  const pair = await login({ body: { grant_type: "password", username, password }, throwOnError: true });
  const me = await getMe({ auth: pair.data.access_token, throwOnError: true });
  const rotated = await refresh({ body: { refresh_token: pair.data.refresh_token }, throwOnError: true });
  const revoked = await revoke({ body: { token: rotated.data.refresh_token, token_type_hint: "refresh_token" } });
  const refused = await refresh({ body: { refresh_token: rotated.data.refresh_token } });
  const refusal = refused.error && "code" in refused.error ? refused.error.code : refused.error;
  console.log(JSON.stringify({
    sign_up: signedUp.response.status,
    token_type: pair.data.token_type,
    me: { email: me.data.email, username: me.data.username },
    rotated: rotated.data.refresh_token !== pair.data.refresh_token,
    revoke: revoked.response.status,
    refused: [refused.response.status, refusal],
  }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
"""

TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "target": "es2022",
        "module": "commonjs",
        "moduleResolution": "node10",
        "lib": ["es2022", "dom", "dom.iterable"],
        "outDir": "out",
        "noEmitOnError": True,
    },
    "files": ["main.ts"],
}


@pytest.fixture
def live_api() -> Iterator[str]:
    with serve(create_local_app()) as base_url:
        yield base_url


def run(command: list[str], cwd: Path, **env: str) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **env},
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def document(base_url: str, directory: Path) -> Path:
    path = directory / "openapi.json"
    path.write_text(httpx.get(f"{base_url}/openapi.json").text)
    return path


def account() -> tuple[str, str]:
    name = f"gen{uuid.uuid4().hex[:12]}"
    return f"{name}@example.com", name


def assert_the_flow_worked(seen: dict[str, Any], email: str, username: str) -> None:
    assert seen == {
        "sign_up": 201,
        "token_type": "Bearer",
        "me": {"email": email, "username": username},
        "rotated": True,
        "revoke": 200,
        "refused": [401, "token_revoked"],
    }


def python_client(base_url: str, directory: Path) -> dict[str, Any]:
    spec = document(base_url, directory)
    generate = [str(VENV_BIN / "openapi-python-client"), "generate", "--path", str(spec), "--meta", "none"]
    output = run([*generate, "--output-path", "auth_client"], directory)
    # It still writes a client when it has to leave an operation or a model out: that is a failure.
    assert "Warning" not in output, output
    assert "Error" not in output, output
    email, username = account()
    seen: dict[str, Any] = json.loads(
        run([sys.executable, "-c", PYTHON_CLIENT, base_url, email, username, PASSWORD], directory, PYTHONPATH=".")
    )
    assert_the_flow_worked(seen, email, username)
    return seen


def typescript_client(base_url: str, directory: Path) -> dict[str, Any]:
    bin_dir = NODE_MODULES / ".bin"
    assert (bin_dir / "openapi-ts").exists(), "scripts/test installs @hey-api/openapi-ts into .cache/node"
    spec = document(base_url, directory)
    run([str(bin_dir / "openapi-ts"), "--input", str(spec), "--output", "client"], directory)
    (directory / "main.ts").write_text(TYPESCRIPT_CLIENT)
    (directory / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    run([str(bin_dir / "tsc"), "--project", "tsconfig.json"], directory)  # type-checks the generated code too
    email, username = account()
    seen: dict[str, Any] = json.loads(run(["node", "out/main.js", base_url, email, username, PASSWORD], directory))
    assert_the_flow_worked(seen, email, username)
    return seen


async def test_openapi_python_client_signs_up_logs_in_refreshes_and_revokes(live_api: str, tmp_path: Path) -> None:
    await anyio.to_thread.run_sync(python_client, live_api, tmp_path)


async def test_hey_api_typescript_client_signs_up_logs_in_refreshes_and_revokes(live_api: str, tmp_path: Path) -> None:
    await anyio.to_thread.run_sync(typescript_client, live_api, tmp_path)
