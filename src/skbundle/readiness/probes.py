"""Probes: inputs sent to a loaded bundle to check how it behaves at and beyond its edges.

Validation probes send a built-in set of bad inputs and expect each to be rejected with the
right error (and a category never seen in training to be refused or accepted, as the schema
says); boundary probes send records at and far beyond the training range and expect a valid
answer with the matching range warnings. What is valid depends on the bundle's output:
probabilities that are finite, in [0, 1] and sum to 1; a label among the classes with finite
decision scores; or a finite value inside a finite interval. A regressor is also sent a record
at the training means.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from skbundle.bundle import prediction_labels
from skbundle.errors import InputValidationError

PROBE_FIELD = "__skbundle_probe__"
PROBE_CATEGORY = "__skbundle_unseen__"
"""The category a probe sends to a string feature: never one seen in training."""
PROBA_TOLERANCE = 1e-6
UNSEEN_TEXT = "a category never seen in training"


@dataclass(frozen=True)
class ProbeResult:
    """One probe: what was sent, whether the bundle behaved, and what it did."""

    name: str
    passed: bool
    detail: str


def _expect_rejection(
    bundle: Any, name: str, payload: object, field: str | None, text: str
) -> ProbeResult:
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            results = bundle.predict(payload)
    except InputValidationError as exc:
        hit = any(p.field == field and text in p.problem for p in exc.problems)
        if hit:
            return ProbeResult(name, True, f"rejected: {exc.problems[0].describe()}")
        return ProbeResult(
            name,
            False,
            f"rejected, but not for the expected reason ({text!r} on field {field!r}): "
            f"{exc.problems[0].describe()}",
        )
    except Exception as exc:
        return ProbeResult(
            name,
            False,
            f"raised {type(exc).__name__} from the model instead of a validation error: {exc}",
        )
    shown = results[0]["prediction"] if results else "nothing"
    return ProbeResult(name, False, f"accepted silently (predicted {shown!r})")


def _unseen(spec: Any) -> object:
    """A value of the right type that is not among ``spec.categories``."""
    known = spec.categories or []
    if known and isinstance(known[0], int) and not isinstance(known[0], bool):
        return max(known) + 1
    return PROBE_CATEGORY if PROBE_CATEGORY not in known else PROBE_CATEGORY + "_"


def _expect_unseen_accepted(bundle: Any, name: str, payload: dict[str, Any]) -> ProbeResult:
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            result = bundle.predict(payload)[0]
    except Exception as exc:
        return ProbeResult(name, False, f"refused, but the schema accepts it: {exc}")
    noted = [w for w in result["warnings"] if UNSEEN_TEXT in w]
    if not noted:
        return ProbeResult(name, False, "accepted without the warning that it was never seen")
    return ProbeResult(name, True, f"accepted with a warning: {noted[0]}")


def validation_probes(bundle: Any) -> list[ProbeResult]:
    """Send each bad input; every one must raise ``InputValidationError`` for its reason.

    NaN and a missing field are aimed at a feature that had no missing values in training:
    the schema must refuse them there. When every feature had missing values in training,
    accepting them is correct and those two probes pass with that reason. A string and
    infinity are aimed at the first numeric feature. A bundle with a categorical feature is
    also sent a category never seen in training, which must be refused when the pipeline
    refuses unknown categories and accepted with a warning when it handles them.
    """
    features = bundle.validator.features
    base: dict[str, Any] = bundle.validator.example()
    number = next((f.name for f in features if f.kind == "numeric"), None)
    strict = next((f.name for f in features if f.n_missing == 0), None)
    categorical = next((f for f in features if f.kind == "categorical"), None)
    out: list[ProbeResult] = []

    def probe(
        name: str, change: Callable[[dict[str, Any]], object], field: str | None, text: str
    ) -> None:
        record = dict(base)
        out.append(_expect_rejection(bundle, name, change(record), field, text))

    if strict is None:
        reason = "every feature had missing values in training, so the schema accepts them"
        out.append(ProbeResult("missing field", True, f"not applicable: {reason}"))
        out.append(ProbeResult("NaN", True, f"not applicable: {reason}"))
    else:
        probe(
            "missing field",
            lambda r: {k: v for k, v in r.items() if k != strict},
            strict,
            "feature is missing",
        )
        probe("NaN", lambda r: {**r, strict: math.nan}, strict, "got a missing value")
    if number is None:
        reason = "not applicable: the bundle has no numeric feature"
        out.append(ProbeResult("string", True, reason))
        out.append(ProbeResult("inf", True, reason))
    else:
        probe("string", lambda r: {**r, number: "abc"}, number, "got a string")
        probe("inf", lambda r: {**r, number: math.inf}, number, "got inf")
    if categorical is not None:
        unseen = {**base, categorical.name: _unseen(categorical)}
        if categorical.unknown == "accept":
            out.append(_expect_unseen_accepted(bundle, "unseen category", unseen))
        else:
            out.append(
                _expect_rejection(bundle, "unseen category", unseen, categorical.name, UNSEEN_TEXT)
            )
    probe("extra field", lambda r: {**r, PROBE_FIELD: 1.0}, PROBE_FIELD, "unknown feature")
    probe("empty", lambda r: [], None, "got no records")
    return out


def _far(lo: float, hi: float) -> tuple[float, float]:
    """Ten times beyond the range on each side, and below zero on the low side."""
    scale = max(abs(lo), abs(hi), hi - lo, 1.0)
    return hi + 9.0 * scale, min(-10.0 * scale, lo - scale)


def boundary_records(bundle: Any) -> dict[str, tuple[dict[str, Any], int]]:
    """Name -> (record, number of range warnings expected).

    Categorical features keep the example's first category; a regressor's records start with
    one at the training means (the example record).
    """
    features = bundle.validator.features
    ranged = [
        f for f in features if f.kind == "numeric" and f.min is not None and f.max is not None
    ]
    example = bundle.validator.example()
    records: dict[str, tuple[dict[str, Any], int]] = {}
    if bundle.manifest.output == "values":
        records["training means"] = (dict(example), 0)
    for label, pick, expected in (
        ("training min", lambda f: f.min, 0),
        ("training max", lambda f: f.max, 0),
        ("far above (x10)", lambda f: _far(f.min, f.max)[0], len(ranged)),
        ("far below (negative)", lambda f: _far(f.min, f.max)[1], len(ranged)),
    ):
        record = dict(example)
        for f in ranged:
            record[f.name] = float(pick(f))
        records[label] = (record, expected)
    return records


def _check_probabilities(row: dict[str, float]) -> str:
    values = np.array(list(row.values()), dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return f"probabilities are not finite: {values.tolist()}"
    if values.min() < -PROBA_TOLERANCE or values.max() > 1 + PROBA_TOLERANCE:
        return f"probabilities outside [0, 1]: {values.tolist()}"
    total = float(values.sum())
    if abs(total - 1.0) > PROBA_TOLERANCE:
        return f"probabilities sum to {total!r}, not 1"
    return ""


def _check_label(result: dict[str, Any], labels: list[Any]) -> str:
    """A classifier served by label: one of its classes, with finite decision scores."""
    if result["prediction"] not in labels:
        return f"predicted {result['prediction']!r}, not one of the classes {labels}"
    decision = result.get("decision")
    if decision is None:
        return ""
    scores = list(decision.values()) if isinstance(decision, dict) else [decision]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in scores):
        return f"decision scores are not finite: {decision!r}"
    return ""


def _check_value(result: dict[str, Any]) -> str:
    """A regressor: a finite value, inside its finite interval when it has one."""
    value = result["prediction"]
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"the prediction is not a finite number: {value!r}"
    interval = result.get("interval")
    if interval is not None:
        low, high = interval
        if not (math.isfinite(low) and math.isfinite(high) and low <= value <= high):
            return f"the interval {interval!r} is not finite around the prediction {value!r}"
    return ""


def _problem(output: str, result: dict[str, Any], labels: list[Any]) -> str:
    if output == "values":
        return _check_value(result)
    if output == "labels":
        return _check_label(result, labels)
    return _check_probabilities(result["probabilities"])


def _shown(output: str, result: dict[str, Any]) -> str:
    if output == "values":
        interval = result.get("interval")
        within = f" in [{interval[0]:.4g}, {interval[1]:.4g}]" if interval is not None else ""
        return f"{result['prediction']:.4g}{within}"
    if output == "labels":
        return repr(result["prediction"])
    return f"{result['prediction']!r} at {result['confidence']:.3f}"


def boundary_probes(bundle: Any) -> list[ProbeResult]:
    """Records at the training min and max and far outside (and, for a regressor, at the
    training means); each must give a valid answer for the bundle's output (probabilities:
    finite, in [0, 1], summing to 1; labels: a known class, finite decision scores; values:
    finite, inside a finite interval) and exactly the expected range warnings."""
    output = bundle.manifest.output
    labels = prediction_labels(bundle.manifest) if output == "labels" else []
    out = []
    for name, (record, expected) in boundary_records(bundle).items():
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = bundle.predict(record)[0]
        except Exception as exc:
            out.append(ProbeResult(name, False, f"raised {type(exc).__name__}: {exc}"))
            continue
        problem = _problem(output, result, labels)
        got = sum("outside the training range" in w for w in result["warnings"])
        if not problem and got != expected:
            problem = f"{got} range warnings, expected {expected}"
        if problem:
            out.append(ProbeResult(name, False, problem))
            continue
        noted = f"; {len(caught)} Python warning(s): {caught[0].message}" if caught else ""
        out.append(
            ProbeResult(name, True, f"{_shown(output, result)}, {got} range warnings{noted}")
        )
    return out
