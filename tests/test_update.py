"""update_bundle: new files and their manifest entries land together, nothing else changes."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from skbundle.core.integrity import sha256_file, verify
from skbundle.core.manifest import read_manifest
from skbundle.core.update import NewFile, update_bundle
from skbundle.errors import BundleFileError, IntegrityProblem, ManifestError


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


SECRET = b"ssh-ed25519 AAAA-not-for-bundles\n"


def _state(bundle: Path) -> list[tuple[str, int]]:
    return sorted((p.name, p.lstat().st_mtime_ns) for p in bundle.iterdir())


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("forge", "what"),
    [
        (lambda p, secret: p.symlink_to(secret), "a symbolic link"),
        (lambda p, secret: os.mkfifo(p), "a named pipe (FIFO)"),
        (
            lambda p, secret: p.symlink_to(secret.parent, target_is_directory=True),
            "a symbolic link",
        ),
    ],
    ids=["link-to-secret", "fifo", "link-to-directory"],
)
def test_update_refuses_a_bundle_holding_anything_but_regular_files(
    bundle_copy: Path, tmp_path: Path, forge: Callable[[Path, Path], None], what: str
) -> None:
    secret = tmp_path / "outside" / "id_ed25519"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    forge(bundle_copy / "planted", secret)
    before = _state(bundle_copy)
    with pytest.raises(BundleFileError) as info:
        update_bundle(bundle_copy, {"checklist.md": NewFile(b"x", "checklist", "markdown")})
    assert info.value.problems == [IntegrityProblem("planted", "unsafe", None, what)]
    assert str(info.value) == (
        f"Cannot read planted in the bundle {bundle_copy}: it is {what}, not a regular file (a "
        "bundle holds regular files only). Nothing was read from it. Rebuild the bundle with "
        "skbundle.save(), or fetch an intact copy from its source."
    )
    assert _state(bundle_copy) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "outside"]


def test_update_replaces_a_link_at_a_path_it_rewrites(bundle_copy: Path, tmp_path: Path) -> None:
    secret = tmp_path / "id_ed25519"
    secret.write_bytes(SECRET)
    (bundle_copy / "checklist.md").unlink()
    (bundle_copy / "checklist.md").symlink_to(secret)
    update_bundle(bundle_copy, {"checklist.md": NewFile(b"new\n", "checklist", "markdown")})
    assert not (bundle_copy / "checklist.md").is_symlink()
    assert (bundle_copy / "checklist.md").read_bytes() == b"new\n"
    assert secret.read_bytes() == SECRET
    assert verify(bundle_copy).ok


def test_update_copies_files_in_subdirectories_with_their_mode(bundle_copy: Path) -> None:
    update_bundle(bundle_copy, {"notes/a.txt": NewFile(b"a", "note", "text")})
    (bundle_copy / "notes" / "a.txt").chmod(0o640)
    update_bundle(bundle_copy, {"checklist.md": NewFile(b"x", "checklist", "markdown")})
    assert (bundle_copy / "notes" / "a.txt").read_bytes() == b"a"
    assert (bundle_copy / "notes" / "a.txt").stat().st_mode & 0o777 == 0o640
    assert verify(bundle_copy).ok
