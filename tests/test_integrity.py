"""Tampering: every change to a bundle is caught, by name, before anything is deserialized."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import orjson
import pytest

import skbundle
from skbundle.core.files import MAX_ARTIFACT_BYTES
from skbundle.core.integrity import read_verified, sha256_file
from skbundle.errors import BundleFileError, BundleIntegrityError, IntegrityProblem, ManifestError


def _flip_byte(path: Path, offset: int = 40) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def _expected(bundle: Path, name: str) -> str:
    manifest = skbundle.read_manifest(bundle)
    return next(a.sha256 for a in manifest.artifacts if a.path == name)


@pytest.fixture
def never_unpickle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make deserialization fail loudly: a test passing with this proves it never ran."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("joblib.load was reached")

    monkeypatch.setattr(joblib, "load", refuse)


@pytest.mark.parametrize("name", ["model.joblib", "requirements.txt"])
def test_a_changed_byte_in_any_file_is_caught(
    bundle_copy: Path, name: str, never_unpickle: None
) -> None:
    want = _expected(bundle_copy, name)
    _flip_byte(bundle_copy / name)
    got = sha256_file(bundle_copy / name)
    with pytest.raises(BundleIntegrityError) as info:
        skbundle.load(bundle_copy, trust_pickle=True)
    assert info.value.problems == [IntegrityProblem(name, "changed", want, got)]
    assert str(info.value) == (
        f"Bundle {bundle_copy} failed verification (1 problem): {name} has sha256 {got}, the "
        f"manifest expects {want}. Nothing was loaded. Rebuild the bundle with "
        "skbundle.save(), or fetch an intact copy from its source."
    )


def test_a_deleted_file_is_caught(bundle_copy: Path, never_unpickle: None) -> None:
    want = _expected(bundle_copy, "model.joblib")
    (bundle_copy / "model.joblib").unlink()
    with pytest.raises(
        BundleIntegrityError, match=re.escape("model.joblib is listed in the manifest but missing")
    ) as info:
        skbundle.load(bundle_copy, trust_pickle=True)
    assert info.value.problems == [IntegrityProblem("model.joblib", "missing", want, None)]


def test_an_unlisted_file_is_caught(bundle_copy: Path, never_unpickle: None) -> None:
    (bundle_copy / "extra.pkl").write_bytes(b"surprise")
    sha = sha256_file(bundle_copy / "extra.pkl")
    with pytest.raises(
        BundleIntegrityError,
        match=re.escape(f"extra.pkl is not listed in the manifest (sha256 {sha})"),
    ):
        skbundle.load(bundle_copy, trust_pickle=True)


def test_a_swapped_file_with_an_edited_hash_is_still_caught_by_its_neighbours(
    bundle_copy: Path, never_unpickle: None
) -> None:
    """Editing a hash in the manifest is the attack signatures exist for; without one, the
    edited manifest must at least match every file exactly, or loading stops."""
    data = orjson.loads((bundle_copy / "bundle.json").read_bytes())
    for artifact in data["artifacts"]:
        if artifact["path"] == "model.joblib":
            artifact["sha256"] = "0" * 64
    (bundle_copy / "bundle.json").write_bytes(orjson.dumps(data))
    with pytest.raises(
        BundleIntegrityError,
        match=re.escape(
            "the manifest expects 0000000000000000000000000000000000000000000000000000000000000000"
        ),
    ):
        skbundle.load(bundle_copy, trust_pickle=True)


def test_every_problem_is_reported_at_once(bundle_copy: Path) -> None:
    _flip_byte(bundle_copy / "model.joblib")
    (bundle_copy / "requirements.txt").unlink()
    (bundle_copy / "notes.txt").write_text("hi")
    result = skbundle.verify(bundle_copy)
    assert not result.ok
    assert [(p.path, p.kind) for p in result.problems] == [
        ("model.joblib", "changed"),
        ("requirements.txt", "missing"),
        ("notes.txt", "unlisted"),
    ]


def test_a_symlinked_artifact_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.joblib"
    (bundle_copy / "model.joblib").rename(real)
    (bundle_copy / "model.joblib").symlink_to(real)
    problems = skbundle.verify(bundle_copy).problems
    assert problems == [IntegrityProblem("model.joblib", "unsafe", None, "a symbolic link")]
    assert problems[0].describe() == (
        "model.joblib is a symbolic link, not a regular file (a bundle holds regular files only)"
    )


MANIFEST_CASES = [
    ("not-json", b"{not json", "it is not valid JSON"),
    ("not-an-object", b"[1, 2]", "expected a JSON object, got list"),
    (
        "future-version",
        orjson.dumps({"format_version": 99}),
        "format_version is 99; this skbundle reads format versions 1, 2. Install the skbundle "
        "release that wrote this bundle, or rebuild it with this one.",
    ),
    (
        "no-version",
        orjson.dumps({"name": "x"}),
        "format_version is None; this skbundle reads format versions 1, 2.",
    ),
]


@pytest.mark.parametrize(
    ("raw", "message"), [c[1:] for c in MANIFEST_CASES], ids=[c[0] for c in MANIFEST_CASES]
)
def test_a_broken_manifest_says_what_is_wrong(
    bundle_copy: Path, raw: bytes, message: str, never_unpickle: None
) -> None:
    (bundle_copy / "bundle.json").write_bytes(raw)
    with pytest.raises(ManifestError, match=re.escape(message)):
        skbundle.load(bundle_copy, trust_pickle=True)


def test_an_invalid_field_names_the_field(bundle_copy: Path) -> None:
    data = orjson.loads((bundle_copy / "bundle.json").read_bytes())
    data["version"] = "one"
    (bundle_copy / "bundle.json").write_bytes(orjson.dumps(data))
    with pytest.raises(
        ManifestError,
        match=re.escape(
            "field 'version' is invalid: Value error, version 'one' is not a semantic version"
        ),
    ):
        skbundle.read_manifest(bundle_copy)


def test_missing_directory_and_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="the bundle directory does not exist"):
        skbundle.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="the file is missing"):
        skbundle.load(tmp_path / "empty")


@pytest.mark.timeout(20)
def test_a_listed_fifo_is_reported_without_being_opened(
    bundle_copy: Path, never_unpickle: None
) -> None:
    (bundle_copy / "model.onnx").unlink()
    os.mkfifo(bundle_copy / "model.onnx")
    problem = IntegrityProblem("model.onnx", "unsafe", None, "a named pipe (FIFO)")
    assert skbundle.verify(bundle_copy).problems == [problem]
    with pytest.raises(BundleIntegrityError) as info:
        skbundle.load(bundle_copy, runtime="onnx")
    assert info.value.problems == [problem]
    assert (
        "model.onnx is a named pipe (FIFO), not a regular file (a bundle holds regular files "
        "only). Nothing was loaded."
    ) in str(info.value)


def test_a_link_swapped_in_after_verification_is_not_read(bundle_copy: Path) -> None:
    """The link points at the very same bytes, so a hash alone would pass: links are refused."""
    manifest = skbundle.read_manifest(bundle_copy)
    artifact = manifest.artifact("reference")
    assert artifact is not None
    assert skbundle.verify(bundle_copy, manifest).ok
    real = bundle_copy.parent / "reference-elsewhere.json"
    (bundle_copy / artifact.path).rename(real)
    (bundle_copy / artifact.path).symlink_to(real)
    with pytest.raises(BundleFileError) as info:
        read_verified(bundle_copy, artifact)
    assert info.value.problems == [
        IntegrityProblem(artifact.path, "unsafe", None, "a symbolic link")
    ]


def test_a_file_over_the_cap_is_not_hashed(bundle_copy: Path) -> None:
    with open(bundle_copy / "huge.bin", "wb") as fh:
        fh.truncate(MAX_ARTIFACT_BYTES + 1)  # sparse: no disk used
    assert skbundle.verify(bundle_copy).problems == [
        IntegrityProblem("huge.bin", "size", str(MAX_ARTIFACT_BYTES), str(MAX_ARTIFACT_BYTES + 1))
    ]
    assert IntegrityProblem("huge.bin", "size", "4294967296", "4294967297").describe() == (
        "huge.bin is 4294967297 bytes, more than the 4294967296 bytes allowed"
    )


def _artifact_field(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["artifacts"][0][key] = value

    return edit


def _many(key: str, n: int) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data[key] = [data[key][0]] * n

    return edit


def _long_feature_name(data: dict[str, Any]) -> None:
    data["features"][0]["name"] = "f" * 1025


LIMIT_CASES = [
    (
        "negative-bytes",
        _artifact_field("bytes", -1),
        "field 'artifacts.0.bytes' is invalid: Input should be greater than or equal to 0",
    ),
    (
        "bytes-over-cap",
        _artifact_field("bytes", MAX_ARTIFACT_BYTES + 1),
        "field 'artifacts.0.bytes' is invalid: Input should be less than or equal to 4294967296",
    ),
    (
        "sha256-not-hex",
        _artifact_field("sha256", "Z" * 64),
        "field 'artifacts.0.sha256' is invalid: String should match pattern '^[0-9a-f]{64}$'",
    ),
    (
        "1001-artifacts",
        _many("artifacts", 1001),
        "field 'artifacts' is invalid: List should have at most 1000 items after validation, "
        "not 1001",
    ),
    (
        "feature-name-1025-chars",
        _long_feature_name,
        "field 'features.0.name' is invalid: String should have at most 1024 characters",
    ),
]


@pytest.mark.parametrize(
    ("edit", "message"), [c[1:] for c in LIMIT_CASES], ids=[c[0] for c in LIMIT_CASES]
)
def test_the_manifest_bounds_what_it_accepts(
    bundle_copy: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = orjson.loads((bundle_copy / "bundle.json").read_bytes())
    edit(data)
    (bundle_copy / "bundle.json").write_bytes(orjson.dumps(data))
    with pytest.raises(ManifestError) as info:
        skbundle.read_manifest(bundle_copy)
    assert str(info.value) == (
        f"Cannot read the manifest {bundle_copy / 'bundle.json'}: {message}. The manifest was "
        "edited or damaged; rebuild the bundle."
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "breast-cancer\n"), ("version", "1.0.0\n")],
    ids=["name", "version"],
)
def test_a_trailing_newline_is_not_a_valid_identity(field: str, value: str) -> None:
    """``re.match`` with ``$`` matches before a final newline; the identity must match whole."""
    from skbundle.core.manifest import validate_identity

    name, version = "breast-cancer", "1.0.0"
    with pytest.raises(ValueError, match=f"{field} {re.escape(repr(value))} is not a "):
        validate_identity(
            value if field == "name" else name, value if field == "version" else version
        )
