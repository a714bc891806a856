"""Drift of new data against a bundle's reference statistics: in memory, files and logs.

Input of any size is consumed in chunks: each chunk goes through the bundle's validator
(invalid rows are set aside and reported, never crash the run), then counted by a
:class:`~skbundle.monitor.accumulate.DriftAccumulator`. How the verdict is reached is
described in :mod:`skbundle.monitor.report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skbundle.batch import iter_chunks
from skbundle.core.integrity import verify
from skbundle.core.manifest import read_manifest
from skbundle.errors import InputProblem, MonitoringError
from skbundle.monitor.accumulate import DriftAccumulator
from skbundle.monitor.inputs import (
    QuietValidator,
    consume,
    length,
    prefetch,
    take,
    validate_codes,
)
from skbundle.monitor.predlog import LogReader, parse_since
from skbundle.monitor.reference import read_reference
from skbundle.monitor.report import DriftReport, Thresholds


def _accumulator(bundle: Any) -> DriftAccumulator:
    manifest = bundle.manifest
    reference = read_reference(bundle.path, manifest)
    return DriftAccumulator(reference, manifest.features, manifest.classes, manifest.output)


def _finish(
    bundle: Any, acc: DriftAccumulator, source: str, thresholds: Thresholds | None
) -> DriftReport:
    return acc.report(
        bundle=bundle.name,
        version=bundle.version,
        source=source,
        thresholds=thresholds or Thresholds(),
        test_metrics=bundle.manifest.metrics["test"],
        class_values=bundle.manifest.class_values,
    )


def drift(
    bundle: Any,
    X_new: object,
    y_new: Sequence[Any] | np.ndarray | None = None,
    *,
    thresholds: Thresholds | None = None,
    chunk_size: int = 100_000,
) -> DriftReport:
    """Data, prediction and (with labels) performance drift of in-memory data.

    Compares ``X_new`` with the reference statistics saved in the bundle; no training data
    is needed. Rows that fail validation are left out and listed in the report.

    Parameters
    ----------
    bundle
        A loaded :class:`~skbundle.Bundle`.
    X_new
        New records in any shape :meth:`~skbundle.Bundle.predict` accepts.
    y_new
        Their true classes (class values or names), or a regressor's true targets, for
        performance drift.
    thresholds
        PSI warn/alert levels, the accuracy drop (the RMSE growth for a regressor) that
        alerts, the noise-floor alpha.
    chunk_size
        Rows validated and counted at a time.

    Returns
    -------
    DriftReport
        ``verdict`` is "ok", "warn" or "alert"; features sorted by severity.

    Raises
    ------
    MonitoringError
        The bundle has no reference statistics, or no row of ``X_new`` is valid.

    Examples
    --------
    >>> report = skbundle.monitor.drift(bundle, X_new, y_new)
    >>> report.verdict, [f.name for f in report.drifted]
    ('alert', ['mean radius'])
    """
    if isinstance(X_new, dict):
        X_new = [X_new]
    n = length(X_new)
    if y_new is not None and len(y_new) != n:
        raise MonitoringError(
            "y_new", f"expected {n} labels, one per row of X_new, got {len(y_new)}"
        )
    y = None if y_new is None else list(np.asarray(y_new, dtype=object).tolist())
    acc = _accumulator(bundle)
    chunks = (
        (take(X_new, np.arange(s, min(s + chunk_size, n))), s) for s in range(0, n, chunk_size)
    )
    consume(bundle, chunks, acc, y=y)
    return _finish(bundle, acc, f"{type(X_new).__name__} of {n} rows", thresholds)


def drift_source(
    bundle: Any,
    source: Any,
    *,
    labels: str | None = None,
    thresholds: Thresholds | None = None,
    chunk_size: int = 100_000,
    ignore_unknown: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> DriftReport:
    """Drift of a file (CSV, Parquet, JSON lines, JSON) read in chunks.

    ``source`` comes from :func:`skbundle.batch.open_source`; ``labels`` names the column
    holding the true classes (a regressor's targets), for performance drift.
    """
    acc = _accumulator(bundle)
    bad_lines: list[InputProblem] = []
    chunks = iter_chunks(source, chunk_size, bad_lines=bad_lines)
    consume(
        bundle,
        chunks,
        acc,
        labels=labels,
        ignore_unknown=ignore_unknown,
        on_progress=on_progress,
    )
    if bad_lines:
        acc.reject(bad_lines, len(bad_lines))
    return _finish(bundle, acc, source.label, thresholds)


@dataclass(frozen=True)
class BundleInfo:
    """What drift over a log needs of a bundle: its verified manifest, no model.

    The runtime output is in the log, so nothing is deserialized: drift over logged traffic
    needs no ``trust_pickle``, whatever formats the bundle holds.
    """

    manifest: Any
    path: Any

    @classmethod
    def open(cls, path: Any) -> BundleInfo:
        """Read the manifest and verify every file's hash (reading bytes only).

        Raises
        ------
        ManifestError, BundleIntegrityError
            As :func:`skbundle.load` would.
        """
        root = Path(path)
        manifest = read_manifest(root)
        verify(root, manifest).raise_for_problems()
        return cls(manifest, root)

    @property
    def name(self) -> str:
        return str(self.manifest.name)

    @property
    def version(self) -> str:
        return str(self.manifest.version)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.manifest.features]

    @property
    def classes(self) -> list[str]:
        return list(self.manifest.classes)


def drift_log(
    bundle: Any,
    path: Any,
    *,
    since: str | None = None,
    thresholds: Thresholds | None = None,
    chunk_size: int = 100_000,
    on_progress: Callable[[int], None] | None = None,
) -> DriftReport:
    """Drift of the traffic in a prediction log written by ``skbundle serve --log-predictions``.

    ``bundle`` is a loaded :class:`~skbundle.Bundle` or a :class:`BundleInfo` (no model
    needed). The logged output (what the server answered: probabilities, labels or values)
    is used as it is; the inputs (codes for categorical features) go through the validator's
    checks again, so a damaged log cannot poison the counts.
    """
    manifest = bundle.manifest
    reader = LogReader(
        Path(path),
        bundle.feature_names,
        bundle.classes,
        since=parse_since(since) if since else None,
        chunk_size=chunk_size,
        output=manifest.output,
    )
    acc = _accumulator(bundle)
    validator = QuietValidator(manifest.features, bundle=bundle.name)
    done = 0
    for X_log, out in prefetch(reader):
        X, kept, problems = validate_codes(validator, X_log, done)
        if problems:
            acc.reject(problems, X_log.shape[0] - kept.size)
        acc.add(X, out[kept])
        done += X_log.shape[0]
        if on_progress is not None:
            on_progress(done)
    if reader.invalid:  # lines and rows the reader set aside count as invalid rows too
        acc.reject(reader.problems, reader.invalid)
    label = f"prediction log {path}" + (f" since {since}" if since else "")
    report = _finish(bundle, acc, label, thresholds)
    if reader.skipped:
        report.notes.append(f"{reader.skipped} log lines could not be read and were skipped.")
    return report
