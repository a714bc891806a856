"""Categorical and boolean features: inferred from training data, validated on every input,
carried as codes and decoded back into the frame the pipeline was fitted on."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from skbundle.core.codes import UNSEEN, Codec, placeholder
from skbundle.core.manifest import FeatureSpec
from skbundle.core.schema import Validator, infer_schema
from skbundle.errors import InputProblem, InputValidationError


def _spec(name: str, **kw: Any) -> FeatureSpec:
    base: dict[str, Any] = dict(
        name=name, dtype="float64", min=0.0, max=10.0, mean=5.0, std=1.0, missing_allowed=False
    )
    base.update(kw)
    return FeatureSpec(**base)


FEATURES = [
    _spec("length"),
    _spec(
        "island",
        dtype="str",
        min=None,
        max=None,
        mean=None,
        std=None,
        kind="categorical",
        categories=["Biscoe", "Dream", "Torgersen"],
        unknown="error",
    ),
    _spec(
        "sex",
        dtype="str",
        min=None,
        max=None,
        mean=None,
        std=None,
        kind="categorical",
        categories=["female", "male"],
        unknown="accept",
        missing_allowed=True,
        missing_as="nan",
    ),
    _spec(
        "male",
        dtype="bool",
        min=None,
        max=None,
        mean=None,
        std=None,
        kind="boolean",
        categories=[False, True],
    ),
]
GOOD = {"length": 4.0, "island": "Dream", "sex": "male", "male": True}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(FEATURES, bundle="penguins")


def test_a_good_record_becomes_codes_on_the_fast_path(validator: Validator) -> None:
    checked = validator.validate(GOOD)
    assert checked.X.tolist() == [[4.0, 1.0, 1.0, 1.0]]
    assert checked.warnings == [[]]


def test_a_batch_and_a_frame_give_the_same_codes(validator: Validator) -> None:
    records = [GOOD, dict(GOOD, island="Biscoe", sex=None, male=False)]
    from_dicts = validator.validate(records).X
    frame = pd.DataFrame(records).astype({"island": "str"})
    from_frame = validator.validate(frame).X
    assert np.array_equal(from_dicts, from_frame, equal_nan=True)
    assert from_dicts[1].tolist()[:2] == [4.0, 0.0] and math.isnan(from_dicts[1][2])


def test_an_unseen_category_is_accepted_with_a_warning_where_the_pipeline_accepts_it(
    validator: Validator,
) -> None:
    checked = validator.validate(dict(GOOD, sex="unknown"))
    assert checked.X[0, 2] == UNSEEN
    assert checked.warnings == [
        ["'sex' = 'unknown' is a category never seen in training; the pipeline handles it as "
         "unknown"]
    ]  # fmt: skip


BAD = [
    (
        "unseen-refused",
        {"island": "Mars"},
        InputProblem(
            0,
            "island",
            "got 'Mars', a category never seen in training (the pipeline refuses unknown "
            "categories)",
            "one of the 3 categories ['Biscoe', 'Dream', 'Torgersen']",
        ),
    ),
    (
        "number-for-category",
        {"island": 3},
        InputProblem(
            0, "island", "got int 3", "one of the 3 categories ['Biscoe', 'Dream', 'Torgersen']"
        ),
    ),
    (
        "bool-for-category",
        {"island": True},
        InputProblem(
            0,
            "island",
            "got a boolean True",
            "one of the 3 categories ['Biscoe', 'Dream', 'Torgersen']",
        ),
    ),
    (
        "missing-not-allowed",
        {"island": None},
        InputProblem(
            0,
            "island",
            "got a missing value (null or NaN)",
            "one of the 3 categories ['Biscoe', 'Dream', 'Torgersen'] (this feature had no "
            "missing values in training, so none are accepted)",
        ),
    ),
    (
        "string-for-boolean",
        {"male": "yes"},
        InputProblem(0, "male", "got str 'yes'", "true or false"),
    ),
    (
        "number-for-boolean",
        {"male": 1},
        InputProblem(0, "male", "got int 1", "true or false"),
    ),
    (
        "string-for-number",
        {"length": "4"},
        InputProblem(0, "length", "got a string '4'", "a number, not a string"),
    ),
]


@pytest.mark.parametrize(("change", "problem"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_values_are_named_with_what_was_expected(
    validator: Validator, change: dict[str, Any], problem: InputProblem
) -> None:
    with pytest.raises(InputValidationError) as info:
        validator.validate(dict(GOOD, **change))
    assert info.value.problems == [problem]


def test_a_missing_field_of_a_categorical_feature_says_what_it_takes(validator: Validator) -> None:
    record = {k: v for k, v in GOOD.items() if k != "island"}
    with pytest.raises(InputValidationError) as info:
        validator.validate(record)
    assert info.value.problems == [
        InputProblem(
            0,
            "island",
            "feature is missing",
            "one of the 3 categories ['Biscoe', 'Dream', 'Torgersen']",
        )
    ]


def test_a_numeric_array_for_a_categorical_schema_is_checked_cell_by_cell(
    validator: Validator,
) -> None:
    with pytest.raises(InputValidationError) as info:
        validator.validate(np.array([[4.0, 1.0, 1.0, 1.0]]))
    assert [(p.field, p.problem) for p in info.value.problems] == [
        ("island", "got float 1.0"),
        ("sex", "got float 1.0"),
        ("male", "got float 1.0"),
    ]


def test_the_example_record_validates(validator: Validator) -> None:
    example = validator.example()
    assert example == {"length": 5.0, "island": "Biscoe", "sex": "female", "male": False}
    assert validator.validate(example).warnings == [[]]


def test_infer_schema_reads_kinds_categories_and_missing_markers() -> None:
    frame = pd.DataFrame(
        {
            "n": [1.0, 2.0, np.nan],
            "s": pd.Series(["b", "a", None], dtype="str"),
            "o": pd.Series(["x", None, "y"], dtype=object),
            "c": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "mid", "hi"]),
            "b": [True, False, True],
        }
    )
    specs = {s.name: s for s in infer_schema(frame, {"s": ["c", "a"]})}
    assert specs["n"].kind == "numeric" and specs["n"].missing_allowed
    assert (specs["s"].kind, specs["s"].categories, specs["s"].missing_as) == (
        "categorical",
        ["a", "b", "c"],
        "nan",
    )
    assert (specs["o"].categories, specs["o"].missing_as) == (["x", "y"], "none")
    assert (specs["c"].dtype, specs["c"].categories) == ("category", ["lo", "mid", "hi"])
    assert (specs["b"].kind, specs["b"].categories, specs["b"].missing_allowed) == (
        "boolean",
        [False, True],
        False,
    )


def test_codes_decode_into_the_training_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "n": [1.5, 2.5, 3.5],
            "s": pd.Series(["b", "a", None], dtype="str"),
            "o": pd.Series(["x", None, "y"], dtype=object),
            "c": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "mid", "hi"]),
            "b": [True, False, True],
        }
    )
    codec = Codec(infer_schema(frame))
    codes = codec.encode(frame)
    back = codec.decode(codes)
    assert list(back.columns) == list(frame.columns)
    assert back.dtypes.astype(str).tolist() == frame.dtypes.astype(str).tolist()
    assert back["o"].tolist() == ["x", None, "y"]
    pd.testing.assert_frame_equal(back, frame)
    assert back[["n"]].to_numpy().flags.c_contiguous


def test_an_unseen_code_decodes_to_a_value_that_is_no_category() -> None:
    assert placeholder(["<unseen>", "a"]) == "<unseen>_"
    assert placeholder([3, 7]) == 8
    spec = _spec("s", dtype="object", kind="categorical", categories=["a"], min=None, max=None)
    decoded = Codec([spec]).decode(np.array([[UNSEEN], [0.0]]))
    assert decoded["s"].tolist() == ["<unseen>", "a"]


def test_a_manifest_refuses_categories_of_mixed_types() -> None:
    with pytest.raises(ValueError, match=r"categories mix types \['int', 'str'\]"):
        _spec("x", kind="categorical", categories=["a", 1])
