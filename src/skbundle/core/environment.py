"""Environment capture at save time, the requirements of each runtime, and the comparison at
load time.

The packages recorded are the ones a bundle needs to run: skbundle's serving core
(:data:`SERVING`), what each runtime adds (:data:`RUNTIME_PACKAGES`), the distributions that
provide the pipeline's estimators, and everything those require, found from the installed
metadata rather than from a hand-kept list. skbundle itself is pinned but its own metadata is
not followed: it names the optional build tooling (matplotlib, skl2onnx...), which no runtime
needs.

Per runtime
-----------
A bundle holds one ``requirements-<format>.txt`` per model format (:func:`runtime_pins`):
ONNX needs the serving core only (onnxruntime, and ``onnx`` for the self-containment check
that runs before onnxruntime sees a file); skops and joblib add scikit-learn, their own
library and the model's packages (lightgbm, xgboost...). ``requirements.txt`` is the default
runtime's (the one ``load()`` picks without trusting a pickle). Bundles made before these files
existed hold ``requirements.txt`` only, pinning the whole build environment.
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
from skbundle.errors import (
    EnvironmentMismatchWarning,
    IncompatibleEnvironmentError,
    MissingExtraError,
)

SERVING = (
    "numpy",
    "onnxruntime",
    "onnx",
    "joblib",
    "packaging",
    "pydantic",
    "orjson",
    "typer",
    "rich",
    "cryptography",
    "starlette",
    "swagger-ui-bundle",
    "uvicorn",
    "prometheus-client",
    "jinja2",
)
"""skbundle's light core: what ``pip install skbundle`` installs, enough to verify, load and
serve an ONNX bundle. ``[project] dependencies`` in pyproject.toml lists exactly these (a test
compares them)."""

BUILD = ("scikit-learn", "scipy", "pandas", "pyarrow", "skops", "skl2onnx", "matplotlib")
"""The ``build`` extra: what ``skbundle.save`` and the commands that fit, score files or render
reports need on top of the core."""

RUNTIME_PACKAGES: dict[str, tuple[str, ...]] = {
    "onnx": (),
    "skops": ("scikit-learn", "scipy", "pandas", "skops"),
    "joblib": ("scikit-learn", "scipy", "pandas"),
}
"""What each runtime needs beyond :data:`SERVING`. The scikit-learn runtimes also need the
packages that provide the pipeline's estimators (:func:`distributions_of`). pandas: a pipeline
fitted on named columns is given a DataFrame."""

SELF = "skbundle"
"""Pinned, never followed: its metadata lists extras' packages under markers, and a source
tree's editable install may be older than the code that runs."""

# Always recorded, whatever the pipeline holds: every runtime's packages, and skbundle.
CORE = tuple(dict.fromkeys([*SERVING, *(p for ps in RUNTIME_PACKAGES.values() for p in ps)]))

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
        if key != SELF:
            pending.extend(_requirements_of(dist))
    return dict(sorted(pinned.items()))


def capture(objects: Iterable[object] = ()) -> Environment:
    """Record the running Python, platform, and the packages needed to run ``objects``."""
    packages = runtime_closure([*CORE, SELF, *distributions_of(objects)])
    return Environment(
        python=platform.python_version(),
        platform=f"{sys.platform}-{platform.machine()}",
        packages=packages,
    )


def runtime_pins(fmt: str, objects: Iterable[object] = ()) -> dict[str, str]:
    """Installed versions of what the runtime ``fmt`` needs to serve a bundle of ``objects``.

    Parameters
    ----------
    fmt
        A format of :data:`RUNTIME_PACKAGES` (``onnx``, ``skops``, ``joblib``).
    objects
        The pipeline's estimators: their packages are added for the scikit-learn runtimes
        (ONNX runs the graph, never the estimators' code).

    Returns
    -------
    dict
        Canonical distribution name to version, sorted, skbundle included when installed.
    """
    extra = RUNTIME_PACKAGES.get(fmt, RUNTIME_PACKAGES["skops"])
    model = distributions_of(objects) if extra else set()
    return runtime_closure([*SERVING, *extra, *sorted(model), SELF])


def requirements_txt(
    env: Environment,
    *,
    name: str,
    version: str,
    created_at: str,
    pins: Mapping[str, str] | None = None,
    runtime: str | None = None,
    filename: str = "requirements.txt",
) -> str:
    """A pinned requirements file: ``pins`` (default: the whole recorded environment).

    ``runtime`` names the runtime the pins are for, in the header.
    """
    packages = env.packages if pins is None else pins
    what = f"the {runtime} runtime of" if runtime else "the bundle"
    lines = [
        f"# Packages needed to run {what} {name} {version},",
        "# pinned to the versions that built it.",
        f"# Captured {created_at} on Python {env.python} ({env.platform}).",
        f"# Install with: pip install -r {filename}",
    ]
    if SELF in packages:
        lines.append(
            f"# If your index has no skbundle, add its wheel: pip install -r {filename} "
            f"skbundle-{packages[SELF]}-py3-none-any.whl"
        )
    lines += [f"{dist}=={version_}" for dist, version_ in packages.items()]
    return "\n".join(lines) + "\n"


EXTRAS = {
    "sklearn": "build",
    "scipy": "build",
    "pandas": "build",
    "pyarrow": "build",
    "skops": "build",
    "skl2onnx": "build",
    "matplotlib": "build",
    "sqlalchemy": "registry",
    "alembic": "registry",
    "psycopg": "registry",
    "fsspec": "registry",
    "dask": "dask",
    "distributed": "dask",
    "pyspark": "spark",
    "mlflow": "mlflow",
}
"""Top-level modules that only an extra of skbundle installs, and that extra."""


def missing_extra(exc: ImportError, what: str = "") -> MissingExtraError | None:
    """The :class:`MissingExtraError` an ImportError means, or None when no extra provides the
    module that failed (a real bug, to be raised as it is).

    Examples
    --------
    >>> try:
    ...     import sklearn
    ... except ImportError as exc:
    ...     raise (missing_extra(exc, "skbundle.save") or exc) from exc
    """
    if isinstance(exc, MissingExtraError):
        return exc
    top = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(top)
    return None if extra is None else MissingExtraError(top, extra, what)


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
