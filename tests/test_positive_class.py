"""The positive class of a binary classifier, feature descriptions and the held-out example:
what save() accepts and refuses, what the manifest keeps, and what the report, the model card
and the page say with them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import average_precision_score, recall_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbundle
from skbundle import demo
from skbundle.build.audience import resolve_positive_class
from skbundle.core.layout import READINESS_NAME
from skbundle.errors import ManifestError, PipelineError
from tests import page_fixtures
from tests.conftest import Case

OLD = Path(__file__).parent / "data" / "bundles" / "skbundle-0.1.0" / "iris-forest"


@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return page_fixtures.described_bundle(tmp_path_factory)


def _readiness(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((path / READINESS_NAME).read_bytes())
    return data


def _demo_test_split() -> tuple[pd.DataFrame, np.ndarray]:
    X, y, _ = demo.load_data()
    _, X_test, _, y_test = demo.split(X, y)
    return X_test, y_test


# -- the curves and the figures are about the positive class ---------------------------------
def test_the_demo_curves_are_about_malignant(described: Path) -> None:
    manifest = skbundle.read_manifest(described)
    assert manifest.positive_class == "malignant"
    data = _readiness(described)
    assert list(data["roc"]) == list(data["pr"]) == list(data["calibration"]) == ["malignant"]
    # The data the plots are drawn from is malignant's: class 0 in y, column 0 of the output.
    X_test, y_test = _demo_test_split()
    p_malignant = skbundle.load(described).predict_proba(X_test)[:, 0]
    is_malignant = (y_test == 0).astype(int)
    assert data["roc"]["malignant"]["auc"] == pytest.approx(
        roc_auc_score(is_malignant, p_malignant)
    )
    pr = data["pr"]["malignant"]
    assert pr["ap"] == pytest.approx(average_precision_score(is_malignant, p_malignant))
    assert pr["prevalence"] == pytest.approx(42 / 114)
    assert pr["recall"][0] == 0.0 and pr["recall"][-1] == 1.0
    # Mean predicted probability per bin rises with malignant's probability, not benign's.
    calibration = data["calibration"]["malignant"]
    assert calibration["prob_pred"][0] < 0.1 and calibration["prob_true"][-1] > 0.9


def test_the_report_and_the_card_name_the_positive_class_and_its_misses(described: Path) -> None:
    manifest = skbundle.read_manifest(described)
    X_test, y_test = _demo_test_split()
    predicted = skbundle.load(described).predict_proba(X_test).argmax(axis=1)
    sensitivity = recall_score(y_test, predicted, pos_label=0)
    positive = manifest.metrics["test"]["positive"]
    assert positive["class"] == "malignant"
    assert positive["sensitivity"] == pytest.approx(sensitivity)
    assert positive["sensitivity"] == manifest.metrics["test"]["per_class"]["malignant"]["recall"]
    missed = int(np.sum((y_test == 0) & (predicted == 1)))
    assert positive["false_negatives"] == missed
    found, total = int(np.sum((y_test == 0) & (predicted == 0))), int(np.sum(y_test == 0))
    sentence = (
        "Sensitivity (recall of malignant: the share of malignant cases the model finds): "
        f"{sensitivity:.4f} ({found} of {total}); missed malignant cases (predicted benign): "
        f"{missed}."
    )
    page = (described / "report.html").read_text(encoding="utf-8")
    assert f"<p>{sentence}</p>" in page
    assert "Positive class: malignant (named when the bundle was saved)." in page
    for alt in ("ROC curve", "precision-recall curve", "calibration curve"):
        assert f'alt="{alt} for malignant (the positive class)"' in page
    card = (described / "model_card.md").read_text(encoding="utf-8")
    assert f"- {sentence}" in card
    assert "not a substitute for expert judgement" in card
    assert "not a substitute for expert judgement" in page
    checklist = (described / "checklist.md").read_text(encoding="utf-8")
    auc = manifest.metrics["test"]["roc_auc"]
    assert f"roc\\_auc {auc:.4f}, sensitivity \\(malignant\\) {sensitivity:.4f};" in checklist


def test_without_a_positive_class_the_second_class_is_taken_and_said(cancer: Case) -> None:
    manifest = skbundle.read_manifest(cancer.path)
    assert manifest.positive_class is None
    data = _readiness(cancer.path)
    assert list(data["roc"]) == list(data["pr"]) == ["benign"]
    page = (cancer.path / "report.html").read_text(encoding="utf-8")
    assert (
        "Positive class: benign (not named when the bundle was saved: the second class is taken)"
    ) in page
    assert manifest.metrics["test"]["positive"]["class"] == "benign"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("malignant", "malignant"), (0, "malignant"), (np.int64(1), "benign"), (None, None)],
    ids=["name", "value", "numpy-value", "none"],
)
def test_a_positive_class_is_a_name_or_a_value_of_y(value: object, expected: str | None) -> None:
    assert resolve_positive_class(value, "classification", [0, 1], ["malignant", "benign"]) == (
        expected
    )


# -- what save() refuses ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def small() -> dict[str, Any]:
    """A quick binary classifier (save() refuses its options before any file is written)."""
    data = load_breast_cancer(as_frame=True)
    X, y = data.data.iloc[:120], data.target.to_numpy()[:120]
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    return {
        "pipeline": pipe,
        "X_train": X,
        "y_train": y,
        "X_test": X,
        "y_test": y,
        "name": "small",
        "class_names": ["malignant", "benign"],
    }


CLASSES = "['malignant', 'benign']"
HINT = "Give a class name as the bundle shows it (class_names), or its value in y."
PAIR = "a description (str) or a (description, unit) pair of str"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"positive_class": "cancer"},
            f"positive_class: expected one of the classes {CLASSES}, got 'cancer'. {HINT}",
        ),
        (
            {"positive_class": 1.5},
            f"positive_class: expected one of the classes {CLASSES}, got 1.5. {HINT}",
        ),
        (
            {"positive_class": True},
            f"positive_class: expected one of the classes {CLASSES}, got True. {HINT}",
        ),
        (
            {"feature_descriptions": {"mean radius": "r", "worst radiuss": "x", "zzz": "y"}},
            "feature_descriptions: expected names of the pipeline's input features, got 2 "
            "unknown: ['worst radiuss', 'zzz']. The features are ['mean radius', 'mean "
            "texture', 'mean perimeter', 'mean area', 'mean smoothness', ... (25 more)].",
        ),
        (
            {"feature_descriptions": {"mean radius": 3}},
            f"feature_descriptions['mean radius']: expected {PAIR}, got int.",
        ),
        (
            {"feature_descriptions": {"mean radius": ("a", "b", "c")}},
            f"feature_descriptions['mean radius']: expected {PAIR}, got a tuple of 3: "
            "(str, str, str).",
        ),
        (
            {"feature_descriptions": {"mean radius": ("radius", 5)}},
            f"feature_descriptions['mean radius']: expected {PAIR}, got a tuple of 2: (str, int).",
        ),
        (
            {"feature_descriptions": [("mean radius", "a")]},
            f"feature_descriptions: expected a dict of feature name to {PAIR}, got list.",
        ),
        (
            {"feature_descriptions": {"mean radius": "x" * 2001}},
            "feature_descriptions['mean radius']: expected a description of plain text on one "
            "line, at most 2000 characters, got 2001 characters. Shorten it: every page shows "
            "it whole.",
        ),
        (
            {"feature_descriptions": {"mean radius": "two\nlines"}},
            "feature_descriptions['mean radius']: expected a description of plain text on one "
            "line, at most 2000 characters, got the control character '\\n' at position 3. "
            "Remove line breaks, tabs and other control characters.",
        ),
        (
            {"feature_descriptions": {"mean radius": "abc\u202edef"}},
            "feature_descriptions['mean radius']: expected a description of plain text on one "
            "line, at most 2000 characters, got the control character '\\u202e' at position 3. "
            "Remove line breaks, tabs and other control characters.",
        ),
        (
            {"feature_descriptions": {"mean radius": ("radius", "m" * 65)}},
            "feature_descriptions['mean radius'] unit: expected a unit of plain text on one "
            "line, at most 64 characters, got 65 characters. Shorten it: every page shows it "
            "whole.",
        ),
    ],
    ids=[
        "class-unknown",
        "class-float",
        "class-bool",
        "descriptions-unknown-features",
        "description-int",
        "description-tuple-of-3",
        "unit-not-str",
        "descriptions-not-a-dict",
        "description-too-long",
        "description-line-break",
        "description-bidi-override",
        "unit-too-long",
    ],
)
def test_save_refuses_a_bad_positive_class_or_description(
    small: dict[str, Any], tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    args = dict(small)
    pipe = args.pop("pipeline")
    with pytest.raises(PipelineError) as info:
        skbundle.save(pipe, tmp_path / "b", **args, **options)
    assert str(info.value) == message
    assert not (tmp_path / "b").exists()


def test_save_refuses_a_positive_class_for_a_multiclass_model_or_a_regressor(
    tmp_path: Path,
) -> None:
    iris = load_iris(as_frame=True)
    multi = LogisticRegression(max_iter=500).fit(iris.data, iris.target)
    with pytest.raises(PipelineError) as info:
        skbundle.save(
            multi,
            tmp_path / "m",
            X_train=iris.data,
            y_train=iris.target,
            X_test=iris.data,
            y_test=iris.target,
            name="iris",
            positive_class=1,
        )
    assert str(info.value) == (
        "positive_class: expected a positive class only for a binary classifier, got 1 for a "
        "classifier of 3 classes. Leave it out: each class of a multiclass model has its own "
        "curves."
    )
    diabetes = load_diabetes(as_frame=True)
    regressor = LinearRegression().fit(diabetes.data, diabetes.target)
    with pytest.raises(PipelineError) as info:
        skbundle.save(
            regressor,
            tmp_path / "r",
            X_train=diabetes.data,
            y_train=diabetes.target,
            X_test=diabetes.data,
            y_test=diabetes.target,
            name="diabetes",
            positive_class="high",
        )
    assert str(info.value) == (
        "positive_class: expected no positive class for a regressor, got 'high'."
    )


# -- what the manifest keeps, and refuses when forged ------------------------------------------
def test_the_manifest_keeps_descriptions_units_and_a_real_held_out_example(described: Path) -> None:
    manifest = skbundle.read_manifest(described)
    X_test, y_test = _demo_test_split()
    assert manifest.example == {str(k): float(v) for k, v in X_test.iloc[0].items()}
    assert manifest.example_label == ["malignant", "benign"][int(y_test[0])]
    worst = next(f for f in manifest.features if f.name == "worst radius")
    assert worst.description == (
        "Radius: mean of distances from center to points on the perimeter. Worst "
        '("largest"): the mean of the three largest values among the cell nuclei in the image.'
    )
    assert all(f.description for f in manifest.features)
    assert all(f.unit == "" for f in manifest.features)  # DESCR states no units


def _forge(path: Path, tmp_path: Path, change: dict[str, Any]) -> Path:
    change = dict(change)
    copy = tmp_path / "forged"
    shutil.copytree(path, copy)
    data = orjson.loads((copy / "bundle.json").read_bytes())
    if "features" in change:
        data["features"][0].update(change.pop("features")[0])
    data.update(change)
    (copy / "bundle.json").write_bytes(orjson.dumps(data))
    return copy


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"example": {"mean radius": [1, 2]}},
            "field 'example.mean radius.constrained-str' is invalid: Input should be a valid "
            "string",
        ),
        (
            {"example": {"mean radius": "x" * 1025}},
            "field 'example.mean radius.constrained-str' is invalid: String should have at most "
            "1024 characters",
        ),
        (
            {"features": [{"unit": "m" * 65}]},
            "field 'features.0.unit' is invalid: String should have at most 64 characters",
        ),
    ],
    ids=["example-not-a-scalar", "example-string-too-long", "unit-too-long"],
)
def test_a_forged_manifest_field_is_refused(
    described: Path, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ManifestError) as info:
        skbundle.read_manifest(_forge(described, tmp_path, change))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"positive_class": "setosa"}, "format version 1 has no field 'positive_class'"),
        ({"example": {}}, "format version 1 has no field 'example'"),
        ({"feature_description": "x"}, "format version 1 has no field 'features.0.description'"),
    ],
    ids=["positive-class", "example", "feature-description"],
)
def test_a_version_1_manifest_naming_a_new_field_is_refused(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    copy = tmp_path / "b"
    shutil.copytree(OLD, copy)
    data = orjson.loads((copy / "bundle.json").read_bytes())
    if "feature_description" in change:
        data["features"][0]["description"] = change["feature_description"]
    else:
        data.update(change)
    (copy / "bundle.json").write_bytes(orjson.dumps(data))
    with pytest.raises(ManifestError) as info:
        skbundle.read_manifest(copy)
    assert message in str(info.value)
    # The released bundle itself still loads, with none of the new fields.
    old = skbundle.read_manifest(OLD)
    assert (old.positive_class, old.example, old.features[0].description) == (None, None, "")
