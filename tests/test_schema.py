"""The validator: every accepted input shape, and a table of bad inputs with exact messages."""

from __future__ import annotations

import difflib
import math
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from skbundle.core.manifest import FeatureSpec
from skbundle.core.schema import MAX_PROBLEMS, NAME_CHARS, Validator, describe, infer_schema
from skbundle.errors import InputProblem, InputValidationError

FEATURES = [
    FeatureSpec(
        name="a", dtype="float64", min=0.0, max=10.0, mean=5.0, std=1.0, missing_allowed=False
    ),
    FeatureSpec(
        name="b", dtype="int64", min=-1.0, max=1.0, mean=0.0, std=0.5, missing_allowed=False
    ),
    FeatureSpec(
        name="c",
        dtype="float64",
        min=1.0,
        max=2.0,
        mean=1.5,
        std=0.1,
        missing_allowed=True,
        n_missing=3,
    ),
]
V = Validator(FEATURES, bundle="toy")
GOOD = {"a": 1.0, "b": 0, "c": 1.5}


def problems(records: object, **kwargs: Any) -> list[InputProblem]:
    with pytest.raises(InputValidationError) as info:
        V.validate(records, **kwargs)
    return info.value.problems


def P(record: int | None, field: str | None, problem: str, expected: str) -> InputProblem:
    return InputProblem(record, field, problem, expected)


NUM = "a number"
NO_MISSING = "a number (this feature had no missing values in training, so none are accepted)"
UNKNOWN = (
    "only the bundle's 3 features; pass ignore_unknown=True (CLI: --ignore-unknown) to drop "
    "extra fields"
)
FIELDS = "at most 76 (4 per feature of the bundle's 3, plus 64); send only the features"
WIDE = {**GOOD, **{f"x{i}": 1 for i in range(74)}}  # 77 fields, one over the cap
DEEP: Any = []
for _ in range(2000):  # past the recursion limit: repr(DEEP) raises
    DEEP = [DEEP]

