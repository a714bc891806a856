"""`skbundle demo` produces every readiness file, benchmarked and checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from skbundle import demo
from skbundle.core.integrity import verify
from skbundle.core.manifest import read_manifest
from skbundle.readiness.refresh import read_readiness

from .readiness_helpers import png_size


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoReport:
    return demo.run(tmp_path_factory.mktemp("demo"), repeat=1, bench_n=20)


def test_demo_produces_all_readiness_files(report: demo.DemoReport) -> None:
    path = report.bundle_path
    manifest = read_manifest(path)
    listed = {a.path for a in manifest.artifacts}
    assert {
        "checklist.md",
        "feature_importance.png",
        "model_card.md",
        "readiness.json",
        "report.html",
    } <= listed
    assert verify(path).ok
    assert manifest.benchmarks is not None
    assert list(manifest.benchmarks["runtimes"]) == ["joblib", "onnx", "skops"]
    checklist = report.extras["checklist"]
    # Latency is judged against the default 100 ms budget: a shared machine may miss it, and
    # this test makes no timing assertion. Everything else must pass.
    assert [i.key for i in checklist.items if i.blocking and i.key != "latency"] == []
    data = read_readiness(path)
    assert data["checklist"]["items"] == checklist.to_dict()["items"]
    assert [row["method"] for row in data["persistence"]][-3:] == [
        "format joblib (model.joblib)",
        "format skops (model.skops)",
        "format onnx (model.onnx)",
    ]
    assert png_size((path / "feature_importance.png").read_bytes()) == (800, 600)
    page = (path / "report.html").read_text(encoding="utf-8")
    # The verdict follows the checklist (latency may miss its budget on a loaded machine).
    verdict = "Ready to deploy" if checklist.ok() else "Not ready to deploy"
    assert verdict in page
    assert "one Pipeline file, compress=9" in page


def test_demo_output_ends_with_the_benchmark_and_the_checklist(
    report: demo.DemoReport, tmp_path: Path
) -> None:
    from skbundle.cli._common import console
    from skbundle.cli.readiness_commands import render_demo_readiness

    with console.capture() as captured:
        render_demo_readiness(report)
    text = " ".join(captured.get().split())
    assert "9. Benchmarked (stored in bundle.json, shown in report.html)" in text
    assert "10. Deployment checklist (every item measured; checklist.md)" in text
    assert f"CI gate: skbundle check {report.bundle_path} --trust-pickle" in text
    empty = demo.run(tmp_path / "plain", repeat=1, readiness=False)
    assert empty.extras == {}
    with console.capture() as captured:
        render_demo_readiness(empty)
    assert captured.get() == ""
