"""save(): what goes into a bundle, what is refused, and that writing is atomic."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import orjson
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

import skbundle
from skbundle import build
from skbundle.build import context, models, writers
from skbundle.core.integrity import sha256_file
from skbundle.errors import BundleExistsError, PipelineError
from skbundle.formats import FORMATS
from skbundle.trust.audit import sniff
from tests.conftest import Case


def test_manifest_records_identity_schema_metrics_and_environment(cancer: Case) -> None:
    m = skbundle.read_manifest(cancer.path)
    assert (m.name, m.version, m.task, m.format_version) == (
        "breast-cancer",
        "1.0.0",
        "classification",
        2,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", m.created_at)
    assert m.classes == ["malignant", "benign"] and m.class_values == [0, 1]
    assert m.feature_names == list(cancer.X_train.columns)
    radius = m.features[0]
    assert radius.min == cancer.X_train["mean radius"].min()
    assert radius.max == cancer.X_train["mean radius"].max()
    assert radius.mean == pytest.approx(cancer.X_train["mean radius"].mean())
    assert not radius.missing_allowed
    test = m.metrics["test"]
    assert test["accuracy"] == pytest.approx(cancer.pipeline.score(cancer.X_test, cancer.y_test))
    assert m.metrics["train"]["accuracy"] == cancer.pipeline.score(cancer.X_train, cancer.y_train)
    assert {"precision_macro", "recall_macro", "f1_macro", "roc_auc", "log_loss"} <= set(test)
    assert sum(map(sum, test["confusion_matrix"])) == len(cancer.X_test) == test["n_rows"]
    assert (m.dataset.n_rows, m.dataset.n_features) == (455, 30)
    assert m.environment.packages["scikit-learn"] == sklearn.__version__
    assert {"numpy", "scipy", "joblib", "pandas", "skbundle"} <= set(m.environment.packages)
    assert m.parity["joblib"].exact and m.parity["joblib"].n_rows >= len(cancer.X_test)


def test_every_file_is_listed_with_its_hash(cancer: Case) -> None:
    m = skbundle.read_manifest(cancer.path)
    on_disk = {p.name for p in cancer.path.iterdir()} - {"bundle.json"}
    assert {a.path for a in m.artifacts} == on_disk
    for a in m.artifacts:
        assert a.sha256 == sha256_file(cancer.path / a.path)
        assert a.bytes == (cancer.path / a.path).stat().st_size


def test_plain_joblib_load_works_and_predicts_the_same(cancer: Case) -> None:
    loaded = joblib.load(cancer.path / "model.joblib")
    assert np.array_equal(
        loaded.predict_proba(cancer.X_test), cancer.pipeline.predict_proba(cancer.X_test)
    )


def test_requirements_pin_the_running_versions(cancer: Case) -> None:
    # The scikit-learn runtimes' file; requirements.txt is the default (ONNX) runtime's.
    lines = (cancer.path / "requirements-skops.txt").read_text().splitlines()
    assert f"scikit-learn=={sklearn.__version__}" in lines
    assert f"numpy=={np.__version__}" in lines
    assert f"joblib=={joblib.__version__}" in lines
    pins = [line for line in lines if not line.startswith("#")]
    assert all(re.fullmatch(r"[a-z0-9._-]+==\S+", line) for line in pins), pins


def test_class_names_default_to_the_estimators_labels(iris: Case) -> None:
    m = skbundle.read_manifest(iris.path)
    assert m.classes == m.class_values == ["setosa", "versicolor", "virginica"]


def test_wine_schema_allows_missing_only_where_training_had_them(wine: Case) -> None:
    m = skbundle.read_manifest(wine.path)
    allowed = sorted(f.name for f in m.features if f.missing_allowed)
    assert allowed == ["alcohol", "magnesium"]
    assert "roc_auc" in m.metrics["test"] and len(m.metrics["test"]["confusion_matrix"]) == 3


@pytest.mark.parametrize(
    ("compress", "magic", "tag"),
    [
        (0, "pickle", "none"),
        (3, "zlib", "zlib-3"),
        (("gzip", 5), "gzip", "gzip-5"),
        (("lzma", 1), "lzma", "lzma-1"),
        (("xz", 1), "xz", "xz-1"),
        (("bz2", 9), "bz2", "bz2-9"),
    ],
)
def test_compression_is_configurable(
    cancer: Case, tmp_path: Path, compress: Any, magic: str, tag: str
) -> None:
    skbundle.save(cancer.pipeline, tmp_path / tag, compress=compress, **cancer.save_kwargs())
    assert sniff((tmp_path / tag / "model.joblib").read_bytes()) == magic


# -- refusals -------------------------------------------------------------------------------
def _kwargs(case: Case, **changes: Any) -> dict[str, Any]:
    kwargs = case.save_kwargs()
    kwargs.update(changes)
    return kwargs


def _refusals(case: Case) -> list[tuple[str, Any, dict[str, Any], str]]:
    X_train, y_train = case.X_train, case.y_train
    unfitted = clone(case.pipeline)
    reordered = X_train[list(reversed(X_train.columns))]
    renamed = X_train.rename(columns={"mean radius": "radius"})
    dated = X_train.assign(**{"mean radius": pd.Timestamp("2026-01-01")})
    mixed = X_train.assign(**{"mean radius": ["a", 1] * (len(X_train) // 2) + ["a"]})
    regressor = LinearRegression().fit(X_train, y_train)
    return [
        (
            "unfitted",
            unfitted,
            {},
            "pipeline: expected a fitted estimator, got an unfitted Pipeline. "
            "Call pipeline.fit(X_train, y_train) before saving it.",
        ),
        (
            "not-an-estimator",
            object(),
            {},
            "pipeline: expected a fitted scikit-learn estimator or Pipeline, got object.",
        ),
        (
            "regressor-class-names",
            regressor,
            {},
            "class_names: expected no class names for a regressor, got ['malignant', 'benign'].",
        ),
        (
            "clusterer",
            KMeans(n_clusters=2, n_init=1).fit(X_train),
            {},
            "pipeline: expected a classifier or a regressor, got a KMeans that is neither. End "
            "the pipeline with a scikit-learn classifier or regressor (its _estimator_type says "
            "which).",
        ),
        (
            "y-length",
            case.pipeline,
            {"y_train": y_train[:-1]},
            "y_train: expected 455 class labels, one per row of X_train, got 454 values.",
        ),
        (
            "y-2d",
            case.pipeline,
            {"y_test": case.y_test.reshape(-1, 1)},
            "y_test: expected a 1-D sequence of class labels, got shape (114, 1).",
        ),
        (
            "unknown-label",
            case.pipeline,
            {"y_test": np.where(case.y_test == 1, 7, 0)},
            "y_test: expected labels among the pipeline's classes [0, 1], got unknown labels "
            "['7'].",
        ),
        (
            "columns-reordered",
            case.pipeline,
            {"X_train": reordered},
            "X_train columns: expected the 30 columns the pipeline was fitted on, in the same "
            "order, got the same columns in another order. Pass the data the pipeline was "
            "trained on, with its columns as they were.",
        ),
        (
            "columns-renamed",
            case.pipeline,
            {"X_train": renamed},
            "X_train columns: expected the 30 columns the pipeline was fitted on, in the same "
            "order, got missing ['mean radius'], unexpected ['radius']. Pass the data the "
            "pipeline was trained on, with its columns as they were.",
        ),
        (
            "test-columns-differ",
            case.pipeline,
            {"X_test": case.X_test.iloc[:, :5]},
            "X_test columns: expected the same columns as X_train, in the same order, got "
            "['mean radius', 'mean texture', 'mean perimeter', 'mean area', 'mean smoothness'].",
        ),
        (
            "datetime-column",
            case.pipeline,
            {"X_train": dated},
            "X_train column 'mean radius': expected numbers (int or float), booleans, or "
            "categories (strings, or a pandas 'category' column), got dtype datetime64[us]. "
            "Convert the column (e.g. df[col].astype(str) for labels, pd.to_numeric for "
            "numbers), or drop it before the data reaches the pipeline.",
        ),
        (
            "mixed-types-column",
            case.pipeline,
            {"X_train": mixed},
            "X_train column 'mean radius': expected numbers (int or float), booleans, or "
            "categories (strings, or a pandas 'category' column), got values of mixed types "
            "['int', 'str']. Convert the column (e.g. df[col].astype(str) for labels, "
            "pd.to_numeric for numbers), or drop it before the data reaches the pipeline.",
        ),
        (
            "array-without-names",
            case.pipeline,
            {"X_train": X_train.to_numpy()},
            "X_train: expected a DataFrame, or a 2-D array with feature_names=[...], got a 2-D "
            "array and no feature_names. Pass feature_names= so that the bundle can name its "
            "inputs.",
        ),
        (
            "list-input",
            case.pipeline,
            {"X_train": X_train.to_numpy().tolist()},
            "X_train: expected a pandas DataFrame or a 2-D numpy array, got list.",
        ),
        (
            "empty",
            case.pipeline,
            {"X_test": case.X_test.iloc[:0]},
            "X_test: expected at least one row, got no rows.",
        ),
        (
            "class-names-count",
            case.pipeline,
            {"class_names": ["only-one"]},
            "class_names: expected 2 names, one per class in [0, 1], got 1 names.",
        ),
        (
            "class-names-dupes",
            case.pipeline,
            {"class_names": ["x", "x"]},
            "class_names: expected distinct names, got ['x', 'x'].",
        ),
        (
            "bad-version",
            case.pipeline,
            {"version": "v1"},
            "name/version: expected a valid bundle identity, got version 'v1' is not a semantic "
            "version: use MAJOR.MINOR.PATCH, e.g. '1.0.0'.",
        ),
        (
            "bad-name",
            case.pipeline,
            {"name": "../evil"},
            "name/version: expected a valid bundle identity, got name '../evil' is not a valid "
            "bundle name: use letters, digits, '.', '_' and '-', starting with a letter or "
            "digit, at most 128 characters.",
        ),
        (
            "bad-compress",
            case.pipeline,
            {"compress": ("snappy", 3)},
            "compress: expected a joblib compression option, got compress: expected a codec "
            "among ['zlib', 'gzip', 'bz2', 'lzma', 'xz', 'lz4'] and a level, got ('snappy', 3).",
        ),
        (
            "compress-level",
            case.pipeline,
            {"compress": 12},
            "compress: expected a joblib compression option, got compress: expected a level from "
            "0 to 9, got 12.",
        ),
    ]


REFUSAL_IDS = [
    "unfitted",
    "not-an-estimator",
    "regressor-class-names",
    "clusterer",
    "y-length",
    "y-2d",
    "unknown-label",
    "columns-reordered",
    "columns-renamed",
    "test-columns-differ",
    "datetime-column",
    "mixed-types-column",
    "array-without-names",
    "list-input",
    "empty",
    "class-names-count",
    "class-names-dupes",
    "bad-version",
    "bad-name",
    "bad-compress",
    "compress-level",
]


@pytest.mark.parametrize("case_id", REFUSAL_IDS)
def test_save_refuses_with_a_clear_error(cancer: Case, tmp_path: Path, case_id: str) -> None:
    table = {row[0]: row[1:] for row in _refusals(cancer)}
    assert set(table) == set(REFUSAL_IDS)
    pipeline, changes, message = table[case_id]
    with pytest.raises(PipelineError) as info:
        skbundle.save(pipeline, tmp_path / "b", **_kwargs(cancer, **changes))
    assert str(info.value) == message
    assert not (tmp_path / "b").exists()
    assert list(tmp_path.iterdir()) == []


def test_array_input_with_feature_names_is_accepted(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    manifest = skbundle.save(
        model,
        tmp_path / "arr",
        X_train=X[:40],
        y_train=y[:40],
        X_test=X[40:],
        y_test=y[40:],
        name="arr",
        feature_names=["f0", "f1", "f2"],
    )
    assert manifest.feature_names == ["f0", "f1", "f2"]
    bundle = skbundle.load(tmp_path / "arr", trust_pickle=True)
    assert np.array_equal(bundle.predict_proba(X[40:]), model.predict_proba(X[40:]))


# -- atomic writes --------------------------------------------------------------------------
def test_existing_bundle_is_not_overwritten_by_default(cancer: Case, tmp_path: Path) -> None:
    target = tmp_path / "b"
    skbundle.save(cancer.pipeline, target, **cancer.save_kwargs())
    with pytest.raises(
        BundleExistsError,
        match=re.escape(
            f"A bundle already exists at {target}. Pass overwrite=True (CLI: --overwrite) to "
            "replace it atomically, or choose another path."
        ),
    ):
        skbundle.save(cancer.pipeline, target, **cancer.save_kwargs())


def test_overwrite_replaces_atomically(cancer: Case, tmp_path: Path) -> None:
    target = tmp_path / "b"
    first = skbundle.save(cancer.pipeline, target, version="1.0.0", **_kwargs(cancer))
    second = skbundle.save(
        cancer.pipeline, target, overwrite=True, **_kwargs(cancer, version="1.0.1")
    )
    assert first.version == "1.0.0" and skbundle.read_manifest(target).version == "1.0.1"
    assert second.version == "1.0.1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    assert skbundle.verify(target).ok


def test_overwrite_never_replaces_something_that_is_not_a_bundle(
    cancer: Case, tmp_path: Path
) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(
        BundleExistsError,
        match=re.escape(
            f"{precious} (a non-empty directory without bundle.json: not a bundle, so it will "
            "not be replaced)"
        ),
    ):
        skbundle.save(cancer.pipeline, precious, overwrite=True, **cancer.save_kwargs())
    assert (precious / "thesis.tex").read_text() == "years of work"


class Boom(RuntimeError):
    pass


def _explode(ctx: build.BuildContext) -> None:
    assert (ctx.directory / "model.joblib").exists(), "fails after files were written"
    raise Boom("disk on fire")


def test_failed_save_leaves_no_bundle_and_no_temp_dir(
    cancer: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "WRITERS", [*writers.WRITERS, _explode])
    with pytest.raises(Boom):
        skbundle.save(cancer.pipeline, tmp_path / "b", **cancer.save_kwargs())
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_bundle_intact(
    cancer: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "b"
    skbundle.save(cancer.pipeline, target, **cancer.save_kwargs())
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    monkeypatch.setattr(writers, "WRITERS", [*writers.WRITERS, _explode])
    with pytest.raises(Boom):
        skbundle.save(cancer.pipeline, target, overwrite=True, **_kwargs(cancer, version="2.0.0"))
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    assert skbundle.verify(target).ok


def test_a_pipeline_no_format_can_store_is_refused(
    cancer: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only joblib registered, a lambda makes the pipeline unstorable: save() refuses,
    names the format's reason and leaves nothing behind. (With every format registered, ONNX
    still stores it: tests/test_formats.py.)"""
    from skbundle import formats

    monkeypatch.setattr(models, "FORMATS", {"joblib": formats.FORMATS["joblib"]})
    unpicklable = clone(cancer.pipeline).fit(cancer.X_train, cancer.y_train)
    unpicklable.steps[0][1].hook = lambda x: x  # lambdas cannot be pickled
    with pytest.raises(PipelineError) as info:
        skbundle.save(unpicklable, tmp_path / "b", **cancer.save_kwargs())
    assert str(info.value).startswith(
        "pipeline: expected a pipeline at least one format can store, got joblib: joblib "
        "could not pickle the pipeline: "
    )
    assert list(tmp_path.iterdir()) == []