BAD = [
    ("missing-feature", {"a": 1.0, "c": 1.5}, [P(0, "b", "feature is missing", NUM)]),
    ("unknown-feature", {**GOOD, "zzz": 1}, [P(0, "zzz", "unknown feature", UNKNOWN)]),
    (
        "unknown-with-hint",
        {**GOOD, "bb": 1},
        [P(0, "bb", "unknown feature (did you mean 'b'?)", UNKNOWN)],
    ),
    (
        "numeric-string",
        {**GOOD, "a": "5.0"},
        [P(0, "a", "got a string '5.0'", "a number, not a string")],
    ),
    ("boolean", {**GOOD, "b": True}, [P(0, "b", "got a boolean True", NUM)]),
    ("numpy-boolean", {**GOOD, "b": np.bool_(False)}, [P(0, "b", "got a boolean False", NUM)]),
    (
        "null-not-allowed",
        {**GOOD, "a": None},
        [P(0, "a", "got a missing value (null or NaN)", NO_MISSING)],
    ),
    (
        "nan-not-allowed",
        {**GOOD, "a": math.nan},
        [P(0, "a", "got a missing value (null or NaN)", NO_MISSING)],
    ),
    ("inf", {**GOOD, "a": math.inf}, [P(0, "a", "got inf", "a finite number")]),
    (
        "minus-inf-allowed-missing-feature",
        {**GOOD, "c": -math.inf},
        [P(0, "c", "got -inf", "a finite number")],
    ),
    ("list-value", {**GOOD, "a": [1]}, [P(0, "a", "got list [1]", NUM)]),
    ("deep-list-value", {**GOOD, "a": DEEP}, [P(0, "a", f"got list {'[' * 37}...", NUM)]),
    (
        "big-object-value",
        {**GOOD, "a": {str(i): i for i in range(100_000)}},
        [P(0, "a", f"got dict {repr({str(i): i for i in range(10)})[:37]}...", NUM)],
    ),
    ("too-many-fields", WIDE, [P(0, None, "has 77 fields", FIELDS)]),
    (
        "too-many-fields-in-the-second-record",
        [GOOD, WIDE, {**GOOD, "a": "x"}],
        [
            P(1, None, "has 77 fields", FIELDS),
            P(2, "a", "got a string 'x'", "a number, not a string"),
        ],
    ),
    (
        "long-unknown-name",
        {**GOOD, "b" * 5000: 1},
        [P(0, "b" * (NAME_CHARS - 3) + "...", "unknown feature", UNKNOWN)],
    ),
    (
        "huge-int",
        {**GOOD, "a": 10**400},
        [
            P(
                0,
                "a",
                "got 1000000000000000000000000000000000000..., too large for a float",
                "a finite number",
            )
        ],
    ),
    ("empty-list", [], [P(None, None, "got no records", "at least one record")]),
    (
        "not-a-record",
        "hello",
        [
            P(
                None,
                None,
                "got str",
                "a dict (one record), a list of dicts, a DataFrame, or a 2-D array / list of lists",
            )
        ],
    ),
    (
        "flat-list",
        [1.0, 0, 1.5],
        [
            P(
                None,
                None,
                "got a flat list of numbers",
                "a list of records; wrap one record's 3 values as [[...]]",
            )
        ],
    ),
    (
        "row-too-short",
        [[1.0, 0]],
        [P(0, None, "has 2 values", "3 values in schema order (see 'skbundle inspect')")],
    ),
    (
        "record-not-object",
        [GOOD, 7],
        [P(1, None, "is int, not an object", "an object mapping feature names to numbers")],
    ),
    (
        "1d-array",
        np.array([1.0, 0.0, 1.5]),
        [
            P(
                None,
                None,
                "got a 1-D array of shape (3,)",
                "a 2-D array of shape (n_records, 3); reshape one record with array.reshape(1, -1)",
            )
        ],
    ),
    (
        "array-wrong-width",
        np.zeros((2, 4)),
        [P(None, None, "got 4 columns", "3 columns in schema order (see 'skbundle inspect')")],
    ),
    ("array-empty", np.zeros((0, 3)), [P(None, None, "got no records", "at least one record")]),
    (
        "array-nan",
        np.array([[1.0, 0.0, 1.5], [np.nan, 0.0, np.nan]]),
        [P(1, "a", "got a missing value (null or NaN)", NO_MISSING)],
    ),
    (
        "array-bool",
        np.array([[True, False, True]]),
        [
            P(0, "a", "got a boolean True", NUM),
            P(0, "b", "got a boolean False", NUM),
            P(0, "c", "got a boolean True", NUM),
        ],
    ),
    (
        "frame-missing-column",
        pd.DataFrame({"a": [1.0], "c": [1.5]}),
        [P(None, "b", "column is missing", NUM)],
    ),
    (
        "frame-extra-column",
        pd.DataFrame({**{k: [v] for k, v in GOOD.items()}, "id": [1]}),
        [P(None, "id", "unknown feature", UNKNOWN)],
    ),
    (
        "frame-bool-column",
        pd.DataFrame({"a": [1.0], "b": [True], "c": [1.5]}),
        [P(None, "b", "column holds booleans", NUM)],
    ),
    (
        "frame-string-cell",
        pd.DataFrame({"a": [1.0, "x"], "b": [0, 1], "c": [1.5, 1.5]}),
        [P(1, "a", "got a string 'x'", "a number, not a string")],
    ),
    (
        "frame-empty",
        pd.DataFrame({k: [] for k in GOOD}, dtype=float),
        [P(None, None, "got a DataFrame with no rows", "at least one record")],
    ),
    (
        "every-problem-at-once",
        [{"a": "1", "b": None}, {**GOOD, "x": 1}],
        [
            P(0, "a", "got a string '1'", "a number, not a string"),
            P(0, "b", "got a missing value (null or NaN)", NO_MISSING),
            P(1, "x", "unknown feature", UNKNOWN),
        ],
    ),
]


