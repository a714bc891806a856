"""Start ``skbundle serve`` in a subprocess on a free 127.0.0.1 port, and stop it by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

SKBUNDLE = str(Path(sys.executable).with_name("skbundle"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Live:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def live_server(
    bundle: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Live]:
    """A running server; the log holds its output. Waits (up to 60 s) until it is ready."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [SKBUNDLE, "serve", str(bundle), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"skbundle serve exited with {process.returncode}:\n"
                                   + log.read_text())  # fmt: skip
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("skbundle serve did not become ready:\n" + log.read_text())
            time.sleep(0.1)
        yield Live(url, process, log)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (uvicorn's graceful shutdown, workers included), then SIGKILL after 15 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
