"""``load()`` and ``Bundle``: a verified bundle, ready to validate input and predict.

Security order on load: read the manifest (JSON, no code), verify every file's hash, choose a
runtime, compare the environment, and only then deserialize, from the very bytes that were
hashed. A pickle is never deserialized unless the caller trusts the bundle.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skbundle import environment
from skbundle.errors import SkbundleError, UntrustedArtifactError
from skbundle.formats import FORMATS, FormatHandler
from skbundle.integrity import read_verified, verify
from skbundle.manifest import Manifest, read_manifest
from skbundle.runtime import Predictor, RuntimeInfo
from skbundle.schema import Validated, Validator

AUTO = "auto"

# Runtimes whose predictions depend on the installed scikit-learn (they unpickle its objects).
_SKLEARN_ENGINES = frozenset({"scikit-learn"})


class RuntimeUnavailableError(SkbundleError, ValueError):
    """The requested runtime is not in this bundle, or unknown."""

    def __init__(self, requested: str, available: Sequence[str], why: str = "") -> None:
        self.requested = requested
        self.available = list(available)
        extra = f" ({why})" if why else ""
        super().__init__(
            f"Runtime {requested!r} is not available for this bundle{extra}: expected one of "
            f"{[AUTO, *available]}."
        )


def _untrusted(path: str) -> UntrustedArtifactError:
    return UntrustedArtifactError(
        path,
        "it is a pickle (joblib), and unpickling a file runs whatever code its author put in "
        "it; nothing says this bundle comes from a source you trust",
        "If you built this bundle yourself or verified where it came from, pass "
        "trust_pickle=True (CLI: --trust-pickle).",
    )


def _choose(
    manifest: Manifest, requested: str, trust_pickle: bool, path: Path
) -> tuple[FormatHandler, str]:
    """The format handler to load, and the reason it was chosen."""
    present = [a.format for a in manifest.artifacts if a.role == "model" and a.format in FORMATS]
    if requested != AUTO:
        if requested not in present:
            why = manifest.unavailable_formats.get(requested, "")
            raise RuntimeUnavailableError(requested, present, why)
        handler = FORMATS[requested]
        if handler.needs_trust and not trust_pickle:
            raise _untrusted(str(path / handler.filename))
        return handler, f"requested with runtime={requested!r}"
    # Prefer formats that run no code on load and agree on every label; exact parity first,
    # then registry order.
    parity = manifest.parity
    safe = [
        f
        for f in present
        if not FORMATS[f].needs_trust and f in parity and parity[f].label_agreement == 1.0
    ]
    safe.sort(key=lambda f: not parity[f].exact)
    if safe:
        fmt = safe[0]
        return FORMATS[fmt], (
            f"auto: {fmt} loads without running code and its parity with the fitted pipeline "
            f"is {'exact' if parity[fmt].exact else 'label-exact'}"
        )
    pickled = [f for f in present if FORMATS[f].needs_trust]
    if pickled and trust_pickle:
        return FORMATS[pickled[0]], f"auto: {pickled[0]}, trusted by the caller (trust_pickle=True)"
    if pickled:
        raise _untrusted(str(path / FORMATS[pickled[0]].filename))
    raise RuntimeUnavailableError(AUTO, present, "no format with full label agreement")


class Bundle:
    """A loaded bundle: its manifest, the input validator, and one runtime.

    Create with :func:`skbundle.load`.
    """

    def __init__(
        self, manifest: Manifest, predictor: Predictor, info: RuntimeInfo, path: Path
    ) -> None:
        self.manifest = manifest
        self.path = path
        self.runtime = info
        self.validator = Validator(manifest.features, bundle=manifest.name)
        self._predictor = predictor
        self._classes = tuple(manifest.classes)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    @property
    def feature_names(self) -> list[str]:
        return list(self.validator.names)

    def __repr__(self) -> str:
        return (
            f"<Bundle {self.name} {self.version}: {len(self._classes)} classes, "
            f"{len(self.validator.names)} features, runtime={self.runtime.format}>"
        )

    def validate(
        self, records: object, *, ignore_unknown: bool = False, offset: int = 0
    ) -> Validated:
        """Run the bundle's validator alone; see :meth:`skbundle.schema.Validator.validate`."""
        return self.validator.validate(records, ignore_unknown=ignore_unknown, offset=offset)

    def predict_proba(self, records: object, *, ignore_unknown: bool = False) -> np.ndarray:
        """Class probabilities, one row per record, columns in the order of ``classes``.

        Raises
        ------
        InputValidationError
            The input does not fit the schema; every problem is listed.
        """
        return self._predictor.predict_proba(
            self.validator.validate(records, ignore_unknown=ignore_unknown).X
        )

    def predict(
        self, records: object, *, ignore_unknown: bool = False, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Predict, one result per record.

        Parameters
        ----------
        records
            A dict (one record), a list of dicts, a DataFrame, or a 2-D array / list of lists
            with values in schema order.
        ignore_unknown
            Drop fields not in the schema instead of refusing them (the result says so).
        offset
            Added to record numbers in error messages, for input scored in chunks.

        Returns
        -------
        list of dict
            ``{"prediction": class, "probabilities": {class: p}, "confidence": max p,
            "warnings": [...]}`` per record; warnings name features outside the training range.

        Raises
        ------
        InputValidationError
            The input does not fit the schema; every problem is listed.

        Examples
        --------
        >>> bundle.predict({"mean radius": 14.1, ...})
        [{'prediction': 'benign', 'probabilities': {'malignant': 0.03, 'benign': 0.97},
          'confidence': 0.97, 'warnings': []}]
        """
        checked = self.validator.validate(records, ignore_unknown=ignore_unknown, offset=offset)
        return self.results(self._predictor.predict_proba(checked.X), checked.warnings)

    def predict_validated(self, checked: Validated) -> np.ndarray:
        """Probabilities for input that already passed :meth:`validate`."""
        return self._predictor.predict_proba(checked.X)

    def results(self, proba: np.ndarray, warnings: list[list[str]]) -> list[dict[str, Any]]:
        """Result objects from probabilities and the validator's per-record warnings."""
        classes = self._classes
        out = []
        for row, best, notes in zip(
            proba.tolist(), proba.argmax(axis=1).tolist(), warnings, strict=True
        ):
            out.append(
                {
                    "prediction": classes[best],
                    "probabilities": dict(zip(classes, row, strict=True)),
                    "confidence": row[best],
                    "warnings": notes,
                }
            )
        return out


def load(
    path: str | os.PathLike[str],
    *,
    runtime: str = AUTO,
    trust_pickle: bool = False,
    allow_version_mismatch: bool = False,
) -> Bundle:
    """Verify and load a bundle.

    Parameters
    ----------
    path
        The bundle directory.
    runtime
        ``"auto"`` (default) or a format name from the manifest, e.g. ``"joblib"``. Auto
        prefers formats that run no code on load and reproduce the pipeline exactly; it uses
        a pickle only when ``trust_pickle`` is True.
    trust_pickle
        Allow unpickling ``model.joblib``. Only for bundles from a source you trust: a pickle
        can run arbitrary code when loaded.
    allow_version_mismatch
        Load even when the installed scikit-learn differs in major.minor from the one that
        built the bundle (a warning is still issued).

    Returns
    -------
    Bundle

    Raises
    ------
    ManifestError
        ``bundle.json`` is missing, unparseable or of an unknown format version.
    BundleIntegrityError
        A file changed, is missing, or was added; nothing was deserialized.
    UntrustedArtifactError
        Only a pickle could be loaded and the caller did not trust it.
    IncompatibleEnvironmentError
        The installed scikit-learn's major.minor differs from the recorded one.

    Examples
    --------
    >>> bundle = skbundle.load("models/breast-cancer", trust_pickle=True)
    """
    root = Path(path)
    manifest = read_manifest(root)
    verify(root, manifest).raise_for_problems()
    handler, reason = _choose(manifest, runtime, trust_pickle, root)
    if handler.engine in _SKLEARN_ENGINES:
        environment.check(manifest.environment, allow_version_mismatch=allow_version_mismatch)
    artifact = next(a for a in manifest.artifacts if a.role == "model" and a.format == handler.name)
    predictor = handler.load(read_verified(root, artifact), source=str(root / artifact.path))
    info = RuntimeInfo(format=handler.name, engine=handler.engine, reason=reason)
    return Bundle(manifest, predictor, info, root)
