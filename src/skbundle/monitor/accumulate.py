"""Accumulating drift: validated chunks in, histogram counts and running sums kept.

Memory stays constant whatever the input size, except labels and predicted probabilities
when labels are given (ROC AUC and log loss need every row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skbundle.core.metrics import classification_metrics
from skbundle.errors import InputProblem, MonitoringError
from skbundle.monitor.report import (
    COMPARED_METRICS,
    LEVELS,
    MAX_REPORTED_PROBLEMS,
    PVALUE_NOTE,
    DriftReport,
    FeatureDrift,
    PerformanceDrift,
    PredictionDrift,
    Thresholds,
    worst,
)
from skbundle.monitor.stats import FeatureCounter, ks_from_grid, noise_floor, psi


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
