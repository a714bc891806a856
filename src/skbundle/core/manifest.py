"""The manifest, ``bundle.json``: the single source of truth of a bundle.

Format versions
---------------
``FORMAT_VERSION`` is the version this skbundle writes and reads. Readers refuse fields they do
not know (``extra="forbid"``): a field an old reader silently ignored could carry a decision
it ought to enforce. So once a format version has been released, any change to the models
below, even an optional field with a default, is a bump. When you bump it, move the reader of
the old version to ``skbundle/manifest_compat/v<N>.py`` (convert it to the new models there)
and keep loading the released bundles under ``tests/data/bundles/``. Version 1 is the format
of skbundle 0.1.0 (classification on numeric features); version 2 adds feature kinds
(categorical and boolean features, their categories), regression, classifiers served by label,
prediction intervals, and what a person reading a prediction needs: each feature's
``description`` and ``unit``, the binary classifier's ``positive_class``, and ``example`` (one
real held-out record, with its true ``example_label``). Version 2 is not released yet, so these
additions are not a bump; once it is, any further addition is. Version 1 manifests are read by
:func:`skbundle.core.manifest_compat.upgrade_v1`, which refuses any field version 1 did not
have.

Signatures cover the exact bytes of ``bundle.json`` (``Manifest.source_bytes``), so a newer
reader that re-serializes a manifest differently still verifies an old signature.

Limits
------
A manifest is hostile input until verified, so what it may hold is bounded: ``bundle.json``
is at most ``MAX_MANIFEST_BYTES`` (16 MiB) and is refused before it is parsed when larger;
at most ``MAX_FEATURES`` features, ``MAX_CLASSES`` classes, ``MAX_ARTIFACTS`` files,
``MAX_ITEMS`` entries in any other list or table; names, dtypes, roles and formats at most
``MAX_NAME`` characters; artifact paths are plain relative paths inside the bundle (no ``..``,
no absolute path) of at most ``MAX_PATH`` characters, and declare at most
``MAX_ARTIFACT_BYTES``. These bounds are far above anything skbundle writes, so tightening
them changed no valid bundle of format version 1 (the released bundles still load): they are
not a format bump. Loosening one is not a bump either; tightening one below real use is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from skbundle.core.files import (
    MAX_ARTIFACT_BYTES,
    MAX_MANIFEST_BYTES,
    BundleDir,
    path_problem,
)
from skbundle.core.layout import MANIFEST_NAME
from skbundle.core.manifest_compat import upgrade_v1
from skbundle.errors import BundleFileError, ManifestError

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

MAX_FEATURES = 10_000
MAX_CLASSES = 100_000
MAX_ARTIFACTS = 1_000
MAX_ITEMS = 10_000
MAX_NAME = 1_024
MAX_PATH = 1_024
MAX_CATEGORIES = 10_000
MAX_DESCRIPTION = 2_000
"""The longest feature description, in characters."""
MAX_UNIT = 64
"""The longest feature unit (``mm``, ``mg/dL``), in characters."""

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


FeatureKind = Literal["numeric", "categorical", "boolean"]
Category = str | bool | int
"""A known value of a categorical feature: all of one feature's categories share one type."""
Example = Annotated[str, Field(max_length=MAX_NAME)] | bool | int | float | None
"""One value of the stored example record: a number, a category, or missing (None)."""


class FeatureSpec(_Model):
    """One input feature: its name, dtype, and what training data looked like.

    ``kind`` says what values it takes: numbers (``min``..``max`` seen in training), one of
    ``categories`` (strings, or integers of a pandas ``category`` column), or a boolean. A
    categorical feature's value reaches the runtime as its index in ``categories`` (see
    :mod:`skbundle.core.schema`); ``unknown`` says what the pipeline does with a category it
    never saw (``error``: refused before the model runs; ``accept``: passed on with a warning);
    ``missing_as`` is the missing marker the pipeline was fitted with (``nan`` or ``none``).
    ``description`` and ``unit`` are what the feature means and what it is measured in, for a
    person filling in a record (given to :func:`skbundle.save` as ``feature_descriptions``);
    both are plain text, escaped wherever they are shown.
    """

    name: str = Field(max_length=MAX_NAME)
    dtype: str = Field(max_length=MAX_NAME)
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    missing_allowed: bool
    n_missing: int = 0
    kind: FeatureKind = "numeric"
    categories: list[Category] | None = Field(default=None, max_length=MAX_CATEGORIES)
    unknown: Literal["error", "accept"] | None = None
    missing_as: Literal["nan", "none"] | None = None
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    unit: str = Field(default="", max_length=MAX_UNIT)

    @field_validator("categories")
    @classmethod
    def _check_categories(cls, value: list[Category] | None) -> list[Category] | None:
        if value is None:
            return value
        kinds = {type(v) for v in value}
        if len(kinds) > 1:
            raise ValueError(
                f"categories mix types {sorted(k.__name__ for k in kinds)}; one type per feature"
            )
        if len(set(value)) != len(value):
            raise ValueError("categories repeat a value")
        if any(isinstance(v, str) and len(v) > MAX_NAME for v in value):
            raise ValueError(f"a category is longer than {MAX_NAME} characters")
        return value


