"""A log written by the live server round-trips into a drift report."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from skbundle.cli import app
from tests.conftest import Case
from tests.serve_live import live_server


def test_live_server_log_round_trips_into_a_drift_report(cancer: Case, tmp_path: Path) -> None:
    log = tmp_path / "predictions.jsonl"
    records = cancer.X_test.to_dict(orient="records")
    shifted = [{**r, "mean radius": r["mean radius"] + 8.0} for r in records]
    with live_server(cancer.path, tmp_path / "server.log", "--log-predictions", str(log)) as live:
        for i in range(0, len(records), 10):
            assert httpx.post(f"{live.url}/predict", json=records[i : i + 10]).status_code == 200
        for record in shifted:
            assert httpx.post(f"{live.url}/predict", json=record).status_code == 200
    # The server has stopped (SIGINT): its lifespan closed the logger, so every row is on disk.
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0]["skbundle_prediction_log"] == 1
    # One line per request: 12 batches of up to 10 records, then 114 single records.
    assert len(lines) == 1 + 12 + len(records)
    assert sum(len(line["x"]) for line in lines[1:]) == 2 * len(records)
    assert lines[-1]["x"] == [[shifted[-1][name] for name in cancer.X_test.columns]]

    result = CliRunner().invoke(app, ["drift", str(cancer.path), "--from-log", str(log), "--json"])
    assert result.exit_code == 2, result.output  # the shifted half makes 'mean radius' alert
    report = json.loads(result.stdout)
    assert (report["n_rows"], report["n_invalid"], report["verdict"]) == (228, 0, "alert")
    worst = report["features"][0]
    assert (worst["name"], worst["level"]) == ("mean radius", "alert")
    assert worst["current_mean"] > worst["reference_mean"] + 4


def test_logging_needs_one_worker(cancer: Case, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["serve", str(cancer.path), "--workers", "2", "--log-predictions", str(tmp_path / "l")],
    )
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())
    assert "expected --workers 1 with --log-predictions, got 2: every worker would rotate" in text
