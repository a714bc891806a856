"""``save()``: turn a fitted pipeline and its data into a bundle directory, atomically.

Order of work: check the inputs, infer the schema, compute metrics, write every format and
measure its parity, run the extra writers (requirements, reference statistics, reports),
write the manifest last, then publish the directory with one rename.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skbundle.build import audience, checks, writers
from skbundle.build.categories import encoder_categories, unknown_handling
from skbundle.build.context import BuildContext, estimators
from skbundle.build.intervals import DEFAULT_LEVEL, calibrate
from skbundle.build.models import format_options, write_formats
from skbundle.build.parity import FittedModel
from skbundle.core import atomic, environment
from skbundle.core.codes import Codec
from skbundle.core.layout import MANIFEST_NAME
from skbundle.core.manifest import Manifest, validate_identity, write_manifest
from skbundle.core.metrics import classification_metrics, regression_metrics
from skbundle.core.schema import infer_schema
from skbundle.errors import PipelineError, preview


def save(
    pipeline: Any,
    path: str | os.PathLike[str],
    *,
    X_train: pd.DataFrame | np.ndarray,
    y_train: Sequence[Any] | np.ndarray,
    X_test: pd.DataFrame | np.ndarray,
    y_test: Sequence[Any] | np.ndarray,
    name: str,
    version: str = "1.0.0",
    description: str = "",
    class_names: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    feature_descriptions: Mapping[str, str | tuple[str, str]] | None = None,
    positive_class: Any = None,
    compress: int | tuple[str, int] = ("zlib", 3),
    overwrite: bool = False,
) -> Manifest:
    """Write a fitted pipeline and everything needed to trust it as a bundle.

    Parameters
    ----------
    pipeline
        A fitted scikit-learn classifier or regressor, usually a ``Pipeline`` of preprocessing
        and model. Input columns may be numbers, booleans, strings or pandas ``category``
        columns, with missing values.
    path
        The bundle directory to create (e.g. ``models/breast-cancer``).
    X_train, y_train
        The training data: the schema, its ranges and categories, and the dataset
        fingerprint come from it.
    X_test, y_test
        Held-out data: metrics, the parity of every format and (for a regressor) the
        prediction interval are measured on it.
    name, version
        The bundle's identity; ``version`` is a semantic version such as ``"1.0.0"``.
    description
        Free text for the manifest and the model card.
    class_names
        Display names of the classes, in the order of ``pipeline.classes_`` (a classifier
        only). Without them a prediction is the class value itself.
    feature_names
        Column names, required when X is a 2-D array instead of a DataFrame.
    feature_descriptions
        What each feature means, for the people who fill in a record: ``{name: text}`` or
        ``{name: (text, unit)}``, e.g. ``{"mean radius": ("Mean radius of the nuclei",
        "mm")}``. Plain text on one line; shown (escaped) on the server's page, in the model
        card and in the report. Features left out have none.
    positive_class
        The class a binary classifier is about (e.g. ``"malignant"``), as a class name or its
        value in y: the report's ROC, precision-recall and calibration curves and the
        sensitivity and specificity are computed for it. Default: the second class.
    compress
        joblib compression: a level 0-9 (zlib) or a ``(codec, level)`` pair.
    overwrite
        Replace an existing bundle at ``path`` (atomically) instead of refusing.

    Returns
    -------
    Manifest
        The manifest written to ``path/bundle.json``.

    Raises
    ------
    PipelineError
        The pipeline is unfitted or neither a classifier nor a regressor, the data does
        not match it, or ``feature_descriptions`` or ``positive_class`` is not one of the
        forms above.
    BundleExistsError
        A bundle exists at ``path`` and ``overwrite`` is False.

    Examples
    --------
    >>> skbundle.save(pipe, "models/cancer", X_train=X_tr, y_train=y_tr,
    ...               X_test=X_te, y_test=y_te, name="breast-cancer", version="1.0.0")
    """
    target = Path(path)
    try:
        validate_identity(name, version)
    except ValueError as exc:
        raise PipelineError("name/version", "a valid bundle identity", str(exc)) from exc
    try:
        options = format_options({"compress": compress})
    except ValueError as exc:
        raise PipelineError("compress", "a joblib compression option", str(exc)) from exc
    atomic.check_target(target, overwrite=overwrite, marker=MANIFEST_NAME)

    checks.check_pipeline(pipeline)
    task, output = checks.task_of(pipeline)
    train = checks.as_frame(X_train, "X_train", feature_names)
    test = checks.as_frame(X_test, "X_test", feature_names)
    checks.check_columns(pipeline, train, "X_train")
    if list(test.columns) != list(train.columns):
        raise PipelineError(
            "X_test columns",
            "the same columns as X_train, in the same order",
            f"{preview([str(c) for c in test.columns])}",
        )
    y_tr = checks.as_target(y_train, "y_train", len(train), "X_train", task)
    y_te = checks.as_target(y_test, "y_test", len(test), "X_test", task)
    if task == "classification":
        class_values, classes = checks.class_names(pipeline, class_names)
        checks.check_labels(y_te, class_values, "y_test")
        checks.check_labels(y_tr, class_values, "y_train")
    elif class_names is not None:
        raise PipelineError("class_names", "no class names for a regressor", f"{class_names!r}")
    else:
        class_values, classes = [], []

    positive = audience.resolve_positive_class(positive_class, task, class_values, classes)

    created_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    names = [str(c) for c in train.columns]
    features = infer_schema(train, encoder_categories(pipeline, names))
    codec = Codec(features)
    codes_train = codec.encode(train)
    codes_test = codec.encode(test)
    features = unknown_handling(pipeline, features, codes_test, output)
    features = audience.apply_descriptions(features, feature_descriptions)
    example, example_label = audience.pick_example(
        test, y_te, features, bundle=name, task=task, class_values=class_values, classes=classes
    )
    codec = Codec(features)
    fitted = FittedModel(pipeline, codec, output)
    out_test = fitted.predict_output(codes_test)
    out_train = fitted.predict_output(codes_train)
    interval = None
    if task == "regression":
        metrics = {
            "test": regression_metrics(y_te, out_test),
            "train": regression_metrics(y_tr, out_train),
        }
        interval = calibrate(y_te, out_test[:, 0], DEFAULT_LEVEL)
    else:
        train_metrics = classification_metrics(y_tr, out_train, class_values, classes, output)
        metrics = {
            "test": classification_metrics(y_te, out_test, class_values, classes, output),
            "train": {"n_rows": train_metrics["n_rows"], "accuracy": train_metrics["accuracy"]},
        }
        if len(classes) == 2:
            metrics["test"]["positive"] = audience.positive_metrics(
                metrics["test"]["confusion_matrix"], classes, positive
            )

    def build(directory: Path) -> Manifest:
        ctx = BuildContext(
            directory=directory,
            pipeline=pipeline,
            name=name,
            version=version,
            description=description,
            created_at=created_at,
            task=task,
            output=output,
            X_train=train,
            y_train=y_tr,
            X_test=test,
            y_test=y_te,
            codes_train=codes_train,
            codes_test=codes_test,
            class_values=class_values,
            classes=classes,
            features=features,
            metrics=metrics,
            environment=environment.capture(estimators(pipeline)),
            options=options,
            out_train=out_train,
            out_test=out_test,
            interval=interval,
            positive_class=positive,
            example=example,
            example_label=example_label,
        )
        write_formats(ctx)
        for writer in writers.WRITERS:
            writer(ctx)
        manifest = ctx.manifest()
        write_manifest(directory, manifest)
        return manifest

    return atomic.write_directory(target, build, overwrite=overwrite, marker=MANIFEST_NAME)
