"""The Open Inference Protocol v2 in process: the binary tensor data extension (framing
checked against the bytes really there), datatypes enforced on JSON values, request and
output parameters, media types, the API key's scheme, numbers past a float. Every bad input
is a row: exact status, error and field."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

import skbundle
from skbundle import Bundle
from skbundle.errors import HttpError
from skbundle.serve import create_app
from skbundle.serve.tensors import decode
from tests.conftest import Case
from tests.zoo_bundles import CATEGORICAL, zoo_bundle

URL = "/v2/models/breast-cancer/infer"
PENGUINS = f"/v2/models/{CATEGORICAL}/infer"
HEADER = "Inference-Header-Content-Length"
KEY = "protocol-key"
AUTH = {"authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def bundle(cancer: Case) -> Bundle:
    return skbundle.load(cancer.path)


@pytest.fixture(scope="module")
def client(bundle: Bundle) -> Iterator[TestClient]:
    with TestClient(create_app(bundle, max_rows=50, api_key=KEY)) as c:
        yield c


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Bundle, TestClient]]:
    loaded = skbundle.load(zoo_bundle(tmp_path_factory, CATEGORICAL))
    with TestClient(create_app(loaded)) as c:
        yield loaded, c


def _frame(header: dict[str, Any], *blobs: bytes) -> tuple[bytes, str]:
    """A binary request body and its header length."""
    head = orjson.dumps(header)
    return head + b"".join(blobs), str(len(head))


def _send(client: TestClient, url: str, body: bytes, length: str | None, **headers: str) -> Any:
    sent = {**AUTH, "content-type": "application/octet-stream", **headers}
    if length is not None:
        sent[HEADER] = length
    return client.post(url, content=body, headers=sent)


def _strings(*values: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def _matrix(X: np.ndarray, datatype: str = "FP64", size: int | None = None) -> dict[str, Any]:
    size = X.nbytes if size is None else size
    return {"name": "x", "shape": list(X.shape), "datatype": datatype,
            "parameters": {"binary_data_size": size}}  # fmt: skip


def _split(response: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The JSON header of a binary response and each binary output's bytes."""
    length = int(response.headers[HEADER])
    header = orjson.loads(response.content[:length])
    blobs, offset = {}, length
    for output in header["outputs"]:
        size = output.get("parameters", {}).get("binary_data_size")
        if size is not None:
            blobs[output["name"]] = response.content[offset : offset + size]
            offset += size
    assert offset == len(response.content)
    return header, blobs


# -- the extension, working ----------------------------------------------------------------
def test_binary_in_binary_out_equals_bundle_predict(
    client: TestClient, bundle: Bundle, cancer: Case
) -> None:
    X = cancer.X_test.iloc[:9].to_numpy(dtype=np.float32)
    body, length = _frame(
        {"id": "b1", "inputs": [_matrix(X, "FP32")], "parameters": {"binary_data_output": True}},
        X.tobytes(),
    )
    response = _send(client, URL, body, length)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    header, blobs = _split(response)
    assert header["id"] == "b1"
    expected = bundle.predict_proba(X.astype(np.float64))
    got = np.frombuffer(blobs["probabilities"], dtype="<f8").reshape(9, 2)
    np.testing.assert_array_equal(got, expected)
    assert blobs["classes"] == _strings(b"malignant", b"benign")
    labels = [bundle.classes[i].encode() for i in expected.argmax(axis=1)]
    assert blobs["label"] == _strings(*labels)


def test_one_output_binary_the_other_json(client: TestClient, bundle: Bundle, cancer: Case) -> None:
    X = cancer.X_test.iloc[:3].to_numpy()
    outputs = [{"name": "probabilities", "parameters": {"binary_data": True}}, {"name": "label"}]
    body, length = _frame({"inputs": [_matrix(X)], "outputs": outputs}, X.tobytes())
    header, _ = _split(_send(client, URL, body, length))
    probabilities, label = header["outputs"]
    assert probabilities["parameters"] == {"binary_data_size": 48}
    assert "data" not in probabilities
    assert label["data"] == [bundle.classes[i] for i in bundle.predict_proba(X).argmax(axis=1)]


def test_json_outputs_answer_plain_json_even_to_binary_inputs(
    client: TestClient, bundle: Bundle, cancer: Case
) -> None:
    X = cancer.X_test.iloc[:2].to_numpy()
    body, length = _frame({"inputs": [_matrix(X)]}, X.tobytes())
    response = _send(client, URL, body, length)
    assert response.headers["content-type"] == "application/json"
    assert HEADER.lower() not in response.headers
    assert response.json()["outputs"][1]["data"] == bundle.predict_proba(X).ravel().tolist()


