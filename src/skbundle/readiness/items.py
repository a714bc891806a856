"""The checklist items, each computed from evidence: the manifest, the files, the probes.

:func:`skbundle.readiness.check` gathers them; :mod:`skbundle.report.checklist` holds the
checklist itself and renders it.
"""

from __future__ import annotations

import platform
import re
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from skbundle.core.files import MAX_DATA_BYTES, read_bundle_file
from skbundle.core.integrity import Verification
from skbundle.core.layout import MANIFEST_NAME, SIGNATURE_NAME
from skbundle.core.manifest import Manifest
from skbundle.errors import BundleFileError, KeyFileError, SignatureError
from skbundle.report.checklist import FAIL, NOT_MEASURED, PASS, WARN, Item
from skbundle.trust import signing

STRICT_PACKAGES = ("scikit-learn",)
DEFAULT_MAX_P99_MS = 100.0
DEFAULT_REQUESTS = 2000
DEFAULT_CONCURRENCY = 32


# -- model ----------------------------------------------------------------------------------
INTERVAL_COVERAGE_TOLERANCE = 0.05
"""How far a regressor's measured interval coverage may be from its level before it warns."""


def metrics_item(
    manifest: Manifest,
    min_accuracy: float | None,
    *,
    min_r2: float | None = None,
    max_rmse: float | None = None,
) -> Item:
    """The test metrics are recorded and meet the thresholds given for the bundle's task.

    A classifier is held to ``min_accuracy``, a regressor to ``min_r2`` and ``max_rmse``
    (:func:`skbundle.readiness.check.check_thresholds` refuses the others before this runs).
    """
    if manifest.task == "regression":
        return _regression_metrics_item(manifest, min_r2, max_rmse)
    title = "Metrics recorded and above the threshold"
    test = manifest.metrics.get("test", {})
    accuracy = test.get("accuracy")
    if not isinstance(accuracy, (int, float)):
        return Item("model", "metrics", title, FAIL, "no test accuracy in bundle.json")
    shown = ", ".join(
        f"{k} {test[k]:.4f}" for k in ("accuracy", "f1_macro", "roc_auc") if k in test
    )
    positive = test.get("positive")
    if manifest.positive_class is not None and isinstance(positive, dict):
        # The class a miss costs most was named at save time: its recall is evidence too.
        sensitivity = positive.get("sensitivity")
        if isinstance(sensitivity, (int, float)):
            shown += f", sensitivity ({manifest.positive_class}) {sensitivity:.4f}"
    evidence = f"test split (n={test.get('n_rows')}): {shown}"
    if min_accuracy is None:
        return Item("model", "metrics", title, PASS, f"{evidence}; no --min-accuracy set")
    if accuracy < min_accuracy:
        return Item(
            "model",
            "metrics",
            title,
            FAIL,
            f"accuracy {accuracy:.4f} is below the threshold {min_accuracy:.4f}; {evidence}",
        )
    return Item(
        "model",
        "metrics",
        title,
        PASS,
        f"accuracy {accuracy:.4f} >= the threshold {min_accuracy:.4f}; {evidence}",
    )


def _regression_metrics_item(
    manifest: Manifest, min_r2: float | None, max_rmse: float | None
) -> Item:
    title = "Metrics recorded and within the thresholds"
    test = manifest.metrics.get("test", {})
    r2, rmse = test.get("r2"), test.get("rmse")
    if not isinstance(r2, (int, float)) or not isinstance(rmse, (int, float)):
        return Item("model", "metrics", title, FAIL, "no test r2 and rmse in bundle.json")
    shown = ", ".join(f"{k} {test[k]:.4g}" for k in ("r2", "rmse", "mae") if k in test)
    evidence = f"test split (n={test.get('n_rows')}): {shown}"
    if min_r2 is None and max_rmse is None:
        return Item("model", "metrics", title, PASS, f"{evidence}; no --min-r2 or --max-rmse set")
    failed, met = [], []
    if min_r2 is not None:
        if r2 < min_r2:
            failed.append(f"r2 {r2:.4f} is below the threshold {min_r2:.4f}")
        else:
            met.append(f"r2 {r2:.4f} >= the threshold {min_r2:.4f}")
    if max_rmse is not None:
        if rmse > max_rmse:
            failed.append(f"rmse {rmse:.4g} is above the threshold {max_rmse:.4g}")
        else:
            met.append(f"rmse {rmse:.4g} <= the threshold {max_rmse:.4g}")
    status = FAIL if failed else PASS
    return Item("model", "metrics", title, status, "; ".join([*failed, *met, evidence]))


