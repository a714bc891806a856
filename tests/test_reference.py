"""reference.json: written at save time, listed and hashed, enough for drift on its own."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

import skbundle
from skbundle.build import writers
from skbundle.core.layout import REFERENCE_NAME
from skbundle.core.manifest import read_manifest
from skbundle.monitor import drift
from skbundle.monitor.reference import (
    MonitoringError,
    bin_counts,
    feature_reference,
    read_reference,
)
from tests.conftest import Case


def _reference(case: Case) -> dict:
    return orjson.loads((case.path / REFERENCE_NAME).read_bytes())  # type: ignore[no-any-return]


def test_reference_is_listed_and_hashed(any_case: Case) -> None:
    manifest = read_manifest(any_case.path)
    listed = [a for a in manifest.artifacts if a.path == REFERENCE_NAME]
    assert [(a.role, a.format) for a in listed] == [("reference", "skbundle-reference")]
    assert skbundle.verify(any_case.path).ok


def test_feature_bins_hold_every_training_value(any_case: Case) -> None:
    ref = _reference(any_case)
    assert ref["n_rows"] == len(any_case.X_train)
    assert list(ref["features"]) == [str(c) for c in any_case.X_train.columns]
    for name, feature in ref["features"].items():
        column = any_case.X_train[name].to_numpy(dtype=np.float64)
        assert sum(feature["counts"]) == len(column), name
        assert feature["counts"][-1] == int(np.isnan(column).sum()), name
        assert set(feature["edges"]) <= set(feature["ks_grid"]), name
        assert feature["ks_cdf"][-1] == 1.0, name
        assert feature["summary"]["mean"] == pytest.approx(np.nanmean(column)), name


def test_continuous_feature_gets_ten_roughly_equal_bins(cancer: Case) -> None:
    feature = _reference(cancer)["features"]["mean area"]
    assert len(feature["edges"]) == 9
    shares = np.array(feature["counts"][:-1]) / cancer.X_train.shape[0]
    assert shares.min() > 0.08 and shares.max() < 0.12, shares


def test_wine_missing_values_are_counted(wine: Case) -> None:
    feature = _reference(wine)["features"]["alcohol"]
    assert feature["counts"][-1] == int(wine.X_train["alcohol"].isna().sum()) > 0


def test_class_balance_and_prediction_reference(iris: Case) -> None:
    ref = _reference(iris)
    counts = pd.Series(iris.y_train).value_counts()
    assert ref["class_counts"] == {name: int(counts[name]) for name in ref["class_counts"]}
    predictions = ref["predictions"]
    assert predictions["n"] == len(iris.X_test)
    for counts_of_class in predictions["counts"].values():
        assert sum(counts_of_class) == len(iris.X_test)
    assert sum(predictions["predicted_counts"].values()) == len(iris.X_test)
    assert ref["predictions_train"]["n"] == len(iris.X_train)


def test_value_on_an_edge_falls_in_the_lower_bin() -> None:
    edges = np.array([1.0, 2.0])
    counts = bin_counts(np.array([0.5, 1.0, 1.5, 2.0, 2.5, np.nan]), edges)
    assert counts.tolist() == [2, 2, 1, 1]


def test_constant_feature_has_two_bins_split_at_its_value() -> None:
    # Quantile ties collapse to one edge: any new value above the constant lands in bin 2.
    feature = feature_reference(np.full(20, 3.0))
    assert feature["edges"] == [3.0]
    assert feature["counts"] == [20, 0, 0]


def test_bundle_without_reference_is_refused(
    cancer: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "WRITERS", [writers.write_requirements])
    path = tmp_path / "old"
    skbundle.save(cancer.pipeline, path, **cancer.save_kwargs())
    manifest = read_manifest(path)
    with pytest.raises(MonitoringError) as info:
        read_reference(path, manifest)
    assert str(info.value) == (
        "Bundle 'breast-cancer': it has no reference.json (it was built without reference "
        "statistics). Rebuild it with skbundle.save() from this version to enable drift "
        "monitoring."
    )
    bundle = skbundle.load(path, trust_pickle=True)
    with pytest.raises(MonitoringError, match=re.escape("it has no reference.json")):
        drift(bundle, cancer.X_test)


def test_tampered_reference_is_refused(bundle_copy: Path) -> None:
    target = bundle_copy / REFERENCE_NAME
    target.write_bytes(target.read_bytes().replace(b'"bins":10', b'"bins":11'))
    with pytest.raises(skbundle.BundleIntegrityError, match=re.escape("reference.json has sha256")):
        read_reference(bundle_copy, read_manifest(bundle_copy))


# -- reference version 2: categorical features, regressors, label-only classifiers ----------
OLD_BUNDLE = Path(__file__).parent / "data" / "bundles" / "skbundle-0.1.0" / "iris-forest"


def test_category_counts_slots() -> None:
    from skbundle.monitor.reference import category_counts

    codes = np.array([0.0, 2.0, 2.0, -1.0, np.nan, 1.0, 2.0])
    assert category_counts(codes, 3).tolist() == [1, 1, 3, 1, 1]


def test_categorical_reference_counts_every_training_row(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.test_drift import zoo_bundle

    fitted, bundle = zoo_bundle("penguins-onehot-forest", _zoo_root(tmp_path_factory))
    ref = orjson.loads((bundle.path / REFERENCE_NAME).read_bytes())
    assert (ref["version"], ref["output"], ref["task"]) == (2, "probabilities", "classification")
    for name in ("island", "sex"):
        feature = ref["features"][name]
        spec = next(f for f in bundle.manifest.features if f.name == name)
        assert (feature["kind"], feature["categories"]) == ("categorical", spec.categories)
        column = fitted.X_train[name]
        assert feature["counts"] == [int((column == c).sum()) for c in spec.categories or []]
        assert (feature["unseen"], feature["missing"]) == (0, int(column.isna().sum()))
    assert ref["features"]["sex"]["missing"] > 0
    assert ref["features"]["bill_length_mm"]["kind"] == "numeric"


def test_regressor_reference_holds_predictions_and_target(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.test_drift import zoo_bundle

    fitted, bundle = zoo_bundle("diabetes-ridge", _zoo_root(tmp_path_factory))
    ref = orjson.loads((bundle.path / REFERENCE_NAME).read_bytes())
    assert (ref["output"], ref["task"], ref["class_counts"]) == ("values", "regression", {})
    predicted = fitted.pipeline.predict(fitted.X_test)
    predictions = ref["predictions"]
    assert (predictions["kind"], predictions["n"]) == ("values", len(fitted.X_test))
    assert sum(predictions["counts"]) == len(fitted.X_test) and predictions["counts"][-1] == 0
    assert len(predictions["edges"]) == 9
    assert predictions["summary"]["mean"] == pytest.approx(predicted.mean(), rel=1e-12)
    assert ref["target"]["summary"]["mean"] == pytest.approx(fitted.y_train.mean(), rel=1e-12)
    assert sum(ref["target"]["counts"]) == len(fitted.y_train)
    assert ref["predictions_train"]["n"] == len(fitted.X_train)


def test_label_only_reference_holds_the_predicted_balance(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.test_drift import zoo_bundle

    fitted, bundle = zoo_bundle("cancer-svc", _zoo_root(tmp_path_factory))
    ref = orjson.loads((bundle.path / REFERENCE_NAME).read_bytes())
    predicted = pd.Series(fitted.pipeline.predict(fitted.X_test)).value_counts()
    assert ref["predictions"] == {
        "kind": "labels",
        "n": len(fitted.X_test),
        "predicted_counts": {c: int(predicted.get(c, 0)) for c in bundle.classes},
    }


def test_version_1_reference_reads_as_version_2(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(OLD_BUNDLE, copy)
    data = read_reference(copy, read_manifest(copy))
    raw = orjson.loads((OLD_BUNDLE / REFERENCE_NAME).read_bytes())
    assert raw["version"] == 1 and data["version"] == 2
    assert (data["output"], data["predictions"]["kind"]) == ("probabilities", "probabilities")
    assert {f["kind"] for f in data["features"].values()} == {"numeric"}
    for name, feature in raw["features"].items():
        assert {k: v for k, v in data["features"][name].items() if k != "kind"} == feature


def test_old_bundle_drifts_as_before(tmp_path: Path) -> None:
    """The numbers skbundle 0.1.0's reference gave before version 2, pinned."""
    import shutil
    import warnings

    from skbundle.errors import EnvironmentMismatchWarning

    copy = tmp_path / "old"
    shutil.copytree(OLD_BUNDLE, copy)
    records = orjson.loads(OLD_BUNDLE.with_name("iris-forest.expected.json").read_bytes())[
        "records"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EnvironmentMismatchWarning)
        bundle = skbundle.load(copy, runtime="onnx", allow_version_mismatch=True)
    report = drift(bundle, records)
    assert {f.name: round(f.psi, 6) for f in report.features} == {
        "sepal length (cm)": 0.776516,
        "petal length (cm)": 0.670916,
        "sepal width (cm)": 0.466668,
        "petal width (cm)": 0.143716,
    }
    assert (report.verdict, report.prediction.level, report.n_rows) == ("ok", "ok", 10)
    assert all(f.kind == "numeric" and f.chi_square is None for f in report.features)


def test_unknown_reference_version_is_refused(bundle_copy: Path) -> None:
    from tests.tampering import rehash

    target = bundle_copy / REFERENCE_NAME
    target.write_bytes(target.read_bytes().replace(b'"version":2', b'"version":9', 1))
    rehash(bundle_copy, REFERENCE_NAME)
    with pytest.raises(MonitoringError) as info:
        read_reference(bundle_copy, read_manifest(bundle_copy))
    assert str(info.value) == (
        "reference.json of bundle 'breast-cancer': expected reference version 1 or 2, got 9. "
        "Use the skbundle version that built the bundle, or rebuild it."
    )


def _zoo_root(factory: pytest.TempPathFactory) -> Path:
    root = factory.getbasetemp() / "zoo-bundles"
    root.mkdir(exist_ok=True)
    return root
