"""Lambda SnapStart: importing a function (its init, which the snapshot captures) opens no
database connection, and every function registers the renewals its state needs, which give
a restored copy its own random state and its own key objects."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api._local import function_names

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter per function: import it, then do what the Lambda runtime does
# after a restore (call the registered hooks), and report what changed.
_RESTORE = """
import json, random, sys
import snapshot_restore_py
module = __import__("api." + sys.argv[1], fromlist=["_"])
hooks = [func.__name__ for func, _args, _kwargs in snapshot_restore_py.get_after_restore()]
state = random.getstate()
result = {"hooks": hooks, "modules": sorted(m for m in sys.modules if m.startswith("lib."))}
if "lib.security.tokens" in sys.modules:
    import uuid
    from lib.security import keys, tokens
    before = keys.get_key_set().signing_key
    user_id = uuid.uuid4()
    token = tokens.create_access_token(user_id=user_id, role="user", session_id=uuid.uuid4()).token
if "lib.security.passwords" in sys.modules:
    from lib.security import passwords
    dummy = passwords._dummy_hash()
for func, args, kwargs in snapshot_restore_py.get_after_restore():
    func(*args, **kwargs)
result["random_renewed"] = random.getstate() != state
if "lib.security.tokens" in sys.modules:
    result["key_renewed"] = keys.get_key_set().signing_key is not before
    result["old_token_accepted"] = tokens.decode_token(token, "access")["sub"] == str(user_id)
if "lib.security.passwords" in sys.modules:
    result["dummy_renewed"] = passwords._dummy_hash() != dummy
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A TCP port that stands for the database: any connection attempt shows as a pending accept."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", function_names())
def test_import_opens_no_connection_and_registers_the_renewals(listener: socket.socket, name: str) -> None:
    port = listener.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": f"postgresql://auth:secret@127.0.0.1:{port}/auth?connect_timeout=2"}
    process = subprocess.run(
        [sys.executable, "-c", _RESTORE, name], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout.strip().splitlines()[-1])

    with pytest.raises(BlockingIOError):  # nobody knocked
        listener.accept()
    assert {"reseed_random", "forget_parsed_keys"} <= set(result["hooks"])
    assert result["random_renewed"]
    if "lib.security.tokens" in result["modules"]:
        # forget_parsed_keys runs first, so that reload_keys parses the keys afresh
        assert result["hooks"].index("forget_parsed_keys") < result["hooks"].index("reload_keys")
        assert result["key_renewed"]
        assert result["old_token_accepted"]  # the same key, parsed again
    if "lib.security.passwords" in result["modules"]:
        assert "forget_dummy_hash" in result["hooks"]
        assert result["dummy_renewed"]
