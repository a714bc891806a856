"""Swapping versions under load: ``skbundle serve`` follows a link while wrk hammers it.

Run with the worktree's interpreter (wrk from Debian must be on PATH):

    .venv/bin/python benchmarks/swap.py                  # 2 workers, 3 round trips
    .venv/bin/python benchmarks/swap.py --hold 3 --round-trips 5

Two bundles of the demo model (1.0.0 and 2.0.0, the same pipeline saved twice) are served
through a symbolic link by ``skbundle serve LINK --workers 2 --poll 0.25``. wrk (2 threads,
32 connections) posts one record to /predict for the whole run; its Lua script counts the
responses that are not 2xx and, per ``X-Model-Version``, the answers of each version (and any
whose body's ``model_version`` disagrees with the header). Meanwhile the link is flipped
1.0.0 -> 2.0.0 -> 1.0.0 ... (atomically: a new link renamed over the old one), and after each
flip /health is asked on fresh connections until every worker answers the new version: that
time is the switch's. Prints Markdown tables; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

BIN = Path(sys.executable).parent

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("BODY", "rb"); wrk.body = f:read("*a"); f:close()
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) v1 = 0; v2 = 0; other = 0; bad = 0; mismatch = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
  local v = headers["x-model-version"] or headers["X-Model-Version"]
  if v == "1.0.0" then v1 = v1 + 1 elseif v == "2.0.0" then v2 = v2 + 1 else other = other + 1 end
  if v == nil or not string.find(body, '"model_version":"' .. v .. '"', 1, true) then
    mismatch = mismatch + 1
  end
end
function done(summary, latency, requests)
  local t1, t2, to, tb, tm = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t1 = t1 + t:get("v1"); t2 = t2 + t:get("v2"); to = to + t:get("other")
    tb = tb + t:get("bad"); tm = tm + t:get("mismatch")
  end
  io.write(string.format("COUNTS %d %d %d %d %d\n", t1, t2, to, tb, tm))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def point(link: Path, target: Path) -> None:
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def build(root: Path) -> tuple[Path, Path, bytes]:
    import skbundle
    from skbundle import demo

    fitted = demo.fit()
    paths = []
    for version in ("1.0.0", "2.0.0"):
        path = root / f"breast-cancer-{version}"
        skbundle.save(fitted.pipeline, path, X_train=fitted.X_train, y_train=fitted.y_train,
                      X_test=fitted.X_test, y_test=fitted.y_test, name="breast-cancer",
                      class_names=fitted.names, version=version)  # fmt: skip
        paths.append(path)
    record = orjson.dumps(fitted.X_test.iloc[0].to_dict())
    return paths[0], paths[1], record


def health(url: str) -> dict[str, object]:
    with httpx.Client() as fresh:  # a fresh connection: any worker may take it
        body: dict[str, object] = fresh.get(f"{url}/health", timeout=10).json()
        return body


class Probes:
    """Kept-alive connections, each bound to one worker: asking all of them reaches every
    worker, without waiting for a busy worker to win the accept of a fresh connection."""

    def __init__(self, url: str, n: int = 8) -> None:
        self.url = url
        self.clients = [httpx.Client(limits=httpx.Limits(max_connections=1)) for _ in range(n)]

    def versions(self) -> dict[int, tuple[str, str]]:
        """pid -> (version served, when it was swapped in by the server's clock)."""
        seen = {}
        for client in self.clients:
            body = client.get(f"{self.url}/health", timeout=10).json()
            seen[int(body["pid"])] = (str(body["version"]), str(body["reload"]["at"]))
        return seen

    def close(self) -> None:
        for client in self.clients:
            client.close()


def _epoch(at: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--round-trips", type=int, default=3, help="1.0.0 -> 2.0.0 -> 1.0.0")
    parser.add_argument("--hold", type=float, default=2.0, help="seconds between flips")
    parser.add_argument("--poll", type=float, default=0.25, help="skbundle serve --poll")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="skbundle-swap-"))
    v1, v2, record = build(root)
    body = root / "one.json"
    body.write_bytes(record)
    script = root / "swap.lua"
    script.write_text(LUA.replace("BODY", str(body)))
    link = root / "current"
    point(link, v1)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (root / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "skbundle"), "serve", str(link), "--port", str(port), "--workers",
         str(args.workers), "--poll", str(args.poll), "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        pids: set[int] = set()
        while len(pids) < args.workers:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError((root / "serve.log").read_text())
            try:
                pids.add(int(health(url)["pid"]))  # type: ignore[call-overload]
            except httpx.TransportError:
                time.sleep(0.1)
        moves = [("1.0.0", "2.0.0"), ("2.0.0", "1.0.0")] * args.round_trips
        seconds = int(2 + len(moves) * (args.hold + 3) + 2)
        out: dict[str, str] = {}

        def load() -> None:
            out["wrk"] = subprocess.run(
                ["wrk", "-t2", "-c32", f"-d{seconds}s", "-s", str(script), f"{url}/predict"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip

        wrk = threading.Thread(target=load)
        wrk.start()
        time.sleep(2)
        switches = []
        targets = {"1.0.0": v1, "2.0.0": v2}
        probes = Probes(url)
        for old, new in moves:
            start, wall = time.monotonic(), time.time()
            point(link, targets[new])
            while True:
                seen = probes.versions()
                if pids <= seen.keys() and {v for v, _ in seen.values()} == {new}:
                    break
            observed = time.monotonic() - start
            swapped = max(_epoch(at) for _, at in seen.values()) - wall
            switches.append((old, new, swapped, observed))
            time.sleep(args.hold)
        wrk.join()
        same_workers = set(probes.versions()) == pids
        probes.close()
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGINT)
            server.wait(timeout=30)
        log.close()

    text = out["wrk"]
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    socket_errors = sum(int(g) for g in sockets.groups()) if sockets else 0
    counts = re.search(r"COUNTS (.*)", text).group(1)  # type: ignore[union-attr]
    c1, c2, other, bad, mismatch = map(int, counts.split())
    print(f"wrk -t2 -c32 -d{seconds}s, POST /predict (one record), skbundle serve --workers "
          f"{args.workers} --poll {args.poll}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print(
        "| requests | req/s | non-2xx | socket errors | answered by 1.0.0 | by 2.0.0 | "
        "no/other version | header != body | same worker PIDs at the end |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print(f"| {total:,} | {rps:,.0f} | {bad} | {socket_errors} | {c1:,} | {c2:,} | {other} | "
          f"{mismatch} | {'yes' if same_workers else 'no'} |\n")  # fmt: skip
    print("| switch | swapped on every worker after (s, server clock) | seen on every worker "
          "after (s) |")  # fmt: skip
    print("|---|---:|---:|")
    for old, new, swapped, observed in switches:
        print(f"| {old} -> {new} | {swapped:.2f} | {observed:.2f} |")


if __name__ == "__main__":
    main()
