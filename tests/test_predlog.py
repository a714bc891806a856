"""The prediction logger: real writes from many threads, rotation, and reading back for drift."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

import skbundle
from skbundle.errors import MonitoringError
from skbundle.monitor import drift
from skbundle.monitor.drift import drift_log
from skbundle.monitor.predlog import (
    HEADER_KEY,
    LogReader,
    PredictionLogger,
    log_files,
    parse_since,
    timestamp,
)
from tests.conftest import Case


@pytest.fixture(scope="module")
def cancer_bundle(cancer: Case) -> skbundle.Bundle:
    return skbundle.load(cancer.path, trust_pickle=True)


def _logger(path: Path, bundle: skbundle.Bundle, **kwargs: Any) -> PredictionLogger:
    return PredictionLogger.for_bundle(path, bundle, **kwargs)


def _read(path: Path, bundle: skbundle.Bundle, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    reader = LogReader(path, bundle.feature_names, bundle.classes, **kwargs)
    chunks = list(reader)
    if not chunks:
        return np.empty((0, len(bundle.feature_names))), np.empty((0, len(bundle.classes)))
    return np.vstack([c[0] for c in chunks]), np.vstack([c[1] for c in chunks])


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


def test_writes_from_many_threads_all_arrive_intact(
    cancer: Case, cancer_bundle: skbundle.Bundle, tmp_path: Path
) -> None:
    X = cancer.X_test.to_numpy(dtype=np.float64)
    proba = cancer_bundle.predict_proba(cancer.X_test)
    path = tmp_path / "log" / "predictions.jsonl"
    logger = _logger(path, cancer_bundle)

    def serve(worker: int) -> None:
        for request in range(40):
            i = (worker * 40 + request) % len(X)
            logger.log(X[i : i + 1 + request % 3], proba[i : i + 1 + request % 3])

    threads = [threading.Thread(target=serve, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logger.close()

    expected_X = np.vstack(
        [
            X[(w * 40 + r) % len(X) : (w * 40 + r) % len(X) + 1 + r % 3]
            for w in range(8)
            for r in range(40)
        ]
    )
    got_X, got_p = _read(path, cancer_bundle)
    assert (logger.written, logger.dropped) == (len(expected_X), 0)
    assert got_X.shape == expected_X.shape
    np.testing.assert_array_equal(_sorted_rows(got_X), _sorted_rows(expected_X))
    assert np.allclose(got_p.sum(axis=1), 1.0)
    lines = path.read_bytes().splitlines()
    assert orjson.loads(lines[0]) == {
        HEADER_KEY: 1,
        "bundle": "breast-cancer 1.0.0",
        "features": cancer_bundle.feature_names,
        "classes": cancer_bundle.classes,
        "output": "probabilities",
    }
    assert all(isinstance(orjson.loads(line), dict) for line in lines)


def test_missing_values_round_trip_as_nan(wine: Case, tmp_path: Path) -> None:
    bundle = skbundle.load(wine.path, trust_pickle=True)
    X = wine.X_test.to_numpy(dtype=np.float64)
    assert np.isnan(X).any()
    with _logger(tmp_path / "w.jsonl", bundle) as logger:
        logger.log(X, bundle.predict_proba(wine.X_test))
    got_X, _ = _read(tmp_path / "w.jsonl", bundle)
    np.testing.assert_array_equal(got_X, X)  # NaN == NaN for assert_array_equal


def test_rotation_bounds_the_log(
    cancer: Case, cancer_bundle: skbundle.Bundle, tmp_path: Path
) -> None:
    X = cancer.X_test.to_numpy(dtype=np.float64)
    proba = cancer_bundle.predict_proba(cancer.X_test)
    path = tmp_path / "p.jsonl"
    logger = _logger(path, cancer_bundle, max_bytes=8192, backups=2)
    for i in range(len(X)):
        logger.log(X[i : i + 1], proba[i : i + 1])
        logger.flush()  # one row per write, so each file holds whole rows up to the limit
    logger.close()
    files = log_files(path)
    assert [f.name for f in files] == ["p.jsonl.2", "p.jsonl.1", "p.jsonl"]
    assert logger.rotations > 2
    for f in files:
        assert f.stat().st_size <= 8192, f
        assert HEADER_KEY in orjson.loads(f.read_bytes().splitlines()[0]), f
    got_X, _ = _read(path, cancer_bundle)
    # The newest rows survive, in order, and the oldest were rotated away.
    assert 0 < len(got_X) < len(X)
    np.testing.assert_array_equal(got_X, X[-len(got_X) :])


def test_no_backups_starts_over(
    cancer: Case, cancer_bundle: skbundle.Bundle, tmp_path: Path
) -> None:
    X = cancer.X_test.to_numpy(dtype=np.float64)
    proba = cancer_bundle.predict_proba(cancer.X_test)
    path = tmp_path / "p.jsonl"
    with _logger(path, cancer_bundle, max_bytes=4096, backups=0) as logger:
        for i in range(len(X)):
            logger.log(X[i : i + 1], proba[i : i + 1])
            logger.flush()
    assert log_files(path) == [path]
    assert path.stat().st_size <= 4096


def test_since_filters_by_time(cancer_bundle: skbundle.Bundle, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    n_features, n_classes = len(cancer_bundle.feature_names), len(cancer_bundle.classes)
    lines = [orjson.dumps({HEADER_KEY: 1, "features": cancer_bundle.feature_names})]
    for hour in range(5):
        t = timestamp(1_700_000_000 + 3600 * hour)
        lines.append(
            orjson.dumps({"t": t, "x": [[float(hour)] * n_features], "p": [[0.5] * n_classes]})
        )
    path.write_bytes(b"\n".join(lines) + b"\n")
    since = parse_since("2h", now=1_700_000_000 + 3600 * 4)
    got_X, _ = _read(path, cancer_bundle, since=since)
    assert got_X[:, 0].tolist() == [2.0, 3.0, 4.0]


def test_damaged_lines_are_skipped_and_counted(
    cancer: Case, cancer_bundle: skbundle.Bundle, tmp_path: Path
) -> None:
    path = tmp_path / "d.jsonl"
    with _logger(path, cancer_bundle) as logger:
        logger.log(
            cancer.X_test.to_numpy()[:3], cancer_bundle.predict_proba(cancer.X_test.iloc[:3])
        )
    with open(path, "ab") as fh:
        fh.write(b'{"t": "2026-01-01T00:00:00.000Z", "x": [1, 2')  # a write cut short
    reader = LogReader(path, cancer_bundle.feature_names, cancer_bundle.classes)
    rows = sum(len(X) for X, _ in reader)
    assert (rows, reader.rows, reader.skipped) == (3, 3, 1)


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("24h", 1_700_086_400.0, "2023-11-14T22:13:20.000Z"),
        ("30m", 1_700_001_800.0, "2023-11-14T22:13:20.000Z"),
        ("7d", 1_700_604_800.0, "2023-11-14T22:13:20.000Z"),
        ("2023-11-14T22:13:20", None, "2023-11-14T22:13:20.000Z"),
        ("2023-11-14T23:13:20+01:00", None, "2023-11-14T22:13:20.000Z"),
        ("2023-11-14", None, "2023-11-14T00:00:00.000Z"),
    ],
)
def test_parse_since(text: str, now: float | None, expected: str) -> None:
    assert parse_since(text, now=now) == expected


@pytest.mark.parametrize("text", ["yesterday", "24", "-3h", "2023-13-01"])
def test_parse_since_refuses(text: str) -> None:
    with pytest.raises(MonitoringError) as info:
        parse_since(text)
    assert str(info.value) == (
        "--since: expected an ISO date/time (2026-11-25 or 2026-11-25T03:00) or an age (30m, "
        f"24h, 7d), got {text!r}."
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_bytes": 100}, "Prediction log max_bytes: expected at least 1024, got 100."),
        ({"backups": -1}, "Prediction log backups: expected 0 or more, got -1."),
    ],
)
def test_logger_refuses_bad_options(kwargs: dict[str, int], message: str, tmp_path: Path) -> None:
    with pytest.raises(MonitoringError) as info:
        PredictionLogger(tmp_path / "x.jsonl", **kwargs)
    assert str(info.value) == message
    assert not (tmp_path / "x.jsonl").exists()


def test_log_of_another_bundle_is_refused(
    iris: Case, cancer_bundle: skbundle.Bundle, tmp_path: Path
) -> None:
    iris_bundle = skbundle.load(iris.path, trust_pickle=True)
    path = tmp_path / "iris.jsonl"
    with _logger(path, iris_bundle) as logger:
        logger.log(iris.X_test.to_numpy()[:2], iris_bundle.predict_proba(iris.X_test.iloc[:2]))
    with pytest.raises(MonitoringError) as info:
        drift_log(cancer_bundle, path)
    assert str(info.value) == (
        f"Prediction log {path}: it was written for other features (4 logged, 30 in this "
        "bundle; first difference: position 0: 'sepal length (cm)' vs 'mean radius'). "
        "Compute drift with the bundle that served these predictions."
    )


def test_missing_log_is_refused(cancer_bundle: skbundle.Bundle, tmp_path: Path) -> None:
    with pytest.raises(
        MonitoringError,
        match=re.escape(f"Prediction log {tmp_path / 'none.jsonl'}: no such file"),
    ):
        drift_log(cancer_bundle, tmp_path / "none.jsonl")


def test_logged_traffic_round_trips_into_a_drift_report(
    cancer: Case, cancer_bundle: skbundle.Bundle, tmp_path: Path
) -> None:
    shifted = cancer.X_test.copy()
    shifted["mean texture"] += 2 * cancer.X_train["mean texture"].std()
    path = tmp_path / "traffic.jsonl"
    with _logger(path, cancer_bundle) as logger:
        for frame in (cancer.X_test, shifted):
            for i in range(len(frame)):  # one request per row, as a server sees them
                row = frame.iloc[i : i + 1]
                logger.log(row.to_numpy(dtype=np.float64), cancer_bundle.predict_proba(row))
    half = drift_log(cancer_bundle, path, chunk_size=50)
    assert half.n_rows == 2 * len(cancer.X_test)
    assert [f.name for f in half.drifted] == ["mean texture"]
    direct = drift(cancer_bundle, shifted)
    lines = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join([lines[0], *lines[1 + len(cancer.X_test) :]]) + b"\n")
    logged = drift_log(cancer_bundle, path)
    # Logged traffic gives the same report as the same rows passed directly.
    assert logged.to_dict()["features"] == direct.to_dict()["features"]
    assert logged.prediction == direct.prediction


def test_a_view_of_a_batch_is_logged_not_fatal_to_the_writer(tmp_path: Path) -> None:
    """orjson serializes C-contiguous arrays only: a column slice used to kill the writer
    thread silently, after which flush() waited forever."""
    from skbundle.monitor import PredictionLogger

    path = tmp_path / "log.jsonl"
    X = np.arange(12, dtype=np.float64).reshape(3, 4)
    proba = np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    with PredictionLogger(path, features=["a", "b"], classes=["n", "y"], bundle="b") as logger:
        logger.log(X[:, ::2], proba)  # a strided view
        logger.flush()
        assert (logger.error, logger.dropped) == (None, 0)
    assert len(path.read_text().splitlines()) == 2


# -- logs of regressors, label-only classifiers and categorical bundles (issue 11) ------------
@pytest.fixture(scope="module")
def zoo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.getbasetemp() / "zoo-bundles"
    root.mkdir(exist_ok=True)
    return root


def _log_requests(path: Path, bundle: skbundle.Bundle, frames: list[Any]) -> None:
    """One request per row, as a server logs them: validated codes and the runtime output."""
    with _logger(path, bundle) as logger:
        for frame in frames:
            for i in range(len(frame)):
                checked = bundle.validate(frame.iloc[i : i + 1])
                logger.log(checked.X, bundle.predict_validated(checked))


@pytest.mark.parametrize(
    ("case_id", "feature", "shift"),
    [
        pytest.param("diabetes-ridge", "bmi", "std", id="regressor"),
        pytest.param("penguins-mass-onehot-ridge", "island", "Dream", id="regressor-categorical"),
        pytest.param("penguins-onehot-forest", "island", "Dream", id="categorical"),
        pytest.param("cancer-svc", "worst area", "std", id="labels"),
    ],
)
def test_log_of_every_output_round_trips_into_a_drift_report(
    case_id: str, feature: str, shift: str, zoo_root: Path, tmp_path: Path
) -> None:
    from skbundle.monitor import BundleInfo
    from tests.test_drift import zoo_bundle

    fitted, bundle = zoo_bundle(case_id, zoo_root)
    if shift == "std":
        shifted = fitted.X_test.copy()
        shifted[feature] = shifted[feature] + fitted.X_train[feature].std()
    else:
        import pandas as pd

        everyone = pd.concat([fitted.X_train, fitted.X_test])
        shifted = everyone[everyone[feature] == shift]
    path = tmp_path / "traffic.jsonl"
    _log_requests(path, bundle, [shifted])
    header = orjson.loads(path.read_bytes().splitlines()[0])
    assert header["output"] == bundle.manifest.output
    logged = drift_log(BundleInfo.open(bundle.path), path, chunk_size=25)
    direct = drift(bundle, shifted)
    assert logged.n_rows == len(shifted) and logged.n_invalid == 0
    assert feature in [f.name for f in logged.drifted]
    # The log gives the same report as the same rows passed directly (counts exactly).
    for a, b in zip(logged.to_dict()["features"], direct.to_dict()["features"], strict=True):
        for key in ("current_mean", "current_std"):
            got, want = a.pop(key), b.pop(key)
            assert got == (None if want is None else pytest.approx(want, rel=1e-12)), a["name"]
        assert a == b
    assert logged.prediction.level == direct.prediction.level
    assert logged.prediction.balance_psi == direct.prediction.balance_psi
    if bundle.manifest.output == "values":
        assert logged.prediction.values is not None and direct.prediction.values is not None
        assert logged.prediction.values.psi == direct.prediction.values.psi


def test_bad_codes_and_outputs_in_a_log_are_set_aside(zoo_root: Path, tmp_path: Path) -> None:
    from tests.test_drift import zoo_bundle

    fitted, bundle = zoo_bundle("penguins-onehot-forest", zoo_root)
    checked = bundle.validate(fitted.X_test.iloc[:3])
    out = bundle.predict_validated(checked)
    X = checked.X.copy()
    island = bundle.feature_names.index("island")
    X[1, island] = 7.0  # there are 3 islands
    path = tmp_path / "bad.jsonl"
    with _logger(path, bundle) as logger:
        logger.log(X, out)
    report = drift_log(bundle, path)
    assert (report.n_rows, report.n_invalid) == (2, 1)
    assert [p.describe() for p in report.problems] == [
        "record 1, field 'island': got code 7, not a category code; expected an index into "
        "the 3 categories of the feature, or -1 (unseen)"
    ]


def test_log_of_another_output_is_refused(zoo_root: Path, tmp_path: Path) -> None:
    from tests.test_drift import zoo_bundle

    _, bundle = zoo_bundle("diabetes-ridge", zoo_root)
    path = tmp_path / "other.jsonl"
    header = {HEADER_KEY: 1, "features": bundle.feature_names, "output": "probabilities"}
    path.write_bytes(orjson.dumps(header) + b"\n")
    with pytest.raises(MonitoringError) as info:
        drift_log(bundle, path)
    assert str(info.value) == (
        f"Prediction log {path}: it was written for a model whose output is 'probabilities', "
        "this bundle's is 'values'. Compute drift with the bundle that served these predictions."
    )


@pytest.mark.parametrize(
    ("output", "row", "problem"),
    [
        pytest.param(
            "labels", [2.0, 0.3], "a class index that is not one of 0..1: [2.0, 0.3]", id="index"
        ),
        pytest.param(
            "labels", [0.5, 0.3], "a class index that is not one of 0..1: [0.5, 0.3]", id="fraction"
        ),
        pytest.param("values", [1.0, 2.0], "2 outputs, not 1", id="width"),
    ],
)
def test_log_reader_checks_each_output_layout(
    output: str, row: list[float], problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "l.jsonl"
    good = [0.0, -1.5] if output == "labels" else [151.0]
    line = {"t": "2026-01-01T00:00:00.000Z", "x": [[1.0], [2.0]], "p": [good, row]}
    path.write_bytes(orjson.dumps({HEADER_KEY: 1, "output": output}) + b"\n" + orjson.dumps(line))
    classes = ["no", "yes"] if output == "labels" else []
    reader = LogReader(path, ["a"], classes, output=output)
    chunks = list(reader)
    assert [c[1].tolist() for c in chunks] == [[good]]
    assert [p.problem for p in reader.problems] == [f"{path} line 2, row 1: {problem}"]