def interval_item(manifest: Manifest) -> Item:
    """A regressor's prediction interval: present, and its measured coverage near its level."""
    title = "Prediction interval calibrated and its coverage measured"
    iv = manifest.interval
    if iv is None:
        return Item(
            "model",
            "interval",
            title,
            FAIL,
            "no prediction interval in bundle.json: rebuild the bundle with this skbundle "
            "(save() calibrates one on the test split)",
        )
    gap = abs(iv.coverage - iv.level)
    evidence = (
        f"{iv.method} +/- {iv.half_width:.4g} at level {iv.level:.2f}: measured coverage "
        f"{iv.coverage:.3f} on held-out rows, calibrated on {iv.n_calibration} rows"
    )
    if gap > INTERVAL_COVERAGE_TOLERANCE:
        return Item(
            "model",
            "interval",
            title,
            WARN,
            f"{evidence}; the coverage is {gap:.3f} away from the level (more than "
            f"{INTERVAL_COVERAGE_TOLERANCE}): the interval may not hold for new data",
        )
    return Item(
        "model",
        "interval",
        title,
        PASS,
        f"{evidence} (within {INTERVAL_COVERAGE_TOLERANCE} of the level)",
    )


def integrity_item(verification: Verification) -> Item:
    title = "All artifacts present and hashes intact"
    if verification.ok:
        return Item(
            "model",
            "integrity",
            title,
            PASS,
            f"{len(verification.checked)} files match their SHA-256 in bundle.json",
        )
    problems = "; ".join(p.describe() for p in verification.problems[:5])
    return Item(
        "model",
        "integrity",
        title,
        FAIL,
        f"{len(verification.problems)} problem(s): {problems}",
    )


def version_item(manifest: Manifest) -> Item:
    title = "Semantic version"
    version = Version(manifest.version)
    if version.is_prerelease or "-" in manifest.version:
        return Item("model", "version", title, WARN, f"{manifest.version} is a pre-release version")
    if version.major == 0:
        return Item(
            "model",
            "version",
            title,
            WARN,
            f"{manifest.version}: major version 0 is for initial development",
        )
    return Item("model", "version", title, PASS, f"{manifest.version} (MAJOR.MINOR.PATCH)")


def metadata_item(manifest: Manifest) -> Item:
    title = "Metadata complete"
    classifier = manifest.task == "classification"
    missing = [
        name
        for name, present in (
            ("classes", bool(manifest.classes) or not classifier),
            ("features", bool(manifest.features)),
            ("test metrics", bool(manifest.metrics.get("test"))),
            ("environment packages", bool(manifest.environment.packages)),
            ("dataset fingerprint", bool(manifest.dataset.sha256)),
            ("created_at", bool(manifest.created_at)),
        )
        if not present
    ]
    if missing:
        return Item("model", "metadata", title, FAIL, f"missing: {', '.join(missing)}")
    what = f"{len(manifest.classes)} classes" if classifier else "a regressor"
    evidence = (
        f"name {manifest.name}, {what}, {len(manifest.features)} "
        f"features, created {manifest.created_at}, Python {manifest.environment.python}"
    )
    if not manifest.description.strip():
        return Item(
            "model",
            "metadata",
            title,
            WARN,
            f"{evidence}; no description (pass description= to save(), it feeds the model card)",
        )
    return Item("model", "metadata", title, PASS, evidence)


