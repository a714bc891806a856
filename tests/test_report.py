"""Plots, model card and the HTML report: valid PNGs, a self-contained page, real Chromium."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from skbundle.build.evaluation import feature_importance
from skbundle.core.codes import Codec
from skbundle.core.integrity import verify
from skbundle.core.manifest import FeatureSpec, read_manifest
from skbundle.core.schema import infer_schema
from skbundle.errors import ReadinessError
from skbundle.readiness.refresh import read_readiness, refresh
from skbundle.report import model_card, plots
from skbundle.report.model_card import NO_PROBABILITIES

from . import chromium
from .conftest import Case
from .readiness_helpers import copy_bundle, edit_manifest, png_size
from .zoo_bundles import CATEGORICAL, LABELS, REGRESSOR, zoo_bundle

EXPECTED_SIZE = (800, 600)


# -- plots ----------------------------------------------------------------------------------
def test_every_plot_is_a_png_of_the_fixed_size(cancer: Case) -> None:
    manifest = read_manifest(cancer.path)
    data = read_readiness(cancer.path)
    pngs = {
        "importance": plots.feature_importance_png(data["importance"]),
        "confusion": plots.confusion_png(
            manifest.metrics["test"]["confusion_matrix"], manifest.classes
        ),
        "roc": plots.roc_png(data["roc"]),
        "calibration": plots.calibration_png(data["calibration"]),
    }
    sizes = {name: png_size(png) for name, png in pngs.items()}
    assert sizes == dict.fromkeys(pngs, EXPECTED_SIZE)


def test_the_bundle_holds_feature_importance_png(any_case: Case) -> None:
    manifest = read_manifest(any_case.path)
    entry = next(a for a in manifest.artifacts if a.path == "feature_importance.png")
    assert (entry.role, entry.format) == ("plot", "png")
    assert png_size((any_case.path / "feature_importance.png").read_bytes()) == EXPECTED_SIZE


def test_png_size_refuses_what_is_not_a_png() -> None:
    with pytest.raises(ValueError, match=r"^not a PNG file$"):
        png_size(b"GIF89a" + bytes(30))


# -- importance -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fixture", "method"),
    [
        ("cancer", "feature_importances_"),
        ("wine", "feature_importances_"),
        ("iris", "mean |coef_|"),
    ],
)
def test_importance_uses_the_models_own_where_it_has_them(
    request: pytest.FixtureRequest, fixture: str, method: str
) -> None:
    case: Case = request.getfixturevalue(fixture)
    importance = read_readiness(case.path)["importance"]
    assert importance["method"] == method
    names = [name for name, _ in importance["features"]]
    assert sorted(names) == sorted(str(c) for c in case.X_train.columns)
    values = [value for _, value in importance["features"]]
    assert values == sorted(values, reverse=True)


def test_importance_falls_back_to_permutation(cancer: Case) -> None:
    """After PCA the forest's importances describe components, not inputs."""
    pipe = Pipeline(
        [("pca", PCA(n_components=5)), ("model", RandomForestClassifier(20, random_state=0))]
    ).fit(cancer.X_train, cancer.y_train)
    importance = feature_importance(
        pipe, cancer.X_test, cancer.y_test, Codec(infer_schema(cancer.X_test)), n_repeats=2
    )
    assert importance["method"] == ("permutation (accuracy drop, 2 repeats on the test split)")
    assert len(importance["features"]) == 30
    assert np.isfinite([v for _, v in importance["features"]]).all()


# -- model card -----------------------------------------------------------------------------
def test_model_card_says_what_how_and_how_well(cancer: Case) -> None:
    card = (cancer.path / "model_card.md").read_text(encoding="utf-8")
    manifest = read_manifest(cancer.path)
    headings = [line for line in card.splitlines() if line.startswith("## ")]
    assert headings == [
        "## The model",
        "## Intended use and limits",
        "## Training data",
        "## Metrics (held-out test split)",
        "## Features",
        "## How to call it",
        "## Versions",
        "## Deployment checklist",
    ]
    accuracy = manifest.metrics["test"]["accuracy"]
    assert f"| accuracy | {accuracy:.4f} |" in card
    assert "curl -s -X POST http://127.0.0.1:8000/predict" in card
    assert 'skbundle predict PATH \'{"mean radius": ' in card
    assert f"- scikit-learn {manifest.environment.packages['scikit-learn']}" in card
    assert "1. worst area (" in card or "1. worst concave points (" in card


# -- the HTML report ------------------------------------------------------------------------
def test_report_is_self_contained(cancer: Case) -> None:
    page = (cancer.path / "report.html").read_text(encoding="utf-8")
    assert re.findall(r"<(?:script|link|iframe)\b", page) == []
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 5  # confusion, ROC, precision-recall, calibration, importance
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert "http://" not in page and "https://" not in page


def test_a_multiclass_report_has_one_roc_curve_per_class(wine: Case) -> None:
    data = read_readiness(wine.path)
    assert sorted(data["roc"]) == sorted(wine.class_names)
    assert sorted(data["calibration"]) == sorted(wine.class_names)


