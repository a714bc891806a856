"""Drift on real bundles: no drift on the test split, shifted or scaled features flagged alone,
a bounded false-alert rate, the performance alert, and the statistics checked against scipy."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from scipy import stats

import skbundle
from skbundle.errors import MonitoringError
from skbundle.monitor import DriftReport, Thresholds, drift
from skbundle.monitor.stats import psi
from tests.conftest import Case
from tests.zoo_bundles import save_fitted


@pytest.fixture(scope="module")
def loaded(request: pytest.FixtureRequest) -> dict[str, Any]:
    cache: dict[str, Any] = {}
    return cache


def _bundle(case: Case, cache: dict[str, Any]) -> skbundle.Bundle:
    if case.name not in cache:
        cache[case.name] = skbundle.load(case.path, trust_pickle=True)
    bundle: skbundle.Bundle = cache[case.name]
    return bundle


def _levels(report: DriftReport) -> dict[str, str]:
    return {f.name: f.level for f in report.features if f.level != "ok"}


def test_test_split_shows_no_drift(any_case: Case, loaded: dict[str, Any]) -> None:
    report = drift(_bundle(any_case, loaded), any_case.X_test, any_case.y_test)
    assert _levels(report) == {}
    assert report.prediction.level == "ok"
    assert report.performance is not None
    assert report.performance.accuracy_drop == 0.0
    assert (report.verdict, report.exit_code) == ("ok", 0)
    assert report.n_rows == len(any_case.X_test)
    assert report.n_invalid == 0


@pytest.mark.parametrize(
    ("case_name", "feature"),
    [
        ("cancer", "mean radius"),
        ("cancer", "worst texture"),
        ("cancer", "mean smoothness"),
        ("wine", "alcohol"),  # has missing values
        ("iris", "sepal width (cm)"),
    ],
)
def test_two_std_shift_alerts_on_that_feature_alone(
    case_name: str, feature: str, request: pytest.FixtureRequest, loaded: dict[str, Any]
) -> None:
    case: Case = request.getfixturevalue(case_name)
    shifted = case.X_test.copy()
    shifted[feature] = shifted[feature] + 2 * case.X_train[feature].std()
    report = drift(_bundle(case, loaded), shifted)
    assert _levels(report) == {feature: "alert"}
    assert report.features[0].name == feature  # sorted by severity
    assert report.verdict == "alert"


@pytest.mark.parametrize("feature", ["mean radius", "mean area", "worst texture", "area error"])
def test_scaling_by_one_and_a_half_flags_that_feature_alone(
    cancer: Case, feature: str, loaded: dict[str, Any]
) -> None:
    scaled = cancer.X_test.copy()
    scaled[feature] = scaled[feature] * 1.5
    report = drift(_bundle(cancer, loaded), scaled)
    flagged = _levels(report)
    assert list(flagged) == [feature]
    assert flagged[feature] in ("warn", "alert")


def test_bootstrap_false_alert_rate_is_at_most_five_percent(
    cancer: Case, loaded: dict[str, Any]
) -> None:
    bundle = _bundle(cancer, loaded)
    rng = np.random.default_rng(2026)
    n = len(cancer.X_test)
    verdicts = []
    for _ in range(100):
        rows = rng.integers(0, n, n)
        report = drift(bundle, cancer.X_test.iloc[rows], cancer.y_test[rows])
        verdicts.append(report.verdict)
    alerts = verdicts.count("alert")
    print(f"bootstrap: {alerts} alerts, {verdicts.count('warn')} warnings in 100 resamples")
    assert alerts <= 5


def test_flipped_labels_trigger_the_performance_alert(cancer: Case, loaded: dict[str, Any]) -> None:
    classes = sorted(set(cancer.y_test.tolist()))
    flipped = np.array([classes[1 - classes.index(v)] for v in cancer.y_test.tolist()])
    report = drift(_bundle(cancer, loaded), cancer.X_test, flipped)
    assert report.performance is not None
    assert report.performance.level == "alert"
    assert report.performance.accuracy_current == pytest.approx(
        1 - report.performance.accuracy_reference
    )
    assert _levels(report) == {}
    assert (report.verdict, report.exit_code) == ("alert", 2)


def test_accuracy_drop_threshold_is_configurable(cancer: Case, loaded: dict[str, Any]) -> None:
    bundle = _bundle(cancer, loaded)
    proba = bundle.predict_proba(cancer.X_test)
    predicted = np.array(bundle.manifest.class_values)[proba.argmax(axis=1)]
    y = cancer.y_test.copy()
    right = np.flatnonzero(predicted == y)[:3]  # make three correct predictions wrong
    y[right] = 1 - y[right]
    default = drift(bundle, cancer.X_test, y)
    strict = drift(bundle, cancer.X_test, y, thresholds=Thresholds(max_accuracy_drop=0.01))
    assert default.performance is not None and strict.performance is not None
    assert default.performance.accuracy_drop == pytest.approx(3 / len(y))
    assert (default.performance.level, strict.performance.level) == ("ok", "alert")


def test_labels_may_be_class_names(iris: Case, loaded: dict[str, Any]) -> None:
    report = drift(_bundle(iris, loaded), iris.X_test, list(iris.y_test))
    assert report.performance is not None and report.performance.accuracy_drop == 0.0


def test_chunked_counts_equal_one_pass(wine: Case, loaded: dict[str, Any]) -> None:
    from skbundle.monitor.drift import drift

    bundle = _bundle(wine, loaded)
    whole = drift(bundle, wine.X_test, wine.y_test)
    chunked = drift(bundle, wine.X_test, wine.y_test, chunk_size=7)
    a, b = chunked.to_dict(), whole.to_dict()
    for fa, fb in zip(a.pop("features"), b.pop("features"), strict=True):
        # Running sums in another order: the moments agree to rounding, the counts exactly.
        for key in ("current_mean", "current_std"):
            assert fa.pop(key) == pytest.approx(fb.pop(key), rel=1e-12), fa["name"]
        assert fa == fb
    assert a == b


def test_ks_matches_scipy_within_its_bound(cancer: Case, loaded: dict[str, Any]) -> None:
    shifted = cancer.X_test.copy()
    shifted["worst texture"] = (
        shifted["worst texture"] + 0.5 * cancer.X_train["worst texture"].std()
    )
    report = drift(_bundle(cancer, loaded), shifted)
    for f in report.features:
        exact = stats.ks_2samp(cancer.X_train[f.name], shifted[f.name])
        assert f.ks_statistic <= exact.statistic + 1e-12, f.name
        assert exact.statistic <= f.ks_statistic + f.ks_bound + 1e-12, f.name
    texture = next(f for f in report.features if f.name == "worst texture")
    exact = stats.ks_2samp(
        cancer.X_train["worst texture"], shifted["worst texture"], method="asymp"
    )
    # The grid statistic is at most the exact one, so its p-value is at least scipy's.
    assert exact.pvalue <= texture.ks_pvalue < 1e-3


def test_psi_by_hand() -> None:
    assert psi(np.array([10, 20, 30]), np.array([10, 20, 30])) == 0.0
    p = np.array([50.5, 50.5]) / 101
    q = np.array([80.5, 20.5]) / 101
    assert psi(np.array([50, 50]), np.array([80, 20])) == pytest.approx(
        float(np.sum((q - p) * np.log(q / p)))
    )


def test_invalid_rows_are_left_out_and_reported(cancer: Case, loaded: dict[str, Any]) -> None:
    records = cancer.X_test.to_dict(orient="records")
    records[3]["mean radius"] = "big"
    del records[7]["mean area"]
    report = drift(_bundle(cancer, loaded), records, cancer.y_test)
    assert report.n_invalid == 2
    assert report.n_rows == len(records) - 2
    assert [p.describe() for p in report.problems] == [
        "record 3, field 'mean radius': got a string 'big'; expected a number, not a string",
        "record 7, field 'mean area': feature is missing; expected a number",
    ]
    assert report.performance is not None and report.performance.n_labelled == len(records) - 2


def test_unknown_labels_are_left_out(iris: Case, loaded: dict[str, Any]) -> None:
    y = list(iris.y_test)
    y[0] = "daisy"
    report = drift(_bundle(iris, loaded), iris.X_test, y)
    assert report.n_invalid == 1
    assert [p.describe() for p in report.problems] == [
        "record 0, field 'y': unknown label 'daisy'; expected one of the classes "
        "['setosa', 'versicolor', 'virginica']"
    ]


def test_report_is_json_ready(wine: Case, loaded: dict[str, Any]) -> None:
    data = drift(_bundle(wine, loaded), wine.X_test, wine.y_test).to_dict()
    parsed = orjson.loads(orjson.dumps(data))
    assert parsed["verdict"] == "ok" and parsed["exit_code"] == 0
    assert {f["name"] for f in parsed["features"]} == set(wine.X_test.columns)
    assert any("p-values" in note for note in parsed["notes"])


def test_whole_input_problem_raises(cancer: Case, loaded: dict[str, Any]) -> None:
    with pytest.raises(
        skbundle.InputValidationError, match=re.escape("field 'mean radius': column is missing")
    ):
        drift(_bundle(cancer, loaded), cancer.X_test.drop(columns=["mean radius"]))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda c: ([{"mean radius": "x"}], None),
            "Drift input list of 1 rows: expected at least one valid row, got none (1 rows "
            "failed validation). Check the input against 'skbundle inspect'.",
            id="no-valid-row",
        ),
        pytest.param(
            lambda c: (c.X_test, c.y_test[:5]),
            "y_new: expected 114 labels, one per row of X_new, got 5.",
            id="label-count",
        ),
    ],
)
def test_unusable_input_table(
    cancer: Case, loaded: dict[str, Any], make: Any, message: str
) -> None:
    X, y = make(cancer)
    with pytest.raises(MonitoringError) as info:
        drift(_bundle(cancer, loaded), X, y)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"warn": 0.3, "alert": 0.2},
            "Drift thresholds: expected 0 < warn <= alert (got warn=0.3, alert=0.2).",
            id="warn-above-alert",
        ),
        pytest.param(
            {"warn": 0.0},
            "Drift thresholds: expected 0 < warn <= alert (got warn=0.0, alert=0.25).",
            id="zero-warn",
        ),
        pytest.param(
            {"max_accuracy_drop": 1.5},
            "Drift thresholds: expected 0 <= max_accuracy_drop <= 1 (got 1.5).",
            id="drop",
        ),
        pytest.param(
            {"alpha": 1.0}, "Drift thresholds: expected 0 < alpha < 1 (got 1.0).", id="alpha"
        ),
    ],
)
def test_bad_thresholds(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(MonitoringError) as info:
        Thresholds(**kwargs)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_noise_floor_shrinks_with_sample_size(cancer: Case, loaded: dict[str, Any]) -> None:
    bundle = _bundle(cancer, loaded)
    small = drift(bundle, cancer.X_test)
    large = drift(bundle, cancer.X_test.sample(5000, replace=True, random_state=0))
    assert large.features[0].noise < small.features[0].noise
    assert math.isclose(
        small.features[0].noise / large.features[0].noise,
        (1 / 114 + 1 / 455) / (1 / 5000 + 1 / 455),
    )


def test_current_moments_match_numpy(wine: Case, loaded: dict[str, Any]) -> None:
    report = drift(_bundle(wine, loaded), wine.X_test)
    for f in report.features:
        column = wine.X_test[f.name].to_numpy(dtype=np.float64)
        assert f.n_missing == int(np.isnan(column).sum()), f.name
        assert f.current_mean == pytest.approx(np.nanmean(column), rel=1e-12), f.name
        assert f.current_std == pytest.approx(np.nanstd(column, ddof=1), rel=1e-9), f.name


def test_moments_survive_a_large_mean() -> None:
    from skbundle.monitor.reference import feature_reference
    from skbundle.monitor.stats import FeatureCounter

    rng = np.random.default_rng(0)
    train = 1e9 + rng.standard_normal(1000)
    counter = FeatureCounter(feature_reference(train))
    new = 1e9 + 2.0 * rng.standard_normal(100_000)
    for chunk in np.array_split(new, 7):
        counter.add(chunk)
    mean, std = counter.moments(new.size)
    assert mean == pytest.approx(new.mean(), abs=1e-6)
    assert std == pytest.approx(new.std(ddof=1), rel=1e-6)


def test_memory_does_not_grow_with_the_input(
    cancer: Case, loaded: dict[str, Any], tmp_path: Path
) -> None:
    """Peak memory is set by the chunk size, not the file: 4x the rows, about the same peak."""
    import tracemalloc

    from skbundle import batch
    from skbundle.monitor.drift import drift_source

    bundle = _bundle(cancer, loaded)
    rng = np.random.default_rng(0)
    peaks = []
    for n in (20_000, 80_000):
        rows = cancer.X_test.iloc[rng.integers(0, len(cancer.X_test), n)]
        path = tmp_path / f"{n}.parquet"
        rows.to_parquet(path, index=False, row_group_size=5_000)
        source = batch.open_source(str(path))
        tracemalloc.start()
        report = drift_source(bundle, source, chunk_size=5_000)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert report.n_rows == n
    print(f"peak traced memory: {peaks[0] / 1e6:.1f} MB (20k rows), {peaks[1] / 1e6:.1f} MB (80k)")
    assert peaks[1] < 1.3 * peaks[0]


@pytest.mark.parametrize(
    "grid",
    [
        pytest.param(np.linspace(-3, 3, 101), id="uniform"),
        pytest.param(np.unique(np.random.default_rng(1).lognormal(size=101)), id="skewed"),
        pytest.param(np.array([0.0, 0.0001, 0.0002, 5.0, 1e6]), id="clustered-and-far"),
        pytest.param(np.array([1.0, 2.0]), id="two-points"),
        pytest.param(np.array([3.0]), id="one-point"),
        pytest.param(np.array([]), id="empty"),
    ],
)
def test_grid_index_equals_binary_search(grid: np.ndarray) -> None:
    from skbundle.monitor.stats import GridIndex

    rng = np.random.default_rng(0)
    spread = float(np.ptp(grid)) if grid.size else 1.0
    centre = float(grid.mean()) if grid.size else 0.0
    values = np.concatenate(
        [
            centre + spread * rng.standard_normal(20_000),
            centre + spread * 100 * rng.standard_normal(1000),  # far tails
            grid,  # exactly on grid points
            np.nextafter(grid, np.inf),
            np.nextafter(grid, -np.inf),
            [-1e300, 1e300, 0.0],
        ]
    )
    index = GridIndex(grid, cells=64)
    np.testing.assert_array_equal(index(values), np.searchsorted(grid, values, side="left"))


# -- categorical features, regressors, label-only classifiers (issue 11) ---------------------
ZOO_IDS = ("penguins-onehot-forest", "diabetes-ridge", "cancer-svc", "penguins-mass-onehot-ridge")


def zoo_bundle(case_id: str, root: Path) -> tuple[Any, skbundle.Bundle]:
    """A zoo case saved once per session under ``root`` (the session's shared zoo folder, see
    tests/zoo_bundles.py), loaded on joblib: the fitted pipeline itself, so the predictions are
    the pipeline's own."""
    from tests.zoo import case

    fitted = case(case_id).build()
    path = root / case_id
    if not (path / "bundle.json").exists():
        save_fitted(fitted, path, case_id)
    return fitted, skbundle.load(path, runtime="joblib", trust_pickle=True)


