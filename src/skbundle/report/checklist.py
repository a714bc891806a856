"""The deployment checklist, computed: every box is ticked by a measurement, never by hand.

Items are grouped as the seed lesson groups them (model, data, environment, tests, docs).
Each has a status (``pass``, ``fail``, ``warn`` or ``not measured``) and its evidence: the
number or the file that proves it. ``Checklist.ok`` is what a CI pipeline gates on.

An item is *required* unless it is advisory (the signature) or it needs a part of skbundle
that is not installed (the server for the load probe and the OpenAPI spec, the monitoring
module for the reference statistics): those are reported as not measured, with the reason.
"""

from __future__ import annotations

import platform
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from skbundle.integrity import Verification
from skbundle.manifest import SIGNATURE_NAME, Manifest

PASS, FAIL, WARN, NOT_MEASURED = "pass", "fail", "warn", "not measured"
STATUSES = (PASS, FAIL, WARN, NOT_MEASURED)
GROUPS = ("model", "data", "environment", "tests", "docs")
STRICT_PACKAGES = ("scikit-learn",)
DEFAULT_MAX_P99_MS = 100.0
DEFAULT_REQUESTS = 2000
DEFAULT_CONCURRENCY = 32
CHECKLIST_NAME = "checklist.md"
MODEL_CARD_NAME = "model_card.md"


@dataclass(frozen=True)
class Item:
    """One checklist item and the evidence behind its status."""

    group: str
    key: str
    title: str
    status: str
    evidence: str
    required: bool = True

    @property
    def blocking(self) -> bool:
        """True when this item keeps the bundle from being deployable (without --strict)."""
        return self.required and self.status in (FAIL, NOT_MEASURED)


@dataclass(frozen=True)
class Checklist:
    """The computed checklist of one bundle."""

    bundle: str
    version: str
    computed_at: str
    items: list[Item]
    settings: dict[str, Any] = field(default_factory=dict)

    def ok(self, *, strict: bool = False) -> bool:
        """Every required item passes; with ``strict``, no item at all warns or is unmeasured."""
        if strict:
            return all(item.status == PASS for item in self.items)
        return not any(item.blocking for item in self.items)

    def counts(self) -> dict[str, int]:
        return {s: sum(item.status == s for item in self.items) for s in STATUSES}

    def item(self, key: str) -> Item:
        return next(item for item in self.items if item.key == key)

    def to_dict(self, *, strict: bool = False) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "version": self.version,
            "computed_at": self.computed_at,
            "ok": self.ok(strict=strict),
            "strict": strict,
            "counts": self.counts(),
            "settings": self.settings,
            "items": [asdict(item) for item in self.items],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checklist:
        return cls(
            bundle=data["bundle"],
            version=data["version"],
            computed_at=data["computed_at"],
            items=[Item(**item) for item in data["items"]],
            settings=dict(data.get("settings", {})),
        )


# -- model ----------------------------------------------------------------------------------
def metrics_item(manifest: Manifest, min_accuracy: float | None) -> Item:
    title = "Metrics recorded and above the threshold"
    test = manifest.metrics.get("test", {})
    accuracy = test.get("accuracy")
    if not isinstance(accuracy, (int, float)):
        return Item("model", "metrics", title, FAIL, "no test accuracy in bundle.json")
    shown = ", ".join(
        f"{k} {test[k]:.4f}" for k in ("accuracy", "f1_macro", "roc_auc") if k in test
    )
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
    missing = [
        name
        for name, present in (
            ("classes", bool(manifest.classes)),
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
    evidence = (
        f"name {manifest.name}, {len(manifest.classes)} classes, {len(manifest.features)} "
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


def parity_item(manifest: Manifest, tolerance: float = 1e-6) -> Item:
    title = "Parity of each runtime"
    if not manifest.parity:
        return Item("model", "parity", title, FAIL, "no parity recorded for any runtime")
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


# -- data -----------------------------------------------------------------------------------
def schema_item(manifest: Manifest) -> Item:
    title = "Input schema defined"
    features = manifest.features
    unranged = [f.name for f in features if f.min is None or f.max is None]
    if not features:
        return Item("data", "schema", title, FAIL, "bundle.json lists no features")
    if unranged:
        return Item(
            "data",
            "schema",
            title,
            WARN,
            f"{len(features)} features; no training range for {unranged[:5]}",
        )
    allowed = sum(f.missing_allowed for f in features)
    return Item(
        "data",
        "schema",
        title,
        PASS,
        f"{len(features)} features with dtype and training range; missing values accepted "
        f"for {allowed}",
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
    path = root / (artifact.path if artifact else "requirements.txt")
    try:
        pins = parse_pins(path.read_text(encoding="utf-8"))
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


def signature_item(root: Path) -> Item:
    title = "Signature present"
    if (root / SIGNATURE_NAME).is_file():
        return Item("docs", "signature", title, PASS, f"{SIGNATURE_NAME} present", required=False)
    return Item(
        "docs",
        "signature",
        title,
        WARN,
        "unsigned: nothing vouches for where this bundle came from",
        required=False,
    )


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def to_markdown(checklist: Checklist, *, strict: bool = False) -> str:
    """The seed's checklist shape: one section per group, a box per item, ticked only by
    evidence (status pass), with the evidence beside it."""
    marks = {PASS: "[x]", FAIL: "[ ]", WARN: "[ ]", NOT_MEASURED: "[ ]"}
    verdict = "READY" if checklist.ok(strict=strict) else "NOT READY"
    lines = [
        f"# Deployment checklist: {checklist.bundle} {checklist.version}",
        "",
        f"Computed {checklist.computed_at}: **{verdict}**"
        f"{' (strict)' if strict else ''}. Every box is ticked by a measurement; "
        "the evidence follows each item.",
    ]
    for group in GROUPS:
        items = [item for item in checklist.items if item.group == group]
        if not items:
            continue
        lines += ["", f"## {group.capitalize()}", ""]
        for item in items:
            tag = "" if item.status == PASS else f" **{item.status.upper()}**"
            optional = "" if item.required else " _(advisory)_"
            lines.append(f"- {marks[item.status]} {item.title}{tag}{optional}: {item.evidence}")
    return "\n".join(lines) + "\n"
