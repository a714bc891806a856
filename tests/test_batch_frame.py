"""score_frame: the columnar path gives what the record path gives, bit for bit, errors too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import skbundle
from skbundle.batch import DEFAULT_COLUMNS, flatten, score_frame
from skbundle.errors import BatchOptionError, BatchValidationError, InputValidationError
from tests.conftest import Case
from tests.zoo import case
from tests.zoo_bundles import CATEGORICAL, CATEGORICAL_REGRESSOR, LABELS, REGRESSOR, zoo_bundle

REFUSES_UNSEEN = "penguins-onehot-error-svc"
CATEGORY_DTYPE = "penguins-category-hgb"
BOOL_COLUMN = "cancer-bool-column"


def by_records(bundle: skbundle.Bundle, frame: pd.DataFrame, offset: int) -> pd.DataFrame:
    """The reference: Bundle.predict on the frame's records, flattened."""
    results = bundle.predict(frame.to_dict(orient="records"), offset=offset)
    return pd.DataFrame([flatten(r, offset + i) for i, r in enumerate(results)])


def noisy_cancer(cancer: Case, n: int = 2000) -> pd.DataFrame:
    """Demo-like rows, resampled with noise: some fall outside the training range (warnings)."""
    rng = np.random.default_rng(3)
    frame = cancer.X_test.sample(n, replace=True, random_state=3).reset_index(drop=True)
    return frame * (1 + rng.normal(0, 0.05, frame.shape))


def test_numeric_bundle_is_bit_identical(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path)
    frame = noisy_cancer(cancer)
    got = score_frame(bundle, frame, offset=7)
    want = by_records(bundle, frame, 7)
    assert (want["warnings"] != "").sum() > 10  # the warnings path is exercised
    pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize(
    "case_id",
    [CATEGORICAL, CATEGORICAL_REGRESSOR, REGRESSOR, LABELS, CATEGORY_DTYPE, BOOL_COLUMN],
    ids=[
        "categorical",
        "categorical-regressor",
        "regressor",
        "labels-only",
        "category-dtype",
        "bool-column",
    ],
)
def test_zoo_bundles_are_bit_identical(
    tmp_path_factory: pytest.TempPathFactory, case_id: str
) -> None:
    bundle = skbundle.load(zoo_bundle(tmp_path_factory, case_id), trust_pickle=True)
    frame = case(case_id).build().X_test.reset_index(drop=True)
    strings = [c for c in frame.columns if frame[c].dtype == object]
    if strings and bundle.manifest.features[0].unknown != "refuse":
        frame.loc[3, strings[0]] = "Atlantis"  # an unseen category: a warning, not an error
    got = score_frame(bundle, frame, offset=100)
    want = by_records(bundle, frame, 100)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    if strings:
        assert "never seen in training" in got.loc[3, "warnings"]


def test_problems_match_the_record_paths(cancer: Case) -> None:
    """Strings, infinities and NaN in a feature that had none: the same problems, in the same
    order (record, then schema order), as Bundle.predict on the records."""
    bundle = skbundle.load(cancer.path)
    frame = cancer.X_test.iloc[:50].reset_index(drop=True).astype(object)
    frame.iloc[4, 3] = "twelve"
    frame.iloc[4, 1] = float("inf")
    frame.iloc[2, 7] = float("nan")
    frame.iloc[40, 0] = True
    with pytest.raises(InputValidationError) as by_rows:
        bundle.predict(frame.to_dict(orient="records"), offset=1000)
    with pytest.raises(BatchValidationError) as by_columns:
        score_frame(bundle, frame, offset=1000, source="in.csv")
    assert by_columns.value.problems == by_rows.value.problems
    assert [p.record for p in by_columns.value.problems] == [1002, 1004, 1004, 1040]


def test_problems_are_capped_in_record_order(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path)
    frame = pd.concat([cancer.X_test] * 10, ignore_index=True).astype(object)
    frame["worst area"] = "x"
    frame["mean radius"] = "y"
    with pytest.raises(InputValidationError) as by_rows:
        bundle.predict(frame.to_dict(orient="records"))
    with pytest.raises(BatchValidationError) as by_columns:
        score_frame(bundle, frame)
    assert by_columns.value.truncated and by_rows.value.truncated
    assert by_columns.value.problems == by_rows.value.problems


