"""A server follows its model source and swaps versions with no dropped request (issue 12).

Two real bundles of the cancer model, 1.0.0 (the session's ``cancer``) and 2.0.0 (saved again
with another version), are served through a symbolic link that the tests flip atomically,
as an operator would (``ln -s`` a new link, ``rename`` it over the old one).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

import skbundle
from skbundle.cli import app as cli_app
from skbundle.core.manifest import read_manifest, write_manifest
from skbundle.errors import ManifestError, RegistryError, RegistryLookupError
from skbundle.registry import GateRecord, Registry
from skbundle.serve import create_app
from skbundle.serve.sources import DirectorySource, open_source
from tests.conftest import Case
from tests.serve_live import live_server

VERSIONS = ("1.0.0", "2.0.0")
NAME = "breast-cancer"
SWITCH_SECONDS = 5.0


@pytest.fixture(scope="module")
def v2(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cancer model saved again as version 2.0.0."""
    path = tmp_path_factory.mktemp("versions") / "breast-cancer-2.0.0"
    skbundle.save(cancer.pipeline, path, **cancer.save_kwargs(), version="2.0.0")
    return path


def point(link: Path, target: Path) -> None:
    """Flip ``link`` to ``target`` atomically: a reader sees the old target or the new one."""
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


@pytest.fixture
def link(cancer: Case, tmp_path: Path) -> Path:
    path = tmp_path / "current"
    point(path, cancer.path)
    return path


def _record(cancer: Case) -> bytes:
    return orjson.dumps(cancer.X_test.iloc[0].to_dict())


def _post(client: TestClient, url: str, payload: Any) -> Any:
    return client.post(url, content=orjson.dumps(payload))


def _wait(check: Any, seconds: float = SWITCH_SECONDS) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - start


# -- under load, two workers -----------------------------------------------------------------
async def _versions_by_worker(probes: list[httpx.AsyncClient], url: str) -> dict[int, str]:
    """pid -> version, asked on kept-alive connections (each bound to one worker): a fresh
    connection would wait for a busy worker to win its accept."""
    seen = {}
    for probe in probes:
        body = (await probe.get(f"{url}/health")).json()
        seen[body["pid"]] = body["version"]
    return seen


async def _swap_under_load(url: str, record: bytes, link: Path, targets: dict[str, Path]) -> None:
    answers: list[tuple[float, int, str | None, str | None]] = []  # (sent, status, header, body)
    errors: list[str] = []
    stop = asyncio.Event()

    async def client() -> None:
        async with httpx.AsyncClient(timeout=10) as c:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    r = await c.post(f"{url}/predict", content=record)
                except httpx.TransportError as exc:
                    errors.append(repr(exc))
                    continue
                body = r.json() if r.status_code == 200 else {}
                answers.append(
                    (sent, r.status_code, r.headers.get("x-model-version"),
                     body.get("model_version"))
                )  # fmt: skip

    pids: set[int] = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2:  # both workers, found by their pid on fresh connections
        assert time.monotonic() < deadline, f"only workers {pids} answered"
        async with httpx.AsyncClient() as fresh:
            pids.add((await fresh.get(f"{url}/health")).json()["pid"])
    probes = [httpx.AsyncClient(limits=httpx.Limits(max_connections=1)) for _ in range(8)]
    clients = [asyncio.create_task(client()) for _ in range(32)]
    await asyncio.sleep(1.0)
    phases: list[tuple[str, float, float]] = []  # (version, switch complete at, next flip at)
    for version in ("2.0.0", "1.0.0", "2.0.0", "1.0.0", "2.0.0", "1.0.0"):
        flipped = time.monotonic()
        point(link, targets[version])
        while True:
            seen = await _versions_by_worker(probes, url)
            if pids <= seen.keys() and set(seen.values()) == {version}:
                break
            assert time.monotonic() - flipped < SWITCH_SECONDS, (version, seen)
        done = time.monotonic()
        await asyncio.sleep(0.5)
        phases.append((version, done, time.monotonic()))
    stop.set()
    await asyncio.gather(*clients)
    assert set(await _versions_by_worker(probes, url)) <= pids  # no worker was restarted
    for probe in probes:
        await probe.aclose()

    assert errors == []
    assert [a for a in answers if a[1] != 200] == []
    assert [a for a in answers if a[2] != a[3] or a[2] not in VERSIONS] == []
    for version, done, until in phases:
        # A request sent once every worker serves the new version is answered by it.
        stale = [a for a in answers if done < a[0] and a[0] + 0.3 < until and a[2] != version]
        assert stale == [], (version, stale[:3])
        assert sum(1 for a in answers if done < a[0] < until) > 20, "too little load to judge"


def test_flipping_the_link_under_load_drops_no_request_and_each_answer_names_its_version(
    cancer: Case, v2: Path, link: Path, tmp_path: Path
) -> None:
    with live_server(link, tmp_path / "serve.log", "--workers", "2", "--poll", "0.25") as live:
        asyncio.run(
            _swap_under_load(live.url, _record(cancer), link, {"1.0.0": cancer.path, "2.0.0": v2})
        )
        assert live.process.poll() is None


