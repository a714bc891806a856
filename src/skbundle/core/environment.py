"""Environment capture at save time, and the comparison at load time.

The packages recorded are the ones a bundle needs to run: the distributions that provide the
pipeline's estimators, and everything those require, found from the installed metadata rather
than from a hand-kept list.
"""

from __future__ import annotations

import functools
import platform
import sys
import warnings
from collections.abc import Iterable, Mapping
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from skbundle.core.manifest import Environment
from skbundle.errors import EnvironmentMismatchWarning, IncompatibleEnvironmentError

# Always recorded, whatever the pipeline holds: what skbundle itself needs to read a bundle.
CORE = ("scikit-learn", "numpy", "scipy", "joblib", "pandas", "skbundle")

# A different major.minor of these may change predictions or break unpickling.
STRICT = ("scikit-learn",)


def skbundle_version() -> str:
    """The installed skbundle's version ("0.0.0" when run from a source tree not installed)."""
    return _installed_version("skbundle") or "0.0.0"


def _installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _requirements_of(dist: str) -> list[str]:
    """Names of the installed distributions that ``dist`` requires (no extras)."""
    try:
        raw = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return []
    names = []
    for line in raw:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        names.append(req.name)
    return names


KNOWN_DISTRIBUTIONS = {
    "sklearn": ("scikit-learn",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "pandas": ("pandas",),
    "joblib": ("joblib",),
    "builtins": (),
    "functools": (),
}
"""Top-level modules whose distribution is known without scanning every installed package
(``importlib.metadata.packages_distributions`` reads them all: over half a second)."""


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


def distributions_of(objects: Iterable[object]) -> set[str]:
    """The distributions that provide the classes of ``objects`` (e.g. 'scikit-learn')."""
    found: set[str] = set()
    for obj in objects:
        top = type(obj).__module__.split(".")[0]
        known = KNOWN_DISTRIBUTIONS.get(top)
        found.update(known if known is not None else _packages_distributions().get(top, []))
    return found


def runtime_closure(roots: Iterable[str]) -> dict[str, str]:
    """Installed versions of ``roots`` and of everything they require, by canonical name."""
    pinned: dict[str, str] = {}
    pending = list(roots)
    while pending:
        dist = pending.pop()
        key = str(canonicalize_name(dist))
        if key in pinned:
            continue
        version = _installed_version(dist)
        if version is None:
            continue
        pinned[key] = version
        pending.extend(_requirements_of(dist))
    return dict(sorted(pinned.items()))


def capture(objects: Iterable[object] = ()) -> Environment:
    """Record the running Python, platform, and the packages needed to run ``objects``."""
    packages = runtime_closure([*CORE, *distributions_of(objects)])
    return Environment(
        python=platform.python_version(),
        platform=f"{sys.platform}-{platform.machine()}",
        packages=packages,
    )


def requirements_txt(env: Environment, *, name: str, version: str, created_at: str) -> str:
    """A pinned requirements.txt for the environment that built the bundle."""
    lines = [
        f"# Packages needed to run the bundle {name} {version},",
        "# pinned to the versions that built it.",
        f"# Captured {created_at} on Python {env.python} ({env.platform}).",
        "# Install with: pip install -r requirements.txt",
    ]
    lines += [f"{dist}=={version_}" for dist, version_ in env.packages.items()]
    return "\n".join(lines) + "\n"


def _major_minor(text: str) -> tuple[int, int] | None:
    try:
        v = Version(text)
    except InvalidVersion:
        return None
    return (v.major, v.minor)


def check(
    recorded: Environment,
    *,
    packages: Iterable[str] = STRICT,
    allow_version_mismatch: bool = False,
    running: Mapping[str, str] | None = None,
) -> list[str]:
    """Compare the recorded environment with the running one.

    A different major.minor of a package in ``packages`` raises
    ``IncompatibleEnvironmentError`` unless ``allow_version_mismatch``; every other difference
    among the recorded packages is collected and reported in a single
    ``EnvironmentMismatchWarning``. Returns the differences found, as sentences.
    """
    strict = {str(canonicalize_name(p)) for p in packages}
    differences = []
    for dist, want in recorded.packages.items():
        have = _installed_version(dist) if running is None else running.get(dist)
        if have is None:
            differences.append(f"{dist} {want} is not installed")
            continue
        if have == want:
            continue
        breaking = dist in strict and _major_minor(have) != _major_minor(want)
        if breaking and not allow_version_mismatch:
            raise IncompatibleEnvironmentError(
                dist,
                want,
                have,
                f"Install {dist}=={want} (see the bundle's requirements.txt), rebuild the "
                "bundle with this environment, or pass allow_version_mismatch=True "
                "(CLI: --allow-version-mismatch) to load it anyway at your own risk.",
            )
        differences.append(f"{dist} {want} recorded, {have} installed")
    if differences:
        warnings.warn(
            "The running environment differs from the one that built the bundle: "
            + "; ".join(differences)
            + ". Predictions were checked at save time only with the recorded versions.",
            EnvironmentMismatchWarning,
            stacklevel=3,
        )
    return differences
