"""The input side of drift: the quiet validator, read-ahead, and rows set aside."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest

from skbundle.core.schema import Validator
from skbundle.monitor.inputs import QuietValidator, label_index, prefetch, validate_rows
from tests.conftest import Case


def test_quiet_validator_accepts_and_rejects_exactly_like_the_validator(wine: Case) -> None:
    from skbundle.core.manifest import read_manifest

    features = read_manifest(wine.path).features
    loud, quiet = Validator(features, bundle="wine"), QuietValidator(features, bundle="wine")
    X = wine.X_test.to_numpy(dtype=np.float64, copy=True)
    X[0, 0] = 1e9  # out of range: a warning, not an error
    a, b = loud.validate(X), quiet.validate(X)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.warnings[0] and not b.warnings[0]
    X[1, 5] = np.inf
    for validator in (loud, quiet):
        with pytest.raises(ValueError, match=re.escape("record 1, field 'total_phenols': got inf")):
            validator.validate(X)


def test_validate_rows_sets_bad_rows_aside_and_numbers_them_from_the_offset(cancer: Case) -> None:
    from skbundle.core.manifest import read_manifest

    validator = QuietValidator(read_manifest(cancer.path).features, bundle="breast-cancer")
    X = cancer.X_test.to_numpy(dtype=np.float64, copy=True)[:10]
    X[[2, 6], 4] = np.nan  # this feature never had missing values
    got, kept, problems = validate_rows(validator, X, 1000)
    assert kept.tolist() == [0, 1, 3, 4, 5, 7, 8, 9]
    np.testing.assert_array_equal(got, X[kept])
    assert [(p.record, p.field) for p in problems] == [
        (1002, "mean smoothness"),
        (1006, "mean smoothness"),
    ]


def test_label_index_accepts_values_and_names() -> None:
    index, unknown = label_index(
        [0, "benign", 1.0, np.int64(0), None, "2", float("nan")],
        [0, 1],
        ["malignant", "benign"],
        "target",
    )
    assert index.tolist() == [0, 1, 1, 0, -1, -1, -1]
    assert unknown == [(4, "None"), (5, "'2'"), (6, "nan")]


def test_prefetch_yields_everything_in_order() -> None:
    assert list(prefetch(range(1000))) == list(range(1000))


def test_prefetch_reraises_the_producers_error() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetch(broken()):
            seen.append(item)
    assert seen == [1]


def test_prefetch_closes_the_source_when_the_consumer_stops() -> None:
    closed = []

    def source() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            closed.append(True)

    for item in prefetch(source()):
        if item == 3:
            break
    assert closed == [True]
