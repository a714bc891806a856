"""What a person reading a prediction needs, checked at save time: what each feature means
(``feature_descriptions``), which class a binary classifier is about (``positive_class``),
and one real held-out record to start from (the example).

Descriptions are plain text (no control characters, bounded lengths): every page, card and
terminal that shows them escapes them for its medium, and refusing line breaks here keeps a
description from starting a block of its own anywhere.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from skbundle.core.codes import is_missing, plain_value
from skbundle.core.manifest import MAX_DESCRIPTION, MAX_NAME, MAX_UNIT, FeatureSpec
from skbundle.core.schema import Validator
from skbundle.errors import InputValidationError, PipelineError, preview

DESCRIPTION_TYPES = "a description (str) or a (description, unit) pair of str"
EXAMPLE_ROWS = 50
"""How many test rows are tried, in order, for one that validates with no warning."""
_BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _text_problem(text: str, limit: int) -> tuple[str, str] | None:
    """What is wrong with a description or unit, and how to fix it; None when nothing is."""
    if len(text) > limit:
        return f"{len(text)} characters", "Shorten it: every page shows it whole."
    for k, ch in enumerate(text):
        if unicodedata.category(ch) == "Cc" or _BIDI.match(ch):
            return (
                f"the control character {ch!r} at position {k}",
                "Remove line breaks, tabs and other control characters.",
            )
    return None


def _check_text(what: str, text: str, limit: int, kind: str) -> None:
    problem = _text_problem(text, limit)
    if problem is not None:
        raise PipelineError(
            what, f"a {kind} of plain text on one line, at most {limit} characters", *problem
        )


def apply_descriptions(
    features: list[FeatureSpec], descriptions: Mapping[str, Any] | None
) -> list[FeatureSpec]:
    """``features`` with the description and unit given for each named feature.

    Raises
    ------
    PipelineError
        ``descriptions`` is not a mapping, names a feature the schema lacks, or gives a value
        that is not a string or a ``(description, unit)`` pair of strings, or too long, or
        with control characters.
    """
    if descriptions is None:
        return features
    if not isinstance(descriptions, Mapping):
        raise PipelineError(
            "feature_descriptions",
            f"a dict of feature name to {DESCRIPTION_TYPES}",
            type(descriptions).__name__,
        )
    names = [f.name for f in features]
    unknown = sorted(str(k) for k in descriptions if k not in set(names))
    if unknown:
        raise PipelineError(
            "feature_descriptions",
            "names of the pipeline's input features",
            f"{len(unknown)} unknown: {preview(unknown)}",
            f"The features are {preview(names)}.",
        )
    given: dict[str, tuple[str, str]] = {}
    for name, value in descriptions.items():
        what = f"feature_descriptions[{name!r}]"
        if isinstance(value, str):
            text, unit = value, ""
        elif (
            isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)
        ):
            text, unit = value
        else:
            got = type(value).__name__
            if isinstance(value, tuple):
                got = f"a tuple of {len(value)}: ({', '.join(type(v).__name__ for v in value)})"
            raise PipelineError(what, DESCRIPTION_TYPES, got)
        _check_text(what, text, MAX_DESCRIPTION, "description")
        _check_text(f"{what} unit", unit, MAX_UNIT, "unit")
        given[name] = (text.strip(), unit.strip())
    return [
        f.model_copy(update={"description": given[f.name][0], "unit": given[f.name][1]})
        if f.name in given
        else f
        for f in features
    ]


def resolve_positive_class(
    value: object, task: str, class_values: Sequence[Any], classes: Sequence[str]
) -> str | None:
    """The display name of the positive class (a name in ``classes``, or a value of y).

    Raises
    ------
    PipelineError
        For a regressor, a classifier of more than two classes, or a value that is no class.
    """
    if value is None:
        return None
    if task == "regression":
        raise PipelineError("positive_class", "no positive class for a regressor", repr(value))
    if len(classes) != 2:
        raise PipelineError(
            "positive_class",
            "a positive class only for a binary classifier",
            f"{value!r} for a classifier of {len(classes)} classes",
            "Leave it out: each class of a multiclass model has its own curves.",
        )
    if isinstance(value, str) and value in classes:
        return value
    for name, cv in zip(classes, class_values, strict=True):
        if type(plain_value(value)) is type(cv) and plain_value(value) == cv:
            return name
    raise PipelineError(
        "positive_class",
        f"one of the classes {list(classes)!r}",
        repr(value),
        "Give a class name as the bundle shows it (class_names), or its value in y.",
    )


def positive_index(classes: Sequence[str], positive: str | None) -> int:
    """The column of a binary classifier's positive class: the one named, else the second."""
    return list(classes).index(positive) if positive is not None else 1


def _record(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        v = plain_value(value)
        if is_missing(v):
            out[str(name)] = None
        elif isinstance(v, float):
            out[str(name)] = v if math.isfinite(v) else None
        else:
            out[str(name)] = v
    return out


def pick_example(
    test: pd.DataFrame,
    y_test: np.ndarray,
    features: list[FeatureSpec],
    *,
    bundle: str,
    task: str,
    class_values: Sequence[Any],
    classes: Sequence[str],
) -> tuple[dict[str, Any] | None, str | None]:
    """The first test row (of the first ``EXAMPLE_ROWS``) that the schema accepts with no
    warning, and its true label; ``(None, None)`` when none does."""
    validator = Validator(features, bundle=bundle)
    labels = {plain_value(v): name for v, name in zip(class_values, classes, strict=True)}
    for i in range(min(EXAMPLE_ROWS, len(test))):
        record = _record(test.iloc[i])
        if any(isinstance(v, str) and len(v) > MAX_NAME for v in record.values()):
            continue
        try:
            checked = validator.validate(record)
        except InputValidationError:
            continue
        if any(checked.warnings):
            continue
        truth = plain_value(np.asarray(y_test)[i])
        label = format(float(truth), ".6g") if task == "regression" else labels.get(truth)
        return record, None if label is None else str(label)
    return None, None


def positive_metrics(
    confusion: Sequence[Sequence[int]], classes: Sequence[str], positive: str | None
) -> dict[str, Any]:
    """Sensitivity, specificity and predictive values of a binary classifier for its positive
    class, from the test split's confusion matrix (rows actual, columns predicted); a rate
    whose denominator is zero is None."""
    p = positive_index(classes, positive)
    n = 1 - p
    tp, fn = int(confusion[p][p]), int(confusion[p][n])
    fp, tn = int(confusion[n][p]), int(confusion[n][n])

    def rate(num: int, den: int) -> float | None:
        return num / den if den else None

    return {
        "class": classes[p],
        "sensitivity": rate(tp, tp + fn),
        "specificity": rate(tn, tn + fp),
        "ppv": rate(tp, tp + fp),
        "npv": rate(tn, tn + fn),
        "true_positives": tp,
        "false_negatives": fn,
        "false_positives": fp,
        "true_negatives": tn,
    }