@pytest.fixture(scope="session")
def zoo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.getbasetemp() / "zoo-bundles"
    root.mkdir(exist_ok=True)
    return root


@pytest.mark.parametrize("case_id", ZOO_IDS)
def test_zoo_test_split_shows_no_drift(case_id: str, zoo_root: Path) -> None:
    fitted, bundle = zoo_bundle(case_id, zoo_root)
    report = drift(bundle, fitted.X_test, fitted.y_test)
    assert _levels(report) == {}
    assert report.prediction.level == "ok"
    assert report.performance is not None and report.performance.level == "ok"
    if bundle.manifest.output == "values":
        assert report.performance.rmse_growth == pytest.approx(0.0, abs=1e-12)
        assert report.performance.accuracy_current is None
    else:
        assert report.performance.accuracy_drop == 0.0
    assert report.verdict == "ok"


def test_penguins_of_one_island_alert_on_island(zoo_root: Path) -> None:
    import pandas as pd

    fitted, bundle = zoo_bundle("penguins-onehot-forest", zoo_root)
    everyone = pd.concat([fitted.X_train, fitted.X_test])
    report = drift(bundle, everyone[everyone["island"] == "Dream"])
    island = next(f for f in report.features if f.name == "island")
    assert island.level == "alert" and report.features[0].name == "island"
    assert (island.kind, island.ks_statistic, island.n_unseen) == ("categorical", None, 0)
    assert island.labels == ["Biscoe", "Dream", "Torgersen", "unseen"]
    assert [(c.category, c.current_share) for c in island.top_changes] == [
        ("Dream", 1.0),
        ("Biscoe", 0.0),
        ("Torgersen", 0.0),
    ]
    # Against scipy: the new counts vs the training proportions of the three islands.
    ref = orjson.loads((bundle.path / "reference.json").read_bytes())["features"]["island"]
    expected = np.array(ref["counts"]) / sum(ref["counts"]) * 124
    exact = stats.chisquare([0, 124, 0], expected)
    assert island.chi_square is not None
    assert (island.chi_square.dof, island.chi_square.merged) == (2, [])
    assert island.chi_square.statistic == pytest.approx(exact.statistic, rel=1e-12)
    assert island.chi_square.pvalue == pytest.approx(exact.pvalue, rel=1e-9)
    assert report.verdict == "alert"


