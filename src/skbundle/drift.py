"""Data, prediction and performance drift against the reference statistics of a bundle.

Input of any size is consumed in chunks: each chunk goes through the bundle's validator
(invalid rows are set aside and reported, never crash the run), then only histogram counts
and running sums are kept, so memory stays constant. The exceptions are labels and predicted
probabilities when labels are given (ROC AUC and log loss need every row: n x (classes + 1)
numbers are kept).

How the verdict is reached
--------------------------
* **PSI drives it.** For each feature, the population stability index of the current data
  over the reference's quantile bins (plus a missing-value bin when either side has missing
  values), with half a count added to every bin on both sides so an empty bin does not make
  PSI infinite.
* **Sampling noise is subtracted first.** Two samples of the same distribution have a PSI of
  about ``(1/n + 1/N) * chi2(K - 1)`` (n current rows, N reference rows, K bins). A feature's
  *excess* PSI is its PSI minus the ``1 - alpha/features`` quantile of that (Bonferroni over
  the features, ``alpha = 0.01``): the part that chance alone is very unlikely to produce.
  The thresholds (0.1 warn, 0.25 alert) apply to the excess. With a few hundred rows the floor
  is high (a small sample cannot tell small shifts from noise); with millions of rows it is
  set by the reference's own size.
* **KS is informative only.** The two-sample KS statistic and p-value are reported; at large
  sample sizes p-values flag differences too small to matter. KS is computed on the
  reference's quantile grid (about 100 points): exact against the reference's ECDF at the grid
  points, and below the exact statistic by at most ``ks_bound`` (the largest reference mass
  between two grid points).
* Prediction drift applies the same rule to each class's predicted-probability histogram and
  to the predicted class balance; performance drift alerts when accuracy falls more than
  ``max_accuracy_drop`` below the bundle's test accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from skbundle.drift_input import (
    QuietValidator,
    consume,
    jsonl_chunks,
    length,
    numbers_from_text,
    prefetch,
    take,
    validate_rows,
)
from skbundle.drift_stats import FeatureCounter, ks_from_grid, noise_floor, psi
from skbundle.errors import InputProblem
from skbundle.metrics import SCALAR_METRICS, classification_metrics
from skbundle.reference import MonitoringError

LEVELS = ("ok", "warn", "alert")
EXIT_CODES = {"ok": 0, "warn": 1, "alert": 2}
MAX_REPORTED_PROBLEMS = 20
COMPARED_METRICS = SCALAR_METRICS
PVALUE_NOTE = (
    "KS p-values are informative only: at large sample sizes they call differences too small "
    "to matter significant, so PSI (less its sampling-noise floor) drives the verdict."
)


@dataclass(frozen=True)
class Thresholds:
    """When drift becomes a warning or an alert."""

    warn: float = 0.1
    alert: float = 0.25
    max_accuracy_drop: float = 0.05
    alpha: float = 0.01

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.warn <= self.alert:
            problems.append(f"0 < warn <= alert (got warn={self.warn}, alert={self.alert})")
        if not 0 <= self.max_accuracy_drop <= 1:
            problems.append(f"0 <= max_accuracy_drop <= 1 (got {self.max_accuracy_drop})")
        if not 0 < self.alpha < 1:
            problems.append(f"0 < alpha < 1 (got {self.alpha})")
        if problems:
            raise MonitoringError("Drift thresholds", "expected " + "; ".join(problems))

    def level(self, excess: float) -> str:
        if excess >= self.alert:
            return "alert"
        if excess >= self.warn:
            return "warn"
        return "ok"


def worst(levels: Iterable[str]) -> str:
    return max(levels, key=LEVELS.index, default="ok")


# -- the report ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature; ``*_share`` are per-bin proportions (last bin: missing)."""

    name: str
    level: str
    psi: float
    noise: float
    excess: float
    ks_statistic: float
    ks_pvalue: float
    ks_bound: float
    n: int
    n_missing: int
    reference_mean: float | None
    current_mean: float | None
    reference_std: float | None
    current_std: float | None
    edges: list[float]
    reference_share: list[float]
    current_share: list[float]


@dataclass(frozen=True)
class PredictionDrift:
    """Drift of the predicted probabilities and of the predicted class balance."""

    level: str
    psi: dict[str, float]
    noise: float
    balance_psi: float
    balance_noise: float
    reference_balance: dict[str, float]
    current_balance: dict[str, float]
    balance_change: dict[str, float]
    edges: list[float]
    reference_share: dict[str, list[float]]
    current_share: dict[str, list[float]]


