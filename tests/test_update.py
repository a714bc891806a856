"""update_bundle: new files and their manifest entries land together, nothing else changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skbundle.core.integrity import sha256_file, verify
from skbundle.core.manifest import read_manifest
from skbundle.core.update import NewFile, update_bundle
from skbundle.errors import ManifestError


def test_update_rewrites_files_and_their_hashes(bundle_copy: Path) -> None:
    before = read_manifest(bundle_copy)
    model_hash = before.artifact("model")
    result = update_bundle(
        bundle_copy,
        {
            "checklist.md": NewFile(b"# new checklist\n", "checklist", "markdown"),
            "notes/extra.txt": NewFile(b"hello\n", "note", "text"),
        },
    )
    assert result.written == ["checklist.md", "notes/extra.txt"]
    assert (bundle_copy / "checklist.md").read_bytes() == b"# new checklist\n"
    after = read_manifest(bundle_copy)
    entry = next(a for a in after.artifacts if a.path == "checklist.md")
    assert entry.sha256 == sha256_file(bundle_copy / "checklist.md")
    assert entry.bytes == len(b"# new checklist\n")
    assert after.artifact("model") == model_hash
    assert [a.path for a in after.artifacts] == sorted(a.path for a in after.artifacts)
    assert verify(bundle_copy).ok
    assert result.signature_stale is False
    assert result.note == ""


def test_update_sets_benchmarks_only_when_given(bundle_copy: Path) -> None:
    update_bundle(bundle_copy, {}, benchmarks={"n": 3})
    assert read_manifest(bundle_copy).benchmarks == {"n": 3}
    update_bundle(bundle_copy, {"checklist.md": NewFile(b"x", "checklist", "markdown")})
    assert read_manifest(bundle_copy).benchmarks == {"n": 3}


def test_update_never_blesses_a_tampered_file(bundle_copy: Path) -> None:
    model = bundle_copy / "model.joblib"
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF
    model.write_bytes(bytes(data))
    update_bundle(bundle_copy, {"checklist.md": NewFile(b"x", "checklist", "markdown")})
    problems = verify(bundle_copy).problems
    assert [(p.path, p.kind) for p in problems] == [("model.joblib", "changed")]
    assert model.read_bytes() == bytes(data)


def test_update_of_a_signed_bundle_says_the_signature_is_stale(bundle_copy: Path) -> None:
    (bundle_copy / "signature.json").write_text('{"sig": "old"}', encoding="utf-8")
    result = update_bundle(bundle_copy, {"checklist.md": NewFile(b"x", "checklist", "markdown")})
    assert result.signature_stale is True
    assert result.note == (
        "signature.json was made over the previous bundle.json and no longer matches it: "
        "sign the bundle again to renew the signature."
    )
    assert (bundle_copy / "signature.json").read_text(encoding="utf-8") == '{"sig": "old"}'


def test_update_leaves_no_temporary_directory(bundle_copy: Path) -> None:
    update_bundle(bundle_copy, {"checklist.md": NewFile(b"x", "checklist", "markdown")})
    siblings = sorted(p.name for p in bundle_copy.parent.iterdir())
    assert siblings == [bundle_copy.name]


@pytest.mark.parametrize(
    ("relpath", "message"),
    [
        ("bundle.json", "update_bundle cannot write 'bundle.json': it is not an artifact"),
        ("signature.json", "update_bundle cannot write 'signature.json': it is not an artifact"),
        ("/etc/passwd", "update_bundle cannot write '/etc/passwd': it is not an artifact"),
        ("../outside.txt", "update_bundle cannot write '../outside.txt': it leaves the bundle"),
    ],
    ids=["manifest", "signature", "absolute", "parent"],
)
def test_update_refuses_paths_that_are_not_artifacts(
    bundle_copy: Path, relpath: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        update_bundle(bundle_copy, {relpath: NewFile(b"x", "x", "x")})
    assert verify(bundle_copy).ok


def test_update_of_a_missing_bundle_names_it(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=re.escape("the bundle directory does not exist")):
        update_bundle(tmp_path / "nope", {})
