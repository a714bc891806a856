"""The threat model: a bundle whose model.joblib runs os.system when unpickled, and whose
manifest was re-hashed to match. Integrity checks pass; nothing may execute the payload."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import joblib
import pytest
from typer.testing import CliRunner

import skbundle
from skbundle import UntrustedArtifactError
from skbundle.cli import app
from skbundle.formats import joblib_format
from tests.tampering import payload_bytes, rehash

NOT_TRUSTED = (
    "it is a pickle (joblib), and unpickling a file runs whatever code its author put in it; "
    "nothing says this bundle comes from a source you trust. If you built this bundle yourself "
    "or verified where it came from, pass trust_pickle=True (CLI: --trust-pickle)."
)
AUDIT = (
    "the pickle would import 1 name outside skbundle's allowlist: ['posix.system']. Nothing "
    "was unpickled. If you wrote this model and trust those names, pass trusted_types=[...] "
    "with them to skbundle.load() (CLI: --trust-type NAME, once per name); otherwise do not "
    "load it."
)


@pytest.fixture
def forged(bundle_copy: Path, tmp_path: Path) -> tuple[Path, Path]:
    sentinel = tmp_path / "payload-ran"
    (bundle_copy / "model.joblib").write_bytes(payload_bytes(sentinel))
    rehash(bundle_copy, "model.joblib")
    return bundle_copy, sentinel


def test_the_payload_is_live(tmp_path: Path) -> None:
    """Control: unpickling the payload directly does create the sentinel."""
    sentinel = tmp_path / "control"
    joblib.load(io.BytesIO(payload_bytes(sentinel)))
    assert sentinel.exists()


def test_the_forgery_passes_integrity(forged: tuple[Path, Path]) -> None:
    path, sentinel = forged
    assert skbundle.verify(path).ok
    assert not sentinel.exists()


def test_default_load_never_touches_the_pickle(forged: tuple[Path, Path], cancer: Any) -> None:
    path, sentinel = forged
    bundle = skbundle.load(path)
    assert bundle.runtime.format == "onnx"
    assert bundle.predict(cancer.X_test.iloc[0].to_dict())[0]["prediction"] in cancer.class_names
    # trust_pickle does not change auto's preference for a format that runs no code
    assert skbundle.load(path, trust_pickle=True).runtime.format == "onnx"
    assert not sentinel.exists()


def test_joblib_without_trust_is_refused(forged: tuple[Path, Path]) -> None:
    path, sentinel = forged
    message = f"Refusing to load {path / 'model.joblib'}: {NOT_TRUSTED}"
    with pytest.raises(UntrustedArtifactError, match=re.escape(message)):
        skbundle.load(path, runtime="joblib")
    assert not sentinel.exists()


def test_joblib_with_trust_is_refused_by_the_audit(
    forged: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, sentinel = forged

    def must_not_run(data: bytes) -> object:
        raise AssertionError("the unpickler was reached")

    monkeypatch.setattr(joblib_format, "_unpickle", must_not_run)
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(path, runtime="joblib", trust_pickle=True)
    assert str(info.value) == f"Refusing to load {path / 'model.joblib'}: {AUDIT}"
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("args", "exit_code", "expected"),
    [
        pytest.param(["predict", "{path}", "{record}"], 0, '"prediction"', id="predict"),
        pytest.param(
            ["predict", "{path}", "{record}", "--runtime", "joblib"],
            1,
            "pass trust_pickle=True",
            id="predict-joblib",
        ),
        pytest.param(
            ["predict", "{path}", "{record}", "--runtime", "joblib", "--trust-pickle"],
            1,
            "outside skbundle's allowlist: ['posix.system']. Nothing was unpickled. If you wrote "
            "this model and trust those names, pass trusted_types=[...] with them to "
            "skbundle.load() (CLI: --trust-type NAME, once per name)",
            id="predict-joblib-trusted",
        ),
        pytest.param(["inspect", "{path}"], 0, "model.joblib", id="inspect"),
        pytest.param(["verify", "{path}"], 0, "is intact", id="verify"),
    ],
)
def test_the_cli_never_runs_the_payload(
    forged: tuple[Path, Path], cancer: Any, args: list[str], exit_code: int, expected: str
) -> None:
    path, sentinel = forged
    record = json.dumps(cancer.X_test.iloc[0].to_dict())
    argv = [a.format(path=path, record=record) for a in args]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "400"})
    assert result.exit_code == exit_code, result.output
    assert expected in " ".join(result.output.split())
    assert not sentinel.exists()