VALUE_PARITY_SHARE = 1e-3
"""A regressor's runtime fails parity when it differs from the fitted pipeline by more than
this share of the model's own test RMSE: a difference that large changes what it predicts."""


def parity_item(manifest: Manifest, tolerance: float = 1e-6) -> Item:
    title = "Parity of each runtime"
    if not manifest.parity:
        return Item("model", "parity", title, FAIL, "no parity recorded for any runtime")
    if manifest.output == "values":
        return _value_parity_item(manifest, tolerance)
    parts, status = [], PASS
    for name, p in sorted(manifest.parity.items()):
        parts.append(
            f"{name}: max |diff| {p.max_abs_diff:.3g}, labels {p.label_agreement:.2%} "
            f"on {p.n_rows} rows"
        )
        if p.label_agreement < 1.0:
            status = FAIL
        elif p.max_abs_diff > tolerance and status == PASS:
            status = WARN
    return Item("model", "parity", title, status, "; ".join(parts))


def _value_parity_item(manifest: Manifest, tolerance: float) -> Item:
    """A regressor has no label to agree on: its runtimes are judged by how far their values
    are from the fitted pipeline's, against the model's own error (the test RMSE)."""
    title = "Parity of each runtime"
    rmse = manifest.metrics.get("test", {}).get("rmse")
    scale = float(rmse) if isinstance(rmse, (int, float)) and rmse > 0 else 1.0
    parts, status = [], PASS
    for name, p in sorted(manifest.parity.items()):
        parts.append(
            f"{name}: max |diff| {p.max_abs_diff:.3g} ({p.max_abs_diff / scale:.2g} of the test "
            f"RMSE), identical values {p.label_agreement:.2%} on {p.n_rows} rows"
        )
        if not p.max_abs_diff <= VALUE_PARITY_SHARE * scale:  # NaN and inf fail too
            status = FAIL
        elif p.max_abs_diff > tolerance and status == PASS:
            status = WARN
    return Item("model", "parity", title, status, "; ".join(parts))


# -- data -----------------------------------------------------------------------------------
def schema_item(manifest: Manifest) -> Item:
    title = "Input schema defined"
    features = manifest.features
    if not features:
        return Item("data", "schema", title, FAIL, "bundle.json lists no features")
    numeric = [f for f in features if f.kind == "numeric"]
    other = [f for f in features if f.kind != "numeric"]
    unranged = [f.name for f in numeric if f.min is None or f.max is None]
    if unranged:
        return Item(
            "data",
            "schema",
            title,
            WARN,
            f"{len(features)} features; no training range for {unranged[:5]}",
        )
    uncategorized = [f.name for f in other if not f.categories]
    if uncategorized:
        return Item(
            "data",
            "schema",
            title,
            WARN,
            f"{len(features)} features; no known categories for {uncategorized[:5]}",
        )
    allowed = sum(f.missing_allowed for f in features)
    if not other:
        return Item(
            "data",
            "schema",
            title,
            PASS,
            f"{len(features)} features with dtype and training range; missing values accepted "
            f"for {allowed}",
        )
    refused = sum(f.kind == "categorical" and f.unknown != "accept" for f in other)
    accepted = sum(f.kind == "categorical" and f.unknown == "accept" for f in other)
    return Item(
        "data",
        "schema",
        title,
        PASS,
        f"{len(features)} features: {len(numeric)} numeric with dtype and training range, "
        f"{len(other)} categorical or boolean with their categories (an unseen category is "
        f"refused by {refused}, accepted by {accepted}); missing values accepted for {allowed}",
    )