def _frame_error(bundle: skbundle.Bundle, frame: pd.DataFrame, **options: Any) -> str:
    with pytest.raises(BatchValidationError) as caught:
        score_frame(bundle, frame, offset=123_000, source="data/b.parquet", **options)
    return str(caught.value)


def test_missing_column_names_file_and_field(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path)
    message = _frame_error(bundle, cancer.X_test.drop(columns=["mean radius"]))
    assert message == (
        "Input from data/b.parquet does not fit the bundle 'breast-cancer' (1 problem):\n"
        "  - field 'mean radius': column is missing; expected a number\n"
        "Send every feature listed by 'skbundle inspect' (or GET /metadata), each as the "
        "schema says: a number, or one of its categories."
    )


def test_unknown_and_kept_columns(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path)
    frame = cancer.X_test.reset_index(drop=True).assign(id=lambda f: f.index * 10, note="n")
    message = _frame_error(bundle, frame, keep=["id"])
    assert "field 'note': unknown feature; expected only the bundle's 30 features" in message
    kept = score_frame(bundle, frame, keep=["id"], ignore_unknown=True, columns=["prediction"])
    assert list(kept.columns) == ["row", "id", "prediction"]
    assert kept["id"].tolist() == list(range(0, 10 * len(frame), 10))
    missing_keep = _frame_error(bundle, cancer.X_test, keep=["id"])
    assert "field 'id': column to keep is missing; expected the column named by keep=" in (
        missing_keep
    )


def test_unseen_category_refused_with_its_row(tmp_path_factory: pytest.TempPathFactory) -> None:
    bundle = skbundle.load(zoo_bundle(tmp_path_factory, REFUSES_UNSEEN), trust_pickle=True)
    frame = case(REFUSES_UNSEEN).build().X_test.reset_index(drop=True)
    frame.loc[5, "island"] = "Atlantis"
    message = _frame_error(bundle, frame)
    assert (
        "record 123005, field 'island': got 'Atlantis', a category never seen in training (the "
        "pipeline refuses unknown categories); expected one of the 3 categories"
    ) in message


@pytest.mark.parametrize(
    ("case_id", "columns", "message"),
    [
        (
            None,
            ["prediction", "proba"],
            "Cannot use output column 'proba': there is no such output column. Use some of "
            "prediction, confidence, probabilities, decision, interval, warnings (CLI: "
            "--columns a,b,c).",
        ),
        (
            None,
            ["interval"],
            "Cannot use output column 'interval': it does not apply to the bundle "
            "'breast-cancer' (a classifier with probabilities). Use some of prediction, "
            "confidence, probabilities, warnings.",
        ),
        (
            REGRESSOR,
            ["confidence"],
            "Cannot use output column 'confidence': it does not apply to the bundle "
            "'diabetes-ridge' (a regressor with an interval). Use some of prediction, interval, "
            "warnings.",
        ),
    ],
    ids=["unknown-name", "interval-of-a-classifier", "confidence-of-a-regressor"],
)
def test_bad_columns_table(
    cancer: Case,
    tmp_path_factory: pytest.TempPathFactory,
    case_id: str | None,
    columns: list[str],
    message: str,
) -> None:
    path: Path = cancer.path if case_id is None else zoo_bundle(tmp_path_factory, case_id)
    bundle = skbundle.load(path, trust_pickle=True)
    with pytest.raises(BatchOptionError) as caught:
        score_frame(bundle, cancer.X_test, columns=columns)
    assert str(caught.value) == message


def test_kept_column_may_not_shadow_an_output_column(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path)
    with pytest.raises(BatchOptionError) as caught:
        score_frame(bundle, cancer.X_test.assign(p_benign=1), keep=["p_benign"])
    assert str(caught.value) == (
        "Cannot use kept column 'p_benign': an output column has that name. Rename the column "
        "in the input, or keep another."
    )


def test_columns_choose_and_order_the_output(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path)
    got = score_frame(bundle, cancer.X_test, columns=["warnings", "prediction"])
    assert list(got.columns) == ["row", "warnings", "prediction"]
    full = score_frame(bundle, cancer.X_test, columns=DEFAULT_COLUMNS)
    assert list(full.columns) == [
        "row",
        "prediction",
        "confidence",
        "p_malignant",
        "p_benign",
        "warnings",
    ]


def test_an_empty_frame_gives_an_empty_table(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path)
    got = score_frame(bundle, cancer.X_test.iloc[:0])
    assert len(got) == 0 and list(got.columns)[:2] == ["row", "prediction"]
