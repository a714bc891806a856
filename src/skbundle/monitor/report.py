"""The drift report, and how its verdict is reached.

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
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from skbundle.core.metrics import SCALAR_METRICS
from skbundle.errors import InputProblem, MonitoringError

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
