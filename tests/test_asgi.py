"""The in-process ASGI client behind the load probe, against small real ASGI apps."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from skbundle.report import asgi


class CountingApp:
    """A real ASGI app: lifespan marks it ready; /predict echoes; every Nth request fails."""

    def __init__(self, fail_every: int = 0, lifespan: bool = True) -> None:
        self.fail_every = fail_every
        self.lifespan = lifespan
        self.calls = 0
        self.events: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            if not self.lifespan:
                raise RuntimeError("lifespan not supported")
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    scope["state"]["ready"] = True
                    self.events.append("startup")
                    await send({"type": "lifespan.startup.complete"})
                else:
                    self.events.append("shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        message = await receive()
        self.calls += 1
        if scope["path"] == "/openapi.json":
            status, body = 200, orjson.dumps({"paths": {"/predict": {}, "/health": {}}})
        elif self.fail_every and self.calls % self.fail_every == 0:
            status, body = 500, b'{"error": "boom"}'
        else:
            record = orjson.loads(message["body"])
            ready = scope.get("state", {}).get("ready", False)
            status, body = 200, orjson.dumps([{"echo": record, "ready": ready}])
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})


def test_all_requests_succeed_after_the_lifespan_started() -> None:
    app = CountingApp()
    result, spec = asgi.exercise(app, body=b'{"a": 1}', requests=300, concurrency=16)
    assert (result.requests, result.errors, result.statuses) == (300, 0, {200: 300})
    assert result.first_error == ""
    assert app.events == ["startup", "shutdown"]
    assert orjson.loads(spec.body)["paths"]["/predict"] == {}
    assert app.calls == 301


def test_failures_are_counted_and_the_first_is_kept() -> None:
    app = CountingApp(fail_every=10)
    result, _ = asgi.exercise(app, body=b'{"a": 1}', requests=200, concurrency=8)
    assert result.errors == 20
    assert result.statuses == {200: 180, 500: 20}
    assert result.first_error == 'status 500: {"error": "boom"}'


def test_an_app_without_lifespan_support_is_still_exercised() -> None:
    app = CountingApp(lifespan=False)
    result, _ = asgi.exercise(app, body=b'{"a": 1}', requests=10, concurrency=2)
    assert result.errors == 0


def test_an_app_that_raises_is_an_error_not_a_crash() -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan")
        raise ValueError("bad handler")

    result, spec = asgi.exercise(broken, body=b"{}", requests=5, concurrency=2)
    assert result.errors == 5
    assert result.first_error == "the app raised ValueError: bad handler"
    assert spec == asgi.Response(0, b"the app raised ValueError: bad handler")


def test_a_failed_startup_is_reported() -> None:
    async def refuses(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no bundle"})

    with pytest.raises(RuntimeError, match=r"^the app failed to start: no bundle$"):
        asgi.exercise(refuses, body=b"{}", requests=1, concurrency=1)
