"""End to end: ``skbundle serve`` in a subprocess on a free 127.0.0.1 port, real HTTP."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import httpx
import orjson
import pytest

import skbundle
from tests.conftest import Case
from tests.serve_live import SKBUNDLE, live_server


@pytest.fixture(scope="module")
def record(cancer: Case) -> dict[str, float]:
    return skbundle.load(cancer.path, trust_pickle=True).validator.example()


def _raw_request(url: str, request: bytes) -> bytes:
    """Send bytes on a fresh socket and return the status line (for what httpx refuses)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        return s.recv(65536).split(b"\r\n", 1)[0]


def test_live_server_answers_survives_bad_input_and_stops(
    cancer: Case, record: dict[str, float], tmp_path: Path
) -> None:
    with live_server(
        cancer.path, tmp_path / "serve.log", "--trust-pickle", "--max-body-bytes", "100000"
    ) as live:
        result = skbundle.load(cancer.path, trust_pickle=True).predict(record)[0]
        expected = {**result, "model_version": "1.0.0"}
        ok = httpx.post(f"{live.url}/predict", content=orjson.dumps(record))
        assert ok.status_code == 200
        assert ok.json() == expected
        bad = [
            b"{not json",
            b"[]",
            orjson.dumps({**record, "mean radius": "x"}),
            b"[" + b"1," * 60_000 + b"1]",
        ]
        statuses = [httpx.post(f"{live.url}/predict", content=b).status_code for b in bad]
        assert statuses == [400, 422, 422, 413]
        # A declared length over the limit is refused before the body is sent.
        status = _raw_request(
            live.url,
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\n\r\n{",
        )
        assert status == b"HTTP/1.1 413 Request Entity Too Large"
        assert httpx.post(f"{live.url}/predict", content=orjson.dumps(record)).json() == expected
        metrics = httpx.get(f"{live.url}/metrics").text
        assert 'skbundle_requests_total{endpoint="/predict",status="413"} 2.0' in metrics
        pid = live.process.pid
    assert live.process.returncode is not None
    log = " ".join(live.log.read_text().split())
    assert "serving breast-cancer 1.0.0 (runtime onnx) on http://127.0.0.1:" in log
    assert f"Finished server process [{pid}]" in log


def test_two_workers_with_an_api_key_from_the_environment(
    cancer: Case, record: dict[str, float], tmp_path: Path
) -> None:
    with live_server(
        cancer.path,
        tmp_path / "serve.log",
        "--trust-pickle",
        "--workers",
        "2",
        env={"SKBUNDLE_API_KEY": "k-123"},
    ) as live:
        body = orjson.dumps(record)
        assert httpx.post(f"{live.url}/predict", content=body).status_code == 401
        auth = {"authorization": "Bearer k-123"}
        with httpx.Client(headers=auth) as client:
            for _ in range(20):
                assert client.post(f"{live.url}/predict", content=body).status_code == 200
        assert httpx.get(f"{live.url}/health").status_code == 200
        # Every worker counts into the shared directory; /metrics adds them up.
        text = httpx.get(f"{live.url}/metrics").text
        found = re.search(
            r'^skbundle_requests_total\{endpoint="/predict",status="200"\} (\S+)$', text, re.M
        )
        assert found is not None and float(found.group(1)) == 20.0
    assert "with 2 workers; API key required" in " ".join(live.log.read_text().split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runtime", "joblib"], "Refusing to load"),
        (["--runtime", "onnx9"], "Runtime 'onnx9' is not available for this bundle"),
    ],
    ids=["untrusted pickle", "unknown runtime"],
)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_bundle_that_cannot_load_ends_with_one_clear_error(
    cancer: Case, args: list[str], message: str, workers: str
) -> None:
    result = subprocess.run(
        [SKBUNDLE, "serve", str(cancer.path), "--port", "0", "--workers", workers, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_listening_beyond_this_machine_without_a_key_warns(cancer: Case) -> None:
    result = subprocess.run(
        # --runtime joblib without trust: the untrusted pickle stops it before it listens.
        [
            SKBUNDLE,
            "serve",
            str(cancer.path),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--runtime",
            "joblib",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1  # the untrusted pickle stops it before it listens
    assert (
        "warning: listening on 0.0.0.0 without an API key: anyone who can reach this address "
        "can use the model." in " ".join(result.stderr.split())
    )


def test_the_serving_imports_leave_pandas_and_scikit_learn_out() -> None:
    """Invariant 5, at import: a worker on a runtime that needs neither never loads them."""
    code = (
        "import sys, skbundle, skbundle.serve.runner\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'sklearn') if m in sys.modules))"
    )
    python = str(Path(SKBUNDLE).with_name("python"))
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_a_regressor_with_categorical_features_served_live(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """A real `skbundle serve` of a penguin body-mass regressor: the value and its interval,
    a 422 for a wrong category type, BYTES inputs over v2, and the value histogram."""
    from tests import zoo
    from tests.test_serve_categorical import RIDGE, records, save_fitted

    fitted = zoo.case(RIDGE).build()
    path = save_fitted(fitted, tmp_path_factory.mktemp("live-ridge") / RIDGE, RIDGE)
    bundle = skbundle.load(path)
    rows = records(fitted.X_test, 5)
    expected = bundle.predict(rows)
    with live_server(path, tmp_path / "serve.log", "--workers", "2") as live:
        ok = httpx.post(f"{live.url}/predict", content=orjson.dumps(rows))
        assert ok.status_code == 200
        assert ok.json() == [{**r, "model_version": "1.0.0"} for r in expected]
        bad = httpx.post(f"{live.url}/predict", content=orjson.dumps({**rows[0], "sex": 1}))
        assert bad.status_code == 422
        assert bad.json()["problems"] == [
            {"record": 0, "field": "sex", "problem": "got int 1",
             "expected": "one of the 2 categories ['female', 'male']"}
        ]  # fmt: skip
        inputs = [
            {"name": n, "shape": [5], "datatype": "BYTES" if f.kind != "numeric" else "FP64",
             "data": [r[n] for r in rows]}
            for n, f in zip(bundle.feature_names, bundle.validator.features, strict=True)
        ]  # fmt: skip
        body = httpx.post(f"{live.url}/v2/models/{RIDGE}/infer", json={"inputs": inputs}).json()
        assert body["outputs"][0]["data"] == [r["prediction"] for r in expected]
        text = httpx.get(f"{live.url}/metrics").text
        found = re.search(r"^skbundle_predicted_value_count (\S+)$", text, re.M)
        assert found is not None and float(found.group(1)) == 10.0
    assert f"serving {RIDGE} 1.0.0 (runtime skops)" in " ".join(live.log.read_text().split())