class Artifact(_Model):
    """A file of the bundle, with the hash that load() checks before reading it."""

    path: str = Field(max_length=MAX_PATH)
    role: str = Field(max_length=MAX_NAME)
    format: str = Field(max_length=MAX_NAME)
    bytes: int = Field(ge=0, le=MAX_ARTIFACT_BYTES)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        why = path_problem(value)
        if why is not None:
            raise ValueError(
                f"path {value!r} is not a relative path inside the bundle: {why}; use a "
                "POSIX path such as 'model.onnx'"
            )
        return value


class DatasetFingerprint(_Model):
    """Which training data the model saw, without storing the data."""

    sha256: str
    n_rows: int
    n_features: int


class Environment(_Model):
    """Where the bundle was built."""

    python: str
    platform: str
    packages: dict[str, str] = Field(max_length=MAX_ITEMS)


class ParitySet(_Model):
    """Parity on one set of rows (``test``: held-out data; ``boundary``: split thresholds)."""

    n_rows: int
    max_abs_diff: float
    label_agreement: float


class Parity(_Model):
    """How closely one runtime reproduces the fitted pipeline, measured at save time.

    The top-level figures cover every set: the largest difference, and full label agreement
    only when every set agrees fully. ``exact`` means bit-identical probabilities everywhere.
    """

    n_rows: int
    max_abs_diff: float
    label_agreement: float
    exact: bool
    sets: dict[str, ParitySet] = Field(default_factory=dict, max_length=MAX_ITEMS)
    notes: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS)


class Interval(_Model):
    """A regressor's split-conformal prediction interval, calibrated at save time.

    Every prediction is given ``value +/- half_width``. ``half_width`` is the
    ``ceil((n + 1) * level) / n`` empirical quantile of the absolute residuals on the
    ``n_calibration`` held-out rows. ``coverage`` is measured on held-out rows the width was
    not calibrated on: the test split is cut in two halves, each half's width is checked on
    the other, and the two coverages averaged.
    """

    method: Literal["split-conformal"] = "split-conformal"
    level: float = Field(gt=0, lt=1)
    half_width: float = Field(ge=0)
    n_calibration: int
    coverage: float = Field(ge=0, le=1)


Output = Literal["probabilities", "labels", "values"]
"""What the runtime returns per row: class probabilities, a class label (with decision scores
where the estimator has them), or a regressor's value."""


class Manifest(_Model):
    """Everything known about a bundle; every other file is listed here with its hash."""

    format_version: int = FORMAT_VERSION
    name: str
    version: str
    description: str = ""
    created_at: str
    task: Literal["classification", "regression"] = "classification"
    output: Output = "probabilities"
    classes: list[str] = Field(max_length=MAX_CLASSES)
    class_values: list[Any] = Field(max_length=MAX_CLASSES)
    pipeline: list[str] = Field(max_length=MAX_ITEMS)
    features: list[FeatureSpec] = Field(max_length=MAX_FEATURES)
    metrics: dict[str, dict[str, Any]] = Field(max_length=MAX_ITEMS)
    dataset: DatasetFingerprint
    environment: Environment
    artifacts: list[Artifact] = Field(max_length=MAX_ARTIFACTS)
    parity: dict[str, Parity] = Field(default_factory=dict, max_length=MAX_ITEMS)
    unavailable_formats: dict[str, str] = Field(default_factory=dict, max_length=MAX_ITEMS)
    benchmarks: dict[str, Any] | None = None
    interval: Interval | None = None
    positive_class: str | None = Field(default=None, max_length=MAX_NAME)
    """The class a binary classifier's ROC, precision-recall and calibration curves and its
    sensitivity are about (e.g. ``malignant``); None: the second class, as scikit-learn's
    binary metrics take it."""
    example: dict[str, Example] | None = Field(default=None, max_length=MAX_FEATURES)
    """One real record of the held-out test split, by feature name: the page's default."""
    example_label: str | None = Field(default=None, max_length=MAX_NAME)
    """The true class (or a regressor's true value, as text) of ``example``."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                f"name {value!r} is not a valid bundle name: use letters, digits, '.', '_' "
                "and '-', starting with a letter or digit, at most 128 characters"
            )
        return value

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _SEMVER.fullmatch(value):
            raise ValueError(
                f"version {value!r} is not a semantic version: use MAJOR.MINOR.PATCH, e.g. '1.0.0'"
            )
        return value

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def artifact(self, role: str) -> Artifact | None:
        """The artifact with this role, or None."""
        return next((a for a in self.artifacts if a.role == role), None)

    _source: bytes | None = PrivateAttr(default=None)

    def source_bytes(self) -> bytes:
        """The bytes of ``bundle.json`` this manifest was read from (canonical bytes if it was
        built in memory). Signatures cover these exact bytes: a later skbundle that adds a
        defaulted field re-serializes differently, and must still verify an old signature."""
        return self._source if self._source is not None else self.to_json() + b"\n"

    def to_json(self) -> bytes:
        """Canonical bytes: sorted keys, two-space indent (``bundle.json`` adds a newline).

        Always in the current format version: a manifest read from an older version and
        written again (an update, a new signature) is written as the version it now is.
        """
        data = self.model_dump(mode="json")
        data["format_version"] = FORMAT_VERSION
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def validate_identity(name: str, version: str) -> None:
    """Raise ValueError with the manifest's own message when a name or version is invalid."""
    Manifest._check_name(name)
    Manifest._check_version(version)


