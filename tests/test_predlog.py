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
