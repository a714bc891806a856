"""skbundle bench: measurements per runtime, stored in the manifest and shown by the report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skbundle import bench
from skbundle.core.integrity import verify
from skbundle.core.manifest import read_manifest
from skbundle.errors import BundleIntegrityError, RuntimeUnavailableError

from .conftest import Case
from .readiness_helpers import copy_bundle


@pytest.fixture(scope="module")
def measured(cancer: Case) -> bench.BenchResult:
    return bench.run(cancer.path, n=40, batch_sizes=(1, 10, 50), trust_pickle=True)


def test_every_measurement_is_present_and_ordered(
    cancer: Case, measured: bench.BenchResult
) -> None:
    assert list(measured.runtimes) == ["joblib", "onnx", "skops"]
    r = measured.runtimes["joblib"]
    s = r.single
    assert s["n"] == 40
    assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"]
    assert r.load_ms > 0
    assert r.rss_added_mb is not None and r.rss_added_mb > 0
    assert [b["size"] for b in r.batches] == [1, 10, 50]
    for b in r.batches:
        assert b["rows_per_s"] == pytest.approx(b["size"] / (b["latency_ms"] / 1000))
    assert r.artifact == "model.joblib"
    assert r.artifact_bytes == (cancer.path / "model.joblib").stat().st_size


def test_artifact_sizes_come_from_the_manifest(cancer: Case, measured: bench.BenchResult) -> None:
    manifest = read_manifest(cancer.path)
    assert measured.artifacts == {a.path: a.bytes for a in manifest.artifacts}


def test_persistence_compares_levels_and_every_format(measured: bench.BenchResult) -> None:
    assert measured.persistence is not None
    methods = [row["method"] for row in measured.persistence]
    assert methods[:4] == [
        "separate files (scaler + model), compress=0",
        "one Pipeline file, compress=0",
        "one Pipeline file, compress=3",
        "one Pipeline file, compress=9",
    ]
    assert "format joblib (model.joblib)" in methods
    sizes = {row["method"]: row["bytes"] for row in measured.persistence}
    assert sizes["one Pipeline file, compress=9"] < sizes["one Pipeline file, compress=0"]


def test_synthetic_records_stay_within_the_training_range(cancer: Case) -> None:
    manifest = read_manifest(cancer.path)
    records = bench.synthetic_records(manifest, 200, seed=3)
    assert len(records) == 200
    for f in manifest.features:
        values = [r[f.name] for r in records]
        assert f.min is not None and f.max is not None
        assert f.min <= min(values) and max(values) <= f.max
    assert records == bench.synthetic_records(manifest, 200, seed=3)


def test_store_puts_the_result_in_the_manifest_and_keeps_the_bundle_intact(
    cancer: Case, measured: bench.BenchResult, tmp_path: Path
) -> None:
    path = copy_bundle(cancer.path, tmp_path / "b")
    update = bench.store(path, measured)
    manifest = read_manifest(path)
    assert manifest.benchmarks == measured.to_dict()
    assert "persistence" not in manifest.benchmarks
    assert verify(path).ok
    assert update.signature_stale is False
    html = (path / "report.html").read_text(encoding="utf-8")
    assert f"{measured.runtimes['joblib'].single['p99_ms']:.3f}" in html
    assert "one Pipeline file, compress=9" in html


def test_store_on_a_signed_bundle_says_the_signature_must_be_renewed(
    cancer: Case, measured: bench.BenchResult, tmp_path: Path
) -> None:
    path = copy_bundle(cancer.path, tmp_path / "signed")
    (path / "signature.json").write_text("{}", encoding="utf-8")
    update = bench.store(path, measured)
    assert update.signature_stale is True
    assert "sign the bundle again to renew the signature" in update.note


def test_untrusted_pickle_is_skipped_and_the_safe_formats_measured(cancer: Case) -> None:
    result = bench.run(cancer.path, n=5, batch_sizes=(1,), trust_pickle=False)
    assert list(result.runtimes) == ["onnx", "skops"]
    assert result.skipped == {
        "joblib": "a pickle: loading it needs --trust-pickle (trust_pickle=True)"
    }


def test_nothing_left_to_measure_is_an_error(cancer: Case) -> None:
    message = (
        f"Cannot benchmark {cancer.path}: no runtime could be measured (joblib: a pickle: "
        "loading it needs --trust-pickle (trust_pickle=True)). Pass --trust-pickle for a bundle "
        "you built or whose source you verified."
    )
    with pytest.raises(bench.BenchmarkError, match=f"^{re.escape(message)}$"):
        bench.run(cancer.path, runtimes=["joblib"], n=5, trust_pickle=False)


def test_unknown_runtime_is_refused(cancer: Case) -> None:
    message = (
        "Runtime 'tflite' is not available for this bundle: expected one of ['auto', 'joblib', "
        "'onnx', 'skops']."
    )
    with pytest.raises(RuntimeUnavailableError, match=f"^{re.escape(message)}$"):
        bench.run(cancer.path, runtimes=["tflite"], n=5, trust_pickle=True)


def test_a_tampered_bundle_cannot_be_benchmarked(cancer: Case, tmp_path: Path) -> None:
    path = copy_bundle(cancer.path, tmp_path / "t")
    model = path / "model.joblib"
    model.write_bytes(model.read_bytes()[:-1] + b"\x00")
    start = f"Bundle {path} failed verification (1 problem): model.joblib has sha256 "
    with pytest.raises(BundleIntegrityError, match=f"^{re.escape(start)}"):
        bench.run(path, n=5, trust_pickle=True)
