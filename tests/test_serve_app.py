"""The app in process (Starlette's test client, lifespan included): endpoints, bad input,
the v2 protocol, metrics, the API key and the prediction hook, on real bundles."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

import skbundle
from skbundle import Bundle
from skbundle.serve import create_app
from tests.conftest import Case


@pytest.fixture(scope="module")
def bundle(cancer: Case) -> Bundle:
    return skbundle.load(cancer.path, trust_pickle=True)


@pytest.fixture(scope="module")
def client(bundle: Bundle) -> Iterator[TestClient]:
    with TestClient(create_app(bundle, max_rows=50, max_body_bytes=64_000)) as c:
        yield c


@pytest.fixture(scope="module")
def record(bundle: Bundle) -> dict[str, float]:
    return bundle.validator.example()


def _post(client: TestClient, url: str, payload: Any) -> Any:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return client.post(url, content=raw, headers={"content-type": "application/json"})


def _served(results: Any, version: str = "1.0.0") -> Any:
    """What /predict answers for ``Bundle.predict`` results: each names the version served."""
    if isinstance(results, dict):
        return {**results, "model_version": version}
    return [_served(r, version) for r in results]


# -- /predict ------------------------------------------------------------------------------
def test_one_record_gives_the_same_result_object_as_bundle_predict(
    client: TestClient, bundle: Bundle, cancer: Case
) -> None:
    row = cancer.X_test.iloc[0].to_dict()
    response = _post(client, "/predict", row)
    assert response.status_code == 200
    assert response.json() == _served(bundle.predict(row)[0])
    assert response.headers["x-model-version"] == "1.0.0"


def test_a_list_of_records_gives_a_list_in_the_same_order(
    client: TestClient, bundle: Bundle, cancer: Case
) -> None:
    rows = cancer.X_test.iloc[:20].to_dict(orient="records")
    response = _post(client, "/predict", rows)
    assert response.status_code == 200
    body = response.json()
    assert body == _served(bundle.predict(rows))
    assert [r["prediction"] for r in body] == [
        cancer.class_names[i] for i in cancer.pipeline.predict(cancer.X_test.iloc[:20])
    ]


def test_a_large_batch_is_predicted_off_the_event_loop_with_the_same_results(
    bundle: Bundle, cancer: Case
) -> None:
    rows = cancer.X_train.sample(1200, replace=True, random_state=0).to_dict(orient="records")
    with TestClient(create_app(bundle)) as c:
        response = _post(c, "/predict", rows)
        assert response.status_code == 200
        assert response.json() == _served(bundle.predict(rows))
        request = {"inputs": [{"name": "x", "shape": [1200, 30], "datatype": "FP64",
                               "data": [list(r.values()) for r in rows]}]}  # fmt: skip
        body = _post(c, "/v2/models/breast-cancer/infer", request).json()
        np.testing.assert_array_equal(
            body["outputs"][1]["data"], bundle.predict_proba(rows).ravel()
        )


def test_out_of_range_values_are_answered_with_warnings(
    client: TestClient, record: dict[str, float], bundle: Bundle
) -> None:
    high = bundle.validator.features[0].max
    assert high is not None
    response = _post(client, "/predict", {**record, "mean radius": high * 10})
    assert response.status_code == 200
    assert response.json()["warnings"] == [
        f"'mean radius' = {high * 10:g} is outside the training range "
        f"[{bundle.validator.features[0].min:g}, {high:g}]"
    ]


def _problem(problem: str, expected: str, field: str | None = None, record: int | None = None):
    return {"record": record, "field": field, "problem": problem, "expected": expected}


_NOT_JSON = "a JSON document (note: JSON has no NaN or Infinity; send null for a missing value)"


def _bad_predict_cases(record: dict[str, float]) -> list[tuple[str, bytes, int, str, list[Any]]]:
    def body(**changes: Any) -> bytes:
        return orjson.dumps({**record, **changes})

    without = dict(record)
    without.pop("mean area", None)
    return [
        ("empty body", b"", 400, "malformed_json",
         [_problem("the request body is empty", "a JSON document")]),
        ("truncated json", b'{"mean radius": 1', 400, "malformed_json",
         [_problem("the body is not valid JSON (unexpected end of data: line 1 column 18 "
                   "(char 17))", _NOT_JSON)]),
        ("NaN literal", body().replace(b"14.", b"NaN,\"x\":14.", 1), 400, "malformed_json", None),
        ("Infinity literal", b'{"mean radius": Infinity}', 400, "malformed_json", None),
        ("number overflowing to inf", b'{"mean radius": 1e400}', 400, "malformed_json",
         [_problem("the number 1e400 at ['mean radius'] is too large for a 64-bit float",
                   "a number between -1.8e308 and 1.8e308", "mean radius")]),
        ("integer beyond 64 bits", b'[{}, {"mean radius": ' + b"9" * 400 + b"}]", 400,
         "malformed_json",
         [_problem(f"the number {'9' * 40} at [1]['mean radius'] is too large for a 64-bit "
                   "float", "a number between -1.8e308 and 1.8e308", "mean radius")]),
        ("nesting 2000 deep", b"[" * 2000 + b"]" * 2000, 400, "malformed_json", None),
        ("invalid UTF-8", b'{"mean radius\xff": 1}', 400, "malformed_json", None),
        ("a string body", b'"hello"', 422, "input_validation",
         [_problem("the body is a JSON string",
                   "an object (one record) or a list of objects (records)")]),
        ("a number body", b"3", 422, "input_validation",
         [_problem("the body is a JSON number",
                   "an object (one record) or a list of objects (records)")]),
        ("null body", b"null", 422, "input_validation",
         [_problem("the body is a JSON null",
                   "an object (one record) or a list of objects (records)")]),
        ("empty list", b"[]", 422, "input_validation",
         [_problem("got no records", "at least one record")]),
        ("string value", body(**{"mean radius": "big"}), 422, "input_validation",
         [_problem("got a string 'big'", "a number, not a string", "mean radius", 0)]),
        ("boolean value", body(**{"mean radius": True}), 422, "input_validation",
         [_problem("got a boolean True", "a number", "mean radius", 0)]),
        ("null where no missing", body(**{"mean radius": None}), 422, "input_validation",
         [_problem("got a missing value (null or NaN)",
                   "a number (this feature had no missing values in training, so none are "
                   "accepted)", "mean radius", 0)]),
        ("nested object value", body(**{"mean radius": {"v": 1}}), 422, "input_validation",
         [_problem("got dict {'v': 1}", "a number", "mean radius", 0)]),
        ("missing feature", orjson.dumps(without), 422, "input_validation",
         [_problem("feature is missing", "a number", "mean area", 0)]),
        ("extra field", body(**{"mean radious": 1.0}), 422, "input_validation",
         [_problem("unknown feature (did you mean 'mean radius'?)",
                   "only the bundle's 30 features; pass ignore_unknown=True (CLI: "
                   "--ignore-unknown) to drop extra fields", "mean radious", 0)]),
        ("record not an object", orjson.dumps([record, 5]), 422, "input_validation",
         [_problem("is int, not an object", "an object mapping feature names to numbers",
                   None, 1)]),
        ("too many rows", orjson.dumps([{"a": 1}] * 51), 413, "too_many_rows",
         [_problem("the request holds 51 records",
                   "at most 50 records per request (the server's max_rows); split them into "
                   "several requests")]),
        ("body over the limit", b"[" + b"1," * 40_000 + b"1]", 413, "body_too_large",
         [_problem("the request body is larger than the server accepts",
                   "at most 64000 bytes (the server's max_body_bytes); split the records into "
                   "several requests")]),
    ]  # fmt: skip


BAD_PREDICT_IDS = [c[0] for c in _bad_predict_cases({"mean area": 1.0})]


@pytest.mark.parametrize("case", range(len(BAD_PREDICT_IDS)), ids=BAD_PREDICT_IDS)
def test_bad_input_to_predict_gets_a_structured_4xx_and_the_next_request_works(
    client: TestClient, record: dict[str, float], case: int
) -> None:
    _, raw, status, error, problems = _bad_predict_cases(record)[case]
    response = _post(client, "/predict", raw)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    if problems is not None:
        assert body["problems"] == problems
    else:
        assert body["problems"][0]["problem"].startswith("the body is not valid JSON (")
    assert body["message"]
    assert _post(client, "/predict", record).status_code == 200


def test_ignore_unknown_in_the_query_drops_extra_fields_with_a_note(
    client: TestClient, bundle: Bundle, record: dict[str, float]
) -> None:
    extra = {**record, "colour": "red"}
    response = _post(client, "/predict?ignore_unknown=true", extra)
    assert response.status_code == 200
    assert response.json() == _served(bundle.predict(extra, ignore_unknown=True)[0])
    assert response.json()["warnings"] == ["ignored unknown fields: ['colour']"]
    assert _post(client, "/predict?ignore_unknown=false", extra).status_code == 422
    bad = _post(client, "/predict?ignore_unknown=maybe", extra)
    assert bad.status_code == 400
    assert bad.json()["problems"] == [
        _problem("ignore_unknown is 'maybe'", "true or false", "ignore_unknown")
    ]


def test_every_problem_of_a_record_is_listed(client: TestClient, record: dict[str, float]) -> None:
    response = _post(client, "/predict", [record, {**record, "mean radius": "x", "worst area": []}])
    assert response.status_code == 422
    assert [(p["record"], p["field"]) for p in response.json()["problems"]] == [
        (1, "mean radius"),
        (1, "worst area"),
    ]


def test_a_chunked_body_over_the_limit_is_refused_while_streaming(
    client: TestClient, record: dict[str, float]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(200):
            yield orjson.dumps(record) + b","
        yield b"{}]"

    response = client.post("/predict", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


_ROUTES = "one of the endpoints listed at GET /openapi.json"


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/predict", 405),
        ("PUT", "/predict", 405),
        ("POST", "/health", 405),
        ("DELETE", "/metadata", 405),
        ("POST", "/metrics", 405),
        ("POST", "/openapi.json", 405),
        ("POST", "/docs", 405),
        ("POST", "/", 405),
        ("GET", "/no-such-page", 404),
        ("GET", "/predict/extra", 404),
    ],
)
def test_wrong_method_or_path_gets_structured_json(
    client: TestClient, method: str, url: str, status: int
) -> None:
    response = client.request(method, url)
    assert response.status_code == status
    problem = {405: "method not allowed", 404: "no such endpoint"}[status]
    assert response.json() == {
        "error": problem.replace(" ", "_"),
        "message": f"{problem}: {method} {url}",
        "problems": [_problem(problem, _ROUTES)],
    }


@pytest.mark.parametrize(
    ("method", "url", "status", "error"),
    [
        ("GET", "/v2/models/breast-cancer/infer", 405, "method not allowed"),
        ("POST", "/v2/health/live", 405, "method not allowed"),
        ("POST", "/v2/models/breast-cancer", 405, "method not allowed"),
        ("GET", "/v2/nothing", 404, "no such endpoint"),
        ("GET", "/v2/models/other/ready", 404,
         "model 'other' is not served here; expected model 'breast-cancer' (version '1.0.0')"),
        ("GET", "/v2/models/breast-cancer/versions/9.9.9", 404,
         "model 'breast-cancer' version '9.9.9' is not served here; expected model "
         "'breast-cancer' (version '1.0.0')"),
        ("POST", "/v2/models/breast-cancer/versions/9.9.9/infer", 404,
         "model 'breast-cancer' version '9.9.9' is not served here; expected model "
         "'breast-cancer' (version '1.0.0')"),
    ],
)  # fmt: skip
def test_wrong_v2_routes_get_the_protocol_error_body(
    client: TestClient, method: str, url: str, status: int, error: str
) -> None:
    response = client.request(method, url, content=b"{}")
    assert response.status_code == status
    assert response.json()["error"] == error


# -- Open Inference Protocol v2 ----------------------------------------------------------
def test_v2_health_and_server_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/breast-cancer/ready").json() == {
        "name": "breast-cancer",
        "ready": True,
    }
    assert client.get("/v2/models/breast-cancer/versions/1.0.0/ready").status_code == 200
    assert client.get("/v2/models/breast-cancer/versions/0.9.0/ready").status_code == 404
    assert client.get("/v2").json() == {
        "name": "skbundle",
        "version": skbundle.__version__,
        "extensions": ["binary_tensor_data"],
    }


def test_v2_model_metadata_lists_inputs_and_outputs(client: TestClient, bundle: Bundle) -> None:
    for url in ("/v2/models/breast-cancer", "/v2/models/breast-cancer/versions/1.0.0"):
        body = client.get(url).json()
        assert body["name"] == "breast-cancer"
        assert body["versions"] == ["1.0.0"]
        assert body["platform"] == "skbundle/onnx"
        assert body["inputs"] == [
            {"name": n, "datatype": "FP64", "shape": [-1]} for n in bundle.feature_names
        ]
        assert body["outputs"] == [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]},
            {"name": "classes", "datatype": "BYTES", "shape": [2]},
        ]


def test_v2_infer_with_one_tensor_per_feature(
    client: TestClient, bundle: Bundle, cancer: Case
) -> None:
    X = cancer.X_test.iloc[:3]
    request = {
        "id": "req-7",
        "inputs": [
            {"name": n, "shape": [3], "datatype": "FP64", "data": X[n].tolist()}
            for n in bundle.feature_names
        ],
    }
    response = _post(client, "/v2/models/breast-cancer/infer", request)
    assert response.status_code == 200
    body = response.json()
    proba = bundle.predict_proba(X)
    assert body["model_name"] == "breast-cancer"
    assert body["model_version"] == "1.0.0"
    assert body["id"] == "req-7"
    label, probabilities, classes = body["outputs"]
    assert label == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [3],
        "data": [bundle.classes[i] for i in proba.argmax(axis=1)],
    }
    assert probabilities["shape"] == [3, 2]
    assert probabilities["datatype"] == "FP64"
    assert "parameters" not in probabilities
    assert classes == {"name": "classes", "datatype": "BYTES", "shape": [2],
                       "data": ["malignant", "benign"]}  # fmt: skip
    np.testing.assert_array_equal(np.array(probabilities["data"]).reshape(3, 2), proba)


def test_v2_infer_with_one_matrix_nested_or_flat_and_an_output_filter(
    client: TestClient, bundle: Bundle, cancer: Case
) -> None:
    X = cancer.X_test.iloc[:2].to_numpy()
    for data in (X.tolist(), X.ravel().tolist()):
        request = {
            "inputs": [{"name": "input-0", "shape": [2, 30], "datatype": "FP32", "data": data}],
            "outputs": [{"name": "probabilities"}],
        }
        body = _post(client, "/v2/models/breast-cancer/versions/1.0.0/infer", request).json()
        assert [o["name"] for o in body["outputs"]] == ["probabilities"]
        assert "id" not in body
        np.testing.assert_array_equal(body["outputs"][0]["data"], bundle.predict_proba(X).ravel())


def test_v2_missing_feature_tensor_is_accepted_where_training_had_missing_values(
    wine: Case,
) -> None:
    wine_bundle = skbundle.load(wine.path, trust_pickle=True)
    X = wine.X_test.iloc[:2]
    inputs = [
        {"name": n, "shape": [2, 1], "datatype": "FP64", "data": X[n].fillna(0).tolist()}
        for n in wine_bundle.feature_names
        if n != "alcohol"
    ]
    with TestClient(create_app(wine_bundle)) as c:
        response = _post(c, "/v2/models/wine/infer", {"inputs": inputs})
        assert response.status_code == 200
        assert response.json()["outputs"][0]["shape"] == [2]
        inputs.pop()  # proline had no missing values in training
        response = _post(c, "/v2/models/wine/infer", {"inputs": inputs})
        assert response.status_code == 400
        assert response.json()["problems"][0] == _problem(
            "got a missing value (null or NaN)",
            "a number (this feature had no missing values in training, so none are accepted)",
            "proline",
            0,
        )


def _v2_cases(names: list[str]) -> list[tuple[str, str, Any, int, str, str | None]]:
    one = [{"name": n, "shape": [1], "datatype": "FP64", "data": [1.0]} for n in names]
    return [
        ("not an object", "breast-cancer", [1], 400,
         "the request is a JSON list; expected a JSON object", None),
        ("no inputs", "breast-cancer", {"inputs": []}, 400,
         "'inputs' is missing or empty; expected a non-empty list of input tensors", None),
        ("tensor without name", "breast-cancer", {"inputs": [{"shape": [1]}]}, 400,
         "input 0 is not a tensor object with a string 'name'; expected objects with name, "
         "shape, datatype and data", None),
        ("BYTES input", "breast-cancer",
         {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}, 400,
         "field 'x': input 'x' has datatype 'BYTES'; expected a numeric datatype, one of "
         "['FP16', 'FP32', 'FP64', 'INT16', 'INT32', 'INT64', 'INT8', 'UINT16', 'UINT32', "
         "'UINT64', 'UINT8']", "x"),
        ("bad shape", "breast-cancer",
         {"inputs": [{"name": "x", "shape": "2", "datatype": "FP64", "data": [1]}]}, 400,
         "field 'x': 'shape' of input 'x' is '2'; expected a non-empty list of non-negative "
         "integers, e.g. [N] or [N, n_features]", "x"),
        ("shape and data disagree", "breast-cancer",
         {"inputs": [{"name": "x", "shape": [2, 30], "datatype": "FP64", "data": [1.0] * 59}]},
         400, "field 'x': input 'x' has shape [2, 30] but 59 values; expected 60 values (the "
         "product of the shape)", "x"),
        ("data not a list", "breast-cancer",
         {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": 3}]}, 400,
         "field 'x': 'data' of input 'x' is int; expected a list of numbers (flat, row-major, "
         "or nested)", "x"),
        ("matrix of the wrong width", "breast-cancer",
         {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
         400, "field 'x': input 'x' has shape [1, 3]; expected one tensor of shape [N, 30] "
         "(columns in schema order), or one tensor per feature named after it (see GET "
         "/v2/models/breast-cancer)", "x"),
        ("unknown feature", "breast-cancer",
         {"inputs": [*one, {"name": "colour", "shape": [1], "datatype": "FP64", "data": [1]}]},
         400, "field 'colour': inputs ['colour'] are not features of the model; expected "
         "inputs named after the model's features (see GET /v2/models/breast-cancer)",
         "colour"),
        ("duplicate input", "breast-cancer", {"inputs": [*one, one[0]]}, 400,
         "field 'mean radius': input 'mean radius' appears twice; expected each input once",
         "mean radius"),
        ("rows disagree", "breast-cancer",
         {"inputs": [*one[:-1], {**one[-1], "shape": [2], "data": [1.0, 2.0]}]}, 400,
         "field 'worst fractal dimension': input 'worst fractal dimension' has 2 rows, other "
         "inputs have 1; expected the same number of rows in every input",
         "worst fractal dimension"),
        ("zero rows", "breast-cancer",
         {"inputs": [{"name": "x", "shape": [0, 30], "datatype": "FP64", "data": []}]}, 400,
         "the inputs hold no rows; expected at least one row", None),
        ("too many values", "breast-cancer",
         {"inputs": [{"name": "x", "shape": [51, 30], "datatype": "FP64",
                      "data": [0.0] * 1530}]}, 413,
         "field 'x': input 'x' holds 1530 values; expected at most 1500 (the server's "
         "max_rows times the number of features)", "x"),
        ("too many rows", "breast-cancer",
         {"inputs": [{**t, "shape": [51], "data": [1.0] * 51} for t in one]}, 413,
         "the inputs hold 51 rows; expected at most 50 rows per request (the server's "
         "max_rows)", None),
        ("unknown output", "breast-cancer", {"inputs": one, "outputs": [{"name": "score"}]},
         400, "field 'score': output 'score' does not exist; expected one of ['label', "
         "'probabilities', 'classes']", "score"),
        ("string value", "breast-cancer",
         {"inputs": [{**one[0], "data": ["big"]}, *one[1:]]}, 400,
         "field 'mean radius': value 0 of input 'mean radius' is 'big'; expected numbers "
         "(datatype FP64), or null", "mean radius"),
        ("unknown model", "other", {"inputs": one}, 404,
         "model 'other' is not served here; expected model 'breast-cancer' (version '1.0.0')",
         None),
    ]  # fmt: skip


V2_IDS = [c[0] for c in _v2_cases(["a"])]


@pytest.mark.parametrize("case", range(len(V2_IDS)), ids=V2_IDS)
def test_bad_v2_requests_get_the_protocol_error_body(
    client: TestClient, bundle: Bundle, record: dict[str, float], case: int
) -> None:
    _, model, payload, status, message, field = _v2_cases(bundle.feature_names)[case]
    response = _post(client, f"/v2/models/{model}/infer", payload)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == message
    assert body["problems"][0]["field"] == field
    ok = {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64",
                      "data": list(record.values())}]}  # fmt: skip
    assert _post(client, "/v2/models/breast-cancer/infer", ok).status_code == 200


def test_v2_malformed_json_and_unknown_model_metadata(client: TestClient) -> None:
    response = _post(client, "/v2/models/breast-cancer/infer", b"{oops")
    assert response.status_code == 400
    assert response.json()["error"].startswith("the body is not valid JSON (")
    response = client.get("/v2/models/iris")
    assert response.status_code == 404
    assert response.json()["error"] == (
        "model 'iris' is not served here; expected model 'breast-cancer' (version '1.0.0')"
    )
    assert client.get("/v2/models/breast-cancer/versions/2.0.0").status_code == 404


# -- hostile requests: a 4xx in bounded time --------------------------------------------------
V2_INFER = "/v2/models/breast-cancer/infer"
_DEEP = b"[" * 100_000 + b"]" * 100_000
_DEEPISH = b"[" * 1000 + b"]" * 1000  # under orjson's depth limit of 1024: parsed, then checked
_RANK = "at most 2: [N] or [N, 1] for a per-feature input, [N, n_features] for a matrix"
_SHAPE = "a non-empty list of non-negative integers, e.g. [N] or [N, n_features]"
_FIELDS = "at most 184 (4 per feature of the bundle's 30, plus 64); send only the features"
_SEND = (
    "\nSend every feature listed by 'skbundle inspect' (or GET /metadata), each as the schema "
    "says: a number, or one of its categories."
)


def _too_deep(char: int) -> tuple[str, str]:
    """orjson's refusal of the 1025th level of nesting, at ``char`` of the body."""
    where = f"line 1 column {char + 1} (char {char})"
    return f"the body is not valid JSON (depth limit exceeded: {where})", _NOT_JSON


