"""When the CLI's output is not a terminal (a pipe, a file, CliRunner), lines and table cells are
printed whole: no ``worst radi...``, no name folded onto a second line, no wrap at 80 columns."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.panel import Panel
from rich.table import Table
from typer.testing import CliRunner

import skbundle
from skbundle.cli import _common, app
from tests import page_fixtures

SKBUNDLE = str(Path(sys.executable).with_name("skbundle"))


@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return page_fixtures.described_bundle(tmp_path_factory)


def _schema_rows(output: str, path: Path) -> None:
    manifest = skbundle.read_manifest(path)
    assert "\u2026" not in output and "..." not in output.split("schema")[1].split("artifacts")[0]
    for i, f in enumerate(manifest.features):
        row = re.compile(rf"^\s*{i}\s+{re.escape(f.name)}\s+\S", re.MULTILINE)
        assert row.search(output), f"row {i} ({f.name!r}) is not on one line:\n{output}"
    # The long description is one line, not wrapped at 80 columns.
    assert f"  {manifest.description}\n" in output
    assert len(manifest.description) > 80


def test_inspect_under_clirunner_prints_whole_names(described: Path) -> None:
    result = CliRunner().invoke(app, ["inspect", str(described)])
    assert result.exit_code == 0, result.output
    _schema_rows(result.stdout, described)
    assert "feature_importance.png" in result.stdout  # the artifacts table's cell, whole


def test_inspect_into_a_pipe_prints_whole_names(described: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [SKBUNDLE, "inspect", str(described)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    _schema_rows(done.stdout, described)
    worst = next(line for line in done.stdout.splitlines() if " worst fractal dimension " in line)
    assert worst.split()[-1] == "refused"  # the whole row: through its last column


def _table(names: list[str]) -> Table:
    table = Table("feature", "value")
    for name in names:
        table.add_row(name, "1.0")
    return table


def test_a_console_that_is_no_terminal_keeps_cells_whole_and_frames_at_80() -> None:
    long = "a feature name far longer than any terminal column would hold " * 3
    out = io.StringIO()
    console = _common._Console(file=out, highlight=False)
    console.print(_table([long]))
    assert [line for line in out.getvalue().splitlines() if long.strip() in line]
    out.truncate(0)
    out.seek(0)
    console.rule("title")
    console.print(Panel("text in a box"))
    widths = {len(line) for line in out.getvalue().splitlines()}
    assert widths == {_common.FRAME_WIDTH}


def test_a_terminal_keeps_richs_layout() -> None:
    """On a terminal the console is Rich's own: a cell too long for the width is cut."""
    out = io.StringIO()
    console = _common._Console(file=out, force_terminal=True, width=40, color_system=None)
    console.print(_table(["worst fractal dimension and a much longer tail of words"]))
    text = out.getvalue()
    assert "worst fractal dimension and a much longer tail of words" not in text
    assert max(len(line) for line in text.splitlines()) <= 40
