"""Terminal and markup injection: a forged bundle's text reaches the terminal as plain text.

Names, descriptions, class names, pipeline steps and the rest of a bundle are written by
whoever made the bundle. Printed raw, ``ESC ] 52`` writes the clipboard, ``ESC ] 0`` retitles
the window, ``ESC [ 2J`` clears the screen, C1 controls and bidi overrides do the same or
reorder text, and Rich markup turns ``[link=...]`` into a hyperlink. Every command that
prints bundle text is run on a bundle carrying all of them, in a plain and in a colour
terminal, and the output must hold none of them, with the markup shown literally.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

import skbundle
from skbundle.cli import _common, app
from skbundle.core.manifest import read_manifest, write_manifest
from tests.conftest import Case
from tests.tampering import rehash

PAYLOADS = {
    "osc52-clipboard": "\x1b]52;c;ZXZpbA==\x07",
    "window-title": "\x1b]0;pwned\x07",
    "clear-screen": "\x1b[2J\x1b[H",
    "cursor-up": "\x1b[3A\x1b[2K",
    "c1-csi": "\x9b2J",
    "c1-osc": "\x9d0;t\x9c",
    "bidi-override": "\u202eevil\u202c",
    "bidi-isolate": "\u2066x\u2069",
    "del": "\x7f",
    "newline": "\nFORGED LINE: all good",
}
LINK = "[link=https://evil.example]click[/link]"
STYLE = "[reverse]styled[/reverse]"
EVIL = "".join(PAYLOADS.values()) + LINK + STYLE
"""Every payload in one string, with markup that would make a hyperlink and restyle text."""

UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What must never reach the terminal from a bundle (a line feed is fine: Rich wraps)."""
OWN_STYLES = re.compile(r"\x1b\[[0-9;]*m")
"""In a colour terminal our own styles are SGR sequences."""
OWN_LIVE_DISPLAY = re.compile(r"\r|\x1b\[2K|\x1b\[1A|\x1b\[\?25[lh]")
"""And Rich's spinner and progress bar on stderr redraw their line (never with our text)."""

FEATURE = "mean radius"
CLASS = "malignant"
EVIL_FEATURE = f"{FEATURE} {EVIL}"
EVIL_CLASS = f"{CLASS} {EVIL}"


def _rename(path: Path, renames: dict[str, str]) -> None:
    """Rename JSON strings (keys and values) exactly, as a forger editing the file would."""
    text = path.read_bytes()
    for old, new in renames.items():
        text = text.replace(orjson.dumps(old), orjson.dumps(new))
    path.write_bytes(text)


def forge(bundle: Path) -> Path:
    """Put EVIL in every free-text field of the manifest, and in the files that name features
    and classes (their hashes recomputed, so that verification passes)."""
    renames = {FEATURE: EVIL_FEATURE, CLASS: EVIL_CLASS}
    for name in ("reference.json", "readiness.json"):
        _rename(bundle / name, renames)
        rehash(bundle, name)
    m = read_manifest(bundle)
    features = [
        f.model_copy(update={"name": EVIL_FEATURE}) if f.name == FEATURE else f for f in m.features
    ]
    write_manifest(
        bundle,
        m.model_copy(
            update={
                # the name and version must match their patterns whole (a trailing line feed
                # is refused: test_integrity.py), so the payloads go in the free-text fields
                "description": EVIL,
                "classes": [EVIL_CLASS if c == CLASS else c for c in m.classes],
                "features": features,
                "pipeline": [f"{step} {EVIL}" for step in m.pipeline],
                "unavailable_formats": {**m.unavailable_formats, "pmml": EVIL},
                "environment": m.environment.model_copy(update={"platform": EVIL}),
                "created_at": EVIL,
            }
        ),
    )
    return bundle


@pytest.fixture
def evil(bundle_copy: Path) -> Path:
    return forge(bundle_copy)


@pytest.fixture
def records(cancer: Case, tmp_path: Path) -> Path:
    """Test rows under the forged feature name, the forged one shifted so that it drifts."""
    frame = cancer.X_test.rename(columns={FEATURE: EVIL_FEATURE})
    frame[EVIL_FEATURE] += 3 * cancer.X_train[FEATURE].std()
    path = tmp_path / "records.json"
    path.write_bytes(orjson.dumps(frame.to_dict(orient="records")))
    return path