def _v2_error(problem: str, expected: str, field: str | None = None) -> dict[str, Any]:
    where = f"field {field!r}: " if field else ""
    return {"error": f"{where}{problem}; expected {expected}",
            "problems": [_problem(problem, expected, field)]}  # fmt: skip


def _invalid(problems: list[dict[str, Any]], lines: list[str]) -> dict[str, Any]:
    """The /predict 422 body, its message listing ``lines``."""
    n = len(problems)
    return {
        "error": "input_validation",
        "message": f"Input does not fit the bundle 'breast-cancer' ({n} problem"
        f"{'s' if n != 1 else ''}):\n" + "\n".join(f"  - {line}" for line in lines) + _SEND,
        "problems": problems,
        "truncated": False,
    }


def _tensor(shape: Any, data: Any = (1.0,), name: str = "x", **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"name": name, "shape": shape, "datatype": "FP64", "data": list(data)}],
            **extra}  # fmt: skip


def _hostile_cases(
    record: dict[str, float], names: list[str]
) -> list[tuple[str, str, bytes, int, dict[str, Any]]]:
    """(id, url, body, status, the exact response body) for requests built to cost a worker
    far more than their size; each used to get a 500 or hold a worker for seconds."""
    one = [{"name": n, "shape": [1], "datatype": "FP64", "data": [1.0]} for n in names]
    many = {**record, **{f"k{i}": 1 for i in range(400_000)}}  # 4.7 MB
    deep_value = orjson.dumps(record)[:-1] + b', "mean radius": ' + _DEEPISH + b"}"
    long_key = "y" * 5_000_000
    big = 2**40
    return [
        ("v2 300 huge dims", V2_INFER, orjson.dumps(_tensor([2**62] * 300)), 400,
         _v2_error("'shape' of input 'x' has 300 dimensions", _RANK, "x")),
        ("v2 60k dims", V2_INFER, orjson.dumps(_tensor([1] * 60_000)), 400,
         _v2_error("'shape' of input 'x' has 60000 dimensions", _RANK, "x")),
        ("v2 60k dims per feature", V2_INFER,
         orjson.dumps({"inputs": [{**t, "shape": [1] * 60_000} for t in one[:2]]}), 400,
         _v2_error("'shape' of input 'mean radius' has 60000 dimensions", _RANK,
                   "mean radius")),
        ("v2 negative dims", V2_INFER, orjson.dumps(_tensor([-1, 30])), 400,
         _v2_error("'shape' of input 'x' is [-1, 30]", _SHAPE, "x")),
        ("v2 dims overflowing int64", V2_INFER, orjson.dumps(_tensor([big, big])), 400,
         _v2_error(f"input 'x' has shape [{big}, {big}] but 1 values",
                   f"{big * big} values (the product of the shape)", "x")),
        ("v2 float dims", V2_INFER, orjson.dumps(_tensor([1.0, 30.0])), 400,
         _v2_error("'shape' of input 'x' is [1.0, 30.0]", _SHAPE, "x")),
        ("v2 dim beyond 64 bits", V2_INFER,
         orjson.dumps(_tensor([0])).replace(b"[0]", b"[" + b"9" * 30 + b"]"), 400,
         _v2_error("'shape' of input 'x' is [1e+30]", _SHAPE, "x")),
        ("v2 1000-deep shape", V2_INFER,
         orjson.dumps(_tensor(None)).replace(b"null", _DEEPISH), 400,
         _v2_error(f"'shape' of input 'x' is {'[' * 37}...", _SHAPE, "x")),
        ("v2 20k inputs", V2_INFER,
         orjson.dumps({"inputs": [{**one[0], "name": f"f{i}"} for i in range(20_000)]}), 400,
         _v2_error("the request has 20000 inputs",
                   "at most 184: one tensor of shape [N, 30], or one tensor per feature (see "
                   "GET /v2/models/breast-cancer)")),
        ("v2 one feature of 300k rows", V2_INFER,
         orjson.dumps({"inputs": [{**one[0], "shape": [300_000], "data": [1.0] * 300_000}]}),
         413, _v2_error("the inputs hold 300000 rows",
                        "at most 10000 rows per request (the server's max_rows)")),
        ("v2 an output asked 100k times", V2_INFER,
         orjson.dumps({"inputs": one, "outputs": [{"name": "label"}] * 100_000}), 400,
         _v2_error("output 'label' appears twice", "each output once", "label")),
        ("v2 1000-deep id", V2_INFER,
         orjson.dumps({"inputs": one, "id": None}).replace(b"null", _DEEPISH), 400,
         _v2_error(f"'id' is {'[' * 37}...", "a string (echoed in the response), or no 'id'")),
        ("v2 1000-deep datatype", V2_INFER,
         orjson.dumps(_tensor([1, 30], datatype=None)).replace(b'"FP64"', _DEEPISH), 400,
         _v2_error(f"input 'x' has datatype {'[' * 37}...",
                   "a numeric datatype, one of ['FP16', 'FP32', 'FP64', 'INT16', 'INT32', "
                   "'INT64', 'INT8', 'UINT16', 'UINT32', 'UINT64', 'UINT8']", "x")),
        ("v2 100k-deep data", V2_INFER,
         orjson.dumps(_tensor([1, 30], [])).replace(b"[]", _DEEP), 400,
         {"error": "{}; expected {}".format(*_too_deep(1085)),
          "problems": [_problem(*_too_deep(1085))]}),
        ("v2 huge string value", V2_INFER,
         orjson.dumps(_tensor([1, 30], ["x" * 5_000_000] + [1.0] * 29)), 400,
         _v2_error(f"value 0 of input 'x' is '{'x' * 36}...",
                   "numbers (datatype FP64), or null", "x")),
        ("400k unknown fields", "/predict", orjson.dumps(many), 422,
         _invalid([_problem("has 400030 fields", _FIELDS, None, 0)],
                  [f"record 0: has 400030 fields; expected {_FIELDS}"])),
        ("400k unknown fields, ignore_unknown", "/predict?ignore_unknown=true",
         orjson.dumps(many), 422,
         _invalid([_problem("has 400030 fields", _FIELDS, None, 0)],
                  [f"record 0: has 400030 fields; expected {_FIELDS}"])),
        ("100k-deep nested list", "/predict", _DEEP, 400,
         {"error": "malformed_json", "message": "{}; expected {}".format(*_too_deep(1025)),
          "problems": [_problem(*_too_deep(1025))]}),
        ("1000-deep value", "/predict", deep_value, 422,
         _invalid([_problem(f"got list {'[' * 37}...", "a number", "mean radius", 0)],
                  [f"record 0, field 'mean radius': got list {'[' * 37}...; expected a "
                   "number"])),
        ("huge string value", "/predict",
         orjson.dumps({**record, "mean radius": "x" * 5_000_000}), 422,
         _invalid([_problem(f"got a string '{'x' * 36}...", "a number, not a string",
                            "mean radius", 0)],
                  [f"record 0, field 'mean radius': got a string '{'x' * 36}...; expected a "
                   "number, not a string"])),
        ("huge unknown field name", "/predict", orjson.dumps({**record, long_key: 1}), 422,
         _invalid([_problem("unknown feature", _UNKNOWN, "y" * 97 + "...", 0)],
                  [f"record 0, field '{'y' * 97}...': unknown feature; expected {_UNKNOWN}"])),
    ]  # fmt: skip