def test_refresh_rerenders_and_keeps_the_bundle_intact(cancer: Case, tmp_path: Path) -> None:
    path = copy_bundle(cancer.path, tmp_path / "b")
    (path / "report.html").unlink()
    assert not verify(path).ok
    update = refresh(path)
    assert update.written == ["checklist.md", "model_card.md", "readiness.json", "report.html"]
    assert verify(path).ok
    assert (path / "report.html").read_bytes().startswith(b"<!doctype html>")


def test_refresh_of_a_bundle_saved_before_reports_existed(cancer: Case, tmp_path: Path) -> None:
    """An older bundle: no readiness files at all. The report renders what the manifest has."""
    path = copy_bundle(cancer.path, tmp_path / "old")
    gone = {"readiness.json", "model_card.md", "report.html", "checklist.md"}
    for name in gone:
        (path / name).unlink()
    manifest = read_manifest(path)
    edit_manifest(path, artifacts=[a for a in manifest.artifacts if a.path not in gone])
    assert verify(path).ok
    update = refresh(path)
    assert update.written == ["model_card.md", "readiness.json", "report.html"]
    assert verify(path).ok
    page = (path / "report.html").read_text(encoding="utf-8")
    assert "No feature importance recorded." in page
    assert f"{manifest.metrics['test']['accuracy']:.4f}" in page


def test_refresh_refuses_damaged_readiness_data(cancer: Case, tmp_path: Path) -> None:
    path = copy_bundle(cancer.path, tmp_path / "bad")
    (path / "readiness.json").write_text("[1, 2]", encoding="utf-8")
    message = (
        f"Cannot read the readiness data {path / 'readiness.json'}: expected a JSON object. "
        "Rebuild the bundle."
    )
    with pytest.raises(ReadinessError, match=f"^{re.escape(message)}$"):
        refresh(path)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium.launch() as browser:
        yield browser