def test_unseen_categories_are_counted_and_pooled(zoo_root: Path) -> None:
    fitted, bundle = zoo_bundle("penguins-onehot-forest", zoo_root)
    X = fitted.X_test.copy()
    X["island"] = X["island"].astype(object)
    X.iloc[:20, X.columns.get_loc("island")] = "Atlantis"
    report = drift(bundle, X)
    island = next(f for f in report.features if f.name == "island")
    assert island.n_unseen == 20
    assert island.level == "alert"
    assert island.top_changes[0].category == "unseen"
    assert island.top_changes[0].reference_share == 0.0
    assert island.current_share[3] == pytest.approx(20 / len(X))
    # Training has no unseen category: it expects 0 rows, below 5, so it is pooled.
    assert island.chi_square is not None and "unseen" in island.chi_square.merged


def test_diabetes_bmi_shifted_one_std_alerts_on_bmi_and_moves_predictions(
    zoo_root: Path,
) -> None:
    fitted, bundle = zoo_bundle("diabetes-ridge", zoo_root)
    shifted = fitted.X_test.copy()
    shifted["bmi"] = shifted["bmi"] + fitted.X_train["bmi"].std()
    report = drift(bundle, shifted, fitted.y_test)
    base = drift(bundle, fitted.X_test, fitted.y_test)
    assert _levels(report) == {"bmi": "alert"}
    values, before = report.prediction.values, base.prediction.values
    assert values is not None and before is not None
    assert values.name == "prediction" and values.ks_statistic is not None
    assert values.psi > 5 * before.psi
    assert values.current_mean is not None and before.current_mean is not None
    assert values.current_mean > before.current_mean  # bmi raises the predicted progression
    assert report.prediction.psi == {} and report.prediction.reference_balance == {}
    assert report.performance is not None and report.performance.task == "regression"
    assert set(report.performance.metrics) == {"r2", "mae", "rmse", "median_ae", "max_error"}