_UNKNOWN = (
    "only the bundle's 30 features; pass ignore_unknown=True (CLI: --ignore-unknown) to drop "
    "extra fields"
)
HOSTILE_IDS = [c[0] for c in _hostile_cases({"mean radius": 1.0}, ["mean radius", "b"])]


def _bound(raw: bytes) -> float:
    """One second, plus twice what parsing ``raw`` takes here: parsing is linear in the body
    (max_body_bytes bounds it) and a loaded machine slows it, a 400 000-key object taking
    0.1-0.7 s; what must not happen is work beyond it (these took 8-30 s before)."""
    start = time.perf_counter()
    with contextlib.suppress(orjson.JSONDecodeError):  # the deepest bodies are refused
        orjson.loads(raw)
    return 1.0 + 2 * (time.perf_counter() - start)


@pytest.fixture(scope="module")
def hostile(
    bundle: Bundle, record: dict[str, float]
) -> list[tuple[str, str, bytes, int, dict[str, Any]]]:
    """Built once: some bodies are megabytes."""
    return _hostile_cases(record, bundle.feature_names)


@pytest.fixture(scope="module")
def roomy(bundle: Bundle) -> Iterator[TestClient]:
    """The default limits (10 MB bodies, 10 000 rows): room for every hostile request."""
    with TestClient(create_app(bundle)) as c:
        yield c