@pytest.mark.parametrize(("records", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_lists_every_problem(records: object, expected: list[InputProblem]) -> None:
    assert problems(records) == expected


def test_message_names_record_field_problem_and_expectation() -> None:
    with pytest.raises(InputValidationError) as info:
        V.validate([GOOD, {"a": "5.0", "c": 1.5}])
    assert str(info.value) == (
        "Input does not fit the bundle 'toy' (2 problems):\n"
        "  - record 1, field 'a': got a string '5.0'; expected a number, not a string\n"
        "  - record 1, field 'b': feature is missing; expected a number\n"
        "Send every feature listed by 'skbundle inspect' (or GET /metadata), each as the schema "
        "says: a number, or one of its categories."
    )
    assert isinstance(info.value, ValueError)
    assert info.value.to_dict()["problems"][0] == {
        "record": 1,
        "field": "a",
        "problem": "got a string '5.0'",
        "expected": "a number, not a string",
    }


def test_offset_shifts_record_numbers_for_chunked_input() -> None:
    assert problems([GOOD, {**GOOD, "a": "x"}], offset=1000)[0].record == 1001


def test_problem_count_is_capped_and_says_so() -> None:
    with pytest.raises(InputValidationError) as info:
        V.validate([{"a": "x", "b": "y", "c": "z"}] * 1000)
    assert len(info.value.problems) == MAX_PROBLEMS
    assert info.value.truncated
    assert "... and 990 more (stopped counting; fix these first)" in str(info.value)


ROW = [1.0, 0.0, 1.5]
GOOD_SHAPES = [
    ("dict", GOOD, ROW),
    ("dict-int-and-float", {"a": 1, "b": 0, "c": 1.5}, ROW),
    ("list-of-dicts", [GOOD, GOOD], ROW),
    ("list-of-lists", [[1.0, 0, 1.5], [1.0, 0, 1.5]], ROW),
    ("tuple-row", [(1.0, 0, 1.5)], ROW),
    ("array", np.array([ROW]), ROW),
    ("int-array", np.array([[1, 0, 2]]), [1.0, 0.0, 2.0]),
    ("frame", pd.DataFrame([GOOD]), ROW),
    ("frame-reordered", pd.DataFrame([GOOD])[["c", "a", "b"]], ROW),
    ("numpy-scalars", {"a": np.float32(1.0), "b": np.int64(0), "c": np.float64(1.5)}, ROW),
]


@pytest.mark.parametrize(
    ("records", "row"), [c[1:] for c in GOOD_SHAPES], ids=[c[0] for c in GOOD_SHAPES]
)
def test_every_shape_gives_floats_in_schema_order(records: object, row: list[float]) -> None:
    out = V.validate(records)
    assert out.X.dtype == np.float64
    assert out.X.flags.c_contiguous
    assert out.X[0].tolist() == row


def test_missing_values_pass_only_where_training_had_them() -> None:
    out = V.validate([{"a": 1.0, "b": 0, "c": None}, {"a": 1.0, "b": 0}])
    assert np.isnan(out.X[:, 2]).all()
    frame = pd.DataFrame({"a": [1.0], "b": [0]})
    assert np.isnan(V.validate(frame).X[0, 2])


def test_out_of_range_values_are_warnings_not_errors() -> None:
    out = V.validate([{"a": 11.0, "b": 0, "c": 1.5}, GOOD, {"a": -0.5, "b": 2, "c": 1.5}])
    assert out.warnings == [
        ["'a' = 11 is outside the training range [0, 10]"],
        [],
        [
            "'a' = -0.5 is outside the training range [0, 10]",
            "'b' = 2 is outside the training range [-1, 1]",
        ],
    ]


def test_ignore_unknown_drops_extra_fields_and_says_so() -> None:
    out = V.validate({**GOOD, "zzz": 1, "id": 2}, ignore_unknown=True)
    assert out.X[0].tolist() == [1.0, 0.0, 1.5]
    assert out.warnings == [["ignored unknown fields: ['id', 'zzz']"]]


def test_fast_path_and_thorough_path_agree() -> None:
    fast = V.validate({"a": 3.25, "b": 1, "c": 1.75})
    thorough = V.validate([{"a": 3.25, "b": 1, "c": 1.75}])
    assert np.array_equal(fast.X, thorough.X)
    assert fast.warnings == thorough.warnings == [[]]


def test_infer_schema_records_ranges_and_missingness() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0], "n": [1, 2, 3, 4]})
    x, n = infer_schema(frame)
    assert (x.name, x.dtype, x.min, x.max, x.missing_allowed, x.n_missing) == (
        "x",
        "float64",
        1.0,
        4.0,
        True,
        1,
    )
    assert x.mean == pytest.approx(7 / 3)
    assert (n.dtype, n.missing_allowed, n.n_missing) == ("int64", False, 0)
    assert n.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1))


def test_example_record_is_valid_input() -> None:
    assert V.example() == {"a": 5.0, "b": 0.0, "c": 1.5}
    assert V.validate(V.example()).warnings == [[]]