def test_sighup_with_one_worker_reloads_and_does_not_kill(
    cancer: Case, v2: Path, link: Path, tmp_path: Path
) -> None:
    with live_server(link, tmp_path / "serve.log", "--poll", "0") as live:
        point(link, v2)
        time.sleep(0.5)
        health = httpx.get(f"{live.url}/health").json()
        assert (health["version"], health["pid"]) == ("1.0.0", live.process.pid)  # no polling
        os.kill(live.process.pid, signal.SIGHUP)
        _wait(lambda: httpx.get(f"{live.url}/health").json()["version"] == "2.0.0")
        r = httpx.post(f"{live.url}/predict", content=_record(cancer))
        assert (r.headers["x-model-version"], r.json()["model_version"]) == ("2.0.0", "2.0.0")
        assert live.process.poll() is None
        assert httpx.get(f"{live.url}/health").json()["pid"] == live.process.pid


# -- in process: what a swap changes, and a version that must not be served -----------------
def _health(c: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = c.get("/health").json()
    return body


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")


def test_after_a_swap_every_endpoint_shows_the_new_version(
    cancer: Case, v2: Path, link: Path
) -> None:
    record = cancer.X_test.iloc[0].to_dict()
    infer = {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64",
                         "data": list(record.values())}]}  # fmt: skip
    with TestClient(create_app(link, poll=0.05)) as c:
        assert _health(c)["version"] == "1.0.0"
        point(link, v2)
        _wait(lambda: _health(c)["version"] == "2.0.0")
        health = _health(c)
        assert health["reload"]["status"] == "ok" and health["reload"]["version"] == "2.0.0"
        assert c.get("/metadata").json()["version"] == "2.0.0"
        assert c.get("/v2/models/breast-cancer").json()["versions"] == ["2.0.0"]
        assert c.get("/openapi.json").json()["info"]["version"] == "2.0.0"
        r = _post(c, "/v2/models/breast-cancer/infer", infer)
        assert (r.headers["x-model-version"], r.json()["model_version"]) == ("2.0.0", "2.0.0")
        r = _post(c, "/predict", [record, record])
        assert r.headers["x-model-version"] == "2.0.0"
        assert [a["model_version"] for a in r.json()] == ["2.0.0", "2.0.0"]
        bad = _post(c, "/predict", {"mean radius": "x"})
        assert (bad.status_code, bad.headers["x-model-version"]) == (422, "2.0.0")
        assert c.get("/v2/models/breast-cancer/versions/1.0.0").status_code == 404
        text = c.get("/metrics").text
    assert _sample(text, "skbundle_model_reloads_total") == 1.0
    assert 'skbundle_model_version_info{version="2.0.0"} 1.0' in text
    assert 'skbundle_model_version_info{version="1.0.0"} 0.0' in text
    # the counters carry on across the swap
    assert 'skbundle_requests_total{endpoint="/predict",status="200"} 1.0' in text


def _broken(v2: Path, root: Path) -> Path:
    """Version 3.0.0: the 2.0.0 bundle with a changed manifest and a flipped byte in its model."""
    path = root / "breast-cancer-3.0.0"
    shutil.copytree(v2, path)
    write_manifest(path, read_manifest(path).model_copy(update={"version": "3.0.0"}))
    model = path / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    return path


def test_a_version_that_fails_to_verify_is_not_swapped_in_and_health_says_so(
    cancer: Case, v2: Path, link: Path, tmp_path: Path
) -> None:
    broken = _broken(v2, tmp_path)
    with TestClient(create_app(link, poll=0.05)) as c:
        point(link, broken)
        _wait(lambda: _health(c)["reload"]["status"] == "failed")
        health = _health(c)
        r = _post(c, "/predict", cancer.X_test.iloc[0].to_dict())
        text = c.get("/metrics").text
        time.sleep(0.3)  # more polls of the same failed version: not retried, not recounted
        again = c.get("/metrics").text
        point(link, cancer.path)  # back to what is served: nothing failed any more
        _wait(lambda: _health(c)["status"] == "ok")
        back = _health(c)
    assert health["status"] == "degraded" and health["version"] == "1.0.0"
    assert (health["reload"]["status"], health["reload"]["version"]) == ("failed", "3.0.0")
    assert health["reload"]["error"].startswith("BundleIntegrityError: ")
    assert "model.onnx" in health["reload"]["error"]
    assert str(tmp_path) not in str(health)
    assert (r.status_code, r.json()["model_version"], r.headers["x-model-version"]) == (
        200, "1.0.0", "1.0.0",
    )  # fmt: skip
    assert _sample(text, "skbundle_model_reload_failures_total") == 1.0
    assert _sample(again, "skbundle_model_reload_failures_total") == 1.0
    assert _sample(text, "skbundle_model_reload_failed") == 1.0
    assert _sample(text, "skbundle_model_reloads_total") == 0.0
    assert back["reload"] == {**back["reload"], "status": "ok", "version": "1.0.0", "error": None}