@pytest.mark.parametrize("case", range(len(HOSTILE_IDS)), ids=HOSTILE_IDS)
def test_hostile_requests_get_a_4xx_in_bounded_time(
    roomy: TestClient,
    hostile: list[tuple[str, str, bytes, int, dict[str, Any]]],
    record: dict[str, float],
    case: int,
) -> None:
    """Every size is checked before the work it would cause, so a request costs no more than
    its bytes. The time bound is a correctness bound on algorithmic blow-up (these took 8-30 s,
    or got a 500, before), not a benchmark: see ``_bound``."""
    _, url, raw, status, expected = hostile[case]
    bound = _bound(raw)
    start = time.perf_counter()
    response = roomy.post(url, content=raw, headers={"content-type": "application/json"})
    elapsed = time.perf_counter() - start
    assert response.status_code == status
    assert response.json() == expected
    assert elapsed < bound, f"{elapsed:.2f} s"
    ok = _post(roomy, "/predict", record)
    assert ok.status_code == 200


def test_a_flood_of_near_miss_names_stops_at_the_problem_cap(
    roomy: TestClient, record: dict[str, float]
) -> None:
    """Each unknown name costs a 'did you mean' search; the search stops with the problems."""
    flooded = {**{f"mean radius{i}": 1 for i in range(150)}, **record}
    raw = orjson.dumps([flooded] * 100)  # 15 000 unknown names
    bound = _bound(raw)
    start = time.perf_counter()
    response = _post(roomy, "/predict", raw)
    elapsed = time.perf_counter() - start
    assert response.status_code == 422
    body = response.json()
    assert (len(body["problems"]), body["truncated"]) == (1000, True)
    assert body["problems"][0] == _problem(
        "unknown feature (did you mean 'mean radius'?)", _UNKNOWN, "mean radius0", 0
    )
    assert body["problems"][-1]["record"] == 6
    assert elapsed < bound, f"{elapsed:.2f} s"


