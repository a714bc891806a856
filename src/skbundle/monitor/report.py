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
* **Categorical and boolean features** get the same PSI rule over their categories (one slot
  per category, one for categories never seen in training, one for missing values; a slot
  empty on both sides is left out). A chi-square goodness-of-fit test of the new counts
  against the training proportions is reported beside it, informative only like KS. Its
  small-count rule: slots whose expected count (new rows x training share) is below
  ``MIN_EXPECTED`` (5) are pooled into one; if the pool's expected count is still below 5 it
  is merged into the smallest remaining slot; with fewer than two slots left there is no
  test (statistic 0, p-value 1). The report names the ``TOP_CATEGORIES`` (3) categories whose
  share moved most, with their training and new shares, and counts unseen categories.
* Prediction drift applies the same rule to the bundle's output: a classifier with
  probabilities, to each class's predicted-probability histogram and to the predicted class
  balance; a classifier by labels, to the predicted class balance (with its chi-square
  test); a regressor, to the predicted values over the quantile bins of its test-split
  predictions (with KS, as for a numeric feature).
* Performance drift (labels given): a classifier alerts when accuracy falls more than
  ``max_accuracy_drop`` below the bundle's test accuracy; a regressor alerts when RMSE grows
  more than ``max_rmse_growth`` (20% by default, relative) above the bundle's test RMSE, and
  reports R², MAE and RMSE against the test split.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from skbundle.core.metrics import REGRESSION_METRICS, SCALAR_METRICS
from skbundle.errors import InputProblem, MonitoringError

LEVELS = ("ok", "warn", "alert")
EXIT_CODES = {"ok": 0, "warn": 1, "alert": 2}
MAX_REPORTED_PROBLEMS = 20
COMPARED_METRICS = SCALAR_METRICS
COMPARED_REGRESSION_METRICS = REGRESSION_METRICS
MIN_EXPECTED = 5.0
"""The chi-square test's small-count rule: slots expecting fewer rows are pooled."""
TOP_CATEGORIES = 3
"""Categories named per categorical feature: those whose share moved most."""
PVALUE_NOTE = (
    "KS and chi-square p-values are informative only: at large sample sizes they call "
    "differences too small to matter significant, so PSI (less its sampling-noise floor) "
    "drives the verdict."
)


@dataclass(frozen=True)
class Thresholds:
    """When drift becomes a warning or an alert."""

    warn: float = 0.1
    alert: float = 0.25
    max_accuracy_drop: float = 0.05
    alpha: float = 0.01
    max_rmse_growth: float = 0.2
    """A regressor's performance alert: RMSE above ``(1 + max_rmse_growth)`` x test RMSE."""

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.warn <= self.alert:
            problems.append(f"0 < warn <= alert (got warn={self.warn}, alert={self.alert})")
        if not 0 <= self.max_accuracy_drop <= 1:
            problems.append(f"0 <= max_accuracy_drop <= 1 (got {self.max_accuracy_drop})")
        if not 0 < self.alpha < 1:
            problems.append(f"0 < alpha < 1 (got {self.alpha})")
        if not self.max_rmse_growth > 0:
            problems.append(f"max_rmse_growth > 0 (got {self.max_rmse_growth})")
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
class ChiSquare:
    """A chi-square goodness-of-fit test of new counts against the reference proportions.

    ``merged`` names the slots pooled by the small-count rule (module docstring).
    """

    statistic: float
    dof: int
    pvalue: float
    merged: list[str]