def test_report_renders_in_chromium(cancer: Case, browser: Any, tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    manifest = read_manifest(cancer.path)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto((cancer.path / "report.html").as_uri())
        text = page.inner_text("body")
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    test = manifest.metrics["test"]
    for key in ("accuracy", "f1_macro", "roc_auc", "log_loss"):
        assert f"{test[key]:.4f}" in text, key
    for heading in ("Dataset overview", "Plots", "Feature importance", "Benchmark"):
        assert heading in text
    assert "Deployment checklist" in text
    assert widths == [800] * 5  # every embedded image decoded
    image = Image.open(shot).convert("L")
    assert image.size[0] == 1200 and image.size[1] > 2000
    stat = ImageStat.Stat(image)
    assert stat.stddev[0] > 20, "the screenshot is blank"
    assert len(image.getcolors(maxcolors=256) or range(257)) > 50


# -- regressors, label-only classifiers, categorical features (zoo bundles) ------------------
@pytest.fixture(scope="session")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo_bundle(tmp_path_factory, REGRESSOR)


@pytest.fixture(scope="session")
def labels_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo_bundle(tmp_path_factory, LABELS)


@pytest.fixture(scope="session")
def categorical(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo_bundle(tmp_path_factory, CATEGORICAL)


def test_a_regressors_model_card_shows_its_metrics_target_and_interval(regressor: Path) -> None:
    card = (regressor / "model_card.md").read_text(encoding="utf-8")
    manifest = read_manifest(regressor)
    data = read_readiness(regressor)
    headings = [line for line in card.splitlines() if line.startswith("## ")]
    assert headings == [
        "## The model",
        "## Intended use and limits",
        "## Training data",
        "## Metrics (held-out test split)",
        "## Prediction interval",
        "## Features",
        "## How to call it",
        "## Versions",
        "## Deployment checklist",
    ]
    assert "- Task: regression: predicts a number" in card
    test, train = manifest.metrics["test"], manifest.metrics["train"]
    for key in ("r2", "mae", "rmse", "median_ae", "max_error"):
        assert f"| {key} | {test[key]:.4f} | {train[key]:.4f} |" in card, key
    assert f"| rows | {test['n_rows']} | {train['n_rows']} |" in card
    target = data["dataset"]["target_train"]
    assert (
        f"| train | {target['mean']:.4g} | {target['std']:.4g} | {target['min']:.4g} | "
        f"{target['max']:.4g} |"
    ) in card
    iv = manifest.interval
    assert iv is not None
    assert (
        f"- Every prediction comes with an interval: the predicted value +/- "
        f"{iv.half_width:.4g}, at a 90% level."
    ) in card
    assert (
        f"- Method: split-conformal, the width calibrated on {iv.n_calibration} held-out rows."
        in card
    )
    assert f"- Measured coverage: {iv.coverage:.1%} of held-out rows fell inside" in card
    assert "- The coverage is marginal: it holds on average over records like the test data" in card
    assert "class balance" not in card and "classes" not in card


def test_regression_plots_are_pngs_of_the_fixed_size_and_in_the_report(regressor: Path) -> None:
    residuals = read_readiness(regressor)["residuals"]
    assert len(residuals["actual"]) == len(residuals["predicted"]) == 89
    pngs = [plots.predicted_vs_actual_png(residuals), plots.residuals_png(residuals)]
    assert [png_size(png) for png in pngs] == [EXPECTED_SIZE, EXPECTED_SIZE]
    page = (regressor / "report.html").read_text(encoding="utf-8")
    images = dict(re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]*)"', page))
    assert sorted(images) == ["feature importance", "predicted vs actual", "residuals vs predicted"]
    assert base64.b64decode(images["predicted vs actual"]) == pngs[0]
    assert base64.b64decode(images["residuals vs predicted"]) == pngs[1]


def test_a_regressors_report_shows_metrics_target_and_interval(regressor: Path) -> None:
    page = (regressor / "report.html").read_text(encoding="utf-8")
    manifest = read_manifest(regressor)
    test, train = manifest.metrics["test"], manifest.metrics["train"]
    for key in ("r2", "mae", "rmse", "median_ae", "max_error"):
        row = (
            f'<tr><td>{key}</td><td class="num">{test[key]:.4f}</td>'
            f'<td class="num">{train[key]:.4f}</td></tr>'
        )
        assert row in page, key
    target = read_readiness(regressor)["dataset"]["target_test"]
    assert f'<td class="num">{target["mean"]:.4g}</td>' in page
    assert "<h2>Prediction interval</h2>" in page
    iv = manifest.interval
    assert iv is not None
    assert f"Measured coverage: {iv.coverage:.1%} of held-out rows" in page
    assert "split-conformal" in page and "The coverage is marginal" in page
    assert "ROC" not in page and "confusion" not in page
    assert "<p>Task: regression; the model gives a number.</p>" in page


def test_a_label_only_classifier_says_it_has_no_probabilities(labels_only: Path) -> None:
    manifest = read_manifest(labels_only)
    assert manifest.output == "labels"
    card = (labels_only / "model_card.md").read_text(encoding="utf-8")
    page = (labels_only / "report.html").read_text(encoding="utf-8")
    test = manifest.metrics["test"]
    assert f"| accuracy | {test['accuracy']:.4f} |" in card
    assert "roc_auc" not in card and "log_loss" not in card
    assert f"- {NO_PROBABILITIES}" in card
    assert f'<p class="note">{NO_PROBABILITIES}</p>' in page
    assert f'<tr><td>accuracy</td><td class="num">{test["accuracy"]:.4f}</td></tr>' in page
    alts = re.findall(r'<img alt="([^"]*)"', page)
    assert alts == ["confusion", "feature importance"]  # no ROC, no calibration curve


def test_categorical_features_are_in_the_schema_tables(categorical: Path) -> None:
    manifest = read_manifest(categorical)
    island = next(f for f in manifest.features if f.name == "island")
    assert (island.kind, island.unknown) == ("categorical", "accept")
    known = ", ".join(str(c) for c in island.categories or [])
    card = (categorical / "model_card.md").read_text(encoding="utf-8")
    assert "### Categorical and boolean features" in card
    assert f"| island | categorical (3) | {known} | accepted, with a warning | refused |" in card
    bill = next(f for f in manifest.features if f.name == "bill_length_mm")
    assert f"| bill\\_length\\_mm | {bill.min:.4g} | {bill.max:.4g} | {bill.mean:.4g} |" in card
    page = (categorical / "report.html").read_text(encoding="utf-8")
    assert (
        f"<tr><td>island</td><td>categorical (3)</td><td>{known}</td><td>refused</td>"
        "<td>accepted, with a warning</td></tr>"
    ) in page
    # The same bundle with unknown categories refused says so.
    refusing = [f.model_copy(update={"unknown": "error"}) for f in manifest.features]
    strict = model_card.render(manifest.model_copy(update={"features": refusing}), {}, None)
    assert f"| island | categorical (3) | {known} | refused | refused |" in strict


@pytest.mark.parametrize(
    ("categories", "shown"),
    [
        (
            [f"c{i:02d}" for i in range(25)],
            ", ".join(f"c{i:02d}" for i in range(10)) + ", ... (15 more)",
        ),
        ([f"c{i}" for i in range(10)], ", ".join(f"c{i}" for i in range(10))),
        ([False, True], "false, true"),
        ([3, 1, 2], "3, 1, 2"),
    ],
    ids=["capped", "ten", "boolean", "integers"],
)
def test_category_preview(categories: list[Any], shown: str) -> None:
    kind = "boolean" if isinstance(categories[0], bool) else "categorical"
    spec = FeatureSpec(
        name="f", dtype="object", min=None, max=None, mean=None, std=None,
        missing_allowed=False, kind=kind, categories=categories, unknown="error",
    )  # fmt: skip
    assert model_card.category_preview(spec) == shown


def test_regressor_report_renders_in_chromium(regressor: Path, browser: Any) -> None:
    manifest = read_manifest(regressor)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto((regressor / "report.html").as_uri())
        text = page.inner_text("body")
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    finally:
        page.close()
    for key in ("r2", "rmse", "mae"):
        assert f"{manifest.metrics['test'][key]:.4f}" in text, key
    assert "Prediction interval" in text and "Input schema" in text
    assert widths == [800, 800, 800]  # both regression plots and the importance decoded
