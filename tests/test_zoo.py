"""Every pipeline of the zoo (tests/zoo.py) as a user brings it: saved, loaded with no flags,
served by a runtime that reproduces the fitted pipeline exactly, and answering the same from
Python, the CLI and the server.

Exact means bit-identical: probabilities for a classifier that has them, the label (and the
decision scores) for one that has not, the value for a regressor. A pipeline with a class of
the user's own still needs ``trusted_types`` and says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from starlette.testclient import TestClient
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

import skbundle
from skbundle.cli import app
from skbundle.core.manifest import read_manifest
from skbundle.errors import UntrustedArtifactError
from skbundle.serve import create_app
from tests.zoo import CASES, Case, Fitted
from tests.zoo_bundles import zoo_bundle

PLAIN = [c for c in CASES if not c.custom]
CUSTOM = [c for c in CASES if c.custom]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Histogram gradient boosting predicts in OpenMP threads, which crawl on a loaded 2-core
    machine; one thread gives the same numbers."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Fitted, Path]]:
    """Each case fitted and saved once per session (tests/zoo_bundles.py shares the bundles
    with the other modules that use zoo cases)."""
    return {c.id: (c.build(), zoo_bundle(tmp_path_factory, c.id)) for c in CASES}


def _records(X: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a JSON client sends them: NaN and pandas' NA as null, numpy scalars as Python."""
    rows = []
    for row in X.astype(object).to_dict(orient="records"):
        rows.append({k: _plain(v) for k, v in row.items()})
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _expected(case: Case, fitted: Fitted) -> tuple[list[Any], np.ndarray | None]:
    """The fitted pipeline's predictions on the test split, and its probabilities or scores."""
    pipe, X = fitted.pipeline, fitted.X_test
    if case.task == "regression":
        return pipe.predict(X).tolist(), None
    if hasattr(pipe, "predict_proba"):
        proba = pipe.predict_proba(X)
        return pipe.classes_[proba.argmax(axis=1)].tolist(), proba
    scores = pipe.decision_function(X) if hasattr(pipe, "decision_function") else None
    return pipe.predict(X).tolist(), scores


def _got(case: Case, results: list[dict[str, Any]], classes: list[str]) -> np.ndarray | None:
    if case.task == "regression":
        return None
    if "probabilities" in results[0]:
        return np.array([[r["probabilities"][c] for c in classes] for r in results])
    if "decision" in results[0]:
        d = [r["decision"] for r in results]
        return np.array([[v[c] for c in classes] for v in d] if isinstance(d[0], dict) else d)
    return None


def _plain_labels(values: list[Any]) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def test_the_zoo_is_the_one_the_issue_asks_for() -> None:
    assert len(CASES) >= 30
    assert sum(c.task == "regression" for c in CASES) >= 10
    assert sum(c.categorical for c in CASES) >= 10
    assert CUSTOM


@pytest.mark.parametrize("case", PLAIN, ids=lambda c: c.id)
def test_loads_with_no_flags_and_reproduces_the_pipeline_exactly(
    saved: dict[str, tuple[Fitted, Path]], case: Case
) -> None:
    fitted, path = saved[case.id]
    bundle = skbundle.load(path)
    assert bundle.runtime.format in ("onnx", "skops"), bundle.runtime
    manifest = bundle.manifest
    assert manifest.parity[bundle.runtime.format].exact, manifest.parity[bundle.runtime.format]
    results = bundle.predict(fitted.X_test)
    labels, scores = _expected(case, fitted)
    predictions = [r["prediction"] for r in results]
    if case.task == "regression":
        assert np.array_equal(np.array(predictions), np.array(labels))
        assert manifest.task == "regression" and manifest.output == "values"
    else:
        assert predictions == _plain_labels(labels)
        got = _got(case, results, bundle.classes)
        if scores is not None:
            assert got is not None and np.array_equal(got, scores)


