"""Ed25519 signatures: keygen, sign, verify, and load(public_key=, require_signature=)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import skbundle
from skbundle import UntrustedArtifactError
from skbundle.cli import app
from skbundle.errors import SignatureError
from skbundle.trust.signing import (
    ENV_PUBLIC_KEY,
    fingerprint,
    load_public_key,
    read_signature,
    sign,
    verify_signature,
    write_keypair,
)
from tests.tampering import rehash


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_keypair(tmp_path_factory.mktemp("other-keys"))


@pytest.fixture
def signed(bundle_copy: Path, keys: tuple[Path, Path]) -> Path:
    sign(bundle_copy, keys[0])
    return bundle_copy


def _fp(public: Path) -> str:
    return fingerprint(load_public_key(public))


def test_keygen_writes_a_private_key_only_its_owner_reads(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert private.stat().st_mode & 0o777 == 0o600
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(FileExistsError, match=re.escape(f"{private} exists already")):
        write_keypair(private.parent)


def test_a_signed_bundle_loads_and_its_signature_names_the_key(
    signed: Path, keys: tuple[Path, Path]
) -> None:
    signature = verify_signature(signed, keys[1])
    assert signature.key_fingerprint == _fp(keys[1])
    bundle = skbundle.load(signed, public_key=keys[1], require_signature=True)
    assert bundle.runtime.format == "onnx"
    # the signature is not an artifact: verification still passes with signature.json present
    assert skbundle.verify(signed).ok


def test_a_valid_signature_counts_as_trust_for_the_pickle(
    signed: Path, keys: tuple[Path, Path]
) -> None:
    bundle = skbundle.load(signed, runtime="joblib", public_key=keys[1])
    assert bundle.runtime.format == "joblib"
    assert bundle.runtime.reason == (
        f"requested with runtime='joblib'; signed by key {_fp(keys[1])[:16]}..."
    )


def test_public_key_from_the_environment(
    signed: Path, keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PUBLIC_KEY, str(keys[1]))
    assert skbundle.load(signed, runtime="joblib").runtime.format == "joblib"
    monkeypatch.setenv(ENV_PUBLIC_KEY, keys[1].read_text())  # PEM text works too
    assert skbundle.load(signed, require_signature=True).runtime.format == "onnx"


def _tamper_and_rehash(path: Path) -> None:
    with open(path / "requirements.txt", "a", encoding="utf-8") as fh:
        fh.write("evil==1.0\n")
    rehash(path, "requirements.txt")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        pytest.param(
            "missing",
            "a signature is required and the bundle has none (signature.json is missing). Ask "
            "the bundle's publisher for a signed copy, or sign it with 'skbundle sign' if you "
            "built it.",
            id="missing",
        ),
        pytest.param(
            "wrong-key",
            "it was made with key {signed_fp}..., not with the key given ({given_fp}...). The "
            "bundle was signed by someone else; get the publisher's public key, or do not load it.",
            id="wrong-key",
        ),
        pytest.param(
            "older-manifest",
            "it does not match bundle.json (the manifest changed after it was signed: its "
            "sha256 is {now}..., the signed one {then}...). Do not load it; fetch an intact "
            "copy from its publisher.",
            id="older-manifest",
        ),
        pytest.param(
            "garbled",
            "it is not a valid signature file. Re-sign the bundle with 'skbundle sign'.",
            id="garbled",
        ),
    ],
)
def test_bad_signatures_are_refused(
    bundle_copy: Path,
    keys: tuple[Path, Path],
    other_keys: tuple[Path, Path],
    case: str,
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = bundle_copy / "signature.json"
    given = keys[1]
    fields: dict[str, str] = {}
    if case == "missing":
        where = bundle_copy
    elif case == "wrong-key":
        sign(bundle_copy, other_keys[0])
        fields = {"signed_fp": _fp(other_keys[1])[:16], "given_fp": _fp(keys[1])[:16]}
    elif case == "older-manifest":
        then = sign(bundle_copy, keys[0]).manifest_sha256
        _tamper_and_rehash(bundle_copy)  # integrity passes again; the signature must not
        import hashlib

        now = hashlib.sha256((bundle_copy / "bundle.json").read_bytes()).hexdigest()
        fields = {"now": now[:16], "then": then[:16]}
    else:
        where.write_text("{not json", encoding="utf-8")
    message = f"Refusing to load {where}: " + reason.format(**fields)
    with pytest.raises(SignatureError) as info:
        skbundle.load(bundle_copy, public_key=given)
    assert str(info.value) == message
    assert isinstance(info.value, UntrustedArtifactError)
    # the environment's key is held to the same standard
    monkeypatch.setenv(ENV_PUBLIC_KEY, str(given))
    with pytest.raises(SignatureError, match=re.escape(message)):
        skbundle.load(bundle_copy)


def test_require_signature_without_a_key(signed: Path) -> None:
    message = (
        f"Refusing to load {signed}: a signature is required and no public key was given. "
        f"Pass public_key=... (CLI: --key) or set {ENV_PUBLIC_KEY}."
    )
    with pytest.raises(SignatureError, match=re.escape(message)):
        skbundle.load(signed, require_signature=True)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            "{tmp}/nope.pub",
            "Refusing to load {tmp}/nope.pub: the public key file cannot be read (No such file "
            "or directory). Check the path given with --key or SKBUNDLE_PUBLIC_KEY.",
            id="no-file",
        ),
        pytest.param(
            "{private}",
            "Refusing to load {private}: it is not a PEM public key. Pass the .pub file from "
            "keygen.",
            id="private-key-given",
        ),
        pytest.param(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "Refusing to load the key given as bytes: it is not a PEM public key. Pass the .pub "
            "file from keygen.",
            id="garbage-pem",
        ),
    ],
)
def test_unreadable_public_keys(
    signed: Path, keys: tuple[Path, Path], tmp_path: Path, spec: Any, message: str
) -> None:
    if isinstance(spec, str):
        spec = spec.format(tmp=tmp_path, private=keys[0])
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(signed, public_key=spec)
    assert str(info.value) == message.format(tmp=tmp_path, private=keys[0])


def test_signing_refuses_a_bundle_that_fails_verification(
    bundle_copy: Path, keys: tuple[Path, Path]
) -> None:
    (bundle_copy / "model.onnx").write_bytes(b"changed")
    with pytest.raises(skbundle.BundleIntegrityError, match=re.escape("model.onnx has sha256")):
        sign(bundle_copy, keys[0])
    assert not (bundle_copy / "signature.json").exists()


def test_signature_file_content(signed: Path, keys: tuple[Path, Path]) -> None:
    import hashlib

    signature = read_signature(signed)
    assert signature.algorithm == "ed25519"
    payload = (signed / "bundle.json").read_bytes()
    assert signature.manifest_sha256 == hashlib.sha256(payload).hexdigest()


def test_cli_keygen_sign_verify(bundle_copy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"COLUMNS": "400"}
    out = tmp_path / "k"
    result = runner.invoke(app, ["keygen", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    private, public = out / "skbundle-signing.key", out / "skbundle-signing.pub"
    assert f"fingerprint: {_fp(public)}" in result.output
    result = runner.invoke(app, ["sign", str(bundle_copy), "--key", str(private)], env=env)
    assert result.exit_code == 0, result.output
    assert f"signed {bundle_copy} with key {_fp(public)[:16]}..." in result.output
    result = runner.invoke(app, ["verify", str(bundle_copy), "--key", str(public)], env=env)
    assert result.exit_code == 0, result.output
    assert f"ok  signature by key {_fp(public)[:16]}..." in result.output
    # another key's public half does not verify it
    other = tmp_path / "other"
    runner.invoke(app, ["keygen", "--out", str(other)], env=env)
    result = runner.invoke(
        app, ["verify", str(bundle_copy), "--key", str(other / "skbundle-signing.pub")], env=env
    )
    assert result.exit_code == 1
    assert "it was made with key" in result.output
    # keygen never overwrites
    result = runner.invoke(app, ["keygen", "--out", str(out)], env=env)
    assert result.exit_code == 2
    assert "exists already" in result.output


def test_a_copied_signature_does_not_vouch_for_another_bundle(
    signed: Path, iris: Any, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    other = tmp_path / "iris"
    shutil.copytree(iris.path, other)
    shutil.copy(signed / "signature.json", other / "signature.json")
    with pytest.raises(SignatureError, match=re.escape("it does not match bundle.json")):
        skbundle.load(other, public_key=keys[1])


def test_a_signature_survives_a_reader_that_adds_a_defaulted_field(
    bundle_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signature covers bundle.json's bytes, not this skbundle's re-serialization of them:
    a later release whose manifest model has one more defaulted field must still verify it."""
    from skbundle.core.manifest import Manifest
    from skbundle.trust import signing

    private, public = signing.write_keypair(tmp_path / "keys")
    signing.sign(bundle_copy, private)
    richer = Manifest.to_json

    def with_new_field(self: Manifest) -> bytes:
        return richer(self).replace(
            b'"benchmarks"', b'"a_field_from_the_future": null,\n  "benchmarks"'
        )

    monkeypatch.setattr(Manifest, "to_json", with_new_field)
    assert (
        skbundle.read_manifest(bundle_copy).to_json() != (bundle_copy / "bundle.json").read_bytes()
    )
    assert signing.verify_signature(bundle_copy, public).key_fingerprint
