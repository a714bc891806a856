"""The server's API key from SKBUNDLE_API_KEY or --api-key-file, not only the command line.

``--api-key KEY`` is in /proc/PID/cmdline, readable by every local user; the environment and
a file are not. A key that comes from either must protect /predict, a missing or empty one
must stop the server before it starts (never serve without the key the operator meant).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

import skbundle
from skbundle.cli import app
from skbundle.errors import ApiKeyError
from skbundle.serve import create_app
from skbundle.serve.runner import ENV_API_KEY, api_key_from, read_api_key_file
from tests.conftest import Case
from tests.serve_live import live_server


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def record(cancer: Case) -> dict[str, float]:
    return skbundle.load(cancer.path).validator.example()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "serve.key"
    path.write_text("  k-from-file \nsecond line is ignored\n")
    path.chmod(0o600)
    return path


def test_the_key_from_a_file_is_its_stripped_first_line(key_file: Path) -> None:
    assert read_api_key_file(key_file) == "k-from-file"
    assert api_key_from(file=key_file, environ={}) == "k-from-file"


def test_the_key_from_the_environment() -> None:
    assert api_key_from(environ={ENV_API_KEY: "k-env"}) == "k-env"
    assert api_key_from(environ={}) is None
    assert api_key_from(option="k-opt", environ={}) == "k-opt"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"environ": {ENV_API_KEY: "  "}},
            "API key from SKBUNDLE_API_KEY: it is empty. Give a non-empty key, or unset "
            "SKBUNDLE_API_KEY for none.",
            id="empty-env",
        ),
        pytest.param(
            {"option": "", "environ": {}},
            "API key from --api-key: it is empty. Give a non-empty key, or unset "
            "SKBUNDLE_API_KEY for none.",
            id="empty-option",
        ),
        pytest.param(
            {"option": "a", "environ": {ENV_API_KEY: "b"}},
            "API key from --api-key and SKBUNDLE_API_KEY: expected one source of the key. Give "
            "the key one way only (unset SKBUNDLE_API_KEY to use an option).",
            id="option-and-env",
        ),
        pytest.param(
            {"option": "a", "file": "k", "environ": {}},
            "API key from --api-key and --api-key-file: expected one source of the key. Give "
            "the key one way only (unset SKBUNDLE_API_KEY to use an option).",
            id="option-and-file",
        ),
    ],
)
def test_refused_keys(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ApiKeyError) as info:
        api_key_from(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "no such file. Pass a file whose first line is the key.", id="missing"),
        pytest.param(
            b"", "the first line is empty. Put the key on the file's first line.", id="empty"
        ),
        pytest.param(
            b"  \nkey-on-line-two\n",
            "the first line is empty. Put the key on the file's first line.",
            id="blank-first-line",
        ),
        pytest.param(
            b"\xff\xfe\n", "the first line is not UTF-8 text. Store the key as text.", id="binary"
        ),
        pytest.param(
            b"k" * 5000,
            "the first line is longer than 4096 bytes. Put the key alone on the first line.",
            id="too-long",
        ),
    ],
)
def test_bad_key_files_stop_the_server_with_exit_1(
    cancer: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: bytes | None,
    message: str,
) -> None:
    monkeypatch.delenv(ENV_API_KEY, raising=False)
    path = tmp_path / "serve.key"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(app, ["serve", str(cancer.path), "--api-key-file", str(path)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert _flat(result.stderr) == f"error: API key from --api-key-file {path}: {message}"


def test_a_directory_is_not_a_key_file(
    cancer: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_API_KEY, raising=False)
    result = CliRunner().invoke(app, ["serve", str(cancer.path), "--api-key-file", str(tmp_path)])
    assert result.exit_code == 1
    assert _flat(result.stderr) == (
        f"error: API key from --api-key-file {tmp_path}: cannot be read (Is a directory). "
        "Check the path and its permissions."
    )


def test_an_empty_environment_key_stops_the_server(
    cancer: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_API_KEY, "")
    result = CliRunner().invoke(app, ["serve", str(cancer.path)])
    assert result.exit_code == 1
    assert _flat(result.stderr).startswith("error: API key from SKBUNDLE_API_KEY: it is empty.")


def test_help_says_where_a_key_should_come_from() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    text = _flat(result.stdout.replace("│", " "))  # Rich draws the options in a box
    assert result.exit_code == 0
    assert "--api-key-file" in text
    assert "SKBUNDLE_API_KEY" in text
    assert "Visible to every local user in the process list (/proc/PID/cmdline)" in text


@pytest.mark.parametrize("source", ["env", "file"])
def test_the_key_protects_predict_in_process(
    cancer: Case, key_file: Path, record: dict[str, float], source: str
) -> None:
    if source == "env":
        key = api_key_from(environ={ENV_API_KEY: "k-env"})
    else:
        key = api_key_from(file=key_file, environ={})
    assert key == {"env": "k-env", "file": "k-from-file"}[source]
    body = orjson.dumps(record)
    with TestClient(create_app(skbundle.load(cancer.path), api_key=key)) as client:
        assert client.post("/predict", content=body).status_code == 401
        wrong = {"authorization": "Bearer nope"}
        assert client.post("/predict", content=body, headers=wrong).status_code == 401
        right = {"authorization": f"Bearer {key}"}
        assert client.post("/predict", content=body, headers=right).status_code == 200


def test_a_live_server_takes_its_key_from_a_file_and_warns_when_others_can_read_it(
    cancer: Case,
    key_file: Path,
    record: dict[str, float],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_API_KEY, raising=False)
    key_file.chmod(0o644)
    with live_server(cancer.path, tmp_path / "serve.log", "--api-key-file", str(key_file)) as live:
        body = orjson.dumps(record)
        assert httpx.post(f"{live.url}/predict", content=body).status_code == 401
        auth = {"authorization": "Bearer k-from-file"}
        assert httpx.post(f"{live.url}/predict", content=body, headers=auth).status_code == 200
        cmdline = Path(f"/proc/{live.process.pid}/cmdline").read_bytes()
        assert b"k-from-file" not in cmdline  # what ps shows every local user
    log = _flat(live.log.read_text())
    assert "API key required" in log
    assert (
        f"warning: the API key file {key_file} can be read by other users; restrict it with "
        f"'chmod 600 {key_file}'." in log
    )
