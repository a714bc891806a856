"""Ed25519 signatures over a bundle's manifest, so that a bundle can be trusted by its origin.

The signature covers the exact bytes of ``bundle.json`` (``Manifest.source_bytes()``, the bytes the
manifest in hand was parsed from, so what is verified is what is used); the manifest holds
the SHA-256 of every other file, so one signature covers the whole bundle. It lives in
``signature.json`` beside ``bundle.json`` (not listed in the manifest, which it signs)::

    {"algorithm": "ed25519", "key_fingerprint": "<sha256 of the raw public key>",
     "manifest_sha256": "<sha256 of bundle.json>", "signature": "<base64>"}

The public key that checks it always comes from the caller (``public_key=``, ``--key``) or the
environment (``SKBUNDLE_PUBLIC_KEY``: a PEM file's path, or the PEM text): never from the bundle.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeAlias

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from skbundle.core.files import MAX_DATA_BYTES, read_bundle_file
from skbundle.core.integrity import verify
from skbundle.core.layout import MANIFEST_NAME, SIGNATURE_NAME
from skbundle.core.manifest import Manifest, read_manifest
from skbundle.errors import BundleFileError, KeyFileError, SignatureError

ALGORITHM = "ed25519"
ENV_PUBLIC_KEY = "SKBUNDLE_PUBLIC_KEY"
PRIVATE_NAME = "skbundle-signing.key"
PUBLIC_NAME = "skbundle-signing.pub"

KeySpec: TypeAlias = "str | os.PathLike[str] | bytes | Ed25519PublicKey"
PrivateKeySpec: TypeAlias = "str | os.PathLike[str] | bytes | Ed25519PrivateKey"


@dataclass(frozen=True)
class Signature:
    """The content of ``signature.json``."""

    algorithm: str
    key_fingerprint: str
    manifest_sha256: str
    signature: str

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key: how a key is named in files and messages."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate_keypair() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as (private PEM, public PEM); the private key is unencrypted."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def write_keypair(directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a new key pair into ``directory`` (private key readable by its owner only).

    Raises
    ------
    FileExistsError
        A key file exists already: keys are never overwritten.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    private_path, public_path = root / PRIVATE_NAME, root / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise FileExistsError(
                f"{path} exists already; keys are never overwritten. Choose another directory."
            )
    private_pem, public_pem = generate_keypair()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path


def _pem(spec: str | os.PathLike[str] | bytes, what: str) -> bytes:
    if isinstance(spec, bytes):
        return spec
    text = os.fspath(spec)
    if text.lstrip().startswith("-----BEGIN"):
        return text.encode()
    try:
        return Path(text).read_bytes()
    except OSError as exc:
        raise KeyFileError(
            text,
            f"the {what} key file cannot be read ({exc.strerror})",
            f"Check the path given with --key or {ENV_PUBLIC_KEY}.",
        ) from exc


def load_public_key(spec: KeySpec) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file path, PEM text or bytes, or a key object.

    Raises
    ------
    UntrustedArtifactError
        The key cannot be read, or it is not an Ed25519 public key.
    """
    if isinstance(spec, Ed25519PublicKey):
        return spec
    data = _pem(spec, "public")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(
            _describe(spec), "it is not a PEM public key", "Pass the .pub file from keygen."
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(
            _describe(spec),
            f"it is a {type(key).__name__}, not an Ed25519 key",
            "Make keys with 'skbundle keygen'.",
        )
    return key


def load_private_key(spec: PrivateKeySpec) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file path, PEM text or bytes, or a key object."""
    if isinstance(spec, Ed25519PrivateKey):
        return spec
    data = _pem(spec, "private")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(
            _describe(spec),
            "it is not an unencrypted PEM private key",
            "Pass the .key file from keygen.",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(
            _describe(spec),
            f"it is a {type(key).__name__}, not an Ed25519 key",
            "Make keys with 'skbundle keygen'.",
        )
    return key


def _describe(spec: object) -> str:
    if isinstance(spec, bytes):
        return "the key given as bytes"
    text = os.fspath(spec)  # type: ignore[call-overload]
    return "the key given as PEM text" if text.lstrip().startswith("-----BEGIN") else str(text)


def public_key_from_env() -> Ed25519PublicKey | None:
    """The key named by ``SKBUNDLE_PUBLIC_KEY`` (a path or PEM text), or None when unset."""
    value = os.environ.get(ENV_PUBLIC_KEY, "").strip()
    return load_public_key(value) if value else None


def sign(bundle_dir: str | os.PathLike[str], private_key: PrivateKeySpec) -> Signature:
    """Sign a bundle's manifest and write ``signature.json`` beside it.

    The bundle is verified first: signing a bundle whose files do not match its manifest
    would vouch for files nobody checked.

    Raises
    ------
    BundleIntegrityError
        The bundle's files do not match its manifest.

    Examples
    --------
    >>> sign("models/breast-cancer", "keys/skbundle-signing.key")
    Signature(algorithm='ed25519', key_fingerprint='9f2c...', ...)
    """
    root = Path(bundle_dir)
    manifest = read_manifest(root)
    verify(root, manifest).raise_for_problems()
    key = load_private_key(private_key)
    payload = manifest.source_bytes()
    signature = Signature(
        algorithm=ALGORITHM,
        key_fingerprint=fingerprint(key.public_key()),
        manifest_sha256=hashlib.sha256(payload).hexdigest(),
        signature=base64.b64encode(key.sign(payload)).decode(),
    )
    tmp = root / (SIGNATURE_NAME + ".tmp")
    tmp.write_bytes(signature.to_json() + b"\n")
    tmp.replace(root / SIGNATURE_NAME)
    return signature


def read_signature(bundle_dir: str | os.PathLike[str]) -> Signature:
    """Parse ``signature.json``.

    Raises
    ------
    SignatureError
        It is missing or malformed.
    """
    path = Path(bundle_dir) / SIGNATURE_NAME
    try:
        raw = read_bundle_file(bundle_dir, SIGNATURE_NAME, max_bytes=MAX_DATA_BYTES)
        data = orjson.loads(raw)
        signature = Signature(**{k: str(data[k]) for k in Signature.__dataclass_fields__})
    except FileNotFoundError as exc:
        raise SignatureError(
            str(Path(bundle_dir)),
            f"a signature is required and the bundle has none ({SIGNATURE_NAME} is missing)",
            "Ask the bundle's publisher for a signed copy, or sign it with 'skbundle sign' "
            "if you built it.",
        ) from exc
    except BundleFileError as exc:
        raise SignatureError(
            str(path), f"it {exc.reason}", "Re-sign the bundle with 'skbundle sign'."
        ) from exc
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise SignatureError(
            str(path),
            "it is not a valid signature file",
            "Re-sign the bundle with 'skbundle sign'.",
        ) from exc
    if signature.algorithm != ALGORITHM:
        raise SignatureError(
            str(path),
            f"its algorithm is {signature.algorithm!r}, expected {ALGORITHM!r}",
            "Re-sign the bundle with 'skbundle sign'.",
        )
    return signature


def verify_signature(
    bundle_dir: str | os.PathLike[str], public_key: KeySpec, manifest: Manifest | None = None
) -> Signature:
    """Check ``signature.json`` against the canonical manifest with the caller's public key.

    Raises
    ------
    SignatureError
        The signature is missing, malformed, made with another key, or not over this manifest.
    """
    root = Path(bundle_dir)
    manifest = manifest if manifest is not None else read_manifest(root)
    key = load_public_key(public_key)
    signature = read_signature(root)
    expected = fingerprint(key)
    if signature.key_fingerprint != expected:
        raise SignatureError(
            str(root / SIGNATURE_NAME),
            f"it was made with key {signature.key_fingerprint[:16]}..., not with the key "
            f"given ({expected[:16]}...)",
            "The bundle was signed by someone else; get the publisher's public key, or do "
            "not load it.",
        )
    payload = manifest.source_bytes()
    try:
        raw = base64.b64decode(signature.signature, validate=True)
        key.verify(raw, payload)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(
            str(root / SIGNATURE_NAME),
            f"it does not match {MANIFEST_NAME} (the manifest changed after it was signed: "
            f"its sha256 is {hashlib.sha256(payload).hexdigest()[:16]}..., the signed one "
            f"{signature.manifest_sha256[:16]}...)",
            "Do not load it; fetch an intact copy from its publisher.",
        ) from exc
    return signature
