"""Serving benchmark: ``skbundle serve`` against a tutorial FastAPI server and the stack's floor.

Run with the worktree's interpreter (wrk from Debian must be on PATH):

    .venv/bin/python benchmarks/serve.py                    # joblib runtime, 2 workers
    .venv/bin/python benchmarks/serve.py --runtime onnx     # once the bundle has model.onnx

In one run, on 127.0.0.1, each server gets the same load from ``wrk`` (a Lua script posts a
fixed body): one-row requests at 32 connections, then 100-row requests at 8 connections.
Servers, all with the same number of workers:

* ``skbundle serve`` on the demo bundle (StandardScaler -> RandomForest, 100 trees);
* the baseline, ``benchmarks/baseline_server.py`` (FastAPI + pandas + scikit-learn), on the
  same ``model.joblib``;
* ``skbundle serve`` and the baseline on a linear bundle of the same data
  (LogisticRegression), where the model is cheap and the servers' own overhead shows;
* the floor, ``benchmarks/hello_server.py``: the same stack answering a constant.

Also recorded: cold start (process start to the first /predict answer) and the resident
memory of each worker after load. Results go to the ``## Serving`` section of
benchmarks/RESULTS.md (other sections are kept).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
TARGETS = {
    "one_row_rps": 6000,
    "one_row_p99_ms": 15,
    "rows_per_s": 150_000,
    "cold_start_s": 1.0,
    "rss_mib": 150,
}


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


@dataclass
class ServerResult:
    name: str
    one: Load
    batch: Load
    cold_start_s: float
    rss_mib: list[float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_bundles(root: Path) -> tuple[Path, Path]:
    """The demo bundle and a linear bundle of the same data."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    import skbundle
    from skbundle import demo

    X, y, names = demo.load_data()
    X_train, X_test, y_train, y_test = demo.split(X, y)
    data = {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test}
    forest = root / "breast-cancer"
    skbundle.save(demo.make_pipeline().fit(X_train, y_train), forest, name="breast-cancer",
                  class_names=names, **data)  # fmt: skip
    linear = root / "breast-cancer-linear"
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000))])
    skbundle.save(pipe.fit(X_train, y_train), linear, name="breast-cancer-linear",
                  class_names=names, **data)  # fmt: skip
    return forest, linear


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(c) for c in text)
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_rss(pid: int, workers: int) -> list[float]:
    """RSS of the processes that serve: the workers, or the process itself with one."""
    if workers == 1:
        return [rss_mib(pid)]
    kids = [c for c in children(pid) if "resource_tracker" not in _cmdline(c)]
    return sorted(rss_mib(c) for c in kids)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start(
    cmd: list[str], env: dict[str, str], port: int, body: bytes, log: Path
) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server; return it and the seconds until it answered its first /predict."""
    t0 = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=HERE)  # fmt: skip
    url = f"http://127.0.0.1:{port}/predict"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{cmd} exited:\n{log.read_text()}")
        try:
            r = httpx.post(url, content=body, headers={"content-type": "application/json"},
                           timeout=5)  # fmt: skip
            if r.status_code == 200:
                return process, time.perf_counter() - t0
        except httpx.TransportError:
            pass
        if time.perf_counter() - t0 > 120:
            raise RuntimeError(f"{cmd} did not answer:\n{log.read_text()}")
        time.sleep(0.005)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def wrk(url: str, body_file: Path, connections: int, seconds: int, threads: int) -> Load:
    script = body_file.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_file}", "rb"); wrk.body = f:read("*a"); f:close()\n'
    )
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def latency(label: str) -> float:
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups())
    return Load(rps, latency("50%"), latency("99%"), errors, total)


def profile_stages(path: Path, runtime: str, n: int = 2000) -> list[tuple[str, float]]:
    """Microseconds per one-row request in each stage, and the whole endpoint, in process.

    The endpoint is called as uvicorn calls it (an ASGI scope, receive and send), so the
    figure is the server's own cost without the HTTP parsing and the socket.
    """
    import asyncio

    import skbundle
    from skbundle.serve import create_app
    from skbundle.serve.metrics import ServerMetrics

    bundle = skbundle.load(path, runtime=runtime, trust_pickle=runtime == "joblib")
    record = bundle.validator.example()
    body = orjson.dumps(record)
    checked = bundle.validate(record)
    proba = bundle.predict_validated(checked)
    metrics = ServerMetrics(bundle.classes, bundle.feature_names)

    def each(fn: object) -> float:
        call = fn  # type: ignore[assignment]
        call()  # type: ignore[operator]
        t0 = time.perf_counter()
        for _ in range(n):
            call()  # type: ignore[operator]
        return (time.perf_counter() - t0) / n * 1e6

    def observe() -> None:
        metrics.predicted(proba)
        metrics.observe("/predict", 200, 0.001)

    stages = [
        ("JSON decode (orjson)", each(lambda: orjson.loads(body))),
        ("validation (the bundle's validator, fast path)", each(lambda: bundle.validate(record))),
        (f"runtime predict_proba ({bundle.runtime.format})",
         each(lambda: bundle.predict_validated(checked))),
        ("result objects + JSON encode",
         each(lambda: orjson.dumps(bundle.results(proba, checked.warnings)[0]))),
        ("metrics (counter by class, request counter, histogram)", each(observe)),
    ]  # fmt: skip

    app = create_app(bundle)
    sent: list[object] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: object) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "root_path": "",
             "query_string": b"", "headers": [(b"content-type", b"application/json")],
             "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80)}  # fmt: skip

    async def endpoint(k: int) -> float:
        async with app.router.lifespan_context(app):
            await app(dict(scope), receive, send)
            t0 = time.perf_counter()
            for _ in range(k):
                await app(dict(scope), receive, send)
            return (time.perf_counter() - t0) / k * 1e6

    stages.append(("whole /predict through the Starlette app", asyncio.run(endpoint(n))))
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runtime", default="joblib", help="runtime of skbundle serve")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--only", nargs="*", help="run only these servers (by name)")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--with-logging",
        action="store_true",
        help="also serve the forest with --log-predictions (needs --workers 1), to measure "
        "what logging costs side by side",
    )
    args = parser.parse_args()
    if args.with_logging and args.workers != 1:
        parser.error("--with-logging needs --workers 1 (a prediction log has one writer)")

    import skbundle

    tmp = Path(tempfile.mkdtemp(prefix="skbundle-bench-"))
    forest, linear = build_bundles(tmp)
    bundle = skbundle.load(forest, trust_pickle=True)
    record = bundle.validator.example()
    one = tmp / "one.json"
    one.write_bytes(orjson.dumps(record))
    from skbundle import demo

    X, _, _ = demo.load_data()
    hundred = tmp / "hundred.json"
    hundred.write_bytes(orjson.dumps(X.iloc[:100].to_dict(orient="records")))
    classes = ",".join(bundle.classes)

    skbundle_cmd = [str(BIN / "skbundle"), "serve"]
    trust = ["--trust-pickle"] if args.runtime == "joblib" else []
    uvicorn = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--workers", str(args.workers),
               "--no-access-log", "--log-level", "warning", "--loop", "uvloop",
               "--http", "httptools"]  # fmt: skip
    servers = {
        f"skbundle serve ({args.runtime}, forest)": (
            lambda port: [
                *skbundle_cmd,
                str(forest),
                "--port",
                str(port),
                "--runtime",
                args.runtime,
                *trust,
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
            ],
            {},
        ),
        "baseline FastAPI + pandas + sklearn (forest)": (
            lambda port: [
                *uvicorn,
                "--port",
                str(port),
                "--factory",
                "baseline_server:create",
            ],
            {"BASELINE_MODEL": str(forest / "model.joblib"), "BASELINE_CLASSES": classes},
        ),
        f"skbundle serve ({args.runtime}, linear model)": (
            lambda port: [
                *skbundle_cmd,
                str(linear),
                "--port",
                str(port),
                "--runtime",
                args.runtime,
                *trust,
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
            ],
            {},
        ),
        "baseline FastAPI + pandas + sklearn (linear model)": (
            lambda port: [*uvicorn, "--port", str(port), "--factory", "baseline_server:create"],
            {"BASELINE_MODEL": str(linear / "model.joblib"), "BASELINE_CLASSES": classes},
        ),
        "floor: same stack, constant answer": (
            lambda port: [
                *uvicorn,
                "--port",
                str(port),
                "--no-proxy-headers",
                "--no-server-header",
                "hello_server:app",
            ],
            {},
        ),
    }
    if args.with_logging:
        plain = servers[f"skbundle serve ({args.runtime}, forest)"]
        servers[f"skbundle serve ({args.runtime}, forest) --log-predictions"] = (
            lambda port: [*plain[0](port), "--log-predictions", str(tmp / "predictions.jsonl")],
            {},
        )
    stages = {
        "forest": profile_stages(forest, args.runtime),
        "linear": profile_stages(linear, args.runtime),
    }
    for label, rows in stages.items():
        for stage, us in rows:
            print(f"{label:7s} {stage:60s} {us:9.1f} us", flush=True)
    results = []
    for name, (make_cmd, env) in servers.items():
        if args.only and not any(o in name for o in args.only):
            continue
        port = free_port()
        process, cold = start(make_cmd(port), env, port, one.read_bytes(), tmp / "server.log")
        try:
            time.sleep(1.0)  # let every worker finish loading
            rss = worker_rss(process.pid, args.workers)
            url = f"http://127.0.0.1:{port}/predict"
            wrk(url, one, 32, 2, args.threads)  # warm-up
            load_one = wrk(url, one, 32, args.seconds, args.threads)
            load_batch = wrk(url, hundred, 8, args.seconds, args.threads)
        finally:
            stop(process)
        result = ServerResult(name, load_one, load_batch, cold, rss)
        results.append(result)
        print(render_row(result), flush=True)
    if not args.no_write:
        write_results(results, stages, args)


def render_row(r: ServerResult) -> str:
    return (
        f"| {r.name} | {r.one.rps:,.0f} | {r.one.p50_ms:.1f} | {r.one.p99_ms:.1f} | "
        f"{r.one.errors} | {r.batch.rps * 100:,.0f} | {r.batch.p99_ms:.1f} | {r.batch.errors} | "
        f"{r.cold_start_s:.2f} | {', '.join(f'{m:.0f}' for m in r.rss_mib)} |"
    )


def write_results(
    results: list[ServerResult],
    stages: dict[str, list[tuple[str, float]]],
    args: argparse.Namespace,
) -> None:
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    cpu = os.cpu_count()
    load1 = os.getloadavg()[0]
    lines = [
        "## Serving",
        "",
        f"Command: `.venv/bin/python benchmarks/serve.py --runtime {args.runtime} "
        f"--workers {args.workers} --seconds {args.seconds}`  ",
        f"Machine: {cpu} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average before the run "
        f"{load1:.1f}. **Measured while the machine was shared** with other work, and wrk ran "
        "on the same cores as the servers: absolute figures are depressed, the ratios in "
        "one run are what to compare.",
        "",
        f"Load: wrk, {args.threads} threads, {args.seconds} s per load; one-row requests at "
        "32 connections, 100-row requests at 8 connections; every server with "
        f"{args.workers} workers.",
        "",
        "| server | 1 row: req/s | p50 ms | p99 ms | errors | 100 rows: rows/s | p99 ms | "
        "errors | cold start s | RSS per worker MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(render_row(r) for r in results),
        "",
        f"Targets (ONNX runtime, quiet machine): >= {TARGETS['one_row_rps']:,} req/s with p99 "
        f"<= {TARGETS['one_row_p99_ms']} ms for one row; >= {TARGETS['rows_per_s']:,} rows/s "
        f"for 100 rows; cold start <= {TARGETS['cold_start_s']} s; RSS <= "
        f"{TARGETS['rss_mib']} MiB per worker.",
        "",
        "Where the time of one one-row request goes, in process (microseconds, mean of 2,000 "
        "calls; the whole endpoint includes every stage):",
        "",
        "| stage | forest bundle us | linear bundle us |",
        "|---|---:|---:|",
        *(
            f"| {a[0]} | {a[1]:.1f} | {b[1]:.1f} |"
            for a, b in zip(stages["forest"], stages["linear"], strict=True)
        ),
        "",
    ]
    section = "\n".join(lines)
    pattern = re.compile(r"^## Serving\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()