def test_a_version_of_another_model_is_not_swapped_in(
    cancer: Case, link: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(cancer.path, other)
    manifest = read_manifest(other).model_copy(update={"name": "other", "version": "3.0.0"})
    write_manifest(other, manifest)
    with TestClient(create_app(link, poll=0.05)) as c:
        point(link, other)
        _wait(lambda: _health(c)["reload"]["status"] == "failed")
        health = _health(c)
    assert health["version"] == "1.0.0"
    assert health["reload"]["error"] == (
        "ModelSourceError: Model source version 3.0.0: its model is 'other', and the server "
        "serves model 'breast-cancer'. A server swaps versions of one model; start another "
        "server for this one."
    )


def test_a_swap_starts_a_new_prediction_log_file_that_names_the_new_version(
    cancer: Case, v2: Path, link: Path, tmp_path: Path
) -> None:
    log = tmp_path / "predictions.jsonl"
    record = cancer.X_test.iloc[0].to_dict()
    with TestClient(create_app(link, poll=0.05, log_predictions=log)) as c:
        assert _post(c, "/predict", record).status_code == 200
        point(link, v2)
        _wait(lambda: _health(c)["version"] == "2.0.0")
        assert _post(c, "/predict", record).status_code == 200
    old, new = (
        orjson.loads(p.read_bytes().splitlines()[0]) for p in (log.with_suffix(".jsonl.1"), log)
    )
    assert (old["bundle"], new["bundle"]) == ("breast-cancer 1.0.0", "breast-cancer 2.0.0")
    assert [len(p.read_bytes().splitlines()) for p in (log.with_suffix(".jsonl.1"), log)] == [2, 2]


# -- sources ---------------------------------------------------------------------------------
def test_a_directory_source_follows_the_link_and_names_the_resolved_directory(
    cancer: Case, v2: Path, link: Path
) -> None:
    source = open_source(str(link))
    assert isinstance(source, DirectorySource)
    first = source.current()
    assert (first.version, first.path) == ("1.0.0", cancer.path.resolve())
    point(link, v2)
    second = source.current()
    assert (second.version, second.path) == ("2.0.0", v2.resolve())
    assert first.token != second.token and len(second.token) == 64
    assert source.current() == second  # nothing changed: the same token


def _forced(registry: Registry, alias: str, version: str) -> None:
    # The gate itself is tested in test_registry.py; here the alias only has to move.
    gate = GateRecord(passed=False, summary="not checked here", checked=False)
    registry.set_alias(NAME, alias, version, gate=gate, forced=True, reason="swap test")


def test_serving_models_uri_follows_the_alias_and_its_rollback(
    cancer: Case, v2: Path, tmp_path: Path
) -> None:
    registry = Registry.open(tmp_path / "registry")
    registry.push(cancer.path)
    registry.push(v2)
    _forced(registry, "production", "1.0.0")
    source = open_source(f"models:/{NAME}@production", registry=str(tmp_path / "registry"))
    record = cancer.X_test.iloc[0].to_dict()
    with TestClient(create_app(source, poll=0.05)) as c:
        first = _post(c, "/predict", record)
        assert (first.headers["x-model-version"], first.json()["model_version"]) == (
            "1.0.0",
            "1.0.0",
        )
        _forced(registry, "production", "2.0.0")
        _wait(lambda: _health(c)["version"] == "2.0.0")
        assert _post(c, "/predict", record).json()["model_version"] == "2.0.0"
        registry.rollback(NAME, "production")
        _wait(lambda: _health(c)["version"] == "1.0.0")
        again = _post(c, "/predict", record)
    # the same answer from the same bytes, whichever way it came
    assert again.json()["prediction"] == first.json()["prediction"]
    assert again.headers["x-model-version"] == "1.0.0"
    registry.close()


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("models:/breast-cancer@production", RegistryLookupError,
         "Model 'breast-cancer': it is not in the registry {registry}. The registry is empty: "
         "push a bundle with 'skbundle registry push BUNDLE_DIR'."),
        ("models:/breast-cancer", RegistryError,
         "Model URI 'models:/breast-cancer': expected models:/NAME@ALIAS or "
         "models:/NAME/VERSION. e.g. models:/breast-cancer@production or "
         "models:/breast-cancer/1.0.0."),
    ],
    ids=["no-such-model", "no-alias-or-version"],
)  # fmt: skip
def test_a_models_uri_the_registry_cannot_answer_is_a_clear_error(
    spec: str, error: type[Exception], message: str, tmp_path: Path
) -> None:
    location = str(tmp_path / "registry")
    Registry.open(location).close()
    with pytest.raises(error) as raised:
        open_source(spec, registry=location).current()
    assert str(raised.value) == message.format(registry=location)
    result = CliRunner().invoke(cli_app, ["serve", spec, "--registry", location, "--port", "0"])
    assert result.exit_code == 1
    assert message.format(registry=location) in " ".join(result.output.split())


def test_a_link_to_nothing_is_a_manifest_error(tmp_path: Path) -> None:
    dangling = tmp_path / "current"
    dangling.symlink_to(tmp_path / "missing")
    with pytest.raises(ManifestError, match="the bundle directory does not exist"):
        DirectorySource(dangling).current()
