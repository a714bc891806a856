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
    assert "KS and chi-square p-values are informative only" in text


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


# -- poisoned inputs: counted and set aside, or one clear error; never a traceback or exit 1 --
def _log(cancer: Case, path: Path, *extra: bytes, header: dict[str, object] | None = None) -> Path:
    """A real log of the test split (two requests), then ``extra`` lines as a forger wrote them."""
    bundle = skbundle.load(cancer.path, trust_pickle=True)
    X = cancer.X_test.to_numpy(dtype=np.float64, copy=True)
    proba = np.ascontiguousarray(bundle.predict_proba(cancer.X_test))
    with PredictionLogger(path, features=bundle.feature_names, classes=bundle.classes) as log:
        log.log(X[:100].copy(), proba[:100].copy())
        log.log(X[100:].copy(), proba[100:].copy())
    lines = path.read_bytes().splitlines(keepends=True)
    if header is not None:
        lines[0] = orjson.dumps({**orjson.loads(lines[0]), **header}) + b"\n"
    path.write_bytes(b"".join(lines) + b"".join(line + b"\n" for line in extra))
    return path


def _line(cancer: Case, *, x: object = None, p: object = None, t: object = "2026-01-01") -> bytes:
    """One request line of the logger's shape, with a part replaced."""
    row = cancer.X_test.iloc[0].tolist()
    entry = {"t": t, "x": [row] if x is None else x, "p": [[0.25, 0.75]] if p is None else p}
    return orjson.dumps(entry)


ROW = 30 * [1.0]


@pytest.mark.parametrize(
    ("extra", "n_invalid", "problem"),
    [
        pytest.param(
            lambda c: [_line(c, x=[["oops", *ROW[1:]]])],
            1,
            "line 4, row 0: inputs value 0 is str 'oops'",
            id="string-input",
        ),
        pytest.param(
            lambda c: [_line(c, x=[[[1.0, 2.0], *ROW[1:]]])],
            1,
            "line 4, row 0: inputs value 0 is list [1.0, 2.0]",
            id="nested-list-input",
        ),
        pytest.param(
            lambda c: [_line(c, x=[[{"a": 1}, *ROW[1:]]])],
            1,
            "line 4, row 0: inputs value 0 is dict {'a': 1}",
            id="nested-object-input",
        ),
        pytest.param(
            lambda c: [_line(c, x=[[True, *ROW[1:]]])],
            1,
            "line 4, row 0: inputs value 0 is bool True",
            id="boolean-input",
        ),
        pytest.param(
            lambda c: [_line(c, x=[ROW[:29]])],
            1,
            "line 4, row 0: 29 inputs, not 30",
            id="short-row",
        ),
        pytest.param(
            lambda c: [_line(c, p=[["0.5", 0.5]])],
            1,
            "line 4, row 0: probabilities value 0 is str '0.5'",
            id="string-probability",
        ),
        pytest.param(
            lambda c: [_line(c, p=[[5.0, -4.0]])],
            1,
            "line 4, row 0: a probability outside [0, 1]: [5.0, -4.0]",
            id="probability-out-of-range",
        ),
        pytest.param(
            lambda c: [_line(c, x=[ROW, ["x", *ROW[1:]]], p=[[0.5, 0.5], [0.5, 0.5]])],
            1,
            "line 4, row 1: inputs value 0 is str 'x'",
            id="one-bad-row-of-two",
        ),
        pytest.param(
            lambda c: [_line(c, x="[[1, 2]]")],
            1,
            "line 4: 'x' is str '[[1, 2]]', not a list of rows",
            id="rows-as-a-string",
        ),
        pytest.param(
            lambda c: [_line(c, x=[ROW, ROW])],
            2,
            "line 4: 2 rows of inputs but 1 of probabilities",
            id="rows-disagree",
        ),
        pytest.param(
            lambda c: [_line(c, t=12)],
            1,
            "line 4: the time 't' is int 12, not text",
            id="time-not-text",
        ),
        pytest.param(
            lambda c: [b"[1, 2, 3]"], 1, "line 4: list [1, 2, 3], not an object", id="not-an-object"
        ),
        pytest.param(
            lambda c: [b'{"t": "2026', b"{}"],
            2,
            "line 4: not valid JSON (",
            id="cut-short-and-empty",
        ),
    ],
)
def test_poisoned_log_lines_are_counted_and_set_aside(
    cancer: Case, tmp_path: Path, extra: object, n_invalid: int, problem: str
) -> None:
    path = _log(cancer, tmp_path / "t.jsonl", *extra(cancer))  # type: ignore[operator]
    code, out, err = _run(str(cancer.path), "--from-log", str(path), "--json")
    assert (code, err) == (0, "")
    report = orjson.loads(out)
    kept = 1 if "row 1:" in problem else 0  # the good row of a line with a bad one is kept
    assert (report["n_rows"], report["n_invalid"]) == (len(cancer.X_test) + kept, n_invalid)
    assert report["problems"][0]["problem"].startswith(f"{path} {problem}")


