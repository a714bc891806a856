"""Probes: inputs sent to a loaded bundle to check how it behaves at and beyond its edges.

Validation probes send a built-in set of bad inputs and expect each to be rejected with the
right error; boundary probes send records at and far beyond the training range and expect
valid probabilities with the matching range warnings.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from skbundle.errors import InputValidationError

PROBE_FIELD = "__skbundle_probe__"
PROBA_TOLERANCE = 1e-6


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


def validation_probes(bundle: Any) -> list[ProbeResult]:
    """Send each bad input; every one must raise ``InputValidationError`` for its reason.

    NaN and a missing field are aimed at a feature that had no missing values in training:
    the schema must refuse them there. When every feature had missing values in training,
    accepting them is correct and those two probes pass with that reason.
    """
    features = bundle.validator.features
    base: dict[str, Any] = bundle.validator.example()
    first = features[0].name
    strict = next((f.name for f in features if f.n_missing == 0), None)
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
    probe("string", lambda r: {**r, first: "abc"}, first, "got a string")
    probe("inf", lambda r: {**r, first: math.inf}, first, "got inf")
    probe("extra field", lambda r: {**r, PROBE_FIELD: 1.0}, PROBE_FIELD, "unknown feature")
    probe("empty", lambda r: [], None, "got no records")
    return out


def _far(lo: float, hi: float) -> tuple[float, float]:
    """Ten times beyond the range on each side, and below zero on the low side."""
    scale = max(abs(lo), abs(hi), hi - lo, 1.0)
    return hi + 9.0 * scale, min(-10.0 * scale, lo - scale)


def boundary_records(bundle: Any) -> dict[str, tuple[dict[str, float], int]]:
    """Name -> (record, number of range warnings expected)."""
    features = bundle.validator.features
    ranged = [f for f in features if f.min is not None and f.max is not None]
    example = bundle.validator.example()
    records: dict[str, tuple[dict[str, float], int]] = {}
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


def boundary_probes(bundle: Any) -> list[ProbeResult]:
    """Records at the training min and max and far outside; each must give valid probabilities
    (finite, in [0, 1], summing to 1) and exactly the expected range warnings."""
    out = []
    for name, (record, expected) in boundary_records(bundle).items():
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = bundle.predict(record)[0]
        except Exception as exc:
            out.append(ProbeResult(name, False, f"raised {type(exc).__name__}: {exc}"))
            continue
        problem = _check_probabilities(result["probabilities"])
        got = sum("outside the training range" in w for w in result["warnings"])
        if not problem and got != expected:
            problem = f"{got} range warnings, expected {expected}"
        if problem:
            out.append(ProbeResult(name, False, problem))
            continue
        noted = f"; {len(caught)} Python warning(s): {caught[0].message}" if caught else ""
        out.append(
            ProbeResult(
                name,
                True,
                f"{result['prediction']!r} at {result['confidence']:.3f}, {got} range "
                f"warnings{noted}",
            )
        )
    return out
