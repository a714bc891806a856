"""``skbundle export mlflow``: MLflow loads and serves the bundle with skbundle's answers."""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from skbundle.export.mlflow_model import MLFLOW_IMPORT_WARNING

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=MLFLOW_IMPORT_WARNING, category=UserWarning)
    import mlflow.pyfunc
from mlflow.models import Model

import skbundle
from skbundle.batch import flatten
from skbundle.errors import BundleIntegrityError, InputValidationError
from skbundle.export import export_mlflow
from skbundle.export.mlflow_model import column_type, schema_example
from tests.conftest import Case
from tests.export_fixtures import free_port, running
from tests.zoo import case
from tests.zoo_bundles import CATEGORICAL, zoo_bundle

MLFLOW = str(Path(sys.executable).with_name("mlflow"))


@pytest.fixture(scope="module")
def exported(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mlflow")
    penguins = zoo_bundle(tmp_path_factory, CATEGORICAL)
    return {
        "cancer": export_mlflow(cancer.path, root / "cancer").directory,
        CATEGORICAL: export_mlflow(penguins, root / CATEGORICAL).directory,
        "penguins-bundle": penguins,
    }


def _expected(bundle: Path, frame: pd.DataFrame) -> pd.DataFrame:
    rows = [flatten(r, i) for i, r in enumerate(skbundle.load(bundle).predict(frame))]
    return pd.DataFrame(rows, index=frame.index).drop(columns="row")


def test_mlmodel_names_skbundles_loader_the_bundle_and_the_schema(
    exported: dict[str, Path], cancer: Case
) -> None:
    model = Model.load(str(exported["cancer"] / "MLmodel"))
    pyfunc = model.flavors["python_function"]
    assert pyfunc["loader_module"] == "skbundle.export.mlflow_flavor"
    assert pyfunc["data"] == "bundle"
    assert model.flavors["skbundle"]["bundle_name"] == "breast-cancer"
    assert model.flavors["skbundle"]["runtime"] == "onnx"
    inputs = model.signature.inputs.to_dict()
    assert [c["name"] for c in inputs] == list(cancer.X_train.columns)
    assert {c["type"] for c in inputs} == {"double"}
    assert skbundle.verify(exported["cancer"] / "bundle").ok


def test_categorical_columns_are_strings_in_the_signature(exported: dict[str, Path]) -> None:
    manifest = skbundle.read_manifest(exported["penguins-bundle"])
    model = Model.load(str(exported[CATEGORICAL] / "MLmodel"))
    types = {c["name"]: c["type"] for c in model.signature.inputs.to_dict()}
    for feature in manifest.features:
        assert types[feature.name] == column_type(feature)
    assert "string" in types.values()
    assert {f.name for f in manifest.features if f.kind == "categorical"} == {
        name for name, t in types.items() if t == "string"
    }


@pytest.mark.parametrize("which", ["cancer", CATEGORICAL])
def test_pyfunc_predicts_exactly_what_the_bundle_predicts(
    exported: dict[str, Path], cancer: Case, which: str
) -> None:
    if which == "cancer":
        bundle, frame = cancer.path, cancer.X_test
    else:
        bundle, frame = exported["penguins-bundle"], case(CATEGORICAL).build().X_test
    got = mlflow.pyfunc.load_model(str(exported[which])).predict(frame)
    pd.testing.assert_frame_equal(got, _expected(bundle, frame), check_exact=True)


def test_the_input_example_is_a_record_the_bundle_accepts(exported: dict[str, Path]) -> None:
    manifest = skbundle.read_manifest(exported["penguins-bundle"])
    example = schema_example(list(manifest.features))
    assert list(example) == manifest.feature_names
    assert skbundle.load(exported["penguins-bundle"]).predict(example)[0]["warnings"] == []
    assert (exported[CATEGORICAL] / "serving_input_example.json").is_file()


def test_loading_verifies_the_bundle_inside(exported: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(exported["cancer"], copy)
    with open(copy / "bundle" / "model.onnx", "r+b") as fh:
        fh.seek(64)
        byte = fh.read(1)
        fh.seek(64)
        fh.write(bytes([byte[0] ^ 1]))
    with pytest.raises(BundleIntegrityError, match=r"model\.onnx"):
        mlflow.pyfunc.load_model(str(copy))


def test_mlflow_models_serve_answers_like_skbundle(
    exported: dict[str, Path], tmp_path: Path
) -> None:
    directory = exported[CATEGORICAL]
    payload = (directory / "serving_input_example.json").read_bytes()
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    argv = [MLFLOW, "models", "serve", "-m", str(directory), "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with running(argv, f"{url}/ping", tmp_path / "mlflow.log", env=env, timeout=120):
        answer = httpx.post(
            f"{url}/invocations",
            content=payload,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        bad = httpx.post(
            f"{url}/invocations",
            json={"dataframe_records": [{"island": "Atlantis"}]},
            timeout=30,
        )
    assert answer.status_code == 200, answer.text
    model = mlflow.pyfunc.load_model(str(directory))
    example = pd.read_json(directory / "input_example.json", orient="split")
    expected: list[dict[str, Any]] = _expected(exported["penguins-bundle"], example).to_dict(
        orient="records"
    )
    assert answer.json()["predictions"] == expected
    assert model.metadata.flavors["skbundle"]["runtime"] in ("onnx", "skops")
    assert bad.status_code == 400
    assert "missing" in bad.json()["message"]
    assert np.isfinite([v for v in expected[0].values() if isinstance(v, float)]).all()


def test_input_the_bundle_refuses_is_mlflows_invalid_parameter(
    exported: dict[str, Path], cancer: Case
) -> None:
    from mlflow.exceptions import MlflowException

    frame = cancer.X_test.iloc[:2].copy()
    frame.iloc[1, 0] = float("nan")
    with pytest.raises(MlflowException) as info:
        mlflow.pyfunc.load_model(str(exported["cancer"])).predict(frame)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(InputValidationError) as own:
        skbundle.load(cancer.path).predict(frame)
    assert str(info.value) == str(own.value)
    assert "record 1, field 'mean radius': got a missing value" in str(own.value)
