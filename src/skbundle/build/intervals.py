"""Split-conformal prediction intervals for regressors, calibrated on held-out residuals.

For a level ``1 - alpha`` and ``n`` held-out absolute residuals, the half-width is the
``ceil((n + 1) * (1 - alpha))``-th smallest residual: for exchangeable data the interval
``prediction +/- half_width`` then covers a new target with probability at least ``1 - alpha``
(Vovk et al.; Lei et al. 2018, "Distribution-free predictive inference for regression"). The
guarantee is marginal, over rows, not per row.

The width is calibrated on the whole test split, and its coverage is *measured* on rows it
was not calibrated on: the test split is cut in two halves (a fixed shuffle), the width
calibrated on each half is checked on the other, and the two coverages averaged. Too few rows
for the level (``ceil((n + 1) * level) > n`` in a half) give no interval at all rather than an
infinite one.
"""

from __future__ import annotations

import math

import numpy as np

from skbundle.core.manifest import Interval
from skbundle.errors import PipelineError

DEFAULT_LEVEL = 0.9


def conformal_width(residuals: np.ndarray, level: float) -> float | None:
    """The split-conformal half-width of absolute ``residuals``; None if there are too few."""
    n = len(residuals)
    rank = math.ceil((n + 1) * level)
    if n == 0 or rank > n:
        return None
    return float(np.sort(residuals)[rank - 1])


def calibrate(y_true: np.ndarray, predicted: np.ndarray, level: float) -> Interval | None:
    """The interval for ``level`` from held-out targets and predictions (module docstring)."""
    if not 0 < level < 1:
        raise PipelineError("interval", "a level strictly between 0 and 1", f"{level!r}")
    residuals = np.abs(np.asarray(y_true, dtype=np.float64) - np.asarray(predicted))
    width = conformal_width(residuals, level)
    if width is None:
        return None
    order = np.random.default_rng(0).permutation(len(residuals))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    coverages = []
    for calibration, check in (halves, halves[::-1]):
        half_width = conformal_width(residuals[calibration], level)
        if half_width is None or len(check) == 0:
            return None
        coverages.append(float(np.mean(residuals[check] <= half_width)))
    return Interval(
        level=level,
        half_width=width,
        n_calibration=len(residuals),
        coverage=float(np.mean(coverages)),
    )
