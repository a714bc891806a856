"""Monitoring: drift of new data and of served traffic against a bundle's reference statistics.

``drift(bundle, X_new, y_new)`` for data in memory, ``drift_source`` for a file of any size,
``drift_log`` for a prediction log written by ``skbundle serve --log-predictions``; each returns
a :class:`DriftReport` whose ``verdict`` is ok, warn or alert. The reference statistics are
computed at save time (``reference``), so no training data is needed.
"""

from __future__ import annotations

from skbundle.monitor.drift import BundleInfo, drift, drift_log, drift_source
from skbundle.monitor.predlog import LogReader, PredictionLogger
from skbundle.monitor.reference import read_reference
from skbundle.monitor.report import (
    DriftReport,
    FeatureDrift,
    PerformanceDrift,
    PredictionDrift,
    Thresholds,
)

__all__ = [
    "BundleInfo",
    "DriftReport",
    "FeatureDrift",
    "LogReader",
    "PerformanceDrift",
    "PredictionDrift",
    "PredictionLogger",
    "Thresholds",
    "drift",
    "drift_log",
    "drift_source",
    "read_reference",
]