@dataclass(frozen=True)
class PerformanceDrift:
    """Metrics on labelled new data against the bundle's test metrics."""

    level: str
    n_labelled: int
    accuracy_reference: float
    accuracy_current: float
    accuracy_drop: float
    max_accuracy_drop: float
    metrics: dict[str, dict[str, float | None]]


@dataclass(frozen=True)
class DriftReport:
    """Everything ``drift`` found; ``verdict`` is the worst level, ``exit_code`` 0/1/2."""

    bundle: str
    version: str
    source: str
    n_rows: int
    n_invalid: int
    problems: list[InputProblem]
    features: list[FeatureDrift]
    prediction: PredictionDrift
    performance: PerformanceDrift | None
    thresholds: Thresholds
    verdict: str
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.level != "ok"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None)."""
        data = asdict(self)
        data["problems"] = [p.to_dict() for p in self.problems]
        data["exit_code"] = self.exit_code
        return _clean(data)  # type: ignore[no-any-return]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# -- accumulation ----------------------------------------------------------------------------
@dataclass
class _Labels:
    y: list[np.ndarray] = field(default_factory=list)
    proba: list[np.ndarray] = field(default_factory=list)


class DriftAccumulator:
    """Consumes validated chunks; :meth:`report` turns the counts into a :class:`DriftReport`.

    Parameters
    ----------
    reference
        The content of the bundle's ``reference.json``.
    feature_names, classes
        The bundle's features (schema order) and class names.
    """

    def __init__(
        self, reference: dict[str, Any], feature_names: Sequence[str], classes: Sequence[str]
    ) -> None:
        missing = [name for name in feature_names if name not in reference["features"]]
        if missing:
            raise MonitoringError(
                "reference.json",
                f"no statistics for features {missing[:5]}",
                "The reference does not match the bundle's schema; rebuild the bundle.",
            )
        self.reference = reference
        self.names = list(feature_names)
        self.classes = list(classes)
        self.counters = [FeatureCounter(reference["features"][n]) for n in self.names]
        self.proba_edges = np.asarray(reference["predictions"]["edges"], dtype=np.float64)
        self.proba_counts = np.zeros((len(self.classes), self.proba_edges.size + 1), np.int64)
        self.predicted = np.zeros(len(self.classes), dtype=np.int64)
        self.n_rows = 0
        self.n_invalid = 0
        self.problems: list[InputProblem] = []
        self.labels = _Labels()

    def add(self, X: np.ndarray, proba: np.ndarray, y_index: np.ndarray | None = None) -> None:
        """Count one chunk of validated rows, their probabilities and (optionally) labels."""
        self.add_features(X)
        self.add_predictions(proba, y_index)

    def add_features(self, X: np.ndarray) -> None:
        """Count the feature values of one chunk of validated rows."""
        if X.shape[0] == 0:
            return
        self.n_rows += X.shape[0]
        columns = np.ascontiguousarray(X.T)  # one contiguous row per feature: 3x faster scans
        for counter, column in zip(self.counters, columns, strict=True):
            counter.add(column)

    def add_predictions(self, proba: np.ndarray, y_index: np.ndarray | None = None) -> None:
        """Count the probabilities (and keep the labels) of the rows given to add_features."""
        if proba.shape[0] == 0:
            return
        bins = np.searchsorted(self.proba_edges, proba, side="left")
        for i in range(len(self.classes)):
            self.proba_counts[i] += np.bincount(bins[:, i], minlength=self.proba_edges.size + 1)
        self.predicted += np.bincount(proba.argmax(axis=1), minlength=len(self.classes))
        if y_index is not None:
            self.labels.y.append(y_index)
            self.labels.proba.append(proba)

    def reject(self, problems: Sequence[InputProblem], n_rows: int) -> None:
        """Record rows set aside because they failed validation."""
        self.n_invalid += n_rows
        room = MAX_REPORTED_PROBLEMS - len(self.problems)
        self.problems.extend(problems[: max(room, 0)])

    # -- turning counts into findings -----------------------------------------------------
    def _feature(self, name: str, counter: FeatureCounter, t: Thresholds) -> FeatureDrift:
        ref = self.reference["features"][name]
        ref_counts = np.asarray(ref["counts"], dtype=np.int64)
        cur_counts = counter.bins()
        if ref_counts[-1] == 0 and cur_counts[-1] == 0:
            ref_counts, cur_counts = ref_counts[:-1], cur_counts[:-1]
        n_ref = int(ref_counts.sum())
        value = psi(ref_counts, cur_counts)
        quantile = 1.0 - t.alpha / max(len(self.names), 1)
        floor = noise_floor(self.n_rows, n_ref, ref_counts.size, quantile)
        excess = max(value - floor, 0.0)
        n_finite = self.n_rows - counter.n_missing
        ref_cdf = np.asarray(ref["ks_cdf"], dtype=np.float64)
        cur_le = np.cumsum(counter.fine)[: ref_cdf.size]
        summary = ref["summary"]
        d, p = ks_from_grid(ref_cdf, cur_le, n_finite, int(summary["n"]))
        bound = float(np.max(np.diff(ref_cdf, prepend=0.0))) if ref_cdf.size else 0.0
        mean, std = counter.moments(n_finite)
        full_ref = np.asarray(ref["counts"], dtype=np.float64)
        full_cur = counter.bins().astype(np.float64)
        return FeatureDrift(
            name=name,
            level=t.level(excess),
            psi=value,
            noise=floor,
            excess=excess,
            ks_statistic=d,
            ks_pvalue=p,
            ks_bound=bound,
            n=n_finite,
            n_missing=counter.n_missing,
            reference_mean=summary.get("mean"),
            current_mean=mean,
            reference_std=summary.get("std"),
            current_std=std,
            edges=ref["edges"],
            reference_share=(full_ref / max(full_ref.sum(), 1)).tolist(),
            current_share=(full_cur / max(full_cur.sum(), 1)).tolist(),
        )

    def _prediction(self, t: Thresholds) -> PredictionDrift:
        pred_ref = self.reference["predictions"]
        n_ref = int(pred_ref["n"])
        n_bins = self.proba_edges.size + 1
        floor = noise_floor(self.n_rows, n_ref, n_bins, 1.0 - t.alpha / len(self.classes))
        values, ref_share, cur_share = {}, {}, {}
        for i, name in enumerate(self.classes):
            ref_counts = np.asarray(pred_ref["counts"][name], dtype=np.float64)
            values[name] = psi(ref_counts, self.proba_counts[i])
            ref_share[name] = (ref_counts / max(ref_counts.sum(), 1)).tolist()
            cur_share[name] = (self.proba_counts[i] / max(self.n_rows, 1)).tolist()
        ref_pred = np.array([pred_ref["predicted_counts"][c] for c in self.classes], np.float64)
        balance = psi(ref_pred, self.predicted)
        balance_floor = noise_floor(self.n_rows, n_ref, len(self.classes), 1.0 - t.alpha)
        ref_balance = ref_pred / max(ref_pred.sum(), 1)
        cur_balance = self.predicted / max(self.n_rows, 1)
        excess = max(max(values.values()) - floor, balance - balance_floor, 0.0)
        return PredictionDrift(
            level=t.level(excess),
            psi=values,
            noise=floor,
            balance_psi=balance,
            balance_noise=balance_floor,
            reference_balance=dict(zip(self.classes, ref_balance.tolist(), strict=True)),
            current_balance=dict(zip(self.classes, cur_balance.tolist(), strict=True)),
            balance_change=dict(
                zip(self.classes, (cur_balance - ref_balance).tolist(), strict=True)
            ),
            edges=self.proba_edges.tolist(),
            reference_share=ref_share,
            current_share=cur_share,
        )

    def _performance(
        self,
        t: Thresholds,
        test_metrics: dict[str, Any],
        class_values: Sequence[Any],
    ) -> PerformanceDrift | None:
        if not self.labels.y:
            return None
        y = np.concatenate(self.labels.y)
        proba = np.concatenate(self.labels.proba)
        values = list(class_values)
        now = classification_metrics([values[i] for i in y.tolist()], proba, values, self.classes)
        compared: dict[str, dict[str, float | None]] = {}
        for key in COMPARED_METRICS:
            before, after = test_metrics.get(key), now.get(key)
            if before is None and after is None:
                continue
            change = after - before if before is not None and after is not None else None
            compared[key] = {"reference": before, "current": after, "change": change}
        drop = float(test_metrics["accuracy"]) - float(now["accuracy"])
        return PerformanceDrift(
            level="alert" if drop > t.max_accuracy_drop else "ok",
            n_labelled=len(y),
            accuracy_reference=float(test_metrics["accuracy"]),
            accuracy_current=float(now["accuracy"]),
            accuracy_drop=drop,
            max_accuracy_drop=t.max_accuracy_drop,
            metrics=compared,
        )

    def report(
        self,
        *,
        bundle: str,
        version: str,
        source: str,
        thresholds: Thresholds,
        test_metrics: dict[str, Any],
        class_values: Sequence[Any],
    ) -> DriftReport:
        """The findings so far.

        Raises
        ------
        MonitoringError
            No valid row was seen.
        """
        if self.n_rows == 0:
            why = f" ({self.n_invalid} rows failed validation)" if self.n_invalid else ""
            raise MonitoringError(
                f"Drift input {source}",
                f"expected at least one valid row, got none{why}",
                "Check the input against 'skbundle inspect'.",
            )
        features = [
            self._feature(n, c, thresholds) for n, c in zip(self.names, self.counters, strict=True)
        ]
        features.sort(key=lambda f: (-LEVELS.index(f.level), -f.excess, -f.psi, f.name))
        prediction = self._prediction(thresholds)
        performance = self._performance(thresholds, test_metrics, class_values)
        levels = [f.level for f in features] + [prediction.level]
        if performance is not None:
            levels.append(performance.level)
        notes = [
            PVALUE_NOTE,
            f"A PSI counts only above its noise floor (the PSI that two samples of one "
            f"distribution exceed with probability {thresholds.alpha:g} across all features, "
            f"given {self.n_rows} rows here and {self.reference['n_rows']} in the reference); "
            f"thresholds {thresholds.warn:g} (warn) and {thresholds.alert:g} (alert) apply "
            "to the excess.",
            "KS is computed on the reference's quantile grid: it can be below the exact "
            "statistic by at most ks_bound.",
        ]
        if self.n_invalid:
            notes.append(f"{self.n_invalid} rows failed validation and were left out.")
        return DriftReport(
            bundle=bundle,
            version=version,
            source=source,
            n_rows=self.n_rows,
            n_invalid=self.n_invalid,
            problems=list(self.problems),
            features=features,
            prediction=prediction,
            performance=performance,
            thresholds=thresholds,
            verdict=worst(levels),
            notes=notes,
        )


# -- entry points ----------------------------------------------------------------------------
def _accumulator(bundle: Any) -> DriftAccumulator:
    from skbundle.reference import read_reference

    reference = read_reference(bundle.path, bundle.manifest)
    return DriftAccumulator(reference, bundle.feature_names, bundle.classes)


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
    """Drift of in-memory data against a bundle's reference; see :meth:`Bundle.drift`."""
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
    holding the true classes, for performance drift.
    """
    from skbundle.batch import iter_chunks

    acc = _accumulator(bundle)
    bad_lines: list[InputProblem] = []
    chunks: Iterable[tuple[Any, int]]
    if source.kind == "jsonl" and source.path is not None:
        chunks = jsonl_chunks(source.path, chunk_size, bad_lines)
    else:
        chunks = iter_chunks(source, chunk_size)
    if source.kind == "csv":
        chunks = ((numbers_from_text(frame), offset) for frame, offset in chunks)
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

    The probabilities are in the log, so nothing is deserialized: drift over logged traffic
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
        from pathlib import Path

        from skbundle.integrity import verify
        from skbundle.manifest import read_manifest

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
    needed). The logged probabilities (what the server answered) are used as they are; the
    inputs go through the validator again, so a damaged log cannot poison the counts.
    """
    from pathlib import Path

    from skbundle.predlog import LogReader, parse_since

    reader = LogReader(
        Path(path),
        bundle.feature_names,
        bundle.classes,
        since=parse_since(since) if since else None,
        chunk_size=chunk_size,
    )
    acc = _accumulator(bundle)
    validator = QuietValidator(bundle.manifest.features, bundle=bundle.name)
    done = 0
    for X_log, proba in prefetch(reader):
        X, kept, problems = validate_rows(validator, X_log, done)
        if problems:
            acc.reject(problems, X_log.shape[0] - kept.size)
        acc.add(X, proba[kept])
        done += X_log.shape[0]
        if on_progress is not None:
            on_progress(done)
    label = f"prediction log {path}" + (f" since {since}" if since else "")
    report = _finish(bundle, acc, label, thresholds)
    if reader.skipped:
        report.notes.append(f"{reader.skipped} log lines could not be read and were skipped.")
    return report
