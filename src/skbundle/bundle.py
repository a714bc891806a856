"""``load()`` and ``Bundle``: a verified bundle, ready to validate input and predict.

Security order on load: read the manifest (JSON, no code), check its signature when a key is
given, verify every file's hash, choose a runtime, compare the environment, audit what the file
would import, and only then deserialize, from the very bytes that were hashed. A pickle is never
deserialized unless the caller trusts the bundle (``trust_pickle`` or a valid signature).

What ``runtime="auto"`` may conclude from the manifest: a bundle's recorded parity is its
author's claim, not evidence. Auto only ever chooses among the runtimes the caller could load
by name under the same trust (ONNX and skops always, whose loading runs no code because their
checks hold on any file; joblib only when the pickle is trusted, whatever its parity says), so
a false claim can change which of those is used, never widen what is executed. A forger who
can write the claim can write the model, so the claim gives them nothing the model does not.
The claim is not re-measured at load (the boundary rows are not stored, and the reference
would be the pipeline itself); auto only refuses one whose figures contradict it. A signature
makes it the signer's claim, no more.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skbundle.core import environment
from skbundle.core.integrity import read_verified, verify
from skbundle.core.manifest import Artifact, Manifest, read_manifest
from skbundle.core.runtime import Predictor, RuntimeInfo, Signature
from skbundle.core.schema import Validated, Validator
from skbundle.errors import (
    NoProbabilitiesError,
    RuntimeUnavailableError,
    SignatureError,
    UntrustedArtifactError,
)
from skbundle.formats import FORMATS, FormatHandler
from skbundle.trust.signing import (
    ENV_PUBLIC_KEY,
    KeySpec,
    fingerprint,
    load_public_key,
    public_key_from_env,
    verify_signature,
)

AUTO = "auto"

# Runtimes whose predictions depend on the installed scikit-learn (they unpickle its objects).
_SKLEARN_ENGINES = frozenset({"scikit-learn"})


def _untrusted(path: str) -> UntrustedArtifactError:
    return UntrustedArtifactError(
        path,
        "it is a pickle (joblib), and unpickling a file runs whatever code its author put in "
        "it; nothing says this bundle comes from a source you trust",
        "If you built this bundle yourself or verified where it came from, pass "
        "trust_pickle=True (CLI: --trust-pickle).",
    )


PREFERENCE = ("onnx", "skops", "joblib")
"""The order ``runtime="auto"`` tries formats in: no code on load first, pickles last."""


def _auto_ok(fmt: str, manifest: Manifest, trusted_pickle: bool) -> str | None:
    """Why ``auto`` may pick this format, or None when it may not.

    Parity is the manifest's claim (see the module docstring): it can only rank formats the
    caller may load anyway. Trust for a pickle never comes from it, and an ``exact`` flag is
    believed only when the recorded figures agree with it (no difference, every label).
    """
    parity = manifest.parity.get(fmt)
    handler = FORMATS[fmt]
    if parity is None:
        return None
    exact = parity.exact and parity.max_abs_diff == 0.0 and parity.label_agreement == 1.0
    if handler.needs_trust:
        return "the pickle is trusted" if trusted_pickle and exact else None
    if handler.engine not in _SKLEARN_ENGINES:
        # Another engine must reproduce scikit-learn bit for bit to be chosen unasked.
        return "its parity with the fitted pipeline is exact" if exact else None
    return "it reproduces the fitted pipeline" if parity.label_agreement == 1.0 else None


def _choose_runtime(
    manifest: Manifest, requested: str, trusted_pickle: bool, path: Path, trust_reason: str = ""
) -> tuple[FormatHandler, str]:
    """The format handler to load, and the reason it was chosen."""
    present = [a.format for a in manifest.artifacts if a.role == "model" and a.format in FORMATS]
    if requested != AUTO:
        if requested not in present:
            why = manifest.unavailable_formats.get(requested, "")
            raise RuntimeUnavailableError(requested, present, why)
        handler = FORMATS[requested]
        if handler.needs_trust and not trusted_pickle:
            raise _untrusted(str(path / handler.filename))
        return handler, f"requested with runtime={requested!r}" + (
            f"; {trust_reason}" if handler.needs_trust else ""
        )
    order = [f for f in PREFERENCE if f in present] + [f for f in present if f not in PREFERENCE]
    skipped: list[str] = []
    for fmt in order:
        ok = _auto_ok(fmt, manifest, trusted_pickle)
        if ok is not None:
            extra = f" ({trust_reason})" if FORMATS[fmt].needs_trust else ""
            passed = f"; not {', '.join(skipped)}" if skipped else ""
            return FORMATS[fmt], f"auto: {fmt}, because {ok}{extra}{passed}"
        skipped.append(_skip_reason(fmt, manifest))
    pickled = [f for f in present if FORMATS[f].needs_trust]
    if pickled and not trusted_pickle:
        raise _untrusted(str(path / FORMATS[pickled[0]].filename))
    raise RuntimeUnavailableError(AUTO, present, "; ".join(skipped) or "no model format")


def auto_format(manifest: Manifest, *, trusted_pickle: bool = False) -> str | None:
    """The format ``runtime="auto"`` would load for this manifest, or None when it would refuse.

    Reads the manifest only (no file is checked): what a bundle's default runtime is, e.g.
    for the requirements a deployment installs.
    """
    present = [a.format for a in manifest.artifacts if a.role == "model" and a.format in FORMATS]
    order = [f for f in PREFERENCE if f in present] + [f for f in present if f not in PREFERENCE]
    return next((f for f in order if _auto_ok(f, manifest, trusted_pickle) is not None), None)


def _skip_reason(fmt: str, manifest: Manifest) -> str:
    parity = manifest.parity.get(fmt)
    if parity is None:
        return f"{fmt} (no parity recorded)"
    if FORMATS[fmt].needs_trust:
        return f"{fmt} (a pickle, not trusted)"
    return (
        f"{fmt} (parity not exact: max |diff| {parity.max_abs_diff:g}, labels "
        f"{parity.label_agreement:.2%})"
    )


def prediction_labels(manifest: Manifest) -> list[Any]:
    """What a classifier's ``prediction`` is for each class: the display name given at save
    time (``class_names``), else the class value itself (an integer label stays an integer)."""
    if manifest.classes == [str(v) for v in manifest.class_values]:
        return list(manifest.class_values)
    return list(manifest.classes)


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
        self._labels = tuple(prediction_labels(manifest))
        self._output = manifest.output
        interval = manifest.interval
        self._half_width = None if interval is None else interval.half_width
        self._level = None if interval is None else interval.level

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
    def task(self) -> str:
        """``classification`` or ``regression``."""
        return self.manifest.task

    @property
    def feature_names(self) -> list[str]:
        return list(self.validator.names)

    def __repr__(self) -> str:
        what = "regression" if self.task == "regression" else f"{len(self._classes)} classes"
        return (
            f"<Bundle {self.name} {self.version}: {what}, "
            f"{len(self.validator.names)} features, runtime={self.runtime.format}>"
        )

    def validate(
        self, records: object, *, ignore_unknown: bool = False, offset: int = 0
    ) -> Validated:
        """Run the bundle's validator alone; see :meth:`skbundle.core.schema.Validator.validate`."""
        return self.validator.validate(records, ignore_unknown=ignore_unknown, offset=offset)

    def predict_proba(self, records: object, *, ignore_unknown: bool = False) -> np.ndarray:
        """Class probabilities, one row per record, columns in the order of ``classes``.

        Raises
        ------
        InputValidationError
            The input does not fit the schema; every problem is listed.
        NoProbabilitiesError
            The bundle is a regressor, or a classifier without ``predict_proba``.
        """
        if self._output != "probabilities":
            raise NoProbabilitiesError(self.name, self.task, self._output)
        return self._predictor.predict_output(
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
            One per record. A classifier with probabilities gives ``{"prediction": class,
            "probabilities": {class: p}, "confidence": max p, "warnings": [...]}``; one without
            gives ``{"prediction": class, "decision": score or {class: score}, "warnings"}``
            (``decision`` only where the estimator has ``decision_function``); a regressor
            gives ``{"prediction": value, "interval": [low, high], "warnings": [...]}``.
            Warnings name features outside the training range and unseen categories.

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
        return self.results(self._predictor.predict_output(checked.X), checked.warnings)

    def predict_validated(self, checked: Validated) -> np.ndarray:
        """The runtime's output (see :mod:`skbundle.core.runtime`) for validated input."""
        return self._predictor.predict_output(checked.X)

    def predictions(self, output: np.ndarray) -> list[Any]:
        """The prediction of each row of a runtime output: a class label or a value."""
        if self._output == "values":
            values: list[Any] = output[:, 0].tolist()
            return values
        labels = self._labels
        index = output[:, 0] if self._output == "labels" else output.argmax(axis=1)
        return [labels[int(k)] for k in index.tolist()]

    def results(self, output: np.ndarray, warnings: list[list[str]]) -> list[dict[str, Any]]:
        """Result objects from a runtime output and the validator's per-record warnings."""
        if self._output == "values":
            return self._value_results(output, warnings)
        if self._output == "labels":
            return self._label_results(output, warnings)
        classes = self._classes
        labels = self._labels
        out = []
        for row, best, notes in zip(
            output.tolist(), output.argmax(axis=1).tolist(), warnings, strict=True
        ):
            out.append(
                {
                    "prediction": labels[best],
                    "probabilities": dict(zip(classes, row, strict=True)),
                    "confidence": row[best],
                    "warnings": notes,
                }
            )
        return out

    def _value_results(self, output: np.ndarray, warnings: list[list[str]]) -> list[dict[str, Any]]:
        values = output[:, 0].tolist()
        width = self._half_width
        if width is None:
            return [
                {"prediction": v, "warnings": notes}
                for v, notes in zip(values, warnings, strict=True)
            ]
        return [
            {"prediction": v, "interval": [v - width, v + width], "warnings": notes}
            for v, notes in zip(values, warnings, strict=True)
        ]

    def _label_results(self, output: np.ndarray, warnings: list[list[str]]) -> list[dict[str, Any]]:
        labels = self._labels
        classes = self._classes
        out = []
        for row, notes in zip(output.tolist(), warnings, strict=True):
            result: dict[str, Any] = {"prediction": labels[int(row[0])]}
            scores = row[1:]
            if len(scores) == 1:
                result["decision"] = scores[0]
            elif scores:
                result["decision"] = dict(zip(classes, scores, strict=True))
            result["warnings"] = notes
            out.append(result)
        return out


def load(
    path: str | os.PathLike[str],
    *,
    runtime: str = AUTO,
    trust_pickle: bool = False,
    allow_version_mismatch: bool = False,
    trusted_types: Collection[str] = (),
    public_key: KeySpec | None = None,
    require_signature: bool = False,
) -> Bundle:
    """Verify and load a bundle.

    Parameters
    ----------
    path
        The bundle directory.
    runtime
        ``"auto"`` (default), ``"onnx"``, ``"skops"`` or ``"joblib"``. Auto picks ONNX when
        its recorded parity with the fitted pipeline is exact (bit-identical), else skops,
        and joblib only when the pickle is trusted. ``Bundle.runtime`` says which and why.
    trust_pickle
        Allow unpickling ``model.joblib``. Only for bundles from a source you trust: a pickle
        can run arbitrary code when loaded. A valid signature counts as trust too. Either
        way, the pickle is audited first and refused if it imports anything outside
        skbundle's allowlist.
    allow_version_mismatch
        Load even when the installed scikit-learn differs in major.minor from the one that
        built the bundle (a warning is still issued). Not checked for the ONNX runtime.
    trusted_types
        Fully qualified names (e.g. ``"mypackage.MyTransformer"``) trusted in addition to
        skbundle's allowlist when auditing a skops or joblib file. Never read from the bundle.
    public_key
        An Ed25519 public key (PEM path, PEM text/bytes, or key object) that must have signed
        the manifest. Defaults to the environment variable ``SKBUNDLE_PUBLIC_KEY``. When a key
        is given, a missing or wrong signature is refused.
    require_signature
        Refuse the bundle unless it is signed by ``public_key`` (or the environment's key).

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
        Only a pickle could be loaded and the caller did not trust it; or the skops/joblib
        file would construct or import names outside the allowlist.
    SignatureError
        A signature is required (a key was given) and it is missing or does not match.
    IncompatibleEnvironmentError
        The installed scikit-learn's major.minor differs from the recorded one.

    Examples
    --------
    >>> bundle = skbundle.load("models/breast-cancer", trust_pickle=True)
    """
    plan = plan_load(
        path,
        runtime=runtime,
        trust_pickle=trust_pickle,
        allow_version_mismatch=allow_version_mismatch,
        public_key=public_key,
        require_signature=require_signature,
    )
    predictor = plan.handler.load(
        read_verified(plan.root, plan.artifact),
        source=str(plan.root / plan.artifact.path),
        signature=Signature.of(plan.manifest),
        trusted=frozenset(trusted_types),
    )
    info = RuntimeInfo(format=plan.handler.name, engine=plan.handler.engine, reason=plan.reason)
    return Bundle(plan.manifest, predictor, info, plan.root)


@dataclass(frozen=True)
class LoadPlan:
    """What :func:`load` will construct, and why, decided before anything is deserialized."""

    root: Path
    manifest: Manifest
    handler: FormatHandler
    artifact: Artifact
    reason: str


def plan_load(
    path: str | os.PathLike[str],
    *,
    runtime: str = AUTO,
    trust_pickle: bool = False,
    allow_version_mismatch: bool = False,
    public_key: KeySpec | None = None,
    require_signature: bool = False,
) -> LoadPlan:
    """Every check :func:`load` makes before it deserializes anything, in the same order.

    Reads bytes and JSON only: the manifest, the signature, every file's hash, the runtime
    choice and the environment. A server checks this once before starting workers, so a bad
    bundle ends with one clear error. Parameters and errors are those of :func:`load`.
    """
    root = Path(path)
    manifest = read_manifest(root)
    key = load_public_key(public_key) if public_key is not None else public_key_from_env()
    signed = ""
    if key is not None:
        verify_signature(root, key, manifest)
        signed = f"signed by key {fingerprint(key)[:16]}..."
    elif require_signature:
        raise SignatureError(
            str(root),
            "a signature is required and no public key was given",
            f"Pass public_key=... (CLI: --key) or set {ENV_PUBLIC_KEY}.",
        )
    verify(root, manifest).raise_for_problems()
    trusted_pickle = trust_pickle or bool(signed)
    trust_reason = signed or ("trust_pickle=True" if trust_pickle else "")
    handler, reason = _choose_runtime(manifest, runtime, trusted_pickle, root, trust_reason)
    if handler.engine in _SKLEARN_ENGINES:
        environment.check(manifest.environment, allow_version_mismatch=allow_version_mismatch)
    artifact = next(a for a in manifest.artifacts if a.role == "model" and a.format == handler.name)
    return LoadPlan(root, manifest, handler, artifact, reason)