@pytest.fixture(params=["plain", "colour"])
def terminal(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's consoles, wide (no wrapping inside a payload), as a pipe or a colour terminal.

    Same settings as the real ones (``highlight=False``); only width and terminal-ness change.
    """
    colour = request.param == "colour"
    for stderr, name in ((False, "console"), (True, "err_console")):
        replacement = Console(
            stderr=stderr,
            highlight=False,
            width=400,
            force_terminal=colour,
            color_system="truecolor" if colour else None,
        )
        for module in (_common, *(_commands())):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, replacement)
    return str(request.param)


def _commands() -> list[object]:
    from skbundle.cli import (
        bundle_commands,
        drift_commands,
        readiness_commands,
        serve_commands,
        trust_commands,
    )

    return [bundle_commands, drift_commands, readiness_commands, serve_commands, trust_commands]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def assert_safe(output: str, terminal: str) -> None:
    """Nothing from the bundle acts on the terminal; in colour, only our SGR styles do."""
    shown = output
    if terminal == "colour":
        shown = OWN_LIVE_DISPLAY.sub("", OWN_STYLES.sub("", output))
    found = sorted({f"U+{ord(c):04X}" for c in UNSAFE.findall(shown)})
    assert found == [], f"control characters reached the terminal: {found}"
    raw = [name for name, payload in PAYLOADS.items() if payload in output]
    assert raw == [], f"payloads printed raw: {raw}"
    assert "\x1b]" not in output  # no OSC at all: no clipboard, title or hyperlink (OSC 8)


def test_inspect(evil: Path, terminal: str) -> None:
    code, out = run("inspect", str(evil))
    assert code == 0
    assert_safe(out, terminal)
    text = OWN_STYLES.sub("", out)
    assert LINK in text and STYLE in text  # markup printed as text, never interpreted
    assert "\\x1b]52;c;ZXZpbA==\\x07" in text  # controls shown as visible escapes
    assert "\\u202eevil\\u202c" in text
    assert "\\x0aFORGED LINE: all good" in text


def test_inspect_survives_text_where_numbers_belong(bundle_copy: Path) -> None:
    m = read_manifest(bundle_copy)
    metrics = {**m.metrics, "test": {**m.metrics["test"], "accuracy": EVIL}}
    write_manifest(bundle_copy, m.model_copy(update={"metrics": metrics}))
    code, out = run("inspect", str(bundle_copy))
    assert code == 0
    assert_safe(out, "plain")
    assert f"test metrics: accuracy={orjson.dumps(EVIL).decode()}" not in out  # not raw
    assert "accuracy='\\x1b]52;c;ZXZpbA==\\x07" in out  # shown as text, escaped


def test_verify(evil: Path, terminal: str) -> None:
    code, out = run("verify", str(evil))
    assert code == 0
    assert_safe(out, terminal)


def test_verify_errors_quote_a_forged_path_safely(bundle_copy: Path, terminal: str) -> None:
    m = read_manifest(bundle_copy)
    artifacts = [
        a.model_copy(update={"path": f"requirements{EVIL}.txt"})
        if a.path == "requirements.txt"
        else a
        for a in m.artifacts
    ]
    write_manifest(bundle_copy, m.model_copy(update={"artifacts": artifacts}))
    code, out = run("verify", str(bundle_copy))
    assert code == 1
    assert_safe(out, terminal)
    # such a path cannot even be named: the manifest refuses it (test_special_files.py)
    assert "Cannot read the manifest" in OWN_STYLES.sub("", out)


def test_predict(evil: Path, records: Path, tmp_path: Path, terminal: str) -> None:
    code, out = run("predict", str(evil), str(records))
    assert code == 0
    assert_safe(out, terminal)
    results = orjson.loads(out)  # still the same JSON: escapes, not removed characters
    assert EVIL_CLASS in results[0]["probabilities"]
    code, out = run("predict", str(evil), str(records), "-o", str(tmp_path / "out.csv"))
    assert code == 0
    assert_safe(out, terminal)
    assert "\\x1b]52" in out  # the class counts of the summary name the forged class


def test_predict_error_quotes_feature_names_safely(evil: Path, terminal: str) -> None:
    code, out = run("predict", str(evil), '{"x": 1}')
    assert code == 1
    assert_safe(out, terminal)
    assert "error: Input from inline JSON does not fit the bundle" in OWN_STYLES.sub("", out)


def test_drift(evil: Path, records: Path, terminal: str) -> None:
    code, out = run("drift", str(evil), str(records), "--all")
    assert code == 2
    assert_safe(out, terminal)
    text = OWN_STYLES.sub("", out)
    assert f"drifted features: {FEATURE} \\x1b]52;c;ZXZpbA==\\x07" in text
    assert LINK in text
    code, out = run("drift", str(evil), str(records), "--json")
    assert code == 2
    assert_safe(out, terminal)
    assert orjson.loads(out)["features"][0]["name"] == EVIL_FEATURE


def test_drift_from_a_forged_log(evil: Path, cancer: Case, tmp_path: Path, terminal: str) -> None:
    from skbundle.monitor.predlog import PredictionLogger

    bundle = skbundle.load(cancer.path, trust_pickle=True)
    log = tmp_path / "t.jsonl"
    names = [EVIL_FEATURE if n == FEATURE else n for n in bundle.feature_names]
    with PredictionLogger(log, features=names, classes=[EVIL_CLASS, "benign"]) as logger:
        X = cancer.X_test.to_numpy(dtype="float64", copy=True)
        logger.log(X, bundle.predict_proba(cancer.X_test).copy(order="C"))
    with log.open("ab") as fh:
        fh.write(orjson.dumps({"t": "2026-01-01T00:00:00.000Z", "x": [[EVIL]], "p": [[1]]}))
        fh.write(b"\n")
    code, out = run("drift", str(evil), "--from-log", str(log))
    assert code == 0
    assert_safe(out, terminal)
    assert "1 left out as invalid" in out


def test_bench(evil: Path, terminal: str) -> None:
    code, out = run("bench", str(evil), "--n", "5", "--no-store")
    assert code == 0
    assert_safe(out, terminal)


def test_check(evil: Path, terminal: str) -> None:
    code, out = run("check", str(evil), "--requests", "20", "--concurrency", "2", "--no-write")
    assert code == 1  # not ready: no benchmark is stored in the bundle
    assert_safe(out, terminal)
    assert "deployment checklist" in out
    code, out = run(
        "check", str(evil), "--requests", "20", "--concurrency", "2", "--no-write", "--json"
    )
    assert code == 1
    assert_safe(out, terminal)
    assert orjson.loads(out)["ok"] is False


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07", id="osc52"),
        pytest.param("\x1b]0;title\x07", "\\x1b]0;title\\x07", id="title"),
        pytest.param("\x1b[2J", "\\x1b[2J", id="clear"),
        pytest.param("\x9b31m", "\\x9b31m", id="c1-csi"),
        pytest.param("a\u202eb\u2066c\u2069", "a\\u202eb\\u2066c\\u2069", id="bidi"),
        pytest.param("a\u200fb\u061c", "a\\u200fb\\u061c", id="bidi-marks"),
        pytest.param("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d", id="line-breaks"),
        pytest.param("a\u2028b", "a\\u2028b", id="line-separator"),
        pytest.param("\x7f\x00", "\\x7f\\x00", id="del-nul"),
        pytest.param(LINK, LINK, id="markup-kept-as-text"),
        pytest.param("naïve 数据 ✓", "naïve 数据 ✓", id="unicode-kept"),
    ],
)
def test_plain(value: str, shown: str) -> None:
    text = _common.plain(value)
    assert text.plain == shown
    assert text.spans == []  # no style came out of the value


def test_plain_multiline_keeps_only_line_feeds() -> None:
    assert _common.plain("a\nb\x1b[2J", multiline=True).plain == "a\nb\\x1b[2J"


def test_json_for_terminal_is_the_same_json() -> None:
    text = orjson.dumps({EVIL: EVIL}).decode()
    safe = _common.json_for_terminal(text)
    assert orjson.loads(safe) == {EVIL: EVIL}
    assert UNSAFE.findall(safe) == []


def test_a_forged_copy_is_still_a_valid_bundle(evil: Path) -> None:
    """The tests above exercise the printing, not an early refusal of the bundle."""
    assert skbundle.verify(evil).ok
    assert skbundle.load(evil).classes[0] == EVIL_CLASS