# -- health, metadata, openapi, page -------------------------------------------------------
def test_health_and_metadata_hold_no_internal_paths(
    client: TestClient, bundle: Bundle, cancer: Case
) -> None:
    assert client.get("/health").json() == {
        "status": "ok",
        "model": "breast-cancer",
        "version": "1.0.0",
        "pid": os.getpid(),
    }
    response = client.get("/metadata")
    body = response.json()
    assert body["name"] == "breast-cancer"
    assert [f["name"] for f in body["features"]] == bundle.feature_names
    assert body["classes"] == ["malignant", "benign"]
    assert body["metrics"]["test"]["accuracy"] == bundle.manifest.metrics["test"]["accuracy"]
    assert body["runtime"] == {"format": "onnx", "engine": "onnxruntime"}
    assert body["limits"] == {
        "max_rows": 50,
        "max_body_bytes": 64_000,
        "api_key_required": False,
    }
    assert str(cancer.path) not in response.text
    assert str(cancer.path.parent.parent) not in response.text


def test_openapi_request_body_is_generated_from_the_feature_schema(
    client: TestClient, bundle: Bundle
) -> None:
    doc = client.get("/openapi.json").json()
    record = doc["components"]["schemas"]["Record"]
    assert list(record["properties"]) == bundle.feature_names
    assert record["properties"]["mean radius"]["type"] == "number"
    assert record["required"] == bundle.feature_names
    assert record["additionalProperties"] is False
    assert record["example"] == bundle.validator.example()
    assert doc["components"]["schemas"]["PredictionResult"]["properties"]["prediction"] == {
        "type": "string",
        "enum": ["malignant", "benign"],
    }
    assert doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/PredictRequest"}


