"""``skbundle drift`` end to end: files of every kind, exit codes, JSON, HTML in Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from typer.testing import CliRunner

import skbundle
from skbundle.cli import app
from skbundle.monitor.predlog import PredictionLogger
from tests import chromium
from tests.conftest import Case


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def data(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test split (with its labels) and a shifted copy, in every input format."""
    root = tmp_path_factory.mktemp("drift-data")
    test = cancer.X_test.copy()
    test["target"] = cancer.y_test
    shifted = test.copy()
    shifted["mean radius"] += 2 * cancer.X_train["mean radius"].std()
    shifted["mean area"] = shifted["mean area"].astype(object)
    shifted.loc[shifted.index[:2], "mean area"] = "oops"
    paths = {
        "csv": root / "test.csv",
        "parquet": root / "test.parquet",
        "jsonl": root / "test.jsonl",
        "shifted": root / "shifted.csv",
    }
    test.to_csv(paths["csv"], index=False)
    test.to_parquet(paths["parquet"], index=False)
    test.to_json(paths["jsonl"], orient="records", lines=True)
    shifted.to_csv(paths["shifted"], index=False)
    return paths


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["drift", *args])
    return result.exit_code, result.stdout, result.stderr


def test_test_split_is_ok_in_every_format(cancer: Case, data: dict[str, Path]) -> None:
    reports = []
    for kind in ("csv", "parquet", "jsonl"):
        code, out, err = _run(
            str(cancer.path), str(data[kind]), "--labels", "target", "--trust-pickle", "--json"
        )
        assert (code, err) == (0, ""), kind
        report = orjson.loads(out)
        assert (report["verdict"], report["n_rows"]) == ("ok", len(cancer.X_test)), kind
        assert report["performance"]["accuracy_drop"] == 0.0, kind
        reports.append(report)
    assert reports[0]["features"] == reports[1]["features"] == reports[2]["features"]


def test_shifted_csv_alerts_and_reports_bad_rows(cancer: Case, data: dict[str, Path]) -> None:
    code, out, _ = _run(
        str(cancer.path), str(data["shifted"]), "--labels", "target", "--trust-pickle"
    )
    text = _flat(out)
    assert code == 2
    assert "112 rows analysed, 2 left out as invalid" in text
    assert (
        "left out: record 0, field 'mean area': got a string 'oops'; expected a number, "
        "not a string" in text
    )
    assert "verdict: alert (exit 2); drifted features: mean radius;" in text
    assert "KS p-values are informative only" in text


def test_warn_exit_code(cancer: Case, data: dict[str, Path]) -> None:
    code, out, _ = _run(
        str(cancer.path),
        str(data["shifted"]),
        "--trust-pickle",
        "--alert",
        "100",
        "--ignore-unknown",
    )
    assert code == 1
    assert "verdict: warn (exit 1)" in _flat(out)


def test_html_report_renders_in_chromium(
    cancer: Case, data: dict[str, Path], tmp_path: Path
) -> None:
    page_path = tmp_path / "report" / "drift.html"
    code, out, _ = _run(
        str(cancer.path),
        str(data["shifted"]),
        "--labels",
        "target",
        "--trust-pickle",
        "--html",
        str(page_path),
    )
    assert code == 2
    assert f"HTML report: {page_path}" in _flat(out)
    requests: list[str] = []
    with chromium.launch() as browser:
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.alt, e.complete && e.naturalWidth > 0])"
        )
        heading = page.inner_text("h1")
        body = page.inner_text("body")
    # One histogram for the drifted feature, one per class for the predictions; all decoded.
    assert images == [
        ["reference vs current histogram of mean radius", True],
        ["predicted probability of malignant", True],
        ["predicted probability of benign", True],
    ]
    assert requests == [page_path.as_uri()]  # self-contained: nothing else fetched
    assert heading == "Drift report: breast-cancer 1.0.0"
    assert "Verdict: alert (exit code 2)" in body
    assert "record 1, field 'mean area': got a string 'oops'" in body