def test_binary_bytes_tensors_for_categories(
    penguins: tuple[Bundle, TestClient],
) -> None:
    bundle, client = penguins
    record = bundle.validator.example()
    inputs, blobs = [], []
    for f in bundle.validator.features:
        value = record[f.name]
        if f.kind == "numeric":
            blob = struct.pack("<d", value)
            inputs.append({"name": f.name, "shape": [1], "datatype": "FP64",
                           "parameters": {"binary_data_size": 8}})  # fmt: skip
        else:
            blob = _strings(str(value).encode())
            inputs.append({"name": f.name, "shape": [1], "datatype": "BYTES",
                           "parameters": {"binary_data_size": len(blob)}})  # fmt: skip
        blobs.append(blob)
    body, length = _frame({"inputs": inputs}, *blobs)
    response = _send(client, PENGUINS, body, length)
    assert response.status_code == 200, response.text
    label = response.json()["outputs"][0]["data"]
    assert label == [bundle.predict(record)[0]["prediction"]]


# -- the extension, refused ----------------------------------------------------------------
def _v2(problem: str, expected: str, field: str | None = None) -> dict[str, Any]:
    where = f"field {field!r}: " if field else ""
    return {"error": f"{where}{problem}; expected {expected}",
            "problems": [{"record": None, "field": field, "problem": problem,
                          "expected": expected}]}  # fmt: skip


_X = np.arange(60, dtype=np.float64).reshape(2, 30) / 10
_LEN = "the length of the JSON part, at most the length of the body"


def _framing_cases() -> list[tuple[str, bytes, str | None, int, dict[str, Any]]]:
    ok_head = orjson.dumps({"inputs": [_matrix(_X)]})
    raw = _X.tobytes()
    big = np.zeros((51, 30))
    return [
        ("header not a number", ok_head + raw, "12a", 400,
         _v2("the Inference-Header-Content-Length header is '12a'",
             "the length in bytes of the JSON part of the body, a non-negative integer",
             HEADER)),
        ("header negative", ok_head + raw, "-5", 400,
         _v2("the Inference-Header-Content-Length header is '-5'",
             "the length in bytes of the JSON part of the body, a non-negative integer",
             HEADER)),
        ("header past the body", ok_head + raw, str(len(ok_head) + len(raw) + 1), 400,
         _v2(f"the Inference-Header-Content-Length header says {len(ok_head) + len(raw) + 1} "
             f"bytes but the body has {len(ok_head) + len(raw)}", _LEN, HEADER)),
        ("header cuts the JSON", ok_head + raw, "10", 400,
         _v2("the body is not valid JSON (unexpected end of data: line 1 column 11 (char 10))",
             "a JSON document (note: JSON has no NaN or Infinity; send null for a missing "
             "value)")),
        ("binary size without the header", ok_head, None, 400,
         _v2("input 'x' has the parameter binary_data_size but the request has no "
             "Inference-Header-Content-Length header",
             "the header giving the length of the JSON part, the binary data after it", "x")),
        ("size past the bytes there", *_frame({"inputs": [_matrix(_X, size=10**12)]}, raw), 400,
         _v2("input 'x' has binary_data_size 1000000000000 but only 480 bytes of binary data "
             "are left in the body",
             "binary data of each input in the order of 'inputs', after the JSON header", "x")),
        ("size not shape times 8", *_frame({"inputs": [_matrix(_X, size=479)]}, raw[:479]), 400,
         _v2("input 'x' has 479 bytes of binary data for 60 values of FP64",
             "480 bytes (the product of the shape times 8 bytes)", "x")),
        ("size of FP32 data sent as FP64",
         *_frame({"inputs": [_matrix(_X, "FP64", 240)]}, _X.astype(np.float32).tobytes()), 400,
         _v2("input 'x' has 240 bytes of binary data for 60 values of FP64",
             "480 bytes (the product of the shape times 8 bytes)", "x")),
        ("bytes no input claims", *_frame({"inputs": [_matrix(_X)]}, raw + b"\0"), 400,
         _v2("the body has 1 bytes of binary data that no input's binary_data_size accounts "
             "for", "the binary data of the inputs and nothing else after the JSON header")),
        ("size a string", *_frame({"inputs": [_matrix(_X, size="480")]}, raw), 400,  # type: ignore[arg-type]
         _v2("'binary_data_size' of input 'x' is '480'",
             "the size in bytes of the input's binary data, a non-negative integer", "x")),
        ("size negative", *_frame({"inputs": [_matrix(_X, size=-1)]}, raw), 400,
         _v2("'binary_data_size' of input 'x' is -1",
             "the size in bytes of the input's binary data, a non-negative integer", "x")),
        ("data and binary both",
         *_frame({"inputs": [{**_matrix(_X), "data": _X.ravel().tolist()}]}, raw), 400,
         _v2("input 'x' has both 'data' and the parameter binary_data_size",
             "one of them: 'data' in the JSON, or binary data after it", "x")),
        ("51 binary rows over max_rows 50", *_frame({"inputs": [_matrix(big)]}, big.tobytes()),
         413, _v2("input 'x' holds 1530 values",
                  "at most 1500 (the server's max_rows times the number of features)", "x")),
        ("shape huge, size tiny",
         *_frame({"inputs": [{**_matrix(_X, size=8), "shape": [2**40, 30]}]}, raw[:8]), 413,
         _v2(f"input 'x' holds {2**40 * 30} values",
             "at most 1500 (the server's max_rows times the number of features)", "x")),
        ("parameters not an object",
         *_frame({"inputs": [{**_matrix(_X), "parameters": [480]}]}, raw), 400,
         _v2("'parameters' of input 'x' is [480]", "an object, or none")),
        ("shared memory",
         *_frame({"inputs": [{**_matrix(_X), "parameters": {"shared_memory_region": "r"}}]}),
         400, _v2("input 'x' names a shared memory region",
                  "tensor data in the body (this server has no shared memory extension)")),
        ("binary_data_output not a boolean",
         *_frame({"inputs": [_matrix(_X)], "parameters": {"binary_data_output": 1}}, raw), 400,
         _v2("the request's parameter 'binary_data_output' is 1", "true or false",
             "binary_data_output")),
        ("binary_data not a boolean",
         *_frame({"inputs": [_matrix(_X)],
                  "outputs": [{"name": "label", "parameters": {"binary_data": "yes"}}]}, raw),
         400, _v2("the parameter 'binary_data' of output 'label' is 'yes'", "true or false",
                  "label")),
        ("classification extension",
         *_frame({"inputs": [_matrix(_X)],
                  "outputs": [{"name": "label", "parameters": {"classification": 2}}]}, raw),
         400, _v2("output 'label' asks for the classification extension",
                  "no 'classification' parameter; the class names are the output 'classes'",
                  "label")),
    ]  # fmt: skip


