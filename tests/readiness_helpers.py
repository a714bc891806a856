"""Helpers shared by the readiness tests: edit a real bundle the way a careless hand would."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson

from skbundle.core.manifest import read_manifest, write_manifest


def edit_manifest(path: Path, **changes: Any) -> None:
    """Rewrite bundle.json with some fields changed (bundle.json is not hashed)."""
    manifest = read_manifest(path)
    write_manifest(path, manifest.model_copy(update=changes))


def edit_features(path: Path, **changes: Any) -> None:
    """Change the same fields on every feature of the schema."""
    manifest = read_manifest(path)
    features = [f.model_copy(update=changes) for f in manifest.features]
    write_manifest(path, manifest.model_copy(update={"features": features}))


def copy_bundle(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; raises if the bytes are not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


class EchoApp:
    """A small real ASGI app: its lifespan marks it ready, POST /predict answers with a result,
    GET /openapi.json lists ``paths``; every ``fail_every``-th request gets a 500."""

    def __init__(
        self,
        fail_every: int = 0,
        lifespan: bool = True,
        paths: tuple[str, ...] = ("/predict", "/health"),
    ) -> None:
        self.fail_every = fail_every
        self.lifespan = lifespan
        self.paths = paths
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
            status, body = 200, orjson.dumps({"paths": {key: {} for key in self.paths}})
        elif self.fail_every and self.calls % self.fail_every == 0:
            status, body = 500, b'{"error": "boom"}'
        else:
            record = orjson.loads(message["body"])
            ready = scope.get("state", {}).get("ready", False)
            status, body = 200, orjson.dumps([{"echo": record, "ready": ready}])
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})