@pytest.mark.parametrize("case", PLAIN, ids=lambda c: c.id)
def test_cli_and_server_answer_as_python_does(
    saved: dict[str, tuple[Fitted, Path]], case: Case, tmp_path: Path
) -> None:
    fitted, path = saved[case.id]
    bundle = skbundle.load(path)
    records = _records(fitted.X_test.iloc[:8])
    expected = orjson.loads(orjson.dumps(bundle.predict(records)))
    source = tmp_path / "in.json"
    source.write_bytes(orjson.dumps(records))
    result = CliRunner().invoke(app, ["predict", str(path), str(source)])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == expected
    with TestClient(create_app(bundle)) as client:
        answer = client.post("/predict", content=orjson.dumps(records))
    assert answer.status_code == 200, answer.text
    served = answer.json()
    # the server also says which version answered; the rest is the library's answer
    assert {r.pop("model_version") for r in served} == {bundle.version}
    assert answer.headers["x-model-version"] == bundle.version
    assert served == expected


@pytest.mark.parametrize("case", CUSTOM, ids=lambda c: c.id)
def test_a_class_of_the_users_own_needs_trust_and_says_so(
    saved: dict[str, tuple[Fitted, Path]], case: Case
) -> None:
    fitted, path = saved[case.id]
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(path)
    message = str(info.value)
    assert "tests.custom_steps.Log1p" in message
    assert "trusted_types=[...]" in message and "--trust-type" in message
    bundle = skbundle.load(path, trusted_types=["tests.custom_steps.Log1p"])
    assert bundle.runtime.format == "skops"
    got = [r["prediction"] for r in bundle.predict(fitted.X_test)]
    expected = fitted.pipeline.predict(fitted.X_test).tolist()
    if case.task == "classification" and hasattr(fitted.pipeline, "predict_proba"):
        proba = fitted.pipeline.predict_proba(fitted.X_test)
        expected = fitted.pipeline.classes_[proba.argmax(axis=1)].tolist()
    assert got == _plain_labels(expected)


def test_categorical_schema_records_categories_and_unknown_handling(
    saved: dict[str, tuple[Fitted, Path]],
) -> None:
    manifest = read_manifest(saved["penguins-onehot-forest"][1])
    kinds = {f.name: (f.kind, f.categories, f.unknown) for f in manifest.features}
    assert kinds["island"] == ("categorical", ["Biscoe", "Dream", "Torgersen"], "accept")
    assert kinds["sex"][0] == "categorical" and kinds["sex"][1] == ["female", "male"]
    refusing = read_manifest(saved["penguins-onehot-error-svc"][1])
    assert {f.unknown for f in refusing.features if f.kind == "categorical"} == {"error"}


def test_regression_bundle_records_metrics_and_a_measured_interval(
    saved: dict[str, tuple[Fitted, Path]],
) -> None:
    fitted, path = saved["diabetes-ridge"]
    manifest = read_manifest(path)
    y = fitted.y_test
    pred = fitted.pipeline.predict(fitted.X_test)
    test = manifest.metrics["test"]
    assert test["rmse"] == pytest.approx(float(np.sqrt(np.mean((y - pred) ** 2))), rel=1e-12)
    assert test["mae"] == pytest.approx(float(np.mean(np.abs(y - pred))), rel=1e-12)
    interval = manifest.interval
    assert interval is not None and interval.level == 0.9
    residuals = np.sort(np.abs(y - pred))
    rank = math.ceil((len(y) + 1) * 0.9)
    assert interval.half_width == residuals[rank - 1]
    assert 0.7 <= interval.coverage <= 1.0
    low, high = skbundle.load(path).predict(_records(fitted.X_test.iloc[:1]))[0]["interval"]
    assert high - low == pytest.approx(2 * interval.half_width)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
@pytest.mark.parametrize("case_id", ["penguins-onehot-forest", "penguins-mass-ordinal-forest-nan"])
def test_files_of_categorical_rows_score_as_python_does(
    saved: dict[str, tuple[Fitted, Path]], case_id: str, suffix: str, tmp_path: Path
) -> None:
    """CSV (strings read as text), Parquet (pandas dtypes) and JSON lines of rows with string
    categories and missing values give the results Python gives for the same rows."""
    fitted, path = saved[case_id]
    rows = fitted.X_test.iloc[:20]
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        rows.to_csv(source, index=False)
    elif suffix == ".parquet":
        rows.to_parquet(source, index=False)
    else:
        source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _records(rows)))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["predict", str(path), str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    got = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    expected = orjson.loads(orjson.dumps(skbundle.load(path).predict(rows)))
    assert got == expected