FRAMING = _framing_cases()


@pytest.mark.parametrize(
    ("body", "length", "status", "error"),
    [c[1:] for c in FRAMING],
    ids=[c[0] for c in FRAMING],
)
def test_bad_binary_framing_is_a_400_naming_the_input(
    client: TestClient, body: bytes, length: str | None, status: int, error: dict[str, Any]
) -> None:
    response = _send(client, URL, body, length)
    assert (response.status_code, response.json()) == (status, error)


def _bytes_cases() -> list[tuple[str, bytes, int, dict[str, Any]]]:
    return [
        ("length past the tensor", struct.pack("<I", 99) + b"Biscoe", 1,
         _v2("element 0 of BYTES input 'island' says 99 bytes but 6 are left",
             "each element's length within the input's binary_data_size", "island")),
        ("length cut short", b"\x06\x00", 1,
         _v2("element 0 of BYTES input 'island' has no 4-byte length: 2 bytes are left",
             "1 elements, each a 4-byte little-endian length and that many bytes", "island")),
        ("bytes after the elements", _strings(b"Biscoe") + b"!", 1,
         _v2("BYTES input 'island' has 1 bytes after its 1 elements",
             "binary_data_size equal to the elements' lengths plus 4 bytes each", "island")),
        ("fewer elements than the shape", _strings(b"Biscoe"), 2,
         _v2("element 1 of BYTES input 'island' has no 4-byte length: 0 bytes are left",
             "2 elements, each a 4-byte little-endian length and that many bytes", "island")),
        ("not UTF-8", _strings(b"Bis\xffcoe"), 1,
         _v2("element 0 of BYTES input 'island' is not UTF-8 text",
             "category names as UTF-8 text", "island")),
        ("length 4 GiB", b"\xff\xff\xff\xff", 1,
         _v2("element 0 of BYTES input 'island' says 4294967295 bytes but 0 are left",
             "each element's length within the input's binary_data_size", "island")),
    ]  # fmt: skip


BYTES_CASES = _bytes_cases()


