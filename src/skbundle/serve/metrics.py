"""Prometheus metrics of one server: requests, latency, predictions, validation errors.

Each app gets its own registry, so several apps (tests) never share counters. With several
worker processes, ``skbundle serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a private
directory before the workers start; ``/metrics`` then aggregates every worker's counts.

What is counted per prediction depends on the bundle's output (``Manifest.output``): a
classifier's predictions are counted by predicted class (``skbundle_predictions_total{class_name}``,
from the argmax of its probabilities or from the label column of a classifier without them); a
regressor's are counted without a label, and their values go into the histogram
``skbundle_predicted_value``, whose buckets are fixed when the app starts: the prediction for the
bundle's typical record, plus and minus 0.5, 1, 2 and 4 times the half-width of its prediction
interval (the test RMSE without an interval), so that a shift of the predictions shows in the
buckets around the value the model usually gives.

Label values come only from fixed sets (endpoint templates, status codes, class names,
feature names), never from raw client input: a client sending a million made-up field names
must not create a million time series.

A prediction log (``--log-predictions``) adds three counters read from the logger at scrape
time, so that a full disk is seen rather than silently ending the log:
``skbundle_prediction_log_written_total`` (rows on disk),
``skbundle_prediction_log_dropped_total`` (rows dropped because the writer fell behind) and
``skbundle_prediction_log_errors_total`` (write errors; the logger stops at the first, so 0 or
1). Logging needs a single worker, so these live in the process's own registry.

A server that follows a model source (``skbundle serve``) swaps versions without a restart,
and says what each worker serves: ``skbundle_model_version_info{version}`` is 1 for the
version served and 0 for one served before (with several workers, one series per worker
``pid``), ``skbundle_model_reloads_total`` counts versions swapped in,
``skbundle_model_reload_failures_total`` versions that failed to verify or load (the old one
went on serving), and ``skbundle_model_reload_failed`` is 1 while the source names a version
that failed (see ``/health``'s ``reload``). The counters above carry on across a swap: a new
version adds its own class and feature labels to the same series
(see :meth:`ServerMetrics.for_model`).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from skbundle.errors import InputProblem

# Sub-millisecond buckets: a fast runtime answers one row in well under a millisecond.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip

WHOLE_INPUT = "_input"
"""The ``field`` label of a validation error about the input as a whole or a whole record."""
UNKNOWN_FIELD = "_unknown"
"""The ``field`` label of an error about a field that is not a feature."""

CONTENT_TYPE = CONTENT_TYPE_LATEST


class PredictionLogCounts(Protocol):
    """What the metrics read from a prediction logger (``skbundle.monitor.PredictionLogger``;
    named structurally so that a server that logs nothing never imports the monitor package)."""

    written: int
    dropped: int
    error: BaseException | None


class _PredictionLogCollector:
    """Reads the logger's counts when scraped: nothing is added to the prediction path."""

    def __init__(self, log: PredictionLogCounts) -> None:
        self.log = log

    def collect(self) -> Iterator[Metric]:
        log = self.log
        for name, documentation, value in (
            ("written", "Rows written to the prediction log.", log.written),
            (
                "dropped",
                "Rows not logged because the log writer fell behind (its queue was full).",
                log.dropped,
            ),
            (
                "errors",
                "Write errors of the prediction log; the log stops at the first (see /health).",
                0 if log.error is None else 1,
            ),
        ):
            yield CounterMetricFamily(f"skbundle_prediction_log_{name}", documentation, value)


VALUE_STEPS = (-4.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 4.0)
"""A regressor's histogram buckets, in units of its scale around its typical prediction."""


def value_buckets(center: float, scale: float) -> tuple[float, ...]:
    """Histogram buckets for a regressor's predicted values (see the module docstring).

    A scale that is not a positive finite number (a perfect fit, an unknown RMSE) falls back
    to the size of the center, or 1.
    """
    if not (math.isfinite(scale) and scale > 0):
        scale = abs(center) if math.isfinite(center) and center != 0 else 1.0
    if not math.isfinite(center):
        center = 0.0
    return tuple(sorted({center + step * scale for step in VALUE_STEPS}))


