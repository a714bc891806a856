"""The batch fast path of the validator (lists of well-formed dicts, the serving hot path)
must give exactly what the thorough path gives, and hand every doubtful batch to it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import skbundle
from skbundle.core.schema import Validator
from skbundle.errors import InputValidationError
from tests.conftest import Case


@pytest.fixture(scope="module")
def validator(wine: Case) -> Validator:
    return skbundle.load(wine.path, trust_pickle=True).validator


def _outcome(fn: Any) -> Any:
    try:
        checked = fn()
    except InputValidationError as exc:
        return ("error", str(exc))
    return ("ok", checked.X, checked.warnings)


def _variants(v: Validator) -> list[tuple[str, Any]]:
    good = v.example()
    first = v.names[0]
    hi = v.features[0].max
    assert hi is not None
    return [
        ("all good", good),
        ("an int", {**good, first: 13}),
        ("a bool", {**good, first: True}),
        ("a numeric string", {**good, first: "13.1"}),
        ("null where missing is allowed", {**good, "alcohol": None}),
        ("null where it is not", {**good, "proline": None}),
        ("out of range", {**good, first: hi * 10}),
        ("a huge int", {**good, first: 10**400}),
        ("a float infinity", {**good, first: float("inf")}),
        ("a NaN", {**good, first: float("nan")}),
        ("an extra key", {**good, "extra": 1.0}),
        ("a missing key", {k: val for k, val in good.items() if k != first}),
        ("a renamed key", {**{k: val for k, val in good.items() if k != first}, "x": 1.0}),
        ("a list value", {**good, first: [1.0]}),
        ("not a dict", [1.0] * len(v.names)),
    ]


CASES = [
    "all good", "an int", "a bool", "a numeric string", "null where missing is allowed",
    "null where it is not", "out of range", "a huge int", "a float infinity", "a NaN",
    "an extra key", "a missing key", "a renamed key", "a list value", "not a dict",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_batch_fast_path_agrees_with_the_thorough_path(validator: Validator, case: str) -> None:
    second = dict(_variants(validator))[case]
    records = [validator.example(), second]
    fast = _outcome(lambda: validator.validate(records))
    thorough = _outcome(lambda: validator._from_dicts(records, False, 0))
    assert fast[0] == thorough[0]
    if fast[0] == "error":
        assert fast == thorough
    else:
        np.testing.assert_array_equal(fast[1], thorough[1])  # NaN equals NaN here
        assert fast[2] == thorough[2]
    taken = validator._fast_records(records) is not None
    # Out-of-range values are not errors: the fast path takes them and the warnings are
    # computed in bulk (compared with the thorough path's above).
    assert taken is (case in {"all good", "an int", "out of range"})


def test_batch_fast_path_builds_the_array_in_schema_order(validator: Validator) -> None:
    example = validator.example()
    shuffled = [dict(reversed(list(example.items()))) for _ in range(3)]
    checked = validator.validate(shuffled)
    np.testing.assert_array_equal(checked.X, np.array([list(example.values())] * 3))
    assert checked.warnings == [[], [], []]


@pytest.mark.parametrize("case", [*CASES, "a NaN where missing is allowed"])
def test_one_record_fast_path_agrees_with_the_thorough_path(
    validator: Validator, case: str
) -> None:
    """The one-dict hot path (``_fast_record``) takes a NaN only where the feature may be
    missing (trees route it themselves), and gives what the thorough path gives."""
    variants = dict(_variants(validator))
    variants["a NaN where missing is allowed"] = {**validator.example(), "alcohol": float("nan")}
    record = variants[case]
    if not isinstance(record, dict):
        return  # not a dict: the one-record path is for dicts only (the batch test covers it)
    fast = _outcome(lambda: validator.validate(record))
    thorough = _outcome(lambda: validator._from_dicts([record], False, 0))
    assert fast[0] == thorough[0]
    if fast[0] == "error":
        assert fast == thorough
    else:
        np.testing.assert_array_equal(fast[1], thorough[1])
    taken = validator._fast_record(record) is not None
    nan_ok = {"a NaN where missing is allowed"} | (
        {"a NaN"} if validator.features[0].missing_allowed else set()
    )
    assert taken is (case in {"all good", "an int"} | nan_ok)