@pytest.mark.parametrize(
    ("blob", "rows", "error"), [c[1:] for c in BYTES_CASES], ids=[c[0] for c in BYTES_CASES]
)
def test_bad_binary_bytes_elements_are_a_400_naming_the_input(
    penguins: tuple[Bundle, TestClient], blob: bytes, rows: int, error: dict[str, Any]
) -> None:
    _, client = penguins
    tensor = {"name": "island", "shape": [rows], "datatype": "BYTES",
              "parameters": {"binary_data_size": len(blob)}}  # fmt: skip
    body, length = _frame({"inputs": [tensor]}, blob)
    response = _send(client, PENGUINS, body, length)
    assert (response.status_code, response.json()) == (400, error)


def test_a_bool_byte_other_than_0_or_1_is_refused_by_name() -> None:
    assert decode(memoryview(b"\x00\x01"), "male", "BOOL", 2) == [False, True]
    with pytest.raises(HttpError) as caught:
        decode(memoryview(b"\x00\x02"), "male", "BOOL", 2)
    assert (caught.value.status, caught.value.message) == (
        400,
        "field 'male': value 1 of BOOL input 'male' is the byte 2; expected one byte per "
        "value, 0 (false) or 1 (true)",
    )


# -- datatypes of JSON values --------------------------------------------------------------
def _whole(low: int, high: int, datatype: str) -> str:
    return f"whole numbers from {low} to {high} (datatype {datatype}), or null"


DATATYPES = [
    ("INT32 with a fraction", "INT32", 1.5,
     "value 0 of input 'x' is 1.5, which is not a whole number",
     _whole(-2147483648, 2147483647, "INT32")),
    ("UINT8 negative", "UINT8", -5.0,
     "value 0 of input 'x' is -5.0, which is outside the range of UINT8", _whole(0, 255, "UINT8")),
    ("INT8 past 127", "INT8", 128,
     "value 0 of input 'x' is 128, which is outside the range of INT8", _whole(-128, 127, "INT8")),
    ("UINT64 past 2**64", "UINT64", 2.0**64,
     "value 0 of input 'x' is 1.8446744073709552e+19, which is outside the range of UINT64",
     _whole(0, 2**64 - 1, "UINT64")),
    ("FP16 past 65504", "FP16", 1e10,
     "value 0 of input 'x' is 10000000000.0, which is outside the range of FP16",
     "numbers within +/-65504 (datatype FP16), or null"),
    ("FP32 past its max", "FP32", -1e39,
     "value 0 of input 'x' is -1e+39, which is outside the range of FP32",
     "numbers within +/-3.40282e+38 (datatype FP32), or null"),
    ("a string in FP64", "FP64", "1.5", "value 0 of input 'x' is '1.5'",
     "numbers (datatype FP64), or null"),
    ("a boolean in INT64", "INT64", True, "value 0 of input 'x' is True",
     _whole(-(2**63), 2**63 - 1, "INT64")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("datatype", "value", "problem", "expected"),
    [c[1:] for c in DATATYPES],
    ids=[c[0] for c in DATATYPES],
)
def test_a_value_outside_its_datatype_is_a_400_naming_the_input(
    client: TestClient, datatype: str, value: Any, problem: str, expected: str
) -> None:
    tensor = {"name": "x", "shape": [1, 30], "datatype": datatype, "data": [value] + [1] * 29}
    response = client.post(URL, content=orjson.dumps({"inputs": [tensor]}), headers=AUTH)
    assert (response.status_code, response.json()) == (400, _v2(problem, expected, "x"))


@pytest.mark.parametrize(
    ("datatype", "value"),
    [("INT32", 3.0), ("UINT8", 255), ("FP16", 65504.0), ("FP32", 1.5), ("INT64", -(2**63))],
)
def test_values_that_fit_their_datatype_are_accepted(
    client: TestClient, bundle: Bundle, datatype: str, value: Any
) -> None:
    data = [value] + [1] * 29
    tensor = {"name": "x", "shape": [1, 30], "datatype": datatype, "data": data}
    response = client.post(URL, content=orjson.dumps({"inputs": [tensor]}), headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][1]["data"] == bundle.predict_proba([data]).ravel().tolist()


# -- id, media types, the API key, numbers past a float ------------------------------------
def test_a_numeric_id_is_refused_as_the_spec_says_string(client: TestClient) -> None:
    one = [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [1.0] * 30}]
    response = client.post(URL, content=orjson.dumps({"id": 5, "inputs": one}), headers=AUTH)
    assert (response.status_code, response.json()) == (
        400, _v2("'id' is 5", "a string (echoed in the response), or no 'id'")
    )  # fmt: skip