def test_regressor_rmse_growth_alerts_and_is_configurable(zoo_root: Path) -> None:
    fitted, bundle = zoo_bundle("diabetes-ridge", zoo_root)
    y = fitted.y_test + fitted.y_train.std()  # the target moved by one std: a real label shift
    report = drift(bundle, fitted.X_test, y)
    perf = report.performance
    assert perf is not None and perf.rmse_reference is not None
    rmse = float(
        np.sqrt(np.mean((y - bundle.predict_validated(bundle.validate(fitted.X_test))[:, 0]) ** 2))
    )
    assert perf.rmse_current == pytest.approx(rmse, rel=1e-12)
    assert perf.rmse_growth == pytest.approx(rmse / perf.rmse_reference - 1, rel=1e-12)
    assert (perf.level, perf.max_rmse_growth) == ("alert", 0.2)
    lenient = drift(bundle, fitted.X_test, y, thresholds=Thresholds(max_rmse_growth=5.0))
    assert lenient.performance is not None and lenient.performance.level == "ok"
    assert report.verdict == "alert" and _levels(report) == {}


def test_regressor_targets_that_are_not_numbers_are_left_out(zoo_root: Path) -> None:
    fitted, bundle = zoo_bundle("diabetes-ridge", zoo_root)
    y: list[Any] = list(fitted.y_test)
    y[2] = "high"
    report = drift(bundle, fitted.X_test, y)
    assert [p.describe() for p in report.problems] == [
        "record 2, field 'y': target 'high' is not a number; expected a finite number"
    ]
    assert report.performance is not None
    assert report.performance.n_labelled == len(y) - 1


