"""skbundle bench / check / report / inspect, driven through the real CLI; exit codes for CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skbundle.cli import app
from skbundle.core.integrity import verify
from skbundle.core.manifest import read_manifest
from skbundle.errors import ThresholdError
from skbundle.readiness import check

from .conftest import Case
from .readiness_helpers import copy_bundle
from .zoo_bundles import LABELS, REGRESSOR, zoo_bundle

runner = CliRunner()


def flat(text: str) -> str:
    """Rich wraps long lines to the terminal width; compare text with whitespace folded."""
    return " ".join(text.split())


BUDGET = ["--max-p99-ms", "1000000000"]  # no timing assertion: the budget cannot be missed


@pytest.fixture(scope="module")
def benched(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = copy_bundle(cancer.path, tmp_path_factory.mktemp("cli") / "bundle")
    result = runner.invoke(app, ["bench", str(path), "--n", "30", "--trust-pickle"])
    assert result.exit_code == 0, result.output
    return path


def test_bench_prints_the_tables_and_stores_the_result(benched: Path) -> None:
    manifest = read_manifest(benched)
    assert manifest.benchmarks is not None
    assert manifest.benchmarks["n"] == 30
    assert [b["size"] for b in manifest.benchmarks["runtimes"]["joblib"]["batches"]] == [
        1,
        10,
        50,
        100,
        1000,
    ]
    assert verify(benched).ok


def test_bench_output(cancer: Case, tmp_path: Path) -> None:
    path = copy_bundle(cancer.path, tmp_path / "b")
    result = runner.invoke(app, ["bench", str(path), "--n", "20", "--trust-pickle", "--no-store"])
    assert result.exit_code == 0, result.output
    for text in ("single-row latency over 20 calls", "batch prediction", "persistence"):
        assert text in flat(result.output)
    assert read_manifest(path).benchmarks is None


def test_bench_without_trust_exits_1_with_the_reason(cancer: Case) -> None:
    # Only the pickle is asked for, so nothing can be measured (and nothing is stored).
    result = runner.invoke(app, ["bench", str(cancer.path), "--n", "5", "--runtime", "joblib"])
    assert result.exit_code == 1
    assert "no runtime could be measured (joblib: a pickle: loading it needs --trust-pickle" in (
        flat(result.output)
    )


def test_check_exits_0_when_every_required_item_passes(benched: Path) -> None:
    result = runner.invoke(
        app,
        [
            "check",
            str(benched),
            "--trust-pickle",
            "--min-accuracy",
            "0.9",
            "--requests",
            "50",
            *BUDGET,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "READY to deploy" in flat(result.output)
    assert "checklist stored in" in flat(result.output)
    assert verify(benched).ok


@pytest.mark.parametrize(
    ("extra", "blocking"),
    [
        (["--min-accuracy", "0.99"], "Metrics recorded and above the threshold"),
        (["--max-p99-ms", "0.000001"], "Prediction time measured and within budget"),
        (["--strict", *BUDGET], "Signature present"),
    ],
    ids=["accuracy", "latency", "strict"],
)
def test_check_exits_1_when_an_item_blocks(benched: Path, extra: list[str], blocking: str) -> None:
    result = runner.invoke(
        app,
        ["check", str(benched), "--trust-pickle", "--no-write", "--requests", "50", *extra],
    )
    assert result.exit_code == 1, result.output
    verdict = flat(result.output).split("NOT READY")[1]
    assert blocking in verdict


def test_check_without_a_benchmark_exits_1(cancer: Case) -> None:
    result = runner.invoke(app, ["check", str(cancer.path), "--trust-pickle", "--no-write"])
    assert result.exit_code == 1
    assert "blocking: Memory requirements measured; Prediction time measured" in flat(result.output)


def test_check_json_is_machine_readable(benched: Path) -> None:
    result = runner.invoke(
        app,
        [
            "check",
            str(benched),
            "--trust-pickle",
            "--json",
            "--no-write",
            "--requests",
            "20",
            *BUDGET,
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["strict"] is False
    assert data["settings"] == {
        "min_accuracy": None,
        "min_r2": None,
        "max_rmse": None,
        "max_p99_ms": 1e9,
        "requests": 20,
        "concurrency": 32,
    }
    assert [item["key"] for item in data["items"]][:3] == ["metrics", "integrity", "version"]
    assert set(data["items"][0]) == {"group", "key", "title", "status", "evidence", "required"}


def test_check_of_a_tampered_bundle_exits_1(benched: Path, tmp_path: Path) -> None:
    path = copy_bundle(benched, tmp_path / "t")
    (path / "requirements.txt").write_text("numpy==1.0\n", encoding="utf-8")
    result = runner.invoke(
        app, ["check", str(path), "--trust-pickle", "--json", "--no-write", *BUDGET]
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    integrity = next(i for i in data["items"] if i["key"] == "integrity")
    assert integrity["status"] == "fail"
    assert integrity["evidence"].startswith("1 problem(s): requirements.txt has sha256 ")


def test_check_of_a_missing_bundle_exits_1_with_the_reason(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "the bundle directory does not exist" in flat(result.output)


def test_report_rerenders(benched: Path) -> None:
    result = runner.invoke(app, ["report", str(benched)])
    assert result.exit_code == 0, result.output
    assert f"wrote {(benched / 'report.html').resolve()}" in flat(result.output)
    assert verify(benched).ok


def test_inspect_lists_the_top_ten_features(cancer: Case) -> None:
    result = runner.invoke(app, ["inspect", str(cancer.path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("top 10 features (feature_importances_):")
    listed = lines[start + 1 : start + 11]
    assert [line.split()[0] for line in listed] == [f"{i}." for i in range(1, 11)]
    assert "worst" in listed[0] or "mean" in listed[0]


def test_bench_on_a_signed_bundle_says_the_signature_must_be_renewed(
    cancer: Case, tmp_path: Path
) -> None:
    path = copy_bundle(cancer.path, tmp_path / "signed")
    (path / "signature.json").write_text("{}", encoding="utf-8")
    result = runner.invoke(app, ["bench", str(path), "--n", "5", "--trust-pickle"])
    assert result.exit_code == 0, result.output
    assert (
        "warning: signature.json was made over the previous bundle.json and no longer matches "
        "it: sign the bundle again to renew the signature." in flat(result.output)
    )


def test_check_with_an_unknown_runtime_measures_no_probe(benched: Path) -> None:
    result = runner.invoke(
        app,
        ["check", str(benched), "--runtime", "tflite", "--json", "--no-write", *BUDGET],
    )
    assert result.exit_code == 1
    items = {i["key"]: i for i in json.loads(result.stdout)["items"]}
    assert items["validation"]["status"] == "not measured"
    assert items["validation"]["evidence"] == (
        "the bundle could not be loaded: Runtime 'tflite' is not available for this bundle: "
        "expected one of ['auto', 'joblib', 'onnx', 'skops']."
    )


# -- thresholds by task (zoo bundles) -------------------------------------------------------
@pytest.fixture(scope="session")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo_bundle(tmp_path_factory, REGRESSOR)


@pytest.fixture(scope="session")
def labels_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo_bundle(tmp_path_factory, LABELS)


@pytest.mark.parametrize(
    ("fixture", "args", "message"),
    [
        (
            "labels_only",
            ["--min-r2", "0.5"],
            "error: Threshold min_r2 (--min-r2) does not apply to the bundle 'cancer-svc': it is "
            "a classifier; expected a classifier's threshold min_accuracy (--min-accuracy). Leave "
            "min_r2 out, or check a regressor.",
        ),
        (
            "labels_only",
            ["--min-r2", "0.5", "--max-rmse", "3"],
            "error: Thresholds min_r2 (--min-r2), max_rmse (--max-rmse) do not apply to the "
            "bundle 'cancer-svc': it is a classifier; expected a classifier's threshold "
            "min_accuracy (--min-accuracy). Leave min_r2, max_rmse out, or check a regressor.",
        ),
        (
            "regressor",
            ["--min-accuracy", "0.9"],
            "error: Threshold min_accuracy (--min-accuracy) does not apply to the bundle "
            "'diabetes-ridge': it is a regressor; expected a regressor's thresholds min_r2 "
            "(--min-r2) or max_rmse (--max-rmse). Leave min_accuracy out, or check a classifier.",
        ),
    ],
    ids=["r2-on-a-classifier", "both-on-a-classifier", "accuracy-on-a-regressor"],
)
def test_check_refuses_a_threshold_of_the_other_task(
    request: pytest.FixtureRequest, fixture: str, args: list[str], message: str
) -> None:
    path: Path = request.getfixturevalue(fixture)
    before = (path / "checklist.md").read_bytes()
    result = runner.invoke(app, ["check", str(path), "--trust-pickle", *args])
    assert result.exit_code == 1
    assert flat(result.stderr) == message
    assert result.stdout == ""  # refused before anything was loaded or measured
    assert (path / "checklist.md").read_bytes() == before


def test_the_library_check_refuses_it_too(regressor: Path) -> None:
    with pytest.raises(ThresholdError) as caught:
        check(regressor, min_accuracy=0.9, write=False)
    assert (caught.value.given, caught.value.expected) == (["min_accuracy"], ["min_r2", "max_rmse"])


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--min-r2", "0.4", "--max-rmse", "60"], "pass"),
        (["--min-r2", "0.99"], "fail"),
        (["--max-rmse", "1"], "fail"),
    ],
    ids=["met", "r2-missed", "rmse-missed"],
)
def test_check_holds_a_regressor_to_r2_and_rmse(
    regressor: Path, args: list[str], status: str
) -> None:
    result = runner.invoke(
        app,
        [
            "check", str(regressor), "--runtime", "joblib", "--trust-pickle", "--json",
            "--no-write", "--requests", "5", *BUDGET, *args,
        ],
    )  # fmt: skip
    assert result.exit_code == 1  # never ready: no benchmark was stored
    data = json.loads(result.stdout)
    metrics = next(i for i in data["items"] if i["key"] == "metrics")
    assert (metrics["title"], metrics["status"]) == (
        "Metrics recorded and within the thresholds",
        status,
    )
    given = dict(zip(args[::2], map(float, args[1::2]), strict=True))
    assert data["settings"]["min_r2"] == given.get("--min-r2")
    assert data["settings"]["max_rmse"] == given.get("--max-rmse")


def test_a_missed_r2_blocks_the_verdict(regressor: Path) -> None:
    result = runner.invoke(
        app,
        [
            "check", str(regressor), "--runtime", "joblib", "--trust-pickle", "--no-write",
            "--requests", "5", *BUDGET, "--min-r2", "0.99",
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    verdict = flat(result.output).split("NOT READY")[1]
    assert "blocking: Metrics recorded and within the thresholds" in verdict