_JSON_415 = (
    "a body of type application/json; send the header 'Content-Type: application/json' with "
    "a JSON document"
)
_V2_415 = (
    "a body of type application/json or application/octet-stream; send the header "
    "'Content-Type: application/json' with a JSON document"
)
MEDIA = [
    ("text/plain to /predict", "/predict", "text/plain", 415, "unsupported_media_type",
     "the body is declared as 'text/plain'", _JSON_415),
    ("octet-stream to /predict", "/predict", "application/octet-stream", 415,
     "unsupported_media_type", "the body is declared as 'application/octet-stream'", _JSON_415),
    ("text/plain to v2", URL, "text/plain; charset=utf-8", 415, None,
     "the body is declared as 'text/plain'", _V2_415),
    ("xml to v2", URL, "application/XML", 415, None,
     "the body is declared as 'application/xml'", _V2_415),
]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "media_type", "status", "error", "problem", "expected"),
    [c[1:] for c in MEDIA],
    ids=[c[0] for c in MEDIA],
)
def test_a_body_declared_as_another_type_is_a_415(
    client: TestClient,
    bundle: Bundle,
    url: str,
    media_type: str,
    status: int,
    error: str | None,
    problem: str,
    expected: str,
) -> None:
    body = orjson.dumps(bundle.validator.example())
    response = client.post(url, content=body, headers={**AUTH, "content-type": media_type})
    assert response.status_code == status
    got = response.json()
    assert got["problems"] == [
        {"record": None, "field": "Content-Type", "problem": problem, "expected": expected}
    ]
    if error is not None:
        assert got["error"] == error


_CURL_DEFAULT = "application/x-www-form-urlencoded"  # what curl -d sends: read as JSON


@pytest.mark.parametrize(
    "media_type",
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
    ],
)
def test_json_bodies_are_accepted_as_clients_declare_them(
    client: TestClient, bundle: Bundle, media_type: str | None
) -> None:
    headers = dict(AUTH) if media_type is None else {**AUTH, "content-type": media_type}
    body = orjson.dumps(bundle.validator.example())
    assert client.post("/predict", content=body, headers=headers).status_code == 200


AUTHORIZATION = [
    ("lower-case scheme", f"bearer {KEY}", 200),
    ("upper-case scheme", f"BEARER {KEY}", 200),
    ("two spaces", f"Bearer  {KEY}", 200),
    ("another scheme", f"Basic {KEY}", 401),
    ("no space", f"Bearer{KEY}", 401),
    ("key in another case", f"Bearer {KEY.upper()}", 401),
    ("scheme alone", "Bearer", 401),
]


@pytest.mark.parametrize(
    ("value", "status"), [c[1:] for c in AUTHORIZATION], ids=[c[0] for c in AUTHORIZATION]
)
def test_the_bearer_scheme_is_case_insensitive_the_key_is_not(
    client: TestClient, bundle: Bundle, value: str, status: int
) -> None:
    body = orjson.dumps(bundle.validator.example())
    response = client.post("/predict", content=body, headers={"authorization": value})
    assert response.status_code == status


_HUGE = "a number between -1.8e308 and 1.8e308"
HUGE = [
    ("v2 data", URL,
     b'{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, -1e400]}]}',
     "the number -1e400 at ['inputs'][0]['data'][1] is too large for a 64-bit float", "x"),
    ("v2 unnamed input", URL, b'{"inputs": [{"data": [1e999]}]}',
     "the number 1e999 at ['inputs'][0]['data'][0] is too large for a 64-bit float", None),
    ("predict list", "/predict", b'[{"a": 1}, {"mean area": 2e308}]',
     "the number 2e308 at [1]['mean area'] is too large for a 64-bit float", "mean area"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "body", "problem", "field"), [c[1:] for c in HUGE], ids=[c[0] for c in HUGE]
)
def test_a_number_past_a_float_names_its_field(
    client: TestClient, url: str, body: bytes, problem: str, field: str | None
) -> None:
    response = client.post(url, content=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["problems"] == [
        {"record": None, "field": field, "problem": problem, "expected": _HUGE}
    ]


def test_model_metadata_lists_the_matrix_layout(client: TestClient) -> None:
    meta = client.get("/v2/models/breast-cancer").json()
    assert meta["parameters"] == {
        "matrix_shape": "[-1, 30]",
        "matrix_datatype": "FP64",
        "matrix": "instead of one tensor per input, one tensor of any name and shape [N, 30], "
        "its columns the inputs in their order",
    }