def read_manifest(bundle_dir: str | Path) -> Manifest:
    """Parse ``bundle.json`` of a bundle directory.

    ``bundle.json`` is read through :mod:`skbundle.core.files`: a link, a FIFO, a device or a
    file over ``MAX_MANIFEST_BYTES`` is refused before anything is read from it.

    Raises
    ------
    ManifestError
        The directory or manifest is missing, is not a regular file, is too large, the JSON
        does not parse, the format version is not the one this skbundle reads, or a field is
        invalid (or beyond the limits above).
    """
    path = Path(bundle_dir) / MANIFEST_NAME
    if not Path(bundle_dir).is_dir():
        raise ManifestError(
            str(path),
            "the bundle directory does not exist",
            "Check the path, or create a bundle with skbundle.save() or 'skbundle demo'.",
        )
    try:
        with BundleDir(bundle_dir) as directory:
            raw = directory.read(MANIFEST_NAME, max_bytes=MAX_MANIFEST_BYTES)
    except FileNotFoundError as exc:
        raise ManifestError(
            str(path),
            "the file is missing",
            "A bundle directory must contain bundle.json; this one is incomplete.",
        ) from exc
    except BundleFileError as exc:
        raise ManifestError(
            str(path),
            f"it {exc.reason}",
            "Nothing was read from it. A manifest is a regular JSON file of at most "
            f"{MAX_MANIFEST_BYTES >> 20} MiB; rebuild the bundle or fetch an intact copy.",
        ) from exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ManifestError(
            str(path),
            f"it is not valid JSON ({exc})",
            "The manifest was damaged; rebuild the bundle or fetch an intact copy.",
        ) from exc
    if not isinstance(data, dict):
        raise ManifestError(
            str(path),
            f"expected a JSON object, got {type(data).__name__}",
            "The manifest was damaged; rebuild the bundle or fetch an intact copy.",
        )
    version = data.get("format_version")
    if version not in READABLE_VERSIONS or type(version) is not int:
        raise ManifestError(
            str(path),
            f"format_version is {version!r}; this skbundle reads format versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}",
            "Install the skbundle release that wrote this bundle, or rebuild it with this one.",
        )
    try:
        if version == 1:
            data = upgrade_v1(data)
        manifest = Manifest.model_validate(data)
    except ValueError as exc:
        if not isinstance(exc, ValidationError):
            raise ManifestError(
                str(path),
                str(exc),
                "The manifest was edited or damaged; rebuild the bundle.",
            ) from exc
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ManifestError(
            str(path),
            f"field {where!r} is invalid: {first['msg']}"
            + (f" ({exc.error_count() - 1} more)" if exc.error_count() > 1 else ""),
            "The manifest was edited or damaged; rebuild the bundle.",
        ) from exc
    manifest._source = raw
    return manifest


def write_manifest(bundle_dir: str | Path, manifest: Manifest) -> Path:
    """Write the canonical ``bundle.json`` into ``bundle_dir``."""
    path = Path(bundle_dir) / MANIFEST_NAME
    path.write_bytes(manifest.to_json() + b"\n")
    return path
