"""What every export shares: a verified copy of the bundle, the runtime's requirements, and
skbundle's own wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from skbundle.bundle import auto_format
from skbundle.core.environment import SELF, skbundle_version
from skbundle.core.integrity import read_verified, verify
from skbundle.core.layout import (
    MANIFEST_NAME,
    REQUIREMENTS_NAME,
    RUNTIME_REQUIREMENTS,
    SIGNATURE_NAME,
)
from skbundle.core.manifest import Manifest, read_manifest
from skbundle.errors import ExportError, RuntimeUnavailableError
from skbundle.formats import FORMATS

BUNDLE_DIR = "bundle"
"""Where an export puts the bundle, relative to the export's directory."""

_PYTHON = re.compile(r"^(\d{1,2})\.(\d{1,3})\.(\d{1,3})$")
_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+$")


def copy_bundle(source: str | os.PathLike[str], target: Path) -> Manifest:
    """Copy a bundle into ``target`` (a new directory): the manifest, its signature if any, and
    every listed file, each from the very bytes checked against the manifest.

    Raises
    ------
    BundleIntegrityError
        A file of ``source`` changed, went missing, or was added: nothing is exported.
    """
    root = Path(source)
    manifest = read_manifest(root)
    verify(root, manifest).raise_for_problems()
    target.mkdir()
    (target / MANIFEST_NAME).write_bytes(manifest.source_bytes())
    if (root / SIGNATURE_NAME).is_file():
        shutil.copyfile(root / SIGNATURE_NAME, target / SIGNATURE_NAME)
    for artifact in manifest.artifacts:
        path = target / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(read_verified(root, artifact))
    verify(target, manifest).raise_for_problems()
    return manifest


@dataclass(frozen=True)
class Requirements:
    """The pinned requirements a deployment of one runtime installs."""

    runtime: str
    source: str
    """The bundle file they come from (``requirements-onnx.txt``; ``requirements.txt`` for a
    bundle made before per-runtime files existed)."""
    text: str
    pins: dict[str, str]


def choose_runtime(manifest: Manifest, runtime: str, *, trust_pickle: bool) -> str:
    """The format a deployment serves: ``runtime``, or the one ``load()`` picks on its own.

    Raises
    ------
    RuntimeUnavailableError
        The requested format is not in the bundle, or auto finds none it may load.
    ExportError
        The format is a pickle and ``trust_pickle`` was not given.
    """
    present = [a.format for a in manifest.artifacts if a.role == "model" and a.format in FORMATS]
    if runtime == "auto":
        chosen = auto_format(manifest, trusted_pickle=trust_pickle)
        if chosen is None:
            raise RuntimeUnavailableError("auto", present, "no format auto may load untrusted")
        return chosen
    if runtime not in present:
        raise RuntimeUnavailableError(
            runtime, present, manifest.unavailable_formats.get(runtime, "")
        )
    if FORMATS[runtime].needs_trust and not trust_pickle:
        raise ExportError(
            f"the {runtime} runtime",
            "it unpickles model.joblib, which runs whatever code its author put in it",
            "Pass trust_pickle=True (CLI: --trust-pickle) only for a bundle you built or "
            "verified; the deployment then serves it with --trust-pickle.",
        )
    return runtime


def runtime_requirements(bundle: str | os.PathLike[str], runtime: str) -> Requirements:
    """The verified requirements of ``runtime`` from the bundle: ``requirements-<runtime>.txt``,
    or ``requirements.txt`` for a bundle older than those files."""
    root = Path(bundle)
    manifest = read_manifest(root)
    wanted = RUNTIME_REQUIREMENTS.format(format=runtime)
    artifact = next((a for a in manifest.artifacts if a.path == wanted), None)
    if artifact is None:
        artifact = next((a for a in manifest.artifacts if a.path == REQUIREMENTS_NAME), None)
    if artifact is None:
        raise ExportError(
            str(root),
            f"the bundle lists neither {wanted} nor {REQUIREMENTS_NAME}",
            "Rebuild the bundle with skbundle.save().",
        )
    text = read_verified(root, artifact).decode("utf-8")
    pins = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not _PIN.fullmatch(line):
            # The file is the bundle author's: it goes into a Dockerfile's pip command line.
            raise ExportError(
                f"{artifact.path} of the bundle {manifest.name!r}",
                f"the line {line[:80]!r} is not a plain pin NAME==VERSION",
                "A bundle's requirements pin exact versions only; rebuild the bundle.",
            )
        name, version = line.split("==", 1)
        pins[name.lower()] = version
    return Requirements(runtime, artifact.path, text, pins)


def python_version(manifest: Manifest) -> str:
    """The Python that built the bundle, as ``MAJOR.MINOR.PATCH``.

    Raises
    ------
    ExportError
        The manifest's ``environment.python`` is not such a version (it goes into a
        Dockerfile's ``FROM`` line: anything else could add instructions).
    """
    value = manifest.environment.python
    if not _PYTHON.fullmatch(value):
        raise ExportError(
            "the container recipe",
            f"the bundle's environment.python is {value[:40]!r}, expected MAJOR.MINOR.PATCH",
            "Rebuild the bundle with skbundle.save().",
        )
    return value


def skbundle_wheel(target_dir: Path, wheel: str | os.PathLike[str] | None = None) -> Path:
    """Put skbundle's wheel into ``target_dir``: a copy of ``wheel``, or one built from the
    source tree this skbundle runs from (``pip wheel --no-deps``).

    Raises
    ------
    ExportError
        ``wheel`` is not a skbundle wheel; or none was given and this skbundle does not run
        from a source tree, or pip could not build one.
    """
    if wheel is not None:
        path = Path(wheel)
        if not (path.is_file() and path.name.startswith(f"{SELF}-") and path.suffix == ".whl"):
            raise ExportError(
                str(path),
                "it is not a skbundle wheel file (skbundle-VERSION-py3-none-any.whl)",
                "Build one with 'pip wheel --no-deps PATH/TO/skbundle' and pass it again.",
            )
        shutil.copyfile(path, target_dir / path.name)
        return target_dir / path.name
    source = Path(__file__).resolve().parents[3]
    pyproject = source / "pyproject.toml"
    if not pyproject.is_file() or f'name = "{SELF}"' not in pyproject.read_text("utf-8"):
        raise ExportError(
            str(target_dir),
            f"skbundle {skbundle_version()} is installed as a package, not from a source tree, "
            "so no wheel can be built from it",
            "Pass the wheel you installed it from with --skbundle-wheel PATH.",
        )
    with tempfile.TemporaryDirectory(prefix="skbundle-wheel-") as tmp:
        # Built from a copy: a setuptools build writes egg-info into the tree it builds.
        tree = Path(tmp) / "source"
        shutil.copytree(
            source / "src" / SELF,
            tree / "src" / SELF,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        for name in ("pyproject.toml", "README.md"):
            if (source / name).is_file():
                shutil.copyfile(source / name, tree / name)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp, str(tree)],
            capture_output=True,
            text=True,
            check=False,
        )
        built = sorted(Path(tmp).glob(f"{SELF}-*.whl"))
        if done.returncode != 0 or not built:
            tail = " ".join(done.stderr.split()[-40:])
            raise ExportError(
                str(target_dir),
                f"'pip wheel --no-deps {source}' failed (exit {done.returncode}): {tail}",
                "Build the wheel yourself and pass it with --skbundle-wheel PATH.",
            )
        shutil.copyfile(built[0], target_dir / built[0].name)
    return target_dir / built[0].name