def test_from_log(cancer: Case, tmp_path: Path) -> None:
    bundle = skbundle.load(cancer.path, trust_pickle=True)
    path = tmp_path / "traffic.jsonl"
    with PredictionLogger(path, features=bundle.feature_names, classes=bundle.classes) as log:
        log.log(cancer.X_test.to_numpy(dtype=np.float64), bundle.predict_proba(cancer.X_test))
    # No --trust-pickle: the probabilities are in the log, the model is never loaded.
    code, out, err = _run(str(cancer.path), "--from-log", str(path), "--json")
    assert (code, err) == (0, "")
    report = orjson.loads(out)
    assert report["n_rows"] == len(cancer.X_test)
    assert report["source"] == f"prediction log {path}"
    code, out, _ = _run(
        str(cancer.path), "--from-log", str(path), "--since", "1h", "--trust-pickle", "--json"
    )
    assert (code, orjson.loads(out)["n_rows"]) == (0, len(cancer.X_test))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            [],
            "error: skbundle drift: expected exactly one of NEW_DATA and --from-log. Pass a "
            "data file, or --from-log FILE.",
            id="no-input",
        ),
        pytest.param(
            ["{csv}", "--from-log", "x.jsonl"],
            "error: skbundle drift: expected exactly one of NEW_DATA and --from-log. Pass a "
            "data file, or --from-log FILE.",
            id="two-inputs",
        ),
        pytest.param(
            ["{csv}", "--since", "1h"],
            "error: --since: it only applies with --from-log.",
            id="since-without-log",
        ),
        pytest.param(
            ["--from-log", "x.jsonl", "--labels", "target"],
            "error: --labels: a prediction log holds no labels.",
            id="labels-with-log",
        ),
        pytest.param(
            ["{csv}", "--labels", "diagnosis"],
            "error: Labels column 'diagnosis': not found in the input (columns: ['area error', "
            "'compactness error', 'concave points error', 'concavity error', 'fractal "
            "dimension error', 'mean area', 'mean compactness', 'mean concave points']). Pass "
            "--labels with the name of the column that holds the true classes.",
            id="labels-column-missing",
        ),
        pytest.param(
            ["{csv}", "--warn", "0.5", "--alert", "0.2"],
            "error: Drift thresholds: expected 0 < warn <= alert (got warn=0.5, alert=0.2).",
            id="thresholds",
        ),
        pytest.param(
            ["nowhere.csv"],
            "error: Cannot read input nowhere.csv: no such file, and it is not inline JSON. "
            "Pass a .json, .jsonl, .csv or .parquet file, inline JSON, or - for standard input.",
            id="no-such-file",
        ),
        pytest.param(
            ["--from-log", "/nonexistent/x.jsonl"],
            "error: Prediction log /nonexistent/x.jsonl: no such file (and no rotated backups "
            "of it). Pass the file given to 'skbundle serve --log-predictions'.",
            id="no-such-log",
        ),
    ],
)
def test_refusals_exit_3(
    cancer: Case, data: dict[str, Path], args: list[str], message: str
) -> None:
    args = [a.replace("{csv}", str(data["csv"])) for a in args]
    code, out, err = _run(str(cancer.path), *args, "--trust-pickle")
    assert (code, out) == (3, "")
    assert _flat(err) == message


def test_from_log_still_verifies_the_bundle(bundle_copy: Path, tmp_path: Path) -> None:
    (bundle_copy / "reference.json").write_bytes(b"{}")
    log = tmp_path / "t.jsonl"
    log.write_bytes(b"")
    code, out, err = _run(str(bundle_copy), "--from-log", str(log))
    assert (code, out) == (3, "")
    assert _flat(err).startswith(
        f"error: Bundle {bundle_copy} failed verification (1 problem): reference.json has sha256"
    )


