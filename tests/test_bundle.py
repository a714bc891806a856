"""load() and Bundle: trust, environment checks, and predictions identical to the pipeline."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import orjson
import pytest
import sklearn

import skbundle
from skbundle.errors import (
    EnvironmentMismatchWarning,
    IncompatibleEnvironmentError,
    InputValidationError,
    UntrustedArtifactError,
)
from tests.conftest import Case


def test_round_trip_is_identical_to_the_pipeline(any_case: Case) -> None:
    bundle = skbundle.load(any_case.path, runtime="joblib", trust_pickle=True)
    want = any_case.pipeline.predict_proba(any_case.X_test)
    assert np.array_equal(bundle.predict_proba(any_case.X_test), want), (
        f"{any_case.name}: runtime {bundle.runtime.format} differs from the fitted pipeline"
    )
    results = bundle.predict(any_case.X_test)
    labels = [r["prediction"] for r in results]
    expected = [bundle.classes[i] for i in want.argmax(axis=1)]
    assert labels == expected
    first = results[0]
    assert list(first["probabilities"]) == bundle.classes
    assert first["confidence"] == max(first["probabilities"].values())
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)


def test_every_input_shape_predicts_the_same(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path, trust_pickle=True)
    rows = cancer.X_test.iloc[:5]
    want = cancer.pipeline.predict_proba(rows)
    shapes = {
        "frame": rows,
        "dicts": rows.to_dict(orient="records"),
        "array": rows.to_numpy(),
        "lists": rows.to_numpy().tolist(),
    }
    for shape, records in shapes.items():
        assert np.array_equal(bundle.predict_proba(records), want), shape
    one = bundle.predict(rows.iloc[0].to_dict())
    assert len(one) == 1 and one[0]["probabilities"]["malignant"] == want[0, 0]


def test_pickles_are_refused_without_trust(cancer: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    import joblib

    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("joblib.load was reached"))
    message = (
        f"Refusing to load {cancer.path / 'model.joblib'}: it is a pickle (joblib), and "
        "unpickling a file runs whatever code its author put in it; nothing says this bundle "
        "comes from a source you trust. If you built this bundle yourself or verified where it "
        "came from, pass trust_pickle=True (CLI: --trust-pickle)."
    )
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(cancer.path, runtime="joblib")
    assert str(info.value) == message


def test_unknown_runtime_lists_the_choices(cancer: Case) -> None:
    with pytest.raises(skbundle.RuntimeUnavailableError) as info:
        skbundle.load(cancer.path, runtime="tensorflow", trust_pickle=True)
    assert str(info.value).startswith("Runtime 'tensorflow' is not available for this bundle:")
    assert "'auto'" in str(info.value) and "'joblib'" in str(info.value)


def test_runtime_says_what_was_chosen_and_why(cancer: Case) -> None:
    auto = skbundle.load(cancer.path)
    assert (auto.runtime.format, auto.runtime.engine) == ("onnx", "onnxruntime")
    assert "exact" in auto.runtime.reason
    assert repr(auto) == "<Bundle breast-cancer 1.0.0: 2 classes, 30 features, runtime=onnx>"
    trusted = skbundle.load(cancer.path, runtime="joblib", trust_pickle=True)
    assert (trusted.runtime.format, trusted.runtime.engine) == ("joblib", "scikit-learn")
    assert trusted.runtime.reason == "requested with runtime='joblib'; trust_pickle=True"


def _record_sklearn(bundle: Path, version: str) -> None:
    path = bundle / "bundle.json"
    data = orjson.loads(path.read_bytes())
    data["environment"]["packages"]["scikit-learn"] = version
    path.write_bytes(orjson.dumps(data))


def _other_minor() -> str:
    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    return f"{major}.{minor + 1}.0"


def test_a_different_minor_sklearn_is_refused(bundle_copy: Path) -> None:
    recorded = _other_minor()
    _record_sklearn(bundle_copy, recorded)
    with pytest.raises(IncompatibleEnvironmentError) as info:
        skbundle.load(bundle_copy, runtime="joblib", trust_pickle=True)
    assert str(info.value) == (
        f"The bundle was built with scikit-learn {recorded}, but {sklearn.__version__} is "
        "installed: a different major.minor version may change predictions or fail to load. "
        f"Install scikit-learn=={recorded} (see the bundle's requirements.txt), rebuild the "
        "bundle with this environment, or pass allow_version_mismatch=True (CLI: "
        "--allow-version-mismatch) to load it anyway at your own risk."
    )


def test_the_onnx_runtime_does_not_depend_on_the_installed_sklearn(bundle_copy: Path) -> None:
    _record_sklearn(bundle_copy, _other_minor())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bundle = skbundle.load(bundle_copy)
    assert bundle.runtime.format == "onnx"


def test_allowing_the_mismatch_loads_with_one_warning(bundle_copy: Path) -> None:
    _record_sklearn(bundle_copy, _other_minor())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skbundle.load(bundle_copy, runtime="joblib", trust_pickle=True, allow_version_mismatch=True)
    mismatch = [w for w in caught if issubclass(w.category, EnvironmentMismatchWarning)]
    assert len(mismatch) == 1
    assert f"scikit-learn {_other_minor()} recorded, {sklearn.__version__} installed" in str(
        mismatch[0].message
    )


def test_patch_differences_are_a_single_warning(bundle_copy: Path) -> None:
    path = bundle_copy / "bundle.json"
    data = orjson.loads(path.read_bytes())
    packages = data["environment"]["packages"]
    major, minor = sklearn.__version__.split(".")[:2]
    packages["scikit-learn"] = f"{major}.{minor}.999"
    packages["joblib"] = "0.0.1"
    packages["scipy"] = "0.0.1"
    path.write_bytes(orjson.dumps(data))
    with pytest.warns(EnvironmentMismatchWarning) as record:
        skbundle.load(bundle_copy, runtime="joblib", trust_pickle=True)
    assert len(record) == 1
    text = str(record[0].message)
    assert "joblib 0.0.1 recorded" in text and "scipy 0.0.1 recorded" in text
    assert f"scikit-learn {major}.{minor}.999 recorded" in text


def test_validation_errors_reach_the_caller_with_every_problem(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path, trust_pickle=True)
    record = cancer.X_test.iloc[0].to_dict()
    record["mean radius"] = "14.2"
    record["mean area"] = None
    del record["worst area"]
    record["patient_id"] = 7
    with pytest.raises(InputValidationError) as info:
        bundle.predict([cancer.X_test.iloc[1].to_dict(), record])
    assert [(p.record, p.field) for p in info.value.problems] == [
        (1, "mean radius"),
        (1, "mean area"),
        (1, "worst area"),
        (1, "patient_id"),
    ]
    assert str(info.value).startswith("Input does not fit the bundle 'breast-cancer' (4 problems)")


def test_out_of_range_values_predict_with_warnings(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path, trust_pickle=True)
    record = cancer.X_test.iloc[0].to_dict()
    high = cancer.X_train["mean area"].max()
    record["mean area"] = high * 10
    (result,) = bundle.predict(record)
    assert result["warnings"] == [
        f"'mean area' = {high * 10:g} is outside the training range "
        f"[{cancer.X_train['mean area'].min():g}, {high:g}]"
    ]
    assert result["prediction"] in bundle.classes


def test_missing_values_flow_to_a_pipeline_that_imputes(wine: Case) -> None:
    bundle = skbundle.load(wine.path, trust_pickle=True)
    record = wine.X_test.iloc[0].to_dict()
    record["alcohol"] = None
    got = bundle.predict_proba(record)
    frame = wine.X_test.iloc[[0]].copy()
    frame["alcohol"] = np.nan
    assert np.array_equal(got, wine.pipeline.predict_proba(frame))
    record["proline"] = None
    with pytest.raises(
        InputValidationError,
        match=re.escape(
            "record 0, field 'proline': got a missing value (null or NaN); expected a number (this "
            "feature had no missing values in training, so none are accepted)"
        ),
    ):
        bundle.predict(record)
