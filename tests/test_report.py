"""Plots, model card and the HTML report: valid PNGs, a self-contained page, real Chromium."""

from __future__ import annotations

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
from skbundle.core.manifest import read_manifest
from skbundle.core.schema import infer_schema
from skbundle.errors import ReadinessError
from skbundle.readiness.refresh import read_readiness, refresh
from skbundle.report import plots

from . import chromium
from .conftest import Case
from .readiness_helpers import copy_bundle, edit_manifest, png_size

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
    assert len(sources) == 4
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
    assert widths == [800, 800, 800, 800]  # every embedded image decoded
    image = Image.open(shot).convert("L")
    assert image.size[0] == 1200 and image.size[1] > 2000
    stat = ImageStat.Stat(image)
    assert stat.stddev[0] > 20, "the screenshot is blank"
    assert len(image.getcolors(maxcolors=256) or range(257)) > 50