def test_bulk_fast_path_matches_the_thorough_path() -> None:
    records = [{"a": 11.0, "b": 0, "c": 1.5}, GOOD, {"a": 3, "b": -1, "c": 2.0}]
    fast = V.validate(records)
    thorough = V.validate(pd.DataFrame(records))
    assert np.array_equal(fast.X, thorough.X)
    assert (
        fast.warnings
        == thorough.warnings
        == [
            ["'a' = 11 is outside the training range [0, 10]"],
            [],
            [],
        ]
    )


def test_missing_features_of_one_record_share_one_line() -> None:
    with pytest.raises(InputValidationError) as info:
        V.validate([{"c": 1.5}, {"a": 1.0, "c": 1.5}])
    assert [(p.record, p.field) for p in info.value.problems] == [(0, "a"), (0, "b"), (1, "b")]
    assert str(info.value).splitlines()[1:3] == [
        "  - record 0: 2 features are missing: ['a', 'b']; expected a number for each",
        "  - record 1, field 'b': feature is missing; expected a number",
    ]


def test_a_record_over_the_field_cap_is_refused_with_ignore_unknown_too() -> None:
    assert V.max_fields == 76
    assert V.validate(dict(list(WIDE.items())[:76]), ignore_unknown=True).X.shape == (1, 3)
    assert problems(WIDE, ignore_unknown=True) == [P(0, None, "has 77 fields", FIELDS)]


@pytest.mark.parametrize(
    "value",
    [1, 1.5, None, True, "abc", "it's", 'say "hi"', "x" * 100, "é\n\x00", b"bytes",
     [], {}, [[]], [1] * 100, [1, [2, [3]]], {"v": 1}, {"a": [1, {"b": "x" * 50}]},
     {str(i): i for i in range(30)}, [list(range(i)) for i in range(12)], (1, 2), 10**400],
    ids=repr,
)  # fmt: skip
def test_describe_is_repr_cut_to_40_characters(value: object) -> None:
    text = repr(value)
    assert describe(value) == (text if len(text) <= 40 else text[:37] + "...")


def test_describe_reads_no_more_of_a_value_than_it_shows() -> None:
    """repr would walk every element (or fail past the recursion limit); describe stops."""
    huge = {str(i): list(range(i, i + 20)) for i in range(100_000)}
    start = time.perf_counter()
    for _ in range(1000):
        assert describe(huge) == repr({"0": list(range(20))})[:37] + "..."
        assert describe(DEEP) == "[" * 37 + "..."
    assert time.perf_counter() - start < 1.0  # a correctness bound, not a benchmark
    assert describe(10**5000) == "<an integer of 16610 bits>"


def test_no_hint_is_lost_by_skipping_long_names() -> None:
    """The hint search skips names over 7/3 of the longest feature name: difflib's 0.6 ratio
    is out of reach for them, so the hints given are exactly difflib's."""
    names = ["mean radius", "worst concave points", "b"]
    validator = Validator(
        [
            FeatureSpec(
                name=n,
                dtype="float64",
                min=None,
                max=None,
                mean=None,
                std=None,
                missing_allowed=False,
            )
            for n in names
        ],
        bundle="t",
    )
    longest = max(map(len, names))
    for length in range(longest, 3 * longest):
        for base in names:
            key = (base * length)[:length]
            if key in names:
                continue
            found = difflib.get_close_matches(key, names, n=1)
            if length * 3 > 7 * longest:
                assert found == []
            hint = f" (did you mean {found[0]!r}?)" if found else ""
            record = {**{n: 1.0 for n in names}, key: 1.0}
            [problem] = [p for p in problems_of(validator, record) if p.field == key]
            assert problem.problem == f"unknown feature{hint}"


def problems_of(validator: Validator, records: object) -> list[InputProblem]:
    with pytest.raises(InputValidationError) as info:
        validator.validate(records)
    return info.value.problems


def test_past_the_problem_cap_the_rest_of_the_input_is_not_looked_at() -> None:
    """A million bad rows: checking every value would take seconds; the walk stops at the cap."""
    rows = [["x", "y", "z"]] * 1_000_000
    start = time.perf_counter()
    with pytest.raises(InputValidationError) as info:
        V.validate(rows)
    assert time.perf_counter() - start < 1.0  # a correctness bound, not a benchmark
    assert (len(info.value.problems), info.value.truncated) == (MAX_PROBLEMS, True)
    assert info.value.problems[-1] == P(333, "a", "got a string 'x'", "a number, not a string")
