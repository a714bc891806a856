"""The floor: the same stack as ``skbundle serve`` (uvicorn with uvloop and httptools, a
Starlette router, a plain ASGI endpoint that reads the body, orjson) answering a constant
without a model or validation. Whatever ``skbundle serve`` does below this rate is the cost
of JSON decoding, validation, prediction, metrics and response building.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.routing import Route

BODY = orjson.dumps({"prediction": "benign", "probabilities": {"malignant": 0.0, "benign": 1.0}})
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


class Constant:
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})


app = Starlette(routes=[Route("/predict", Constant(), methods=["POST"])])
