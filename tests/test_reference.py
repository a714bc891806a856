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