def test_label_only_classifier_on_benign_rows_alerts_on_class_balance(zoo_root: Path) -> None:
    fitted, bundle = zoo_bundle("cancer-svc", zoo_root)
    benign = fitted.y_test == "benign"
    report = drift(bundle, fitted.X_test[benign], fitted.y_test[benign])
    p = report.prediction
    assert (p.output, p.psi, p.level) == ("labels", {}, "alert")
    assert p.current_balance["benign"] > 0.9 > p.reference_balance["benign"]
    assert p.balance_chi_square is not None and p.balance_chi_square.pvalue < 1e-6
    assert report.performance is not None and report.performance.level == "ok"
    assert "roc_auc" not in report.performance.metrics


def test_label_only_classifier_flipped_labels_alert(zoo_root: Path) -> None:
    fitted, bundle = zoo_bundle("cancer-svc", zoo_root)
    flipped = np.where(fitted.y_test == "benign", "malignant", "benign")
    report = drift(bundle, fitted.X_test, flipped)
    perf = report.performance
    assert perf is not None and perf.accuracy_reference is not None
    assert perf.accuracy_current == pytest.approx(1 - perf.accuracy_reference)
    assert perf.level == "alert"


def test_markdown_names_moved_categories_and_escapes(zoo_root: Path) -> None:
    import pandas as pd

    fitted, bundle = zoo_bundle("penguins-onehot-forest", zoo_root)
    everyone = pd.concat([fitted.X_train, fitted.X_test])
    text = drift(bundle, everyone[everyone["island"] == "Dream"]).to_markdown()
    assert "| island | categorical | alert |" in text
    assert "Dream 35.6% → 100.0%; Biscoe 48.7% → 0.0%; Torgersen 15.6% → 0.0%" in text
    assert "| bill\\_depth\\_mm | numeric |" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a|b", "a\\|b"),
        ("[x](y)", "\\[x\\]\\(y\\)"),
        ("two\nlines", "two lines"),
        ("<b>", "\\<b\\>"),
    ],
)
def test_markdown_escape(text: str, expected: str) -> None:
    from skbundle.monitor.report import md

    assert md(text) == expected


