"""One fresh-interpreter measurement for the benchmark (`scripts/benchmark`); prints one JSON line.

    worker.py init MODULE[,MODULE]      import the modules, report init_ms
    worker.py function MODULE SPEC      import MODULE (api.NAME, or the peer's app), then serve
                                        SPEC's requests in-process
    worker.py first-sign                the first access token signed in a fresh process
    worker.py round-trips NAME SPEC     serve SPEC's requests through api.NAME with the database
                                        behind a counting proxy; round trips per request
    worker.py serve MODULE              serve the requests read from standard input, one JSON
                                        line each, answering one JSON line each (status, ms, body)

Only `os`, `sys` and `time` (all loaded by the interpreter itself) are imported before the
timed import, so that nothing is charged to, or hidden from, the module measured. The
repository root is put first on sys.path, or BENCH_SOURCE_ROOT when set (a copy of api/ and
lib/ without bytecode, for the cold starts measured without it).
"""

import os
import sys
import time


def _import(module: str) -> tuple[object, dict[str, float]]:
    """Import `module`; its cost as CPU time (`init_ms`) and as wall-clock time (`init_wall_ms`)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for name in module.split(","):
        imported = __import__(name, fromlist=["_"])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return imported, {"init_ms": cpu * 1000, "init_wall_ms": wall * 1000}


async def call_asgi(
    app: object, method: str, path: str, headers: list[list[str]], body: bytes
) -> tuple[int, bytes, float]:
    """Serve one request through `app` in-process; return (status, body, milliseconds)."""
    import asyncio

    path_only, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"localhost")] + [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    done = asyncio.Event()
    sent_body = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, object]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))  # type: ignore[arg-type]
            if not message.get("more_body"):
                done.set()

    start = time.perf_counter()
    await app(scope, receive, send)  # type: ignore[operator]
    elapsed = (time.perf_counter() - start) * 1000
    return status, b"".join(chunks), elapsed


def _function(module_name: str, spec_text: str) -> dict[str, object]:
    module, init = _import(module_name)
    import asyncio
    import json

    spec = json.loads(spec_text)

    async def serve() -> dict[str, object]:
        app = module.app  # type: ignore[attr-defined]
        times: list[float] = []
        statuses: list[int] = []
        refresh_token = None
        for request in spec["requests"]:
            body = request["body"].encode()
            if spec.get("chain_refresh") and refresh_token:
                body = json.dumps({"refresh_token": refresh_token}).encode()
            status, answer, elapsed = await call_asgi(app, request["method"], request["path"], request["headers"], body)
            if spec.get("chain_refresh") and status == 200:
                refresh_token = json.loads(answer)["refresh_token"]
            times.append(elapsed)
            statuses.append(status)
        return {**init, "times_ms": times, "statuses": statuses}

    return asyncio.run(serve())


def _first_sign() -> dict[str, object]:
    import uuid

    from lib.config import get_settings
    from lib.security.tokens import create_access_token

    get_settings()
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    start = time.perf_counter()
    create_access_token(user_id=user_id, role="user", session_id=session_id)
    first = (time.perf_counter() - start) * 1000
    return {"first_sign_ms": first}


def _round_trips(name: str, spec_text: str) -> dict[str, object]:
    """Each request's round trips to PgBouncer, its connects included (scripts/benchmark/roundtrips.py)."""
    import asyncio
    import json
    from urllib.parse import urlsplit

    from scripts.benchmark.roundtrips import CountingProxy

    spec = json.loads(spec_text)
    target = urlsplit(os.environ["DATABASE_URL"])

    async def serve() -> dict[str, object]:
        proxy = CountingProxy(target.hostname or "127.0.0.1", target.port or 5432)
        port = await proxy.start()
        credentials = target.netloc.rpartition("@")[0]
        os.environ["DATABASE_URL"] = target._replace(netloc=f"{credentials}@127.0.0.1:{port}").geturl()
        app = __import__(f"api.{name}", fromlist=["_"]).app
        per_request: list[dict[str, int]] = []
        statuses: list[int] = []
        for request in spec["requests"]:
            before = proxy.counts.snapshot()
            status, _answer, _elapsed = await call_asgi(
                app, request["method"], request["path"], request["headers"], request["body"].encode()
            )
            await asyncio.sleep(0.05)  # the closing connection's last bytes pass the proxy
            per_request.append(proxy.counts.since(before))
            statuses.append(status)
        return {"requests": per_request, "statuses": statuses}

    return asyncio.run(serve())


def _serve(module_name: str) -> None:
    """Answer each request line of standard input through MODULE's app, in one event loop."""
    import asyncio
    import json

    answers, sys.stdout = sys.stdout, sys.stderr  # what the app prints stays out of the answers
    app = __import__(module_name, fromlist=["_"]).app
    loop = asyncio.new_event_loop()
    for line in sys.stdin:
        request = json.loads(line)
        status, answer, elapsed = loop.run_until_complete(
            call_asgi(app, request["method"], request["path"], request["headers"], request["body"].encode())
        )
        answer_line = {"status": status, "ms": elapsed, "body": answer.decode("utf-8", "replace")}
        print(json.dumps(answer_line), file=answers, flush=True)
    loop.close()


def main() -> None:
    mode = sys.argv[1]
    if mode == "init":
        result: dict[str, object] = dict(_import(sys.argv[2])[1])
    elif mode == "function":
        result = _function(sys.argv[2], sys.argv[3])
    elif mode == "first-sign":
        result = _first_sign()
    elif mode == "round-trips":
        result = _round_trips(sys.argv[2], sys.argv[3])
    elif mode == "serve":
        _serve(sys.argv[2])
        return
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    import json

    print(json.dumps(result))


if __name__ == "__main__":
    # The repository root (or the copy of its source to measure), not scripts/benchmark/.
    sys.path[0] = os.environ.get("BENCH_SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(sys.path[0])))
    main()
