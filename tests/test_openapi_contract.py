"""The API contract matches the server: /openapi.json lists every route of the app with its
methods, and Schemathesis, with all its checks, finds no request on which the document and
the live server disagree."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

import skbundle
from skbundle import Bundle
from skbundle.serve import create_app
from tests.conftest import Case
from tests.serve_live import live_server

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
KEY = "contract-key"
# Two places where JSON Schema cannot say what the server checks:
# - a v2 request valid by the schema may still not fit the model (shape against data, a
#   feature's datatype): 400 is the protocol's answer to it, 413 to one over max_rows;
# - with ?ignore_unknown=true /predict takes fields the Record schema does not list (the
#   documented purpose of the flag), so the run keeps it false.
CONFIG = """
[[operations]]
include-path-regex = "/infer$"
checks.positive_data_acceptance.expected-statuses = [200, 400, 401, 413]

[[operations]]
include-path = "/predict"
parameters = { "query.ignore_unknown" = false }
"""


@pytest.fixture(scope="module")
def bundle(cancer: Case) -> Bundle:
    return skbundle.load(cancer.path)


@pytest.fixture(scope="module")
def client(bundle: Bundle) -> Iterator[TestClient]:
    with TestClient(create_app(bundle, max_rows=50)) as c:
        yield c


def _routes(app: Any) -> dict[str, set[str]]:
    """Each route's path and methods, as OpenAPI writes them (HEAD is Starlette's automatic
    twin of each GET, not a route of its own; a mount serves GET under it)."""
    found: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, Mount):
            found[route.path + "/{path}"] = {"get"}
        else:
            assert isinstance(route, Route)
            found[route.path] = {m.lower() for m in route.methods or ()} - {"head"}
    return found


def test_every_route_is_documented_with_its_methods(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    routes = _routes(client.app)
    assert len(routes) == 19
    documented = {path: set(item) for path, item in paths.items()}
    assert documented == routes


def test_the_limits_are_documented_413s_not_schema_bounds(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    records = doc["components"]["schemas"]["PredictRequest"]["oneOf"][1]
    assert "maxItems" not in records
    assert "max_rows" in records["description"]
    assert "413" in doc["paths"]["/predict"]["post"]["responses"]
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        responses = doc["paths"][path]["post"]["responses"]
        assert {"400", "404", "413", "415"} <= set(responses)


def _post(client: TestClient, url: str, payload: Any) -> Any:
    return client.post(
        url, content=orjson.dumps(payload), headers={"content-type": "application/json"}
    )


def test_schema_and_behaviour_agree_on_the_three_cases_schemathesis_found(
    client: TestClient, bundle: Bundle
) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    record = bundle.validator.example()
    # 51 records on a server of max_rows=50: the documented 413, no schema bound broken.
    response = _post(client, "/predict", [record] * 51)
    assert (response.status_code, response.json()["error"]) == (413, "too_many_rows")
    # "outputs": null is all the outputs, as the schema says (nullable).
    assert schemas["V2InferenceRequest"]["properties"]["outputs"]["nullable"] is True
    one = [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": list(record.values())}]
    response = _post(client, "/v2/models/breast-cancer/infer", {"inputs": one, "outputs": None})
    assert [o["name"] for o in response.json()["outputs"]] == ["label", "probabilities", "classes"]
    # No inputs: refused, and the schema says at least one.
    assert schemas["V2InferenceRequest"]["properties"]["inputs"]["minItems"] == 1
    response = _post(client, "/v2/models/breast-cancer/infer", {"inputs": []})
    assert response.status_code == 400
    # Zero rows: refused, and the schema says each dimension is at least 1.
    assert schemas["V2Input"]["properties"]["shape"]["items"]["minimum"] == 1


def test_schemathesis_with_all_checks_finds_no_mismatch(cancer: Case, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    with live_server(cancer.path, tmp_path / "serve.log", env={"SKBUNDLE_API_KEY": KEY}) as live:
        done = subprocess.run(
            [SCHEMATHESIS, "--config-file", str(config), "run", f"{live.url}/openapi.json",
             "--checks", "all", "--max-examples", "5", "--seed", "1",
             "--generation-deterministic", "--phases", "examples,coverage,fuzzing",
             "--header", f"Authorization: Bearer {KEY}", "--no-color"],
            capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path,
        )  # fmt: skip
    summary = done.stdout[-6000:]
    assert done.returncode == 0, summary
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts is not None, summary
    assert counts[1] == counts[2] and int(counts[1]) > 100, summary
