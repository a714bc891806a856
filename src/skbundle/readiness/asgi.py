"""A minimal in-process ASGI client: drives an app's lifespan and sends it HTTP requests.

The readiness checklist uses it to exercise the bundle's server (``skbundle.serve``) without a
socket: the app under test is the real app, called through the ASGI protocol exactly as a
server would call it, so its lifespan (which loads the bundle) runs too.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


@dataclass(frozen=True)
class LoadResult:
    """What N concurrent requests to one endpoint returned."""

    requests: int
    concurrency: int
    seconds: float
    statuses: dict[int, int]
    errors: int
    first_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float("inf")


class Client:
    """Sends requests to an ASGI app inside a running event loop, after its lifespan started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._lifespan: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()

    async def __aenter__(self) -> Client:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}

        async def run() -> None:
            try:
                await self.app(scope, self._to_app.get, self._from_app.put)
            except Exception as exc:  # an app without lifespan support may raise; say so
                await self._from_app.put({"type": "lifespan.unsupported", "message": repr(exc)})

        self._lifespan = asyncio.create_task(run())
        await self._to_app.put({"type": "lifespan.startup"})
        reply = await self._from_app.get()
        if reply["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"the app failed to start: {reply.get('message', '')}")
        if reply["type"] == "lifespan.unsupported":
            self._lifespan = None
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._lifespan is not None:
            await self._to_app.put({"type": "lifespan.shutdown"})
            await self._from_app.get()
            await self._lifespan

    async def request(self, method: str, path: str, body: bytes = b"") -> Response:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": dict(self.state),
        }
        sent = False
        done = asyncio.Event()
        status = 0
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    done.set()

        await self.app(scope, receive, send)
        done.set()
        return Response(status, b"".join(chunks))


def _is_result(body: bytes) -> bool:
    import orjson

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, (dict, list)) and bool(data)


async def _load(
    client: Client, path: str, body: bytes, requests: int, concurrency: int
) -> LoadResult:
    statuses: Counter[int] = Counter()
    errors = 0
    first_error = ""
    next_index = 0

    async def worker() -> None:
        nonlocal errors, first_error, next_index
        while next_index < requests:
            next_index += 1
            try:
                response = await client.request("POST", path, body)
            except Exception as exc:
                errors += 1
                first_error = first_error or f"the app raised {type(exc).__name__}: {exc}"
                continue
            statuses[response.status] += 1
            if response.status != 200 or not _is_result(response.body):
                errors += 1
                first_error = first_error or (
                    f"status {response.status}: {response.body[:200].decode(errors='replace')}"
                )

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return LoadResult(requests, concurrency, seconds, dict(statuses), errors, first_error)


def exercise(
    app: ASGIApp,
    *,
    body: bytes,
    requests: int,
    concurrency: int,
    path: str = "/predict",
    spec_path: str = "/openapi.json",
) -> tuple[LoadResult, Response]:
    """Start ``app``, send ``requests`` POSTs of ``body`` to ``path``, then GET ``spec_path``."""

    async def main() -> tuple[LoadResult, Response]:
        async with Client(app) as client:
            result = await _load(client, path, body, requests, concurrency)
            try:
                spec = await client.request("GET", spec_path)
            except Exception as exc:  # reported as the spec's failure, like any other answer
                spec = Response(0, f"the app raised {type(exc).__name__}: {exc}".encode())
        return result, spec

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # An event loop already runs in this thread (a notebook, an async caller, a browser
    # driver): asyncio.run() refuses to nest, so the probe gets a loop of its own in a thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()