def test_broken_json_line_is_left_out(cancer: Case, data: dict[str, Path], tmp_path: Path) -> None:
    lines = data["jsonl"].read_bytes().splitlines()
    lines[3] = lines[3][:40]  # a line cut short
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    code, out, err = _run(
        str(cancer.path), str(path), "--labels", "target", "--trust-pickle", "--json"
    )
    report = orjson.loads(out)
    assert (code, err) == (0, "")
    assert (report["n_rows"], report["n_invalid"]) == (len(cancer.X_test) - 1, 1)
    problem = report["problems"][0]
    assert problem["problem"].startswith("line 4 is not valid JSON (")
    assert (problem["record"], problem["field"]) == (None, None)


def test_header_only_csv_is_refused(cancer: Case, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(",".join(cancer.X_test.columns) + "\n")
    code, _, err = _run(str(cancer.path), str(path), "--trust-pickle")
    assert code == 3
    assert _flat(err) == (
        f"error: Drift input {path}: expected at least one valid row, got none. Check the "
        "input against 'skbundle inspect'."
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["--bogus"], "No such option: --bogus", id="unknown-option"),
        pytest.param(["x.csv", "--warn", "abc"], "Invalid value for '--warn'", id="bad-float"),
        pytest.param(
            ["x.csv", "--chunk-size", "0"], "Invalid value for '--chunk-size'", id="range"
        ),
    ],
)
def test_usage_errors_exit_3_not_2(cancer: Case, args: list[str], fragment: str) -> None:
    # Click exits 2 on a usage error, and 2 means "alert" to a scheduler.
    result = CliRunner().invoke(app, ["drift", str(cancer.path), *args])
    assert result.exit_code == 3
    assert fragment in _flat(result.output)


def test_real_process_exit_code(cancer: Case, data: dict[str, Path]) -> None:
    """The console script itself, as a scheduler runs it."""
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "skbundle"),
            "drift",
            str(cancer.path),
            str(data["shifted"]),
            "--trust-pickle",
            "--ignore-unknown",
            "--json",
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert orjson.loads(done.stdout)["verdict"] == "alert"


def test_labels_column_needs_named_fields(cancer: Case, tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_bytes(orjson.dumps(cancer.X_test.to_numpy().tolist()))
    code, _, err = _run(str(cancer.path), str(path), "--labels", "target", "--trust-pickle")
    assert code == 3
    assert _flat(err) == (
        "error: Labels column 'target': the input is not a list of objects, so it has no "
        "named columns. Use CSV, Parquet or JSON objects with a field for the labels."
    )


def test_extra_columns_are_refused_unless_ignored(cancer: Case, data: dict[str, Path]) -> None:
    code, out, err = _run(str(cancer.path), str(data["csv"]), "--trust-pickle")
    assert (code, out) == (3, "")
    assert "field 'target': unknown feature" in _flat(err)
    code, out, _ = _run(str(cancer.path), str(data["csv"]), "--trust-pickle", "--ignore-unknown")
    assert code == 0


def test_terminal_lists_the_most_severe_features_unless_all(
    cancer: Case, data: dict[str, Path]
) -> None:
    args = [str(cancer.path), str(data["shifted"]), "--trust-pickle", "--ignore-unknown"]
    level_cells = re.compile(r"^│[^│]*│ (ok|warn|alert) +│", re.MULTILINE)
    code, out, _ = _run(*args)
    assert code == 2
    assert "... and 20 more features, all ok (--all, --json or --html: all)" in _flat(out)
    assert len(level_cells.findall(out)) == 10
    code, out, _ = _run(*args, "--all")
    assert code == 2
    assert "more features" not in out
    assert sorted(level_cells.findall(out)) == ["alert"] + ["ok"] * 29


def test_json_output_lists_every_feature(cancer: Case, data: dict[str, Path]) -> None:
    code, out, err = _run(
        str(cancer.path), str(data["parquet"]), "--trust-pickle", "--ignore-unknown", "--json"
    )
    assert err == ""
    report = orjson.loads(out)
    assert code == 0
    assert sorted(f["name"] for f in report["features"]) == sorted(cancer.X_test.columns)
    assert report["performance"] is None
    assert pd.Series([f["level"] for f in report["features"]]).eq("ok").all()