def test_formats_are_registered_as_data() -> None:
    assert "joblib" in FORMATS
    assert all(handler.name == name for name, handler in FORMATS.items())


def test_save_does_not_modify_the_callers_pipeline(cancer: Case, tmp_path: Path) -> None:
    before = joblib.hash(cancer.pipeline)
    skbundle.save(cancer.pipeline, tmp_path / "b", **cancer.save_kwargs())
    skbundle.load(tmp_path / "b", trust_pickle=True).predict(cancer.X_test)
    assert joblib.hash(cancer.pipeline) == before
    assert list(cancer.pipeline.feature_names_in_) == list(cancer.X_train.columns)


def test_manifest_is_canonical_json(cancer: Case) -> None:
    raw = (cancer.path / "bundle.json").read_bytes()
    data = orjson.loads(raw)
    assert raw == orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def test_fingerprint_changes_with_the_data(cancer: Case) -> None:
    def fingerprint(X: pd.DataFrame, y: np.ndarray) -> Any:
        return context.fingerprint(X, X.to_numpy(np.float64), y)

    a = fingerprint(cancer.X_train, cancer.y_train)
    X = cancer.X_train.copy()
    X.iloc[0, 0] += 1e-9
    assert fingerprint(X, cancer.y_train).sha256 != a.sha256
    assert fingerprint(cancer.X_train, cancer.y_train[::-1]).sha256 != a.sha256
    assert fingerprint(pd.DataFrame(cancer.X_train), cancer.y_train) == a


def test_copying_a_bundle_keeps_it_valid(cancer: Case, tmp_path: Path) -> None:
    shutil.copytree(cancer.path, tmp_path / "copy")
    assert skbundle.verify(tmp_path / "copy").ok