def probes_item(key: str, title: str, results: list[Any] | None, why_not: str) -> Item:
    if results is None:
        return Item("data", key, title, NOT_MEASURED, why_not)
    failed = [r for r in results if not r.passed]
    head = f"{len(results) - len(failed)}/{len(results)} as expected"
    if failed:
        details = "; ".join(f"{r.name}: {r.detail}" for r in failed)
        return Item("data", key, title, FAIL, f"{head}; failed: {details}")
    return Item("data", key, title, PASS, f"{head}: {', '.join(r.name for r in results)}")


# -- environment ----------------------------------------------------------------------------
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def parse_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[str(canonicalize_name(match.group(1)))] = match.group(2)
    return pins


def _major_minor(text: str) -> tuple[int, int] | None:
    try:
        v = Version(text)
    except InvalidVersion:
        return None
    return v.major, v.minor


def requirements_item(root: Path, manifest: Manifest) -> Item:
    title = "requirements.txt pins match the running environment"
    artifact = manifest.artifact("requirements")
    relpath = artifact.path if artifact else "requirements.txt"
    path = root / relpath
    try:
        raw = read_bundle_file(root, relpath, max_bytes=MAX_DATA_BYTES)
        pins = parse_pins(raw.decode("utf-8"))
    except BundleFileError as exc:
        return Item("environment", "requirements", title, FAIL, f"{relpath} {exc.reason}")
    except (FileNotFoundError, UnicodeDecodeError) as exc:
        return Item("environment", "requirements", title, FAIL, f"{path.name}: {exc}")
    if not pins:
        return Item("environment", "requirements", title, FAIL, f"{path.name} pins nothing")
    breaking, other = [], []
    for dist, want in sorted(pins.items()):
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            breaking.append(f"{dist}=={want} is not installed")
            continue
        if have == want:
            continue
        line = f"{dist}=={want} pinned, {have} installed"
        if dist in STRICT_PACKAGES and _major_minor(have) != _major_minor(want):
            breaking.append(line)
        else:
            other.append(line)
    if breaking:
        return Item("environment", "requirements", title, FAIL, "; ".join(breaking + other))
    if other:
        return Item(
            "environment",
            "requirements",
            title,
            WARN,
            f"{len(pins) - len(other)}/{len(pins)} pins match; " + "; ".join(other),
        )
    return Item(
        "environment",
        "requirements",
        title,
        PASS,
        f"all {len(pins)} pins match the installed versions",
    )


def python_item(manifest: Manifest) -> Item:
    title = "Python version"
    built, running = manifest.environment.python, platform.python_version()
    if _major_minor(built) == _major_minor(running):
        return Item("environment", "python", title, PASS, f"built with {built}, running {running}")
    return Item(
        "environment",
        "python",
        title,
        WARN,
        f"built with Python {built}, running {running}: a different minor version may "
        "change how the model unpickles",
    )


def _bench_runtimes(manifest: Manifest) -> dict[str, Any]:
    bench = manifest.benchmarks or {}
    runtimes = bench.get("runtimes", {})
    return runtimes if isinstance(runtimes, dict) else {}


def memory_item(manifest: Manifest) -> Item:
    title = "Memory requirements measured"
    runtimes = _bench_runtimes(manifest)
    measured = {k: v.get("rss_added_mb") for k, v in runtimes.items()}
    measured = {k: v for k, v in measured.items() if isinstance(v, (int, float))}
    if not measured:
        return Item(
            "environment", "memory", title, NOT_MEASURED, "no benchmark: run 'skbundle bench'"
        )
    at = (manifest.benchmarks or {}).get("measured_at", "?")
    shown = ", ".join(f"{k} +{v:.1f} MiB resident after loading" for k, v in measured.items())
    return Item("environment", "memory", title, PASS, f"{shown} (measured {at})")