def test_a_poisoned_log_still_alerts_on_the_good_rows(cancer: Case, tmp_path: Path) -> None:
    """Bad lines must not hide an alert: the verdict comes from what could be read."""
    bundle = skbundle.load(cancer.path, trust_pickle=True)
    shifted = cancer.X_test.copy()
    shifted["mean radius"] += 3 * cancer.X_train["mean radius"].std()
    path = tmp_path / "t.jsonl"
    with PredictionLogger(path, features=bundle.feature_names, classes=bundle.classes) as log:
        log.log(
            np.ascontiguousarray(shifted.to_numpy(dtype=np.float64)),
            np.ascontiguousarray(bundle.predict_proba(shifted)),
        )
    with path.open("ab") as fh:
        fh.write(_line(cancer, x=[["oops", *ROW[1:]]]) + b"\n" + b"{not json\n")
    code, out, _ = _run(str(cancer.path), "--from-log", str(path))
    text = _flat(out)
    assert code == 2
    assert f"{len(shifted)} rows analysed, 2 left out as invalid" in text
    assert "verdict: alert (exit 2); drifted features: mean radius;" in text


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param(
            {"features": 5},
            "its header is malformed: 'features' is not a list of names",
            id="features-not-a-list",
        ),
        pytest.param(
            {"classes": [["malignant"], "benign"]},
            "its header is malformed: 'classes' is not a list of names",
            id="nested-class-names",
        ),
        pytest.param(
            {"classes": ["benign", "malignant"]},
            "it was written for other classes (2 logged, 2 in this bundle; first difference: "
            "position 0: 'benign' vs 'malignant')",
            id="classes-swapped",
        ),
    ],
)
def test_a_lying_log_header_is_an_error(
    cancer: Case, tmp_path: Path, header: dict[str, object], message: str
) -> None:
    path = _log(cancer, tmp_path / "t.jsonl", header=header)
    code, out, err = _run(str(cancer.path), "--from-log", str(path))
    assert (code, out) == (3, "")
    assert _flat(err).startswith(f"error: Prediction log {path}: {message}.")


def test_a_log_of_only_bad_lines_is_an_error(cancer: Case, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(_line(cancer, x=[["oops", *ROW[1:]]]) + b"\n")
    code, out, err = _run(str(cancer.path), "--from-log", str(path))
    assert (code, out) == (3, "")
    assert _flat(err) == (
        f"error: Drift input prediction log {path}: expected at least one valid row, got none "
        "(1 rows failed validation). Check the input against 'skbundle inspect'."
    )


def test_an_overlong_log_line_is_skipped_unread(cancer: Case, tmp_path: Path) -> None:
    from skbundle.monitor.predlog import LogReader

    path = _log(cancer, tmp_path / "t.jsonl")
    limit = max(len(line) for line in path.read_bytes().splitlines(keepends=True))
    with path.open("ab") as fh:
        fh.write(b'{"x": "' + b"y" * 3 * limit + b'"}\n')
        fh.write(_line(cancer) + b"\n")  # the line after the long one is read again
    reader = LogReader(path, list(cancer.X_test.columns), cancer.class_names, max_line_bytes=limit)
    assert sum(len(X) for X, _ in reader) == len(cancer.X_test) + 1
    assert (reader.skipped, reader.invalid) == (1, 1)
    assert reader.problems[0].problem == f"{path} line 4: longer than {limit} bytes, not read"


@pytest.fixture
def csv_lines(cancer: Case) -> list[str]:
    test = cancer.X_test.copy()
    return test.to_csv(index=False).splitlines()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda lines: [*lines[:3], '"' + "x\n" * 2_000_000, *lines[3:]],
            "the record starting on line 4 is longer than 1048576 bytes (a quoted field that "
            "is never closed, or a runaway row)",
            id="unclosed-quoted-newlines",
        ),
        pytest.param(
            lambda lines: [*lines[:3], '"' + "x\n" * 1_000_000 + '"' + lines[3][1:], *lines[4:]],
            "the record starting on line 4 is longer than 1048576 bytes (a quoted field that "
            "is never closed, or a runaway row)",
            id="closed-quoted-newlines",
        ),
        pytest.param(
            lambda lines: [*lines[:5], "1," * 600_000, *lines[5:]],
            "the record starting on line 6 is longer than 1048576 bytes (a quoted field that "
            "is never closed, or a runaway row)",
            id="runaway-row",
        ),
        pytest.param(
            lambda lines: [*lines[:3], lines[3] + ",1,2", *lines[4:]],
            "not valid CSV (Error tokenizing data. C error: Expected 30 fields in line 4, saw 32)",
            id="too-many-fields",
        ),
        pytest.param(
            lambda lines: [*lines[:3], '"unclosed,' + lines[3]],
            "not valid CSV (Error tokenizing data. C error: EOF inside string starting at row 3)",
            id="quote-open-at-the-end",
        ),
        pytest.param(lambda lines: [], "not valid CSV (No columns to parse from file)", id="empty"),
    ],
)
def test_a_broken_csv_is_one_clear_error(
    cancer: Case, tmp_path: Path, csv_lines: list[str], make: object, message: str
) -> None:
    path = tmp_path / "bad.csv"
    lines = make(csv_lines)  # type: ignore[operator]
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    code, out, err = _run(str(cancer.path), str(path), "--trust-pickle")
    assert (code, out) == (3, "")
    assert _flat(err).startswith(f"error: Cannot read input {path}: {message}.")


