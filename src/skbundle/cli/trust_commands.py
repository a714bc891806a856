"""Commands for trust: keygen and sign (``skbundle verify --key`` checks a signature)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from skbundle.cli._common import console, errors_to_exit, plain

BundlePath = Annotated[Path, typer.Argument(help="The bundle directory (holds bundle.json).")]


def keygen(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the key pair (created if needed).")
    ] = Path("keys"),
) -> None:
    """Make an Ed25519 key pair for signing bundles.

    Writes OUT/skbundle-signing.key (private: keep it secret, readable by you only) and
    OUT/skbundle-signing.pub (public: give it to whoever loads your bundles). Never overwrites.
    """
    from skbundle.trust.signing import fingerprint, load_public_key, write_keypair

    with errors_to_exit():
        try:
            private_path, public_path = write_keypair(out)
        except FileExistsError as exc:
            raise typer.BadParameter(str(exc), param_hint="--out") from None
    key = load_public_key(public_path)
    console.print(plain(f"private key: {private_path}  (keep it secret: skbundle sign --key)"))
    console.print(plain(f"public key:  {public_path}  (share it: skbundle verify --key)"))
    console.print(plain(f"fingerprint: {fingerprint(key)}"))


def sign(
    path: BundlePath,
    key: Annotated[Path, typer.Option("--key", help="The private key file from keygen.")],
) -> None:
    """Sign a bundle: write signature.json, an Ed25519 signature over its manifest.

    The bundle is verified first; the signature covers every file through their hashes.
    """
    from skbundle.trust.signing import sign as sign_bundle

    with errors_to_exit():
        signature = sign_bundle(path, key)
    console.print(
        Text.assemble(
            plain(f"signed {path}", "green"),
            plain(
                f" with key {signature.key_fingerprint[:16]}... "
                f"(manifest sha256 {signature.manifest_sha256[:16]}...)"
            ),
        )
    )


def register(app: Any) -> None:
    app.command()(keygen)
    app.command()(sign)