@dataclass(frozen=True)
class CategoryShift:
    """How the share of one category moved: training share, new share, and the change."""

    category: str
    reference_share: float
    current_share: float
    change: float


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature; ``*_share`` are per-bin proportions (last bin: missing).

    A numeric feature's bins are the reference's quantile bins (``edges``). A categorical or
    boolean feature's bins are its categories, then unseen, then missing; ``labels`` names
    all but the last; it has no KS (None) but a ``chi_square`` test, ``top_changes`` and
    ``n_unseen``.
    """

    name: str
    level: str
    psi: float
    noise: float
    excess: float
    ks_statistic: float | None
    ks_pvalue: float | None
    ks_bound: float | None
    n: int
    n_missing: int
    reference_mean: float | None
    current_mean: float | None
    reference_std: float | None
    current_std: float | None
    edges: list[float]
    reference_share: list[float]
    current_share: list[float]
    kind: str = "numeric"
    labels: list[str] | None = None
    n_unseen: int = 0
    chi_square: ChiSquare | None = None
    top_changes: list[CategoryShift] = field(default_factory=list)


@dataclass(frozen=True)
class PredictionDrift:
    """Drift of the bundle's output, by ``output``.

    ``probabilities``: each class's predicted-probability histogram (``psi``, ``edges``,
    ``*_share``) and the predicted class balance. ``labels``: the predicted class balance
    only (``psi`` empty). ``values``: ``values``, the drift of the predicted values as a
    numeric feature named "prediction" (``psi`` and the balance empty). ``balance_chi_square``
    tests the predicted class balance of a classifier.
    """

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
    output: str = "probabilities"
    balance_chi_square: ChiSquare | None = None
    values: FeatureDrift | None = None


@dataclass(frozen=True)
class PerformanceDrift:
    """Metrics on labelled new data against the bundle's test metrics.

    A classifier (``task`` "classification") is judged by accuracy; a regressor by RMSE
    (``rmse_*``; the accuracy fields are None): ``rmse_growth`` is the relative change.
    """

    level: str
    n_labelled: int
    accuracy_reference: float | None
    accuracy_current: float | None
    accuracy_drop: float | None
    max_accuracy_drop: float
    metrics: dict[str, dict[str, float | None]]
    task: str = "classification"
    rmse_reference: float | None = None
    rmse_current: float | None = None
    rmse_growth: float | None = None
    max_rmse_growth: float | None = None


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

    def to_markdown(self) -> str:
        """The report as Markdown: verdict, features, predictions, performance, notes.

        Names, categories and the source come from the bundle and the input: each is escaped
        for Markdown (:func:`md`), so none can add markup, links or table cells.
        """
        lines = [
            f"# Drift: {md(self.bundle)} {md(self.version)}",
            "",
            f"Verdict: **{self.verdict}** (exit {self.exit_code}). Source: {md(self.source)}; "
            f"{self.n_rows} rows analysed, {self.n_invalid} left out as invalid.",
            "",
            "## Data drift",
            "",
            "| feature | kind | level | PSI | noise | KS / chi-square p | moved most |",
            "|---|---|---|---:|---:|---:|---|",
        ]
        for f in self.features:
            if f.chi_square is not None:
                test = f"{f.chi_square.pvalue:.2g}"
                moved = "; ".join(
                    f"{md(c.category)} {c.reference_share:.1%} → {c.current_share:.1%}"
                    for c in f.top_changes
                ) + (f"; {f.n_unseen} unseen" if f.n_unseen else "")
            else:
                test = "–" if f.ks_pvalue is None else f"{f.ks_pvalue:.2g}"
                moved = (
                    f"mean {f.reference_mean:.4g} → {f.current_mean:.4g}"
                    if f.reference_mean is not None and f.current_mean is not None
                    else ""
                )
            lines.append(
                f"| {md(f.name)} | {f.kind} | {f.level} | {f.psi:.3f} | {f.noise:.3f} | {test} "
                f"| {moved} |"
            )
        p = self.prediction
        lines += ["", f"## Prediction drift: {p.level}", ""]
        if p.values is not None:
            v = p.values
            lines.append(
                f"Predicted values: PSI {v.psi:.3f} (noise floor {v.noise:.3f}), KS "
                f"{v.ks_statistic or 0:.3f}; mean {_num(v.reference_mean)} → "
                f"{_num(v.current_mean)}, std {_num(v.reference_std)} → {_num(v.current_std)}."
            )
        else:
            chi = p.balance_chi_square
            lines += [
                f"Predicted class balance: PSI {p.balance_psi:.3f} (noise floor "
                f"{p.balance_noise:.3f})"
                + (f", chi-square p {chi.pvalue:.2g}." if chi is not None else "."),
                "",
                "| class | predicted (reference) | predicted (now) | PSI of P(class) |",
                "|---|---:|---:|---:|",
            ]
            for name, share in p.reference_balance.items():
                value = f"{p.psi[name]:.3f}" if name in p.psi else "–"
                lines.append(
                    f"| {md(name)} | {share:.1%} | {p.current_balance[name]:.1%} | {value} |"
                )
        perf = self.performance
        if perf is not None:
            lines += ["", f"## Performance drift: {perf.level}", ""]
            if perf.task == "regression":
                lines.append(
                    f"RMSE {_num(perf.rmse_current)} on {perf.n_labelled} labelled rows vs "
                    f"{_num(perf.rmse_reference)} on the test split "
                    f"({perf.rmse_growth or 0:+.1%}; alert above "
                    f"{perf.max_rmse_growth or 0:+.0%})."
                )
            else:
                lines.append(
                    f"Accuracy {perf.accuracy_current or 0:.2%} on {perf.n_labelled} labelled "
                    f"rows vs {perf.accuracy_reference or 0:.2%} on the test split (alert when "
                    f"it drops more than {perf.max_accuracy_drop:.2%})."
                )
            lines += ["", "| metric | test split | now | change |", "|---|---:|---:|---:|"]
            for key, row in perf.metrics.items():
                lines.append(
                    f"| {key} | {_num(row['reference'])} | {_num(row['current'])} | "
                    f"{_num(row['change'])} |"
                )
        if self.problems:
            lines += ["", "## Rows left out", ""]
            lines += [f"- {md(problem.describe())}" for problem in self.problems]
        lines += ["", "## Notes", ""] + [f"- {md(note)}" for note in self.notes]
        return "\n".join(lines) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def md(text: str) -> str:
    """Plain text as Markdown that renders as that text: specials escaped, one line."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def _num(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