def test_a_long_quoted_field_under_the_cap_is_a_bad_row(
    cancer: Case, tmp_path: Path, csv_lines: list[str]
) -> None:
    lines = [*csv_lines[:3], '"' + "x\n" * 1000 + '"' + csv_lines[3][csv_lines[3].index(",") :]]
    path = tmp_path / "long.csv"
    path.write_text("\n".join([*lines, *csv_lines[4:]]) + "\n")
    code, out, _ = _run(str(cancer.path), str(path), "--trust-pickle", "--json")
    report = orjson.loads(out)
    assert code == 0
    assert (report["n_rows"], report["n_invalid"]) == (len(cancer.X_test) - 1, 1)
    assert report["problems"][0]["problem"].startswith("got a string 'x\\nx\\n")


def test_nested_json_values_are_bad_rows(cancer: Case, tmp_path: Path) -> None:
    rows = cancer.X_test.to_dict(orient="records")
    rows[0]["mean radius"] = [1, 2]
    rows[1]["mean radius"] = {"a": 1}
    rows[2]["mean radius"] = [[1]]
    path = tmp_path / "nested.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    code, out, _ = _run(str(cancer.path), str(path), "--trust-pickle", "--json")
    report = orjson.loads(out)
    assert code == 0
    assert (report["n_rows"], report["n_invalid"]) == (len(rows) - 3, 3)
    assert [p["problem"] for p in report["problems"]] == [
        "got list [1, 2]",
        "got dict {'a': 1}",
        "got list [[1]]",
    ]


def test_an_unexpected_failure_exits_3_in_one_line(
    cancer: Case, data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever breaks, a scheduler must not read it as a verdict (1 = warn, 2 = alert)."""

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("surprise")

    # sys.modules: skbundle.monitor's own 'drift' attribute is the function of that name.
    monkeypatch.setattr(sys.modules["skbundle.monitor.drift"], "drift_source", broken)
    code, out, err = _run(str(cancer.path), str(data["csv"]), "--trust-pickle")
    assert (code, out) == (3, "")
    assert err.count("\n") == 1
    assert err == (
        "error: unexpected KeyError: 'surprise' (exit 3: nothing was concluded; please report "
        "this with the command that caused it)\n"
    )


# -- regressors and categorical bundles (issue 11) -------------------------------------------
@pytest.fixture(scope="module")
def zoo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.getbasetemp() / "zoo-bundles"
    root.mkdir(exist_ok=True)
    return root


def test_regressor_with_shifted_targets_alerts_on_rmse(zoo_root: Path, tmp_path: Path) -> None:
    from tests.test_drift import zoo_bundle

    fitted, bundle = zoo_bundle("diabetes-ridge", zoo_root)
    frame = fitted.X_test.copy()
    frame["target"] = fitted.y_test + fitted.y_train.std()
    frame.to_csv(tmp_path / "new.csv", index=False)
    code, out, err = _run(
        str(bundle.path),
        str(tmp_path / "new.csv"),
        "--labels",
        "target",
        "--runtime",
        "joblib",
        "--trust-pickle",
        "--html",
        str(tmp_path / "drift.html"),
    )
    text = _flat(out)
    assert (code, err) == (2, ""), out
    assert "Prediction drift: ok (predicted values: PSI" in text
    assert "alert when RMSE grows more than 20%" in text
    assert (
        "verdict: alert (exit 2); drifted features: none; predictions: ok; performance: alert"
        in text
    )
    assert "predicted value" in (tmp_path / "drift.html").read_text()
    code, _, _ = _run(
        str(bundle.path),
        str(tmp_path / "new.csv"),
        "--labels",
        "target",
        "--runtime",
        "joblib",
        "--trust-pickle",
        "--max-rmse-growth",
        "5",
    )
    assert code == 0


def test_categorical_drift_names_moved_categories(zoo_root: Path, tmp_path: Path) -> None:
    import pandas as pd

    from tests.test_drift import zoo_bundle

    fitted, bundle = zoo_bundle("penguins-onehot-forest", zoo_root)
    everyone = pd.concat([fitted.X_train, fitted.X_test])
    everyone[everyone["island"] == "Dream"].to_csv(tmp_path / "dream.csv", index=False)
    code, out, err = _run(
        str(bundle.path),
        str(tmp_path / "dream.csv"),
        "--runtime",
        "joblib",
        "--trust-pickle",
        "--html",
        str(tmp_path / "drift.html"),
    )
    text = _flat(out)
    assert (code, err) == (2, ""), out
    assert (
        "island: chi-square 224 (dof 2, p 2.3e-49), 0 unseen; moved most: Dream 35.6% -> "
        "100.0%; Biscoe 48.7% -> 0.0%; Torgersen 15.6% -> 0.0%" in text
    )
    page = (tmp_path / "drift.html").read_text()  # renders; the bars are labelled by island
    assert "reference vs current histogram of island" in page