def test_chi_square_small_count_rule() -> None:
    from skbundle.monitor.stats import chi_square

    # 100 new rows: slots a, b expect 50 and 45; c, d expect 3 and 2 -> pooled (5, enough).
    statistic, dof, pvalue, merged = chi_square(
        np.array([500, 450, 30, 20]), np.array([40, 40, 10, 10]), ["a", "b", "c", "d"]
    )
    exact = stats.chisquare([40, 40, 20], [50, 45, 5])
    assert (dof, merged) == (2, ["c", "d"])
    assert statistic == pytest.approx(exact.statistic) and pvalue == pytest.approx(exact.pvalue)
    # A pool still below 5 joins the slot that expects least.
    statistic, dof, _, merged = chi_square(
        np.array([600, 380, 20]), np.array([50, 40, 10]), ["a", "b", "c"]
    )
    assert (dof, merged) == (1, ["c", "b"])
    assert statistic == pytest.approx(stats.chisquare([50, 50], [60, 40]).statistic)
    assert chi_square(np.array([10, 0]), np.array([3, 0]), ["a", "b"]) == (0.0, 0, 1.0, ["a", "b"])


def test_bad_rmse_growth_threshold() -> None:
    with pytest.raises(MonitoringError) as info:
        Thresholds(max_rmse_growth=0.0)
    assert str(info.value) == "Drift thresholds: expected max_rmse_growth > 0 (got 0.0)."
