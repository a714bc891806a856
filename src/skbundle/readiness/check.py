"""``check()``: compute a bundle's deployment checklist, store it, and say whether it may ship."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from skbundle.bundle import Bundle, load
from skbundle.core.integrity import Verification, verify
from skbundle.core.layout import MODEL_CARD_NAME
from skbundle.core.manifest import Manifest, read_manifest
from skbundle.core.runtime import Predictor, RuntimeInfo
from skbundle.core.update import UpdateResult
from skbundle.errors import SkbundleError, ThresholdError
from skbundle.readiness import asgi, probes
from skbundle.readiness.items import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_P99_MS,
    DEFAULT_REQUESTS,
    file_item,
    integrity_item,
    interval_item,
    latency_item,
    memory_item,
    metadata_item,
    metrics_item,
    monitoring_item,
    now,
    parity_item,
    probes_item,
    python_item,
    requirements_item,
    schema_item,
    signature_item,
    version_item,
)
from skbundle.readiness.refresh import refresh
from skbundle.report.checklist import FAIL, NOT_MEASURED, PASS, Checklist, Item
from skbundle.trust.signing import KeySpec


def server_items(
    bundle: Any,
    why_not: str,
    *,
    requests: int,
    concurrency: int,
    app_factory: Callable[[Any], Any] | None = None,
) -> tuple[Item, Item]:
    """The load probe and the OpenAPI item, from the bundle's app served in-process.

    ``app_factory(bundle)`` builds the ASGI app; by default ``skbundle.serve.create_app`` when
    (tests pass their own).
    """
    load_title = (
        f"Load probe: {requests or DEFAULT_REQUESTS} requests, {concurrency} at a time, 0 errors"
    )
    spec_title = "OpenAPI spec exported"
    if bundle is None:
        return (
            Item("tests", "load", load_title, NOT_MEASURED, why_not),
            Item("docs", "openapi", spec_title, NOT_MEASURED, why_not),
        )
    if app_factory is None:
        # Start-up time: save() imports this module for the save-time checklist, which runs
        # no server; the ASGI stack is imported only when a probe serves the bundle.
        from skbundle.serve import create_app

        app_factory = create_app

    body = orjson.dumps(bundle.validator.example())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result, spec = asgi.exercise(
                app_factory(bundle), body=body, requests=requests, concurrency=concurrency
            )
    except Exception as exc:  # the server is under test: whatever it raises is the finding
        finding = f"the app failed: {type(exc).__name__}: {exc}"
        return (
            Item("tests", "load", load_title, FAIL, finding),
            Item("docs", "openapi", spec_title, FAIL, finding),
        )
    if requests == 0:
        load = Item(
            "tests", "load", load_title, NOT_MEASURED, "not run at save time: run 'skbundle check'"
        )
    elif result.errors:
        load = Item(
            "tests",
            "load",
            load_title,
            FAIL,
            f"{result.errors}/{result.requests} requests failed (statuses {result.statuses}); "
            f"first: {result.first_error}",
        )
    else:
        load = Item(
            "tests",
            "load",
            load_title,
            PASS,
            f"{result.requests} POST /predict, {result.concurrency} concurrent, served "
            f"in-process (ASGI): 0 errors, {result.per_second:,.0f} requests/s",
        )
    try:
        paths = orjson.loads(spec.body).get("paths", {}) if spec.status == 200 else {}
    except (orjson.JSONDecodeError, AttributeError):
        paths = {}
    if "/predict" in paths:
        spec_item = Item(
            "docs",
            "openapi",
            spec_title,
            PASS,
            f"GET /openapi.json: {len(paths)} paths, including /predict",
        )
    else:
        spec_item = Item(
            "docs",
            "openapi",
            spec_title,
            FAIL,
            f"GET /openapi.json answered {spec.status} without a /predict path",
        )
    return load, spec_item


THRESHOLDS = {
    "classification": ("min_accuracy",),
    "regression": ("min_r2", "max_rmse"),
}
"""The metric thresholds ``check`` takes for each task."""


def check_thresholds(manifest: Manifest, **given: float | None) -> None:
    """Refuse a threshold of the other task (``min_r2`` on a classifier, ``min_accuracy`` on
    a regressor): it would be silently ignored, and a CI gate would pass for the wrong reason.

    Raises
    ------
    ThresholdError
        Naming the thresholds given that do not apply, and the ones that do.
    """
    allowed = THRESHOLDS[manifest.task]
    wrong = [name for name, value in given.items() if value is not None and name not in allowed]
    if wrong:
        raise ThresholdError(manifest.name, manifest.task, wrong, allowed)


def compute(
    root: Path,
    manifest: Manifest,
    verification: Verification,
    bundle: Any,
    why_not: str = "",
    *,
    min_accuracy: float | None = None,
    min_r2: float | None = None,
    max_rmse: float | None = None,
    max_p99_ms: float = DEFAULT_MAX_P99_MS,
    requests: int = DEFAULT_REQUESTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    public_key: KeySpec | None = None,
) -> Checklist:
    """Every checklist item for a bundle; ``bundle`` is the loaded bundle, or None (then the
    probes that need it are not measured, for the reason ``why_not``). ``public_key`` checks
    the signature (default: ``SKBUNDLE_PUBLIC_KEY``, else it is only said to be present).
    A classifier is held to ``min_accuracy``, a regressor to ``min_r2`` and ``max_rmse``;
    a threshold of the other task raises ``ThresholdError``."""
    check_thresholds(manifest, min_accuracy=min_accuracy, min_r2=min_r2, max_rmse=max_rmse)
    validation = probes.validation_probes(bundle) if bundle is not None else None
    boundary = probes.boundary_probes(bundle) if bundle is not None else None
    load, spec = server_items(bundle, why_not, requests=requests, concurrency=concurrency)
    answers = {
        "probabilities": "valid probabilities",
        "labels": "known labels",
        "values": "finite values",
    }[manifest.output]
    items = [
        metrics_item(manifest, min_accuracy, min_r2=min_r2, max_rmse=max_rmse),
        integrity_item(verification),
        version_item(manifest),
        metadata_item(manifest),
        parity_item(manifest),
        *([interval_item(manifest)] if manifest.task == "regression" else []),
        schema_item(manifest),
        probes_item(
            "validation",
            "Validation probes: bad inputs rejected with the right error",
            validation,
            why_not,
        ),
        probes_item(
            "boundary",
            f"Boundary probes: {answers} and range warnings at and beyond the edges",
            boundary,
            why_not,
        ),
        requirements_item(root, manifest),
        python_item(manifest),
        memory_item(manifest),
        latency_item(manifest, max_p99_ms),
        load,
        file_item(
            "docs",
            "model_card",
            "Model card present",
            manifest,
            verification,
            MODEL_CARD_NAME,
            absent=f"no {MODEL_CARD_NAME} in the bundle: run 'skbundle report PATH'",
        ),
        spec,
        monitoring_item(manifest, verification),
        signature_item(root, manifest, public_key),
    ]
    settings = {
        "min_accuracy": min_accuracy,
        "min_r2": min_r2,
        "max_rmse": max_rmse,
        "max_p99_ms": max_p99_ms,
        "requests": requests,
        "concurrency": concurrency,
    }
    return Checklist(manifest.name, manifest.version, now(), items, settings)


def compute_for_build(directory: Path, manifest: Manifest, predictor: Predictor) -> Checklist:
    """The checklist at save time, against the bundle being built (no load probe yet).

    ``predictor`` stands in for a loaded runtime: the fitted pipeline itself.
    """
    info = RuntimeInfo("fitted pipeline", "scikit-learn", "save time")
    bundle = Bundle(manifest, predictor, info, directory)
    return compute(directory, manifest, verify(directory, manifest), bundle, requests=0)


@dataclass(frozen=True)
class CheckOutcome:
    """A computed checklist, and what storing it in the bundle did (None when not stored)."""

    checklist: Checklist
    update: UpdateResult | None

    def ok(self, *, strict: bool = False) -> bool:
        return self.checklist.ok(strict=strict)


def check(
    path: str | os.PathLike[str],
    *,
    min_accuracy: float | None = None,
    min_r2: float | None = None,
    max_rmse: float | None = None,
    max_p99_ms: float = DEFAULT_MAX_P99_MS,
    requests: int = DEFAULT_REQUESTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    runtime: str = "auto",
    trust_pickle: bool = False,
    trusted_types: Sequence[str] = (),
    write: bool = True,
    public_key: KeySpec | None = None,
) -> CheckOutcome:
    """Compute the deployment checklist of a bundle and (by default) store it in the bundle.

    Parameters
    ----------
    path
        The bundle directory.
    min_accuracy
        The test accuracy a classifier must reach; None only checks that metrics are recorded.
    min_r2, max_rmse
        The test R² a regressor must reach, and the RMSE it must not exceed.
    max_p99_ms
        The single-row p99 latency budget, checked against the stored benchmark.
    requests, concurrency
        The load probe: how many POST /predict requests, how many at a time.
    runtime, trust_pickle, trusted_types
        How to load the bundle for the probes (see :func:`skbundle.load`).
    public_key
        Verify ``signature.json`` with this Ed25519 public key (a PEM path or text, or a key);
        default ``SKBUNDLE_PUBLIC_KEY``. Without one, a signature is only said to be present.
    write
        Store the checklist and re-render ``checklist.md``, ``model_card.md`` and
        ``report.html`` (their manifest entries are updated atomically).

    Returns
    -------
    CheckOutcome
        ``outcome.ok()`` is True when every required item passes.

    Raises
    ------
    ManifestError
        ``bundle.json`` cannot be read (nothing else can be checked then).
    ThresholdError
        A threshold of the other task was given (checked before the bundle is loaded).
    """
    root = Path(path)
    manifest = read_manifest(root)
    check_thresholds(manifest, min_accuracy=min_accuracy, min_r2=min_r2, max_rmse=max_rmse)
    verification = verify(root, manifest)
    bundle, why_not = None, ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the requirements item reports version differences
            bundle = load(
                root, runtime=runtime, trust_pickle=trust_pickle, trusted_types=trusted_types
            )
    except SkbundleError as exc:
        why_not = f"the bundle could not be loaded: {exc}"
    checklist = compute(
        root,
        manifest,
        verification,
        bundle,
        why_not,
        min_accuracy=min_accuracy,
        min_r2=min_r2,
        max_rmse=max_rmse,
        max_p99_ms=max_p99_ms,
        requests=requests,
        concurrency=concurrency,
        public_key=public_key,
    )
    update = None
    if write:
        update = refresh(root, checklist=checklist)
    return CheckOutcome(checklist, update)
