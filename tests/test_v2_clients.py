"""The stock v2 clients at their default settings against the real server (``skbundle serve``
on 127.0.0.1): ``tritonclient.http`` here, the KServe SDK in its own environment.

Both send tensors as binary data by default (the binary tensor data extension); tritonclient
also asks for every output as binary data when it names none. Each answer must equal
``Bundle.predict`` of the same rows: float32 inputs are compared with the float32 values
widened, which is what the server reads.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import skbundle
from skbundle import Bundle
from tests.conftest import Case
from tests.serve_live import Live, live_server
from tests.zoo import case
from tests.zoo_bundles import CATEGORICAL, zoo_bundle

tritonclient_http = pytest.importorskip("tritonclient.http")  # a dev dependency: always there

ROOT = Path(__file__).resolve().parents[1]
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
KSERVE_SCRIPT = ROOT / "tests" / "clients" / "kserve_infer.py"


@pytest.fixture(scope="module")
def cancer_live(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(cancer.path, tmp_path_factory.mktemp("v2-cancer") / "serve.log") as live:
        yield live


@pytest.fixture(scope="module")
def penguins_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo_bundle(tmp_path_factory, CATEGORICAL)


@pytest.fixture(scope="module")
def penguins_live(penguins_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(penguins_path, tmp_path_factory.mktemp("v2-pen") / "serve.log") as live:
        yield live


@pytest.fixture(scope="module")
def cancer_bundle(cancer: Case) -> Bundle:
    return skbundle.load(cancer.path)


@pytest.fixture(scope="module")
def penguins_bundle(penguins_path: Path) -> Bundle:
    return skbundle.load(penguins_path)


@pytest.fixture(scope="module")
def penguin_rows() -> pd.DataFrame:
    """Test rows without missing values: binary BYTES has no way to say 'missing'."""
    return case(CATEGORICAL).build().X_test.dropna().iloc[:9]


def _triton(live: Live) -> Any:
    return tritonclient_http.InferenceServerClient(live.url.removeprefix("http://"))


def _input(name: str, array: np.ndarray, datatype: str) -> Any:
    tensor = tritonclient_http.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)  # the default: binary_data=True
    return tensor


def _text(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()]


def _object_column(column: pd.Series) -> np.ndarray:
    return np.array(column.astype(object).tolist(), dtype=object)


# -- tritonclient.http ---------------------------------------------------------------------
def test_the_server_says_it_speaks_the_binary_extension(cancer_live: Live) -> None:
    client = _triton(cancer_live)
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("breast-cancer")
    assert meta["parameters"]["matrix_shape"] == "[-1, 30]"
    assert meta["parameters"]["matrix_datatype"] == "FP64"
    assert all(type(v) in (str, int, float, bool) for v in meta["parameters"].values())


@pytest.mark.parametrize("dtype", ["FP32", "FP64"])
def test_tritonclient_matrix_in_binary_all_outputs_binary(
    dtype: str, cancer_live: Live, cancer_bundle: Bundle, cancer: Case
) -> None:
    X = cancer.X_test.iloc[:25].to_numpy(dtype=np.float32 if dtype == "FP32" else np.float64)
    result = _triton(cancer_live).infer("breast-cancer", [_input("input", X, dtype)])
    sent = X.astype(np.float64)  # what the server reads: float32 widened exactly
    expected = cancer_bundle.predict_proba(sent)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected)
    classes = _text(result.as_numpy("classes"))
    assert classes == ["malignant", "benign"]
    assert _text(result.as_numpy("label")) == [classes[i] for i in expected.argmax(axis=1)]
    response = result.get_response()
    assert all("binary_data_size" in o["parameters"] for o in response["outputs"])
    assert all("data" not in o for o in response["outputs"])


@pytest.mark.parametrize("dtype", ["FP32", "FP64"])
def test_tritonclient_one_tensor_per_feature_outputs_json_and_binary(
    dtype: str, cancer_live: Live, cancer_bundle: Bundle, cancer: Case
) -> None:
    frame = cancer.X_test.iloc[:7]
    numpy_type = np.float32 if dtype == "FP32" else np.float64
    inputs = [
        _input(n, frame[n].to_numpy(dtype=numpy_type), dtype) for n in cancer_bundle.feature_names
    ]
    outputs = [
        tritonclient_http.InferRequestedOutput("label", binary_data=False),
        tritonclient_http.InferRequestedOutput("probabilities"),  # the default: binary
    ]
    result = _triton(cancer_live).infer("breast-cancer", inputs, outputs=outputs, request_id="r-1")
    response = result.get_response()
    assert response["id"] == "r-1"
    label, probabilities = response["outputs"]
    assert "data" in label and "parameters" not in label
    assert probabilities["parameters"] == {"binary_data_size": 7 * 2 * 8}
    sent = frame.to_numpy(dtype=numpy_type).astype(np.float64)
    expected = cancer_bundle.predict_proba(sent)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected)
    assert label["data"] == [cancer_bundle.classes[i] for i in expected.argmax(axis=1)]


def test_tritonclient_bytes_tensors_for_categorical_features(
    penguins_live: Live, penguins_bundle: Bundle, penguin_rows: pd.DataFrame
) -> None:
    bundle = penguins_bundle
    inputs = []
    for f in bundle.validator.features:
        column = penguin_rows[f.name]
        if f.kind == "numeric":
            inputs.append(_input(f.name, column.to_numpy(dtype=np.float64), "FP64"))
        else:
            inputs.append(_input(f.name, _object_column(column), "BYTES"))
    result = _triton(penguins_live).infer(CATEGORICAL, inputs)
    records = penguin_rows.astype(object).to_dict(orient="records")
    expected = bundle.predict(records)
    assert _text(result.as_numpy("label")) == [r["prediction"] for r in expected]
    np.testing.assert_array_equal(result.as_numpy("probabilities"), bundle.predict_proba(records))
    assert _text(result.as_numpy("classes")) == bundle.classes


def test_tritonclient_one_bytes_matrix_of_a_mixed_frame(
    penguins_live: Live, penguins_bundle: Bundle, penguin_rows: pd.DataFrame
) -> None:
    """A frame of strings and numbers as one object array: the client sends every cell as
    text (str of the value); each reads back as its feature takes it."""
    names = penguins_bundle.feature_names
    matrix = np.array(penguin_rows[names].astype(object).values.tolist(), dtype=object)
    result = _triton(penguins_live).infer(CATEGORICAL, [_input("rows", matrix, "BYTES")])
    records = penguin_rows.astype(object).to_dict(orient="records")
    # The numbers went through their text (repr of a float is exact).
    np.testing.assert_array_equal(
        result.as_numpy("probabilities"), penguins_bundle.predict_proba(records)
    )


# -- the KServe SDK, in its own environment ------------------------------------------------
def _kserve(cases: list[dict[str, Any]], tmp_path: Path) -> Any:
    """The answers of the KServe SDK to ``cases`` (each with its server's url and model), from
    one run of tests/clients/kserve_infer.py in .venv-clients."""
    if not CLIENTS_PYTHON.is_file():
        pytest.fail(
            f"{CLIENTS_PYTHON} is missing: the KServe SDK runs in an environment of its own "
            "(it pins pandas < 3). Run `make .venv-clients` (make test builds it)."
        )
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps(cases))
    done = subprocess.run(
        [str(CLIENTS_PYTHON), str(KSERVE_SCRIPT), str(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _columns(frame: pd.DataFrame, bundle: Bundle, dtype: str) -> list[dict[str, Any]]:
    tensors = []
    for f in bundle.validator.features:
        values = frame[f.name].astype(object).tolist()
        kind = dtype if f.kind == "numeric" else "BYTES"
        tensors.append({"name": f.name, "datatype": kind, "shape": [len(values)], "data": values})
    return tensors


def test_kserve_sdk_defaults_matrix_columns_and_bytes(
    cancer_live: Live,
    penguins_live: Live,
    cancer_bundle: Bundle,
    penguins_bundle: Bundle,
    cancer: Case,
    penguin_rows: pd.DataFrame,
    tmp_path: Path,
) -> None:
    X = cancer.X_test.iloc[:6]
    on_cancer = {"url": cancer_live.url, "model": "breast-cancer"}
    on_penguins = {"url": penguins_live.url, "model": CATEGORICAL}
    cases = [
        {**on_cancer, "id": "fp32-matrix",
         "inputs": [{"name": "input", "datatype": "FP32", "shape": [6, 30],
                     "data": X.to_numpy().ravel().tolist()}]},
        {**on_cancer, "id": "fp64-columns-binary-out",
         "inputs": _columns(X, cancer_bundle, "FP64"),
         "parameters": {"binary_data_output": True}},
        {**on_penguins, "id": "bytes", "inputs": _columns(penguin_rows, penguins_bundle, "FP64")},
    ]  # fmt: skip
    *answers, on_bytes = _kserve(cases, tmp_path)
    widened = X.to_numpy(dtype=np.float32).astype(np.float64)
    expected = {"fp32-matrix": widened, "fp64-columns-binary-out": X.to_numpy()}
    for answer in answers:
        sent = expected[answer["id"]]
        assert answer["request_id"] == answer["id"]
        proba = cancer_bundle.predict_proba(sent)
        assert np.array(answer["outputs"]["probabilities"]).tolist() == proba.tolist()
        assert answer["outputs"]["classes"] == ["malignant", "benign"]
        assert answer["outputs"]["label"] == [cancer_bundle.classes[i] for i in proba.argmax(1)]
    assert {a["id"]: a["binary"] for a in answers} == {
        "fp32-matrix": False,
        "fp64-columns-binary-out": True,
    }
    records = penguin_rows.astype(object).to_dict(orient="records")
    expected_records = penguins_bundle.predict(records)
    assert on_bytes["outputs"]["label"] == [r["prediction"] for r in expected_records]
    assert on_bytes["outputs"]["probabilities"] == penguins_bundle.predict_proba(records).tolist()