def latency_item(manifest: Manifest, max_p99_ms: float) -> Item:
    title = f"Prediction time measured and within budget (p99 <= {max_p99_ms:g} ms)"
    runtimes = _bench_runtimes(manifest)
    p99 = {k: v.get("single", {}).get("p99_ms") for k, v in runtimes.items()}
    p99 = {k: v for k, v in p99.items() if isinstance(v, (int, float))}
    if not p99:
        return Item(
            "environment", "latency", title, NOT_MEASURED, "no benchmark: run 'skbundle bench'"
        )
    over = [k for k, v in p99.items() if v > max_p99_ms]
    shown = ", ".join(f"{k} p99 {v:.2f} ms" for k, v in p99.items())
    if over:
        return Item(
            "environment",
            "latency",
            title,
            FAIL,
            f"over budget: {', '.join(over)}; single-row {shown}",
        )
    return Item("environment", "latency", title, PASS, f"single-row {shown}")


# -- docs -----------------------------------------------------------------------------------
def file_item(
    group: str,
    key: str,
    title: str,
    manifest: Manifest,
    verification: Verification,
    relpath: str,
    *,
    required: bool = True,
    absent: str = "",
) -> Item:
    listed = any(a.path == relpath for a in manifest.artifacts)
    broken = [p for p in verification.problems if p.path == relpath]
    if broken:
        return Item(group, key, title, FAIL, broken[0].describe(), required)
    if listed:
        return Item(group, key, title, PASS, f"{relpath}, listed in bundle.json, intact", required)
    return Item(group, key, title, FAIL if required else NOT_MEASURED, absent, required)


def monitoring_item(manifest: Manifest, verification: Verification) -> Item:
    title = "Monitoring reference (drift statistics) present"
    reference = manifest.artifact("reference")
    if reference is not None:
        return file_item("docs", "monitoring", title, manifest, verification, reference.path)
    return Item(
        "docs",
        "monitoring",
        title,
        FAIL,
        "no reference statistics in the bundle: rebuild it with this skbundle",
    )


def signature_item(
    root: Path, manifest: Manifest | None = None, public_key: signing.KeySpec | None = None
) -> Item:
    """Whether ``signature.json`` vouches for the bundle: verified with the caller's key
    (``public_key``, else ``SKBUNDLE_PUBLIC_KEY``), or only present when no key is given.

    Advisory while no key is given; with a key, a signature that does not verify (or cannot be
    read) blocks, as loading with that key would refuse the bundle.
    """
    title = "Signature present"

    def item(status: str, evidence: str, required: bool = False) -> Item:
        return Item("docs", "signature", title, status, evidence, required=required)

    if not (root / SIGNATURE_NAME).is_file():
        return item(WARN, "unsigned: nothing vouches for where this bundle came from")
    try:
        if public_key is not None:
            key: Ed25519PublicKey | None = signing.load_public_key(public_key)
        else:
            key = signing.public_key_from_env()
    except KeyFileError as exc:
        return item(FAIL, f"the public key cannot be used ({exc.path}: {exc.reason})", True)
    try:
        signature = signing.read_signature(root)
        if key is not None:
            signature = signing.verify_signature(root, key, manifest)
    except SignatureError as exc:
        cause = exc.__cause__  # the parse error, when the file is not a signature at all
        parse_error = isinstance(cause, (ValueError, KeyError, TypeError)) and str(cause)
        detail = f" ({type(cause).__name__}: {cause})" if parse_error else ""
        return item(
            FAIL,
            f"{SIGNATURE_NAME} does not vouch for the bundle: {exc.reason}{detail}",
            required=key is not None,
        )
    signer = f"key {signature.key_fingerprint[:16]}..."
    if key is None:
        return item(
            WARN,
            f"{SIGNATURE_NAME} present ({signer}) but not verified: no public key given "
            f"(pass --key, or set {signing.ENV_PUBLIC_KEY})",
        )
    return item(PASS, f"{SIGNATURE_NAME} verified with {signer}: it covers {MANIFEST_NAME}")


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
