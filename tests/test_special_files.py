"""A bundle directory is hostile input: links, FIFOs, devices, huge files, absurd manifests.

Each case forges a real bundle the way an attacker would and drives every command that reads
it (``inspect``, ``verify``, ``report``, ``check``) and the Python API. Every run must end
quickly with the exact error naming the file and why, and the bytes of a "secret" outside the
bundle (standing in for an SSH key) must never appear in any output or any written file.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

import skbundle
from skbundle.cli import app
from skbundle.core.files import (
    MAX_MANIFEST_BYTES,
    BundleDir,
    hash_bundle_file,
    read_bundle_file,
)
from skbundle.errors import (
    BundleFileError,
    BundleIntegrityError,
    IntegrityProblem,
    ManifestError,
    ReadinessError,
)
from skbundle.readiness import read_readiness, refresh

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAdGhpcy1pcy1zZWNyZXQ=\n"
REGULAR_ONLY = "not a regular file (a bundle holds regular files only)"

runner = CliRunner()


def squash(text: str) -> str:
    """Rich wraps (and folds long paths) at the terminal width: compare without whitespace."""
    return "".join(text.split())


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def link(path: Path, to: Path | str) -> None:
    path.unlink()
    path.symlink_to(to)


def directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside.txt").write_text("x")


def sparse_gib(path: Path) -> None:
    """1 GiB that takes no disk: a sparse file."""
    with open(path, "r+b") as fh:
        fh.truncate(1 << 30)


def features(n: int, *, full: bool) -> Callable[[Path], None]:
    def forge(path: Path) -> None:
        data = orjson.loads(path.read_bytes())
        spec = data["features"][0] if full else {}
        data["features"] = [spec] * n
        path.write_bytes(orjson.dumps(data))

    return forge


@dataclass(frozen=True)
class Case:
    id: str
    file: str
    forge: Callable[[Path, Path], None]  # (file in the bundle, secret outside it)
    reason: str  # what the error says about the file


def manifest_message(bundle: Path, reason: str) -> str:
    return (
        f"Cannot read the manifest {bundle / 'bundle.json'}: it {reason}. Nothing was read "
        "from it. A manifest is a regular JSON file of at most 16 MiB; rebuild the bundle or "
        "fetch an intact copy."
    )


def too_many(n: int) -> str:
    return f"List should have at most 10000 items after validation, not {n}"


MANIFEST_CASES = [
    Case("fifo", "bundle.json", lambda p, s: fifo(p), f"is a named pipe (FIFO), {REGULAR_ONLY}"),
    Case(
        "link-to-dev-zero",
        "bundle.json",
        lambda p, s: link(p, "/dev/zero"),
        f"is a symbolic link, {REGULAR_ONLY}",
    ),
    Case(
        "link-to-secret",
        "bundle.json",
        lambda p, s: link(p, s),
        f"is a symbolic link, {REGULAR_ONLY}",
    ),
    Case("directory", "bundle.json", lambda p, s: directory(p), f"is a directory, {REGULAR_ONLY}"),
    Case(
        "sparse-1-gib",
        "bundle.json",
        lambda p, s: sparse_gib(p),
        f"is {1 << 30} bytes, more than the {MAX_MANIFEST_BYTES} bytes allowed",
    ),
]

FIELD_CASES = [
    ("1000000-features", features(1_000_000, full=False), too_many(1_000_000)),
    ("10001-real-features", features(10_001, full=True), too_many(10_001)),
]


def readiness_message(bundle: Path, reason: str) -> str:
    return (
        f"Cannot read the readiness data {bundle / 'readiness.json'}: it {reason}; nothing was "
        "read from it. Rebuild the bundle with skbundle.save(), or fetch an intact copy."
    )


def file_message(bundle: Path, relpath: str, reason: str) -> str:
    return (
        f"Cannot read {relpath} in the bundle {bundle}: it {reason}. Nothing was read from it. "
        "Rebuild the bundle with skbundle.save(), or fetch an intact copy from its source."
    )


LINK = f"is a symbolic link, {REGULAR_ONLY}"
FIFO = f"is a named pipe (FIFO), {REGULAR_ONLY}"
WHAT = {LINK: "a symbolic link", FIFO: "a named pipe (FIFO)"}
FILE_CASES = [
    Case("readiness-fifo", "readiness.json", lambda p, s: fifo(p), FIFO),
    Case("readiness-link-to-secret", "readiness.json", lambda p, s: link(p, s), LINK),
    Case("png-link-to-secret", "feature_importance.png", lambda p, s: link(p, s), LINK),
    Case("png-fifo", "feature_importance.png", lambda p, s: fifo(p), FIFO),
    Case("requirements-link-to-secret", "requirements.txt", lambda p, s: link(p, s), LINK),
]


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "id_ed25519"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def assert_secret_nowhere(root: Path, *outputs: str) -> None:
    """Neither the secret nor its base64 (report.html embeds the image) is in any output, or in
    any regular file under ``root`` except the secret itself."""
    needles = [squash(SECRET.decode()), base64.b64encode(SECRET).decode()[:40]]
    for text in outputs:
        for needle in needles:
            assert needle not in squash(text)
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file() or path.name == "id_ed25519":
                continue
            if path.stat().st_size > MAX_MANIFEST_BYTES:
                continue  # the forged sparse file itself, not something skbundle wrote
            data = path.read_bytes()
            for needle in needles:
                assert needle.encode() not in data, f"{needle!r} leaked into {path}"


# --- bundle.json --------------------------------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", MANIFEST_CASES, ids=[c.id for c in MANIFEST_CASES])
def test_an_unsafe_manifest_is_refused_by_the_api(
    bundle_copy: Path, secret: Path, case: Case
) -> None:
    case.forge(bundle_copy / case.file, secret)
    message = manifest_message(bundle_copy, case.reason)
    for call in (skbundle.read_manifest, skbundle.load, skbundle.verify, refresh):
        with pytest.raises(ManifestError) as info:
            call(bundle_copy)
        assert str(info.value) == message, call.__name__
        assert isinstance(info.value.__cause__, BundleFileError)
    assert_secret_nowhere(bundle_copy.parent)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("command", ["inspect", "verify", "report", "check"])
@pytest.mark.parametrize("case", MANIFEST_CASES, ids=[c.id for c in MANIFEST_CASES])
def test_an_unsafe_manifest_is_refused_by_every_command(
    bundle_copy: Path, secret: Path, case: Case, command: str
) -> None:
    case.forge(bundle_copy / case.file, secret)
    code, out = run(command, str(bundle_copy))
    assert code == 1
    assert squash(f"error: {manifest_message(bundle_copy, case.reason)}") in squash(out)
    assert_secret_nowhere(bundle_copy.parent, out)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("forge", "problem"), [c[1:] for c in FIELD_CASES], ids=[c[0] for c in FIELD_CASES]
)
def test_a_manifest_with_too_many_features_is_refused(
    bundle_copy: Path, forge: Callable[[Path], None], problem: str
) -> None:
    forge(bundle_copy / "bundle.json")
    message = (
        f"Cannot read the manifest {bundle_copy / 'bundle.json'}: field 'features' is invalid: "
        f"{problem}. The manifest was edited or damaged; rebuild the bundle."
    )
    with pytest.raises(ManifestError) as info:
        skbundle.load(bundle_copy)
    assert str(info.value) == message
    for command in ("inspect", "verify", "report", "check"):
        code, out = run(command, str(bundle_copy))
        assert (code, squash(f"error: {message}") in squash(out)) == (1, True), command


# --- files the reports are rendered from -------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", FILE_CASES, ids=[c.id for c in FILE_CASES])
def test_an_unsafe_bundle_file_fails_verification_without_being_opened(
    bundle_copy: Path, secret: Path, case: Case
) -> None:
    case.forge(bundle_copy / case.file, secret)
    problem = IntegrityProblem(case.file, "unsafe", None, WHAT[case.reason])
    assert skbundle.verify(bundle_copy).problems == [problem]
    assert problem.describe() == f"{case.file} {case.reason}"
    with pytest.raises(BundleIntegrityError) as info:
        skbundle.load(bundle_copy)
    assert info.value.problems == [problem]
    code, out = run("verify", str(bundle_copy))
    assert code == 1
    assert squash(f"error: {case.file} {case.reason}") in squash(out)
    assert_secret_nowhere(bundle_copy.parent, out, str(info.value))


# What 'report' and 'check' (which re-renders the reports) say, per case.
def _rendering_error(bundle: Path, case: Case) -> str:
    if case.file == "readiness.json":
        return readiness_message(bundle, case.reason)
    return file_message(bundle, case.file, case.reason)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", FILE_CASES, ids=[c.id for c in FILE_CASES])
def test_report_and_check_never_copy_an_unsafe_file_into_the_bundle(
    bundle_copy: Path, secret: Path, case: Case
) -> None:
    case.forge(bundle_copy / case.file, secret)
    before = sorted((p.name, p.lstat().st_mtime_ns) for p in bundle_copy.iterdir())
    message = _rendering_error(bundle_copy, case)
    expected_type = ReadinessError if case.file == "readiness.json" else BundleFileError
    with pytest.raises(expected_type) as info:
        refresh(bundle_copy)
    assert str(info.value) == message
    outputs = [str(info.value)]
    for args in (["report"], ["check", "--requests", "10", "--concurrency", "2"]):
        code, out = run(*args, str(bundle_copy))
        assert code == 1, args
        assert squash(f"error: {message}") in squash(out), args
        outputs.append(out)
    # Nothing was rewritten, and no temporary directory is left next to the bundle.
    assert sorted((p.name, p.lstat().st_mtime_ns) for p in bundle_copy.iterdir()) == before
    assert sorted(p.name for p in bundle_copy.parent.iterdir()) == ["copy", "outside"]
    assert_secret_nowhere(bundle_copy.parent, *outputs)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", FILE_CASES, ids=[c.id for c in FILE_CASES])
def test_inspect_reads_only_the_manifest_and_ignores_unsafe_files(
    bundle_copy: Path, secret: Path, case: Case
) -> None:
    case.forge(bundle_copy / case.file, secret)
    code, out = run("inspect", str(bundle_copy))
    assert code == 0
    assert "breast-cancer 1.0.0" in out
    assert_secret_nowhere(bundle_copy.parent, out)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("forge", "reason"),
    [(lambda p, s: fifo(p), FIFO), (lambda p, s: link(p, s), LINK)],
    ids=["fifo", "link-to-secret"],
)
def test_read_readiness_refuses_an_unsafe_file(
    bundle_copy: Path, secret: Path, forge: Callable[[Path, Path], None], reason: str
) -> None:
    forge(bundle_copy / "readiness.json", secret)
    with pytest.raises(ReadinessError) as info:
        read_readiness(bundle_copy)
    assert str(info.value) == readiness_message(bundle_copy, reason)
    assert_secret_nowhere(bundle_copy.parent, str(info.value))


@pytest.mark.timeout(20)
def test_an_unlisted_fifo_and_link_are_reported_not_opened(bundle_copy: Path, secret: Path) -> None:
    os.mkfifo(bundle_copy / "extra.fifo")
    (bundle_copy / "key").symlink_to(secret)
    (bundle_copy / "signature.json").symlink_to("/dev/zero")
    assert skbundle.verify(bundle_copy).problems == [
        IntegrityProblem("signature.json", "unsafe", None, "a symbolic link"),
        IntegrityProblem("extra.fifo", "unsafe", None, "a named pipe (FIFO)"),
        IntegrityProblem("key", "unsafe", None, "a symbolic link"),
    ]


# --- the reader itself -------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_a_linked_directory_on_the_path_is_refused(bundle_copy: Path, secret: Path) -> None:
    (bundle_copy / "notes").symlink_to(secret.parent, target_is_directory=True)
    with pytest.raises(BundleFileError) as info:
        read_bundle_file(bundle_copy, "notes/id_ed25519", max_bytes=1 << 20)
    assert str(info.value) == file_message(bundle_copy, "notes", LINK)
    with pytest.raises(BundleFileError):
        hash_bundle_file(bundle_copy, "notes/id_ed25519")


PATH_CASES = [
    ("parent", "../outside/id_ed25519", "it climbs out with '..'"),
    ("inner-parent", "a/../../outside/id_ed25519", "it climbs out with '..'"),
    ("absolute", "/etc/passwd", "it is absolute"),
    ("empty", "", "the path is empty"),
    ("dot", "./bundle.json", "it has an empty or '.' component"),
    ("double-slash", "a//b", "it has an empty or '.' component"),
    ("backslash", "..\\outside", "it holds a NUL byte or a backslash"),
]


@pytest.mark.parametrize(
    ("relpath", "why"), [c[1:] for c in PATH_CASES], ids=[c[0] for c in PATH_CASES]
)
def test_a_path_that_leaves_the_bundle_is_refused(
    bundle_copy: Path, secret: Path, relpath: str, why: str
) -> None:
    with pytest.raises(BundleFileError) as info:
        read_bundle_file(bundle_copy, relpath, max_bytes=1 << 20)
    assert info.value.problems == [IntegrityProblem(relpath, "path", None, why)]
    assert str(info.value) == file_message(
        bundle_copy, relpath, f"is not a path inside the bundle ({why})"
    )


@pytest.mark.parametrize(
    ("relpath", "why"), [c[1:] for c in PATH_CASES[:3]], ids=[c[0] for c in PATH_CASES[:3]]
)
def test_a_manifest_cannot_name_a_file_outside_the_bundle(
    bundle_copy: Path, relpath: str, why: str
) -> None:
    data = orjson.loads((bundle_copy / "bundle.json").read_bytes())
    data["artifacts"][0]["path"] = relpath
    (bundle_copy / "bundle.json").write_bytes(orjson.dumps(data))
    with pytest.raises(ManifestError) as info:
        skbundle.read_manifest(bundle_copy)
    assert str(info.value) == (
        f"Cannot read the manifest {bundle_copy / 'bundle.json'}: field 'artifacts.0.path' is "
        f"invalid: Value error, path {relpath!r} is not a relative path inside the bundle: "
        f"{why}; use a POSIX path such as 'model.onnx'. The manifest was edited or damaged; "
        "rebuild the bundle."
    )


def test_a_file_larger_than_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(BundleFileError) as info:
        read_bundle_file(tmp_path, "big", max_bytes=100)
    assert info.value.problems == [IntegrityProblem("big", "size", "100", "101")]
    assert read_bundle_file(tmp_path, "big", max_bytes=101) == b"x" * 101


def test_a_missing_file_is_the_builtin_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        read_bundle_file(tmp_path, "sub/none.json", max_bytes=100)
    assert info.value.filename == str(tmp_path / "sub/none.json")


def test_the_walk_never_follows_links(bundle_copy: Path, secret: Path) -> None:
    (bundle_copy / "sub").mkdir()
    (bundle_copy / "sub" / "a.txt").write_text("a")
    (bundle_copy / "out").symlink_to(secret.parent, target_is_directory=True)
    with BundleDir(bundle_copy) as bundle:
        files, directories = bundle.walk()
    assert directories == {"sub"}
    assert "sub/a.txt" in files
    assert "out" in files
    assert not any(name.startswith("out/") for name in files)


def test_a_file_used_as_a_directory_is_just_missing(bundle_copy: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bundle_file(bundle_copy, "model.onnx/inside", max_bytes=1 << 20)


@pytest.mark.timeout(20)
def test_a_fifo_on_the_path_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(BundleFileError) as info:
        read_bundle_file(tmp_path, "pipe/inside", max_bytes=1 << 20)
    assert info.value.problems == [IntegrityProblem("pipe", "unsafe", None, "a named pipe (FIFO)")]
