"""The statistics behind drift: PSI, its sampling-noise floor, KS on a grid, and the
per-feature counter that bins values in constant memory. Pure numpy and scipy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from skbundle.monitor.reference import category_counts


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two count vectors, with half a count added to each bin."""
    ref = np.asarray(reference, dtype=np.float64) + 0.5
    cur = np.asarray(current, dtype=np.float64) + 0.5
    p = ref / ref.sum()
    q = cur / cur.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def noise_floor(n_current: int, n_reference: int, n_bins: int, quantile: float) -> float:
    """The PSI that sampling noise alone exceeds with probability ``1 - quantile``."""
    if n_bins < 2 or n_current == 0 or n_reference == 0:
        return 0.0
    scale = 1.0 / n_current + 1.0 / n_reference
    return float(stats.chi2.ppf(quantile, n_bins - 1) * scale)


def ks_from_grid(
    ref_cdf: np.ndarray, cur_le: np.ndarray, n: int, n_ref: int
) -> tuple[float, float]:
    """KS statistic over the grid points, and its asymptotic two-sample p-value."""
    if n == 0 or ref_cdf.size == 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(ref_cdf - cur_le / n)))
    en = n * n_ref / (n + n_ref)
    return d, float(stats.kstwobign.sf(math.sqrt(en) * d))


class GridIndex:
    """``searchsorted(grid, x, side="left")`` for many values, mostly by table lookup.

    Binary search costs about 35 ns a value; the feature counts of a million rows were
    spending most of their time there. Here the central range of the grid is cut into
    ``cells`` equal cells, and ``x`` is mapped to one by ``clip((x - lo) * scale)``: a
    monotone map, so a cell holding no grid point lies entirely between two grid points and
    its answer is a table entry. Only values in the few cells that hold a grid point (and in
    the clipped tails) fall back to the binary search. The result is identical.
    """

    def __init__(self, grid: np.ndarray, cells: int = 1 << 14) -> None:
        self.grid = grid
        self.usable = False
        if grid.size < 2:
            return
        lo, hi = (grid[1], grid[-2]) if grid.size >= 4 else (grid[0], grid[-1])
        self.usable = bool(hi > lo)
        if not self.usable:
            return
        self.lo = float(lo)
        self.scale = cells / float(hi - lo)
        self.cells = cells
        grid_cells = self.cell(grid)
        self.ambiguous = np.zeros(cells + 1, dtype=bool)
        self.ambiguous[grid_cells] = True
        self.table = np.searchsorted(grid_cells, np.arange(cells + 1), side="left")

    def cell(self, values: np.ndarray) -> np.ndarray:
        scaled = (values - self.lo) * self.scale
        return np.clip(scaled, 0, self.cells, out=scaled).astype(np.intp)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if not self.usable:
            return np.searchsorted(self.grid, values, side="left")
        cells = self.cell(values)
        index: np.ndarray = self.table[cells]
        slow = self.ambiguous[cells]
        if slow.any():
            index[slow] = np.searchsorted(self.grid, values[slow], side="left")
        return index


class FeatureCounter:
    """Counts of one feature's values on the reference's KS grid, and running moments."""

    def __init__(self, ref: dict[str, Any]) -> None:
        self.grid = np.asarray(ref["ks_grid"], dtype=np.float64)
        self.index = GridIndex(self.grid)
        self.edges = np.asarray(ref["edges"], dtype=np.float64)
        # Grid point i is an edge -> fine bin f maps to coarse bin (edges among grid[:f]).
        is_edge = np.isin(self.grid, self.edges)
        self.fine_to_bin = np.concatenate([[0], np.cumsum(is_edge)]).astype(np.int64)
        self.fine = np.zeros(self.grid.size + 1, dtype=np.int64)
        self.n_missing = 0
        # Moments of (x - reference mean): no cancellation when the mean dwarfs the spread.
        self.shift = float(ref["summary"].get("mean") or 0.0)
        self.total = 0.0
        self.total_sq = 0.0

    def add(self, column: np.ndarray) -> None:
        centred = column - self.shift
        total = float(centred.sum())
        if math.isnan(total):  # only then look for the missing values
            present = ~np.isnan(column)
            self.n_missing += int(column.size - present.sum())
            column, centred = column[present], centred[present]
            total = float(centred.sum())
        self.fine += np.bincount(self.index(column), minlength=self.grid.size + 1)
        self.total += total
        self.total_sq += float(np.einsum("i,i->", centred, centred))

    def moments(self, n: int) -> tuple[float | None, float | None]:
        """Mean and sample standard deviation of the ``n`` values counted."""
        if n == 0:
            return None, None
        offset = self.total / n
        if n == 1:
            return self.shift + offset, None
        variance = max(self.total_sq - n * offset * offset, 0.0) / (n - 1)
        return self.shift + offset, math.sqrt(variance)

    def bins(self) -> np.ndarray:
        coarse = np.bincount(self.fine_to_bin, weights=self.fine, minlength=self.edges.size + 1)
        return np.append(coarse, self.n_missing).astype(np.int64)


def chi_square(
    reference: np.ndarray, current: np.ndarray, labels: list[str], min_expected: float = 5.0
) -> tuple[float, int, float, list[str]]:
    """Chi-square goodness of fit of ``current`` counts against ``reference`` proportions.

    Returns ``(statistic, degrees of freedom, p-value, labels of pooled slots)``. Small-count
    rule: slots expecting fewer than ``min_expected`` rows are pooled into one; a pool still
    below it is merged into the remaining slot that expects least; with fewer than two slots
    left there is no test: ``(0.0, 0, 1.0, pooled)``.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    n, n_ref = float(cur.sum()), float(ref.sum())
    if n == 0 or n_ref == 0:
        return 0.0, 0, 1.0, []
    expected = n * ref / n_ref
    small = expected < min_expected
    pooled = [labels[i] for i in np.flatnonzero(small).tolist()]
    exp_cells, obs_cells = list(expected[~small]), list(cur[~small])
    if small.any():
        pool_exp, pool_obs = float(expected[small].sum()), float(cur[small].sum())
        if pool_exp < min_expected and exp_cells:
            k = int(np.argmin(exp_cells))
            exp_cells[k] += pool_exp
            obs_cells[k] += pool_obs
            pooled.append(labels[int(np.flatnonzero(~small)[k])])
        else:
            exp_cells.append(pool_exp)
            obs_cells.append(pool_obs)
    if len(exp_cells) < 2:
        return 0.0, 0, 1.0, pooled
    result = stats.chisquare(np.array(obs_cells), np.array(exp_cells))
    return float(result.statistic), len(exp_cells) - 1, float(result.pvalue), pooled


class CategoryCounter:
    """Counts of one categorical feature's codes: per category, unseen, missing."""

    def __init__(self, n_categories: int) -> None:
        self.n_categories = n_categories
        self.counts = np.zeros(n_categories + 2, dtype=np.int64)

    def add(self, column: np.ndarray) -> None:
        self.counts += category_counts(column, self.n_categories)

    @property
    def n_missing(self) -> int:
        return int(self.counts[-1])

    @property
    def n_unseen(self) -> int:
        return int(self.counts[-2])
