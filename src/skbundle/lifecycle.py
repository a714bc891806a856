"""Gated alias moves: an alias such as ``@production`` moves to a version only when that
version is fit to ship.

:func:`promote` pulls the version from the registry into a temporary directory (every blob
verified), computes its deployment checklist with :func:`skbundle.readiness.check` (the same
rules as ``skbundle check``, with the thresholds given here), checks the signature with the
required key when one is asked for, and moves the alias only when all of that passes. The
gate's outcome (every blocking item, the thresholds, the signer) is written to the audit log
with the move, in the same transaction. ``force=True`` moves the alias anyway, and records
that it was forced, and why.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from skbundle.errors import GateFailure, PromotionRefusedError, SignatureError
from skbundle.readiness import check
from skbundle.readiness.items import DEFAULT_CONCURRENCY, DEFAULT_MAX_P99_MS, DEFAULT_REQUESTS
from skbundle.registry import AliasEvent, GateRecord, Registry
from skbundle.registry.refs import check_alias
from skbundle.registry.store import check_reason
from skbundle.report.checklist import Checklist
from skbundle.trust.signing import KeySpec, fingerprint, load_public_key, verify_signature


def _summary(checklist: Checklist, failures: list[GateFailure], signer: str) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in checklist.counts().items() if n)
    verdict = "pass" if not failures else "fail"
    blocking = f"; blocking: {', '.join(f.key for f in failures)}" if failures else ""
    return f"{verdict} ({counts}{signer}){blocking}"


def gate(
    registry: Registry,
    name: str,
    version: str,
    *,
    min_accuracy: float | None = None,
    min_r2: float | None = None,
    max_rmse: float | None = None,
    max_p99_ms: float = DEFAULT_MAX_P99_MS,
    requests: int = DEFAULT_REQUESTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    strict: bool = False,
    require_signature: KeySpec | None = None,
) -> GateRecord:
    """Compute the gate of ``NAME@VERSION`` without moving anything (see :func:`promote`)."""
    with tempfile.TemporaryDirectory(prefix="skbundle-gate-") as tmp:
        bundle_dir = Path(tmp) / "bundle"
        registry.pull(f"{name}@{version}", bundle_dir)
        outcome = check(
            bundle_dir,
            min_accuracy=min_accuracy,
            min_r2=min_r2,
            max_rmse=max_rmse,
            max_p99_ms=max_p99_ms,
            requests=requests,
            concurrency=concurrency,
            write=False,
            public_key=require_signature,
        )
        checklist = outcome.checklist
        blocking = [i for i in checklist.items if (i.status != "pass" if strict else i.blocking)]
        failures = [GateFailure(i.key, i.title, i.status, i.evidence) for i in blocking]
        signer = ""
        if require_signature is not None:
            try:
                key = load_public_key(require_signature)
                verify_signature(bundle_dir, key)
            except SignatureError as exc:  # KeyFileError is one too
                failures = [f for f in failures if f.key != "signature"]
                failures.append(
                    GateFailure("signature", "Signed by the required key", "fail", exc.reason)
                )
            else:
                signer = f"; signed by key {fingerprint(key)[:16]}..."
    return GateRecord(
        passed=not failures,
        summary=_summary(checklist, failures, signer),
        failures=tuple(failures),
        details={
            "settings": {**checklist.settings, "strict": strict},
            "require_signature": require_signature is not None,
            "checklist": checklist.to_dict(strict=strict),
        },
    )


def promote(
    registry: Registry,
    name: str,
    alias: str,
    version: str,
    *,
    min_accuracy: float | None = None,
    min_r2: float | None = None,
    max_rmse: float | None = None,
    max_p99_ms: float = DEFAULT_MAX_P99_MS,
    requests: int = DEFAULT_REQUESTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    strict: bool = False,
    require_signature: KeySpec | os.PathLike[str] | None = None,
    force: bool = False,
    reason: str = "",
) -> AliasEvent:
    """Move ``NAME@ALIAS`` to ``version`` if that version passes its gate.

    Parameters
    ----------
    registry
        An open :class:`skbundle.registry.Registry`.
    name, alias, version
        The model, the alias to move (e.g. ``"production"``) and the version it should name.
    min_accuracy, min_r2, max_rmse, max_p99_ms, requests, concurrency, strict
        The checklist's thresholds and load probe, as for ``skbundle check``.
    require_signature
        An Ed25519 public key (a PEM path or text, or a key): the version must be signed by
        it. Default: no signature required.
    force
        Move the alias even when the gate fails. The gate is still computed and recorded,
        with ``forced`` set and ``reason`` (required then).
    reason
        Why, for the audit log.

    Returns
    -------
    AliasEvent
        The audit-log entry of the move, with its gate record.

    Raises
    ------
    PromotionRefusedError
        The gate failed and ``force`` is False; it names every blocking item.
    ThresholdError
        A threshold of the other task was given (``min_r2`` on a classifier).
    RegistryError
        ``force`` without a reason, or a bad alias; ``RegistryLookupError`` when the model or
        version is not in the registry; ``RegistryIntegrityError`` when a blob is damaged
        (never overridden by ``force``).
    """
    check_alias(alias)
    if force:
        check_reason(name, alias, version, reason)  # before the gate's work, not after
    record = gate(
        registry,
        name,
        version,
        min_accuracy=min_accuracy,
        min_r2=min_r2,
        max_rmse=max_rmse,
        max_p99_ms=max_p99_ms,
        requests=requests,
        concurrency=concurrency,
        strict=strict,
        require_signature=require_signature,
    )
    if not record.passed and not force:
        raise PromotionRefusedError(name, alias, version, record.failures)
    return registry.set_alias(name, alias, version, gate=record, forced=force, reason=reason)
