"""The command line, driven through typer's CliRunner: exit codes, output, files written."""

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
from tests.conftest import Case
from tests.zoo_bundles import CATEGORICAL, LABELS, REGRESSOR, zoo_bundle

runner = CliRunner()


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def flat(text: str) -> str:
    """Rich wraps long lines to the terminal width; compare text with whitespace folded."""
    return " ".join(text.split())


def test_help_lists_the_commands() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for command in ("demo", "inspect", "verify", "predict"):
        assert command in out


def test_inspect_shows_identity_schema_and_artifacts(cancer: Case) -> None:
    code, out, _ = run("inspect", str(cancer.path))
    assert code == 0
    text = flat(out)
    assert "breast-cancer 1.0.0 (classification, format v2)" in text
    assert "classes: ['malignant', 'benign']" in text
    # Not a terminal: the name is whole, on its row (not folded onto a second line).
    assert re.search(r"29 worst fractal dimension\s+0\.05504\s+0\.2075 ", text)
    assert "model.joblib" in text
    assert re.search(r"test metrics: accuracy=0\.9\d{3}", text)


def test_verify_exit_codes(bundle_copy: Path) -> None:
    code, out, _ = run("verify", str(bundle_copy))
    assert code == 0
    listed = len(skbundle.read_manifest(bundle_copy).artifacts)
    assert listed >= 4
    assert f"{bundle_copy} is intact: {listed} files match the manifest." in flat(out)
    (bundle_copy / "requirements.txt").write_text("evil==1.0\n")
    code, out, err = run("verify", str(bundle_copy))
    assert code == 1
    assert "FAIL requirements.txt" in flat(out)
    assert "failed verification (1 problem(s)); do not load it." in flat(err)


def test_verify_of_a_missing_bundle_says_so(tmp_path: Path) -> None:
    code, _, err = run("verify", str(tmp_path / "nope"))
    assert code == 1
    assert "the bundle directory does not exist" in flat(err)


def test_predict_inline_json(cancer: Case) -> None:
    record = orjson.dumps(cancer.X_test.iloc[0].to_dict()).decode()
    code, out, _ = run("predict", str(cancer.path), record, "--trust-pickle")
    assert code == 0
    (result,) = orjson.loads(out)
    want = cancer.pipeline.predict_proba(cancer.X_test.iloc[[0]])[0]
    assert result["probabilities"] == {"malignant": want[0], "benign": want[1]}


def test_predict_refuses_pickles_without_trust(cancer: Case) -> None:
    code, out, err = run("predict", str(cancer.path), "{}", "--runtime", "joblib")
    assert code == 1 and out == ""
    assert "pass trust_pickle=True (CLI: --trust-pickle)" in flat(err)


def test_predict_from_stdin_and_json_file(cancer: Case, tmp_path: Path) -> None:
    records = cancer.X_test.iloc[:4].to_dict(orient="records")
    code, out, _ = run(
        "predict", str(cancer.path), "-", "--trust-pickle", input=orjson.dumps(records).decode()
    )
    assert code == 0 and len(orjson.loads(out)) == 4
    path = tmp_path / "in.json"
    path.write_bytes(orjson.dumps(records))
    code, out2, _ = run("predict", str(cancer.path), str(path), "--trust-pickle")
    assert code == 0 and orjson.loads(out2) == orjson.loads(out)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
@pytest.mark.parametrize("out_suffix", [".csv", ".parquet", ".json", ".jsonl"])
def test_predict_files_in_chunks(
    cancer: Case, tmp_path: Path, suffix: str, out_suffix: str
) -> None:
    source = tmp_path / f"in{suffix}"
    frame = cancer.X_test
    if suffix == ".csv":
        frame.to_csv(source, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(source, index=False)
    else:
        source.write_bytes(
            b"".join(orjson.dumps(r) + b"\n" for r in frame.to_dict(orient="records"))
        )
    target = tmp_path / f"out{out_suffix}"
    code, _, err = run(
        "predict",
        str(cancer.path),
        str(source),
        "--trust-pickle",
        "--output",
        str(target),
        "--chunk-size",
        "25",
    )
    assert code == 0, err
    assert f"wrote {len(frame)} predictions to {target}" in flat(err)
    if out_suffix == ".csv":
        got = pd.read_csv(target)
    elif out_suffix == ".parquet":
        got = pd.read_parquet(target)
    elif out_suffix == ".json":
        got = pd.DataFrame(
            [
                {"prediction": r["prediction"], "p_malignant": r["probabilities"]["malignant"]}
                for r in orjson.loads(target.read_bytes())
            ]
        )
    else:
        got = pd.DataFrame(
            [
                {"prediction": r["prediction"], "p_malignant": r["probabilities"]["malignant"]}
                for r in map(orjson.loads, target.read_bytes().splitlines())
            ]
        )
    want = cancer.pipeline.predict_proba(frame)
    assert len(got) == len(frame)
    assert np.allclose(got["p_malignant"].to_numpy(), want[:, 0], rtol=0, atol=1e-15)
    assert list(got["prediction"]) == ["malignant" if p[0] > p[1] else "benign" for p in want]


def test_bad_row_in_a_later_chunk_writes_nothing(cancer: Case, tmp_path: Path) -> None:
    frame = cancer.X_test.astype(object)
    frame.iloc[60, 3] = "twelve"
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    target = tmp_path / "out.csv"
    code, _, err = run(
        "predict",
        str(cancer.path),
        str(source),
        "--trust-pickle",
        "--output",
        str(target),
        "--chunk-size",
        "25",
    )
    assert code == 1
    assert "record 60, field 'mean area': got a string 'twelve'" in flat(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_existing_output_survives_a_failed_run(cancer: Case, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("previous results")
    code, _, _ = run(
        "predict",
        str(cancer.path),
        '[{"mean radius": "x"}]',
        "--trust-pickle",
        "--output",
        str(target),
    )
    assert code == 1
    assert target.read_text() == "previous results"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["not-a-file.txt"],
            "Cannot read input not-a-file.txt: no such file, and it is not inline JSON.",
        ),
        (["{bad json"], "Cannot read input inline JSON: not valid JSON"),
        (["[]"], "got no records; expected at least one record"),
        (["{}", "--output", "x.xlsx"], "Cannot read input x.xlsx: unknown output type '.xlsx'."),
    ],
    ids=["missing-file", "bad-json", "empty", "bad-output-type"],
)
def test_predict_bad_input_table(cancer: Case, args: list[str], message: str) -> None:
    code, out, err = run("predict", str(cancer.path), *args, "--trust-pickle")
    assert code == 1 and out == ""
    assert message in flat(err)


