"""The floor: the same stack as ``skbundle serve`` (uvicorn, uvloop, httptools, a raw ASGI
endpoint, orjson) answering a constant without reading a model. Whatever ``skbundle serve``
does below this rate is the cost of validation, prediction, metrics and response building.
"""

from __future__ import annotations

from typing import Any

import orjson

BODY = orjson.dumps({"prediction": "benign", "probabilities": {"malignant": 0.0, "benign": 1.0}})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(BODY)).encode())],
        }
    )  # fmt: skip
    await send({"type": "http.response.body", "body": BODY})