@pytest.mark.parametrize("auth", [False, True], ids=["open", "api key"])
def test_openapi_document_is_valid_openapi_3_0(bundle: Bundle, auth: bool) -> None:
    from openapi_spec_validator import validate

    with TestClient(create_app(bundle, api_key="k" if auth else None)) as c:
        doc = c.get("/openapi.json").json()
    validate(doc)
    assert doc["openapi"] == "3.0.3"
    assert ("securitySchemes" in doc["components"]) is auth


def test_openapi_marks_features_that_accept_missing_values(wine: Case) -> None:
    with TestClient(create_app(skbundle.load(wine.path, trust_pickle=True))) as c:
        props = c.get("/openapi.json").json()["components"]["schemas"]["Record"]["properties"]
    assert (props["alcohol"]["type"], props["alcohol"]["nullable"]) == ("number", True)
    assert props["proline"]["type"] == "number"
    assert "nullable" not in props["proline"]


def test_docs_page_uses_only_local_assets(client: TestClient) -> None:
    page = client.get("/docs").text
    assert re.findall(r'(?:src|href)="([^"]+)"', page) == [
        "/docs/static/swagger-ui.css",
        "/docs/static/swagger-ui-bundle.js",
    ]
    assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 200


def test_the_page_is_self_contained_and_prefilled(client: TestClient, bundle: Bundle) -> None:
    response = client.get("/")
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links == ["/model-card", "/report", "/docs", "/metadata"]  # nothing from elsewhere
    config = orjson.loads(re.search(r'id="config">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert [f["name"] for f in config["features"]] == bundle.feature_names
    assert config["example"] == bundle.manifest.example  # a real held-out record
    assert config["classes"] == ["malignant", "benign"]


# -- metrics -------------------------------------------------------------------------------
def _sample(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + "$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_requests_latency_predictions_and_validation_errors(
    bundle: Bundle, record: dict[str, float]
) -> None:
    with TestClient(create_app(bundle)) as c:
        before = c.get("/metrics")
        assert before.headers["content-type"].startswith("text/plain; version=")
        _post(c, "/predict", [record, record])
        _post(c, "/predict", {**record, "mean area": "x", "hello": 1})
        _post(c, "/predict", b"{")
        text = c.get("/metrics").text
    requests = "skbundle_requests_total"
    assert _sample(text, requests, 'endpoint="/predict",status="200"') == 1.0
    assert _sample(text, requests, 'endpoint="/predict",status="422"') == 1.0
    assert _sample(text, requests, 'endpoint="/predict",status="400"') == 1.0
    assert _sample(text, "skbundle_request_duration_seconds_count", 'endpoint="/predict"') == 3.0
    predicted = bundle.predict(record)[0]["prediction"]
    assert _sample(text, "skbundle_predictions_total", f'class_name="{predicted}"') == 2.0
    errors = "skbundle_validation_errors_total"
    assert _sample(text, errors, 'field="mean area"') == 1.0
    assert _sample(text, errors, 'field="_unknown"') == 1.0
    assert 'field="hello"' not in text


# -- the prediction log's health -------------------------------------------------------------
def _log_status(file: str, written: int, dropped: int, errors: int, last: str | None) -> Any:
    return {"file": file, "written": written, "dropped": dropped, "errors": errors,
            "last_error": last}  # fmt: skip


def test_a_prediction_log_that_stops_writing_shows_in_metrics_and_health(
    bundle: Bundle, record: dict[str, float], tmp_path: Path
) -> None:
    """A real write failure: the log must rotate (1 kB) but its backup's place is taken by a
    directory, as a full disk or a read-only mount would stop it. The server keeps answering,
    says 'degraded' (still 200) and counts the error; no internal path is shown."""
    from skbundle.monitor import PredictionLogger

    path = tmp_path / "predictions.jsonl"
    logger = PredictionLogger.for_bundle(path, bundle, max_bytes=1024, backups=1)
    (tmp_path / "predictions.jsonl.1").mkdir()
    (tmp_path / "predictions.jsonl.1" / "keep").touch()
    with logger, TestClient(create_app(bundle, log_predictions=logger)) as c:
        assert c.get("/health").json() == {
            "status": "ok", "model": "breast-cancer", "version": "1.0.0", "pid": os.getpid(),
            "prediction_log": _log_status("predictions.jsonl", 0, 0, 0, None),
        }  # fmt: skip
        assert _post(c, "/predict", record).status_code == 200
        logger.flush()
        assert c.get("/health").json()["prediction_log"]["written"] == 1
        for _ in range(2):  # the first of these needs the rotation, which fails
            assert _post(c, "/predict", record).status_code == 200
            logger.flush()
        health = c.get("/health")
        text = c.get("/metrics").text
    assert health.status_code == 200
    assert health.json() == {
        "status": "degraded", "model": "breast-cancer", "version": "1.0.0", "pid": os.getpid(),
        "prediction_log": _log_status(
            "predictions.jsonl", 1, 2, 1, "IsADirectoryError: [Errno 21] Is a directory"
        ),
    }  # fmt: skip
    assert str(tmp_path) not in health.text
    assert _sample(text, "skbundle_prediction_log_written_total") == 1.0
    # the row whose write failed and the row after it, which the stopped log no longer writes
    assert _sample(text, "skbundle_prediction_log_dropped_total") == 2.0
    assert _sample(text, "skbundle_prediction_log_errors_total") == 1.0
    assert len(path.read_text().splitlines()) == 2  # the header and the one row written


def test_rows_dropped_by_a_prediction_log_that_fell_behind_are_counted(
    bundle: Bundle, tmp_path: Path
) -> None:
    """A one-batch queue: the writer lingers 50 ms on its first batch, so most of a burst is
    dropped. Dropping does not degrade the health (the log goes on), but it is counted."""
    from skbundle.monitor import PredictionLogger

    logger = PredictionLogger.for_bundle(tmp_path / "p.jsonl", bundle, queue_size=1)
    X = np.zeros((3, 30))
    proba = bundle.predict_proba(X)
    with logger, TestClient(create_app(bundle, log_predictions=logger)) as c:
        for _ in range(20):
            logger.log(X, proba)  # what the server's hook does, as fast as a burst can
        logger.flush()
        health = c.get("/health").json()
        text = c.get("/metrics").text
    assert logger.dropped > 0
    assert logger.written + logger.dropped == 60
    assert health["status"] == "ok"
    assert health["prediction_log"] == _log_status(
        "p.jsonl", logger.written, logger.dropped, 0, None
    )
    assert _sample(text, "skbundle_prediction_log_dropped_total") == logger.dropped
    assert _sample(text, "skbundle_prediction_log_written_total") == logger.written


def test_the_app_closes_a_log_it_opened_and_leaves_a_given_one_open(
    bundle: Bundle, record: dict[str, float], tmp_path: Path
) -> None:
    from skbundle.monitor import PredictionLogger

    with TestClient(create_app(bundle, log_predictions=tmp_path / "own.jsonl")) as c:
        assert _post(c, "/predict", record).status_code == 200
    assert len((tmp_path / "own.jsonl").read_text().splitlines()) == 2  # flushed by close
    with PredictionLogger.for_bundle(tmp_path / "given.jsonl", bundle) as given:
        with TestClient(create_app(bundle, log_predictions=given)) as c:
            assert _post(c, "/predict", record).status_code == 200
        given.log(np.zeros((1, 30)), bundle.predict_proba(np.zeros((1, 30))))  # still open
        given.flush()
        assert given.written == 2


# -- API key ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({}, "no API key sent"),
        ({"authorization": "Bearer wrong"}, "missing or wrong API key"),
        ({"authorization": "s3cret"}, "missing or wrong API key"),
        ({"authorization": "Basic czNjcmV0"}, "missing or wrong API key"),
    ],
    ids=["none", "wrong key", "no scheme", "basic auth"],
)
def test_api_key_protects_prediction_endpoints_only(
    bundle: Bundle, record: dict[str, float], headers: dict[str, str], problem: str
) -> None:
    infer = {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64",
                         "data": list(record.values())}]}  # fmt: skip
    with TestClient(create_app(bundle, api_key="s3cret")) as c:
        for url, payload in (("/predict", record), ("/v2/models/breast-cancer/infer", infer)):
            response = c.post(url, content=orjson.dumps(payload), headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == 'Bearer realm="skbundle"'
            assert response.json()["problems"] == [
                _problem(problem, "the header 'Authorization: Bearer <key>'")
            ]
            good = c.post(
                url, content=orjson.dumps(payload), headers={"authorization": "Bearer s3cret"}
            )
            assert good.status_code == 200
        for open_url in ("/health", "/v2/health/live", "/v2/health/ready", "/metadata", "/"):
            assert c.get(open_url).status_code == 200
        assert c.get("/metadata").json()["limits"]["api_key_required"] is True


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"api_key": ""}, "api_key must be a non-empty string, or None for no authentication"),
        ({"max_rows": 0}, "max_rows must be at least 1, got 0"),
        ({"max_body_bytes": -1}, "max_body_bytes must be at least 1, got -1"),
    ],
)
def test_bad_options_are_refused_when_the_app_is_made(
    bundle: Bundle, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        create_app(bundle, **options)


# -- the prediction hook and loading ---------------------------------------------------------
class Recorder:
    """A real prediction logger: keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []

    def log(self, X: np.ndarray, proba: np.ndarray) -> None:
        self.calls.append((X.copy(), proba.copy()))


def test_on_prediction_receives_validated_input_and_probabilities(
    bundle: Bundle, cancer: Case
) -> None:
    recorder = Recorder()
    rows = cancer.X_test.iloc[:4]
    with TestClient(create_app(bundle, on_prediction=recorder.log)) as c:
        _post(c, "/predict", rows.to_dict(orient="records"))
        _post(c, "/predict", {"bad": 1})
        request = {"inputs": [{"name": "m", "shape": [1, 30], "datatype": "FP64",
                               "data": rows.iloc[0].tolist()}]}  # fmt: skip
        _post(c, "/v2/models/breast-cancer/infer", request)
    assert len(recorder.calls) == 2
    X, proba = recorder.calls[0]
    np.testing.assert_array_equal(X, rows.to_numpy())
    np.testing.assert_array_equal(proba, bundle.predict_proba(rows))
    np.testing.assert_array_equal(recorder.calls[1][0], rows.to_numpy()[:1])


def test_a_failing_hook_is_counted_and_the_client_still_gets_its_prediction(
    bundle: Bundle, record: dict[str, float], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(X: np.ndarray, proba: np.ndarray) -> None:
        raise OSError("disk full")

    with TestClient(create_app(bundle, on_prediction=broken)) as c:
        response = _post(c, "/predict", record)
        text = c.get("/metrics").text
    assert response.status_code == 200
    assert response.json() == _served(bundle.predict(record)[0])
    assert _sample(text, "skbundle_prediction_hook_errors_total") == 1.0
    assert [r.getMessage() for r in caplog.records if r.name == "skbundle.serve"] == [
        "the on_prediction hook raised; the prediction was still returned"
    ]


def test_a_path_is_loaded_once_in_the_lifespan(cancer: Case, record: dict[str, float]) -> None:
    app = create_app(cancer.path, trust_pickle=True)
    with TestClient(app) as c:
        first = app.state.bundle
        for _ in range(3):
            assert _post(c, "/predict", record).status_code == 200
        assert app.state.bundle is first


def test_an_untrusted_pickle_fails_the_startup_with_the_load_error(cancer: Case) -> None:
    app = create_app(cancer.path, runtime="joblib")
    with (
        pytest.raises(skbundle.UntrustedArtifactError, match=re.escape("Refusing to load")),
        TestClient(app),
    ):
        pass


def test_before_startup_prediction_endpoints_answer_503(bundle: Bundle) -> None:
    client = TestClient(create_app(bundle))  # not entered: the lifespan has not run
    assert client.get("/v2/health/ready").status_code == 503
    response = client.post("/predict", content=b"{}")
    assert response.status_code == 503
    assert response.json() == {"error": "not_ready", "message": "the model is loading"}


def test_feature_names_cannot_break_out_of_the_page(tmp_path: Any) -> None:
    """Feature names come from the training data: they are data in the page, never markup."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    evil = "</script><script>window.pwned=1</script>"
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 2)), columns=[evil, "<b>bold</b>"])
    y = (X.iloc[:, 0] > 0).astype(int).to_numpy()
    skbundle.save(LogisticRegression().fit(X, y), tmp_path / "b", X_train=X, y_train=y,
                  X_test=X, y_test=y, name="evil")  # fmt: skip
    with TestClient(create_app(tmp_path / "b", trust_pickle=True)) as c:
        page = c.get("/").text
    assert evil not in page
    assert "<b>bold</b>" not in page
    assert page.count("</script>") == 2  # the config element and the page's own script
    config = orjson.loads(re.search(r'id="config">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert [f["name"] for f in config["features"]] == [evil, "<b>bold</b>"]


@pytest.mark.parametrize(
    ("data", "flat"),
    [
        ([1.0, 2, 3.5], [1.0, 2, 3.5]),
        ([[1.0, 2], [3, 4]], [1.0, 2, 3, 4]),
        ([[[1], [2]], [[3], [4]]], [1, 2, 3, 4]),
        ([1, [2, [3, 4]], 5], [1, 2, 3, 4, 5]),
        ([[], [1]], [1]),
        ([], []),
    ],
    ids=["flat", "2-D", "3-D", "mixed nesting", "empty row", "empty"],
)
def test_v2_tensor_data_is_flattened_row_major(data: list[Any], flat: list[Any]) -> None:
    from skbundle.serve.v2 import _flatten

    assert _flatten(data, "x", 100) == flat
