"""The few ASGI pieces the hot path needs: a bounded body reader, JSON responses, errors.

Endpoints that predict are plain ASGI callables rather than Starlette ``Request`` handlers:
reading the body straight from ``receive`` and sending pre-encoded headers saves the request
object, the response object and a copy of the body per request (see benchmarks/RESULTS.md).
Every error the server sends on purpose is an ``HttpError`` carrying a structured body, so
that the client always learns which field was wrong, what the problem was and what was
expected.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from skbundle.errors import HttpError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]


async def send_json(
    send: Send,
    status: int,
    payload: Any,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send ``payload`` as a complete JSON response (numpy scalars and arrays allowed)."""
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    await send_bytes(send, status, body, JSON_HEADERS + (headers or []))


async def send_bytes(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (``name`` in lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing more than ``limit`` bytes with a 413.

    A declared Content-Length over the limit is refused before a byte is read; a chunked
    body is refused as soon as it grows past the limit, so memory stays bounded either way.
    """
    too_large = HttpError.simple(
        413,
        "body_too_large",
        "the request body is larger than the server accepts",
        f"at most {limit} bytes (the server's max_body_bytes); split the records into "
        "several requests",
    )
    declared = header(scope, b"content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large
        except ValueError:
            raise HttpError.simple(
                400, "bad_request", "the Content-Length header is not a number", "an integer"
            ) from None
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise too_large
        return bytes(body)
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)


def parse_json(body: bytes) -> Any:
    """Decode a JSON body, turning any decoding failure into a 400 that says where it broke."""
    if not body:
        raise HttpError.simple(
            400, "malformed_json", "the request body is empty", "a JSON document"
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HttpError.simple(
            400,
            "malformed_json",
            f"the body is not valid JSON ({exc})",
            "a JSON document (note: JSON has no NaN or Infinity; send null for a missing value)",
        ) from None


class ApiKey:
    """Checks ``Authorization: Bearer <key>`` in constant time."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("api_key must be a non-empty string, or None for no authentication")
        self._expected = b"Bearer " + key.encode()

    def check(self, scope: Scope) -> None:
        given = header(scope, b"authorization") or b""
        # compare_digest on the whole header: its time does not depend on where they differ.
        if not hmac.compare_digest(given, self._expected):
            raise HttpError(
                401,
                "unauthorized",
                "missing or wrong API key; expected the header 'Authorization: Bearer <key>'",
                [
                    {
                        "record": None,
                        "field": None,
                        "problem": "missing or wrong API key" if given else "no API key sent",
                        "expected": "the header 'Authorization: Bearer <key>'",
                    }
                ],
                headers=[(b"www-authenticate", b'Bearer realm="skbundle"')],
            )