class ServerMetrics:
    """The metrics of one app, with label children cached for the hot path.

    Parameters
    ----------
    classes
        A classifier's class names, in manifest order (empty for a regressor).
    features
        The feature names (the only ``field`` labels of validation errors besides the two
        fixed ones).
    output
        What the runtime returns: ``probabilities``, ``labels`` or ``values``.
    buckets
        A regressor's histogram buckets (see :func:`value_buckets`); ignored otherwise.
    """

    def __init__(
        self,
        classes: Sequence[str],
        features: Iterable[str],
        *,
        output: str = "probabilities",
        buckets: Sequence[float] = (),
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "skbundle_requests",
            "HTTP requests answered, by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "skbundle_request_duration_seconds",
            "Time from the request reaching the endpoint to the response being sent.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._output = output
        self._values: Histogram | None = None
        if output == "values":
            self.predictions = Counter(
                "skbundle_predictions", "Predicted records.", registry=self.registry
            )
            self._values = Histogram(
                "skbundle_predicted_value",
                "The regressor's predicted values (buckets around its typical prediction).",
                buckets=tuple(buckets) or value_buckets(0.0, 1.0),
                registry=self.registry,
            )
        else:
            self.predictions = Counter(
                "skbundle_predictions",
                "Predicted records, by predicted class.",
                ["class_name"],
                registry=self.registry,
            )
        self.validation_errors = Counter(
            "skbundle_validation_errors",
            "Problems found in prediction input, by feature (_input: the input as a whole, "
            "_unknown: a field that is not a feature).",
            ["field"],
            registry=self.registry,
        )
        self.hook_errors = Counter(
            "skbundle_prediction_hook_errors",
            "Exceptions raised by the on_prediction hook (the prediction was still returned).",
            registry=self.registry,
        )
        # Per process, not summed: each worker reports what it serves and whether it failed.
        self.version_info = Gauge(
            "skbundle_model_version_info",
            "1 for the model version this worker serves now, 0 for one it served before.",
            ["version"],
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        self.reloads = Counter(
            "skbundle_model_reloads",
            "New model versions verified, loaded and swapped in without a restart.",
            registry=self.registry,
        )
        self.reload_failures = Counter(
            "skbundle_model_reload_failures",
            "New model versions that failed to verify or load; the served one went on serving.",
            registry=self.registry,
        )
        self.reload_failed = Gauge(
            "skbundle_model_reload_failed",
            "1 while the model source names a version that failed to load (see /health).",
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        self._latency: dict[str, Histogram] = {}
        self._requests: dict[tuple[str, int], Counter] = {}
        self._version: str | None = None
        self._bind(classes, features)

    def _bind(self, classes: Sequence[str], features: Iterable[str]) -> None:
        self._classes = list(classes)
        self._by_class = (
            [] if self._output == "values" else [self.predictions.labels(c) for c in self._classes]
        )
        self._features = frozenset(features)
        for name in (*self._features, WHOLE_INPUT, UNKNOWN_FIELD):
            self.validation_errors.labels(name)

    def for_model(
        self, classes: Sequence[str], features: Iterable[str], *, output: str
    ) -> ServerMetrics:
        """The metrics of another version of the model, on the same series: what is counted
        after a swap adds to what was counted before (a counter that restarted at zero would
        read as a reset). Its classes and features become label values of the same metrics.

        Raises
        ------
        ValueError
            ``output`` is not this one's: the series of a classifier and a regressor differ.
        """
        if output != self._output:
            raise ValueError(
                f"the new version's output is {output!r}, the served one's {self._output!r}"
            )
        other = copy.copy(self)
        other._bind(classes, features)
        return other

    def serving(self, version: str) -> None:
        """Record that ``version`` is the one served now (``skbundle_model_version_info``)."""
        if self._version is not None and self._version != version:
            self.version_info.labels(self._version).set(0)
        self.version_info.labels(version).set(1)
        self._version = version

    def watch_prediction_log(self, log: PredictionLogCounts) -> None:
        """Export ``log``'s written, dropped and error counts (see the module docstring)."""
        self.registry.register(_PredictionLogCollector(log))

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        child = self._requests.get((endpoint, status))
        if child is None:
            child = self._requests[(endpoint, status)] = self.requests.labels(endpoint, str(status))
        child.inc()
        hist = self._latency.get(endpoint)
        if hist is None:
            hist = self._latency[endpoint] = self.latency.labels(endpoint)
        hist.observe(seconds)

    def predicted(self, output: np.ndarray) -> None:
        """Count the predictions of a runtime output (see :mod:`skbundle.core.runtime`): by
        class (the argmax of probabilities, or the label column), or a regressor's values."""
        if self._values is not None:
            self.predictions.inc(output.shape[0])
            observe = self._values.observe
            for value in output[:, 0].tolist():
                observe(value)
            return
        labels = self._output == "labels"
        if output.shape[0] == 1:
            self._by_class[int(output[0, 0] if labels else output[0].argmax())].inc()
            return
        index = output[:, 0].astype(np.intp) if labels else output.argmax(axis=1)
        counts = np.bincount(index, minlength=len(self._classes))
        for child, n in zip(self._by_class, counts.tolist(), strict=True):
            if n:
                child.inc(n)

    def invalid(self, problems: Iterable[InputProblem]) -> None:
        """Count validation problems by feature; never a label taken from client input."""
        for problem in problems:
            field = problem.field
            if field is None:
                label = WHOLE_INPUT
            elif field in self._features:
                label = field
            else:
                label = UNKNOWN_FIELD
            self.validation_errors.labels(label).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of this app (of every worker, in multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))
