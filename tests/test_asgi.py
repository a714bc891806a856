"""The in-process ASGI client behind the load probe, against small real ASGI apps."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from skbundle.readiness import asgi

from .readiness_helpers import EchoApp


def test_all_requests_succeed_after_the_lifespan_started() -> None:
    app = EchoApp()
    result, spec = asgi.exercise(app, body=b'{"a": 1}', requests=300, concurrency=16)
    assert (result.requests, result.errors, result.statuses) == (300, 0, {200: 300})
    assert result.first_error == ""
    assert app.events == ["startup", "shutdown"]
    assert orjson.loads(spec.body)["paths"]["/predict"] == {}
    assert app.calls == 301


def test_failures_are_counted_and_the_first_is_kept() -> None:
    app = EchoApp(fail_every=10)
    result, _ = asgi.exercise(app, body=b'{"a": 1}', requests=200, concurrency=8)
    assert result.errors == 20
    assert result.statuses == {200: 180, 500: 20}
    assert result.first_error == 'status 500: {"error": "boom"}'


def test_an_app_without_lifespan_support_is_still_exercised() -> None:
    app = EchoApp(lifespan=False)
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
