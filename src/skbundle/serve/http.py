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
import json
import math
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

import orjson

from skbundle.errors import HttpError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
_CURL = "application/x-www-form-urlencoded"
JSON_TYPES = frozenset({"application/json", _CURL})
"""Media types a JSON body may be declared as (none declared is accepted too).
``application/x-www-form-urlencoded`` is what ``curl -d`` sends when no type is given; the
body is still read as JSON, never as a form."""


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


def check_media_type(scope: Scope, accepted: Collection[str]) -> None:
    """Refuse (415) a body declared as a media type not in ``accepted``; no declared type is
    accepted (some HTTP clients send none). Parameters such as ``charset`` are ignored."""
    declared = header(scope, b"content-type")
    if declared is None:
        return
    media_type = declared.split(b";", 1)[0].strip().lower().decode("latin-1")
    if media_type in accepted:
        return
    raise HttpError.simple(
        415,
        "unsupported_media_type",
        f"the body is declared as {media_type[:80]!r}",
        f"a body of type {' or '.join(t for t in sorted(accepted) if t != _CURL)}; send "
        "the header 'Content-Type: application/json' with a JSON document",
        field="Content-Type",
    )


async def read_body(
    scope: Scope, receive: Receive, limit: int, media_types: Collection[str] = JSON_TYPES
) -> bytes:
    """The whole request body, refusing more than ``limit`` bytes with a 413 and a body
    declared as another type than ``media_types`` with a 415.

    A declared Content-Length over the limit is refused before a byte is read; a chunked
    body is refused as soon as it grows past the limit, so memory stays bounded either way.
    """
    check_media_type(scope, media_types)
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


FieldOf = Callable[[Any, list[str | int]], str | None]
"""Names the field of a request at a path into its document (see :func:`parse_json`)."""


def last_key(document: Any, path: list[str | int]) -> str | None:
    """The last object key on ``path``: a /predict record's feature."""
    keys = [k for k in path if isinstance(k, str)]
    return keys[-1] if keys else None


def parse_json(body: bytes, field_of: FieldOf = last_key) -> Any:
    """Decode a JSON body, turning any decoding failure into a 400 that says where it broke;
    a number too large for a float is reported with the field ``field_of`` names."""
    if not body:
        raise HttpError.simple(
            400, "malformed_json", "the request body is empty", "a JSON document"
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("number is infinity"):
            raise _too_large_number(body, field_of) from None
        raise HttpError.simple(
            400,
            "malformed_json",
            f"the body is not valid JSON ({exc})",
            "a JSON document (note: JSON has no NaN or Infinity; send null for a missing value)",
        ) from None


class _Huge:
    """A number JSON allows but a 64-bit float cannot hold, kept as its text."""

    def __init__(self, text: str) -> None:
        self.text = text


def _float_or_huge(text: str) -> float | _Huge:
    number = float(text)
    return _Huge(text) if number in (math.inf, -math.inf) else number


def _int_or_huge(text: str) -> int | _Huge:
    # float() first: an integer past a float is what orjson refused, and int() of thousands
    # of digits is refused by Python itself.
    return _Huge(text) if float(text) in (math.inf, -math.inf) else int(text)


def json_path(value: object, wanted: Callable[[object], bool]) -> list[str | int] | None:
    """The keys and indexes leading to the first item of ``value`` for which ``wanted`` is
    true (depth first, without recursion), or None."""
    stack: list[tuple[object, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if wanted(item):
            return path
        if isinstance(item, dict):
            stack.extend((v, [*path, k]) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((v, [*path, i]) for i, v in reversed(list(enumerate(item))))
    return None


def _too_large_number(body: bytes, field_of: FieldOf) -> HttpError:
    """The 400 for a number beyond a 64-bit float, naming the field that holds it.

    Only on this error path the body is parsed again, by the standard library, which reads
    such a number: the parse is bounded by the body limit already applied."""
    path: list[str | int] | None = None
    huge: _Huge | None = None
    try:
        document = json.loads(body, parse_float=_float_or_huge, parse_int=_int_or_huge)
    except (ValueError, RecursionError):
        document = None
    if document is not None:
        path = json_path(document, lambda v: isinstance(v, _Huge))
    if path is not None:
        item: Any = document
        for key in path:
            item = item[key]
        huge = item
    field = field_of(document, path) if path is not None else None
    where = "".join(f"[{k!r}]" for k in path or [])
    text = huge.text[:40] if huge is not None else "a number"
    return HttpError.simple(
        400,
        "malformed_json",
        f"the number {text} at {where or 'the top'} is too large for a 64-bit float",
        "a number between -1.8e308 and 1.8e308",
        field=field,
    )


class ApiKey:
    """Checks ``Authorization: Bearer <key>`` in constant time; the scheme's name is
    case-insensitive (RFC 9110, section 11.1), the key is not."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("api_key must be a non-empty string, or None for no authentication")
        self._expected = key.encode()

    def check(self, scope: Scope) -> None:
        given = header(scope, b"authorization") or b""
        scheme, _, credentials = given.partition(b" ")
        # compare_digest on the whole key: its time does not depend on where they differ.
        matches = hmac.compare_digest(credentials.lstrip(b" "), self._expected)
        if not (matches and scheme.lower() == b"bearer"):
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