def test_unknown_file_type_is_refused(cancer: Case, tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    code, _, err = run("predict", str(cancer.path), str(path), "--trust-pickle")
    assert code == 1
    assert "unknown file type '.xlsx'" in flat(err)


def test_demo_runs_the_whole_workflow(tmp_path: Path) -> None:
    code, out, err = run("demo", "--out", str(tmp_path))
    assert code == 0, err
    text = flat(out)
    assert "samples: 569 features: 30 classes: ['malignant', 'benign']" in text
    assert "train: 455 rows, test: 114 rows" in text
    assert "predictions identical to the original: True (max |difference| = 0)" in text
    assert "record 0, field 'mean radius': got a string '14.2'" in text
    assert "one Pipeline file, compress=9" in text
    assert "held-out test split, with its labels: ok (exit 0)" in text
    assert "'worst radius' shifted by +2 standard deviations: alert (exit 2)" in text
    assert "15% of the labels flipped: alert (exit 2)" in text
    assert (tmp_path / "breast-cancer" / "bundle.json").exists()


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("skbundle")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "Turn a fitted scikit-learn Pipeline into a verified bundle" in flat(result.stdout)


def test_make_demo_runs_the_demo(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(root), "demo", f"DEMO_OUT={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "predictions identical to the original: True" in flat(result.stdout)
    assert (tmp_path / "breast-cancer" / "model.joblib").exists()


def test_an_overlong_json_line_is_refused_without_being_held(tmp_path: Path) -> None:
    """A JSON-lines record longer than the cap is one clear error naming its line, and is
    never read into memory whole (the cap is a parameter of the reader)."""
    from skbundle import batch
    from skbundle.errors import InputProblem, InputValidationError

    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a": 1}\n' + b'{"b": "' + b"x" * 5000 + b'"}\n')
    with pytest.raises(
        InputValidationError, match="line 2 is not valid JSON \\(longer than 1000 bytes\\)"
    ):
        list(batch.jsonl_chunks(path, 10, "in.jsonl", max_line_bytes=1000))
    bad: list[InputProblem] = []
    chunks = list(batch.jsonl_chunks(path, 10, "in.jsonl", bad_lines=bad, max_line_bytes=1000))
    assert chunks == [([{"a": 1}], 0)]
    assert [p.problem for p in bad] == ["line 2 is not valid JSON (longer than 1000 bytes)"]


# -- inspect: task, output, interval, feature kinds (zoo bundles) ----------------------------
def test_inspect_shows_a_regressors_task_metrics_and_interval(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = zoo_bundle(tmp_path_factory, REGRESSOR)
    manifest = skbundle.read_manifest(path)
    iv = manifest.interval
    assert iv is not None
    code, out, _ = run("inspect", str(path))
    assert code == 0
    text = flat(out)
    assert "diabetes-ridge 1.0.0 (regression, format v2)" in text
    assert "task: regression, output: values (a number)" in text
    assert "classes:" not in text
    test = manifest.metrics["test"]
    assert (
        f"test metrics: r2={test['r2']:.4f}, mae={test['mae']:.4f}, rmse={test['rmse']:.4f}" in text
    )
    assert f"train r2: {manifest.metrics['train']['r2']:.4f}" in text
    assert (
        f"interval: split-conformal, prediction +/- {iv.half_width:.4g} at level 0.90; measured "
        f"coverage {iv.coverage:.3f} on held-out rows ({iv.n_calibration} calibration rows; "
        "marginal, not per record)"
    ) in text


def test_inspect_shows_labels_only_and_feature_kinds(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    code, out, _ = run("inspect", str(zoo_bundle(tmp_path_factory, LABELS)))
    assert code == 0
    text = flat(out)
    assert "task: classification, output: labels (a class label, no probabilities)" in text
    assert "no probabilities: labels only (no predict_proba, no confidence)" in text
    assert "kind" not in text.split("schema")[1].split("artifacts")[0]  # all numeric: no column
    # A wide terminal, so that each schema row stays on one line.
    result = runner.invoke(
        app, ["inspect", str(zoo_bundle(tmp_path_factory, CATEGORICAL))], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0
    text = flat(result.stdout)
    assert "task: classification, output: probabilities (a class label with its probabilities)" in (
        text
    )
    rows = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "0 island - - - - refused categorical Biscoe, Dream, Torgersen accepted" in rows
    assert "5 sex - - - - allowed categorical female, male accepted" in rows
    assert any(row.startswith("1 bill_length_mm ") and row.endswith(" numeric - -") for row in rows)
