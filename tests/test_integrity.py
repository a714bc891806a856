"""Tampering: every change to a bundle is caught, by name, before anything is deserialized."""

from __future__ import annotations

import re
from pathlib import Path

import joblib
import orjson
import pytest

import skbundle
from skbundle.core.integrity import sha256_file
from skbundle.errors import BundleIntegrityError, IntegrityProblem, ManifestError


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
        "format_version is 99; this skbundle reads format version 1. Install the skbundle "
        "release that wrote this bundle, or rebuild it with this one.",
    ),
    (
        "no-version",
        orjson.dumps({"name": "x"}),
        "format_version is None; this skbundle reads format version 1.",
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
